"""Batch explanation: request-attribute JSON lines in, one decision JSON line out per request.

The evaluation is :mod:`kapsec.auditpolicy.checker` (which mirrors
``staging/src/k8s.io/apiserver/pkg/audit/policy/checker.go``); this module only decodes the
shared request-attributes format with msgspec and writes answers without building intermediate
objects: each decision's JSON tail is rendered once and reused.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from kapsec.auditpolicy.checker import Decision, compiled
from kapsec.auditpolicy.model import Policy


class _Req(msgspec.Struct, gc=False):
    verb: str = ""
    id: Any = None
    user: str | None = None
    groups: list[str] | None = None
    namespace: str | None = None
    apiGroup: str | None = None
    apiVersion: str | None = None
    resource: str | None = None
    subresource: str | None = None
    name: str | None = None
    path: str | None = None
    resourceRequest: bool | None = None


_decoder = msgspec.json.Decoder(_Req)
_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class BatchError:
    line: int
    message: str


def decision_dict(policy: Policy, decision: Decision, *, with_text: bool = False) -> dict[str, Any]:
    """The JSON form of one decision (``level``, ``omitStages``, ``ruleIndex``, ``ruleLine``)."""
    d: dict[str, Any] = {
        "level": decision.level,
        "omitStages": decision.sorted_stages(),
        "ruleIndex": decision.rule_index,
    }
    if decision.rule_index is not None:
        d["ruleLine"] = policy.rules[decision.rule_index].line
        if with_text:
            d["rule"] = policy.rule_text(decision.rule_index)
    return d


def explain_lines(
    policy: Policy, lines: Iterable[bytes], errors: list[BatchError] | None = None, *, extended: bool = False
) -> Iterator[bytes]:
    """Yield one JSON line (with ``\\n``) per non-blank input line, in order.

    A line that is not a valid request yields ``{"line": N, "error": "..."}`` and is recorded in
    ``errors``; the rest are answered with ``{"id": ..., "level": ..., "omitStages": [...],
    "ruleIndex": ..., "ruleLine": ...}`` (``id`` only when the request has one).
    """
    comp = compiled(policy, extended=extended)
    check = comp.check
    decode = _decoder.decode
    tails: dict[int, bytes] = {}
    for decision in (*comp.decisions, comp.default):
        body = _encode(decision_dict(policy, decision))
        tails[id(decision)] = body[1:] + b"\n"  # without the opening brace
    lineno = 0
    for raw in lines:
        lineno += 1
        if len(raw) < 4 and not raw.strip():
            continue
        try:
            r = decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            message = f"not a request: {exc}"
            if errors is not None:
                errors.append(BatchError(lineno, message))
            yield _encode({"line": lineno, "error": message}) + b"\n"
            continue
        if not r.verb:
            message = "a request needs a non-empty string 'verb'"
            if errors is not None:
                errors.append(BatchError(lineno, message))
            yield _encode({"id": r.id, "line": lineno, "error": message}) + b"\n"
            continue
        rr = r.resourceRequest
        if rr is None:
            rr = not r.path or bool(r.resource)
        user = r.user
        decision = check(
            user,
            r.groups,
            r.verb,
            rr,
            r.namespace or "",
            r.apiGroup or "",
            r.resource or "",
            r.subresource or "",
            r.name or "",
            r.path or "",
        )
        tail = tails[id(decision)]
        if r.id is None:
            yield b"{" + tail
        else:
            yield b'{"id":' + _encode(r.id) + b"," + tail
