"""Replay recorded audit events against a candidate policy.

Each event's request attributes are evaluated with the server's matcher
(``staging/src/k8s.io/apiserver/pkg/audit/policy/checker.go``, see
:mod:`kapsec.auditpolicy.checker`), and the event is then treated as the audit backend would
(``staging/src/k8s.io/apiserver/pkg/endpoints/filters/audit.go``): level ``None`` writes nothing;
a stage in the decision's ``omitStages`` is not written; ``Metadata`` drops the request and
response objects, ``Request`` the response object.

Sizes under the candidate are estimated from the recorded event: the bytes of the objects the
candidate level would drop are subtracted. When the candidate logs *more* than was recorded the
bodies are not in the source log, so the recorded size is a lower bound (counted separately).
For requests whose RequestReceived event was not recorded but would be under the candidate, one
Metadata-sized event is added.

Replaying the policy that produced a log must give back every event's recorded level, and every
recorded stage must be one the policy lets through; :attr:`SimulationResult.mismatches` lists any
event where that fails.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kapsec.auditlog.event import AuditEvent
from kapsec.auditpolicy.checker import compiled
from kapsec.auditpolicy.model import (
    LEVEL_NONE,
    LEVEL_REQUEST,
    LEVEL_REQUEST_RESPONSE,
    LEVELS,
    STAGE_REQUEST_RECEIVED,
    STAGE_RESPONSE_COMPLETE,
    Policy,
    level_rank,
)

_MAX_MISMATCHES = 50


@dataclass(frozen=True, slots=True)
class Mismatch:
    """An event the candidate policy would not have written as recorded."""

    audit_id: str
    stage: str
    recorded_level: str
    level: str
    omitted_stage: bool
    rule_index: int | None
    summary: str


@dataclass
class Tally:
    events: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.events += 1
        self.bytes += size

    def to_dict(self) -> dict[str, int]:
        return {"events": self.events, "bytes": self.bytes}


@dataclass
class SimulationResult:
    events: int = 0
    bytes: int = 0
    first: str | None = None
    last: str | None = None
    recorded: dict[str, Tally] = field(default_factory=dict)
    candidate: dict[str, Tally] = field(default_factory=dict)
    per_rule: dict[int | None, Tally] = field(default_factory=dict)
    reproduced: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    mismatch_count: int = 0
    dropped: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    dropped_bytes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    stage_dropped: Counter[str] = field(default_factory=Counter)
    kept: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    kept_bytes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    kept_rule: dict[tuple[str, str, str], int | None] = field(default_factory=dict)
    more_detail: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    less_detail: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    added_request_received: Tally = field(default_factory=Tally)

    @property
    def span_seconds(self) -> float | None:
        if not self.first or not self.last:
            return None
        try:
            a = datetime.datetime.fromisoformat(self.first.replace("Z", "+00:00"))
            b = datetime.datetime.fromisoformat(self.last.replace("Z", "+00:00"))
        except ValueError:
            return None
        return max((b - a).total_seconds(), 0.0)

    @property
    def candidate_events(self) -> int:
        return sum(t.events for t in self.candidate.values()) + self.added_request_received.events

    @property
    def candidate_bytes(self) -> int:
        return sum(t.bytes for t in self.candidate.values()) + self.added_request_received.bytes

    def per_day(self, nbytes: int) -> float | None:
        span = self.span_seconds
        if not span:
            return None
        return nbytes * 86400.0 / span

    def to_dict(self, policy: Policy, top: int = 10) -> dict[str, Any]:
        def grouped(
            counter: Counter[tuple[str, str, str]], sizes: Counter[tuple[str, str, str]] | None
        ) -> list[Any]:
            out = []
            for (user, verb, res), n in counter.most_common(top):
                d: dict[str, Any] = {"user": user, "verb": verb, "resource": res, "events": n}
                if sizes is not None:
                    d["bytes"] = sizes[(user, verb, res)]
                out.append(d)
            return out

        rec_day = self.per_day(self.bytes)
        cand_day = self.per_day(self.candidate_bytes)
        return {
            "source": {
                "events": self.events,
                "bytes": self.bytes,
                "first": self.first,
                "last": self.last,
                "spanSeconds": self.span_seconds,
                "mbPerDay": None if rec_day is None else round(rec_day / 1e6, 3),
                "byLevel": {lvl: t.to_dict() for lvl, t in sorted(self.recorded.items(), key=_level_key)},
            },
            "candidate": {
                "policy": policy.source,
                "events": self.candidate_events,
                "bytes": self.candidate_bytes,
                "mbPerDay": None if cand_day is None else round(cand_day / 1e6, 3),
                "byLevel": {lvl: t.to_dict() for lvl, t in sorted(self.candidate.items(), key=_level_key)},
                "byRule": [
                    {
                        "ruleIndex": idx,
                        "ruleLine": None if idx is None else policy.rules[idx].line,
                        "level": LEVEL_NONE if idx is None else policy.rules[idx].level,
                        **t.to_dict(),
                    }
                    for idx, t in sorted(self.per_rule.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
                ],
                "addedRequestReceived": self.added_request_received.to_dict(),
            },
            "reproduced": {"events": self.reproduced, "of": self.events, "mismatches": self.mismatch_count},
            "mismatches": [_mismatch_dict(m) for m in self.mismatches],
            "noLongerLogged": grouped(self.dropped, self.dropped_bytes),
            "stagesNoLongerLogged": dict(self.stage_dropped),
            "loudest": [
                {
                    "user": user,
                    "verb": verb,
                    "resource": what,
                    "events": self.kept[(user, verb, what)],
                    "bytes": n,
                    "ruleIndex": self.kept_rule.get((user, verb, what)),
                }
                for (user, verb, what), n in self.kept_bytes.most_common(top)
            ],
            "moreDetail": grouped(self.more_detail, None),
            "lessDetail": grouped(self.less_detail, None),
        }


def _mismatch_dict(m: Mismatch) -> dict[str, Any]:
    return {
        "auditID": m.audit_id,
        "stage": m.stage,
        "recordedLevel": m.recorded_level,
        "level": m.level,
        "stageOmitted": m.omitted_stage,
        "ruleIndex": m.rule_index,
        "request": m.summary,
    }


def _level_key(item: tuple[str, Tally]) -> int:
    return LEVELS.index(item[0]) if item[0] in LEVELS else 99


def _who_what(ev: AuditEvent) -> tuple[str, str, str]:
    user = ev.user.username or "<unauthenticated>"
    ref = ev.objectRef
    if ref is not None and ref.resource:
        res = (
            ref.resource
            + (f".{ref.apiGroup}" if ref.apiGroup else "")
            + (f"/{ref.subresource}" if ref.subresource else "")
        )
    else:
        res = "nonResource " + ev.requestURI.split("?", 1)[0]
    return user, ev.verb, res


def _stripped_size(ev: AuditEvent, size: int, level: str) -> int:
    """The recorded size minus the objects ``level`` would not record (key and comma included),
    and with the new level's name in the ``level`` field."""
    size += len(level) - len(ev.level)
    if level_rank(level) < level_rank(LEVEL_REQUEST) and ev.has_request_object:
        size -= len(ev.requestObject) + len(',"requestObject":')
    if level_rank(level) < level_rank(LEVEL_REQUEST_RESPONSE) and ev.has_response_object:
        size -= len(ev.responseObject) + len(',"responseObject":')
    return max(size, 0)


def simulate(
    policy: Policy, events: Iterable[tuple[AuditEvent, int]], *, extended: bool = False
) -> SimulationResult:
    """Replay ``events`` (each with its size in the log) under ``policy``.

    ``extended`` evaluates with ``*`` globs in users, groups and namespaces (see
    :class:`kapsec.auditpolicy.checker.Globs`); the API server never does.
    """
    comp = compiled(policy, extended=extended)
    res = SimulationResult()
    in_flight: set[str] = set()
    for ev, size in events:
        res.events += 1
        res.bytes += size
        ts = ev.requestReceivedTimestamp
        if ts:
            if res.first is None or ts < res.first:
                res.first = ts
            if res.last is None or ts > res.last:
                res.last = ts
        res.recorded.setdefault(ev.level, Tally()).add(size)
        req = ev.to_request()
        d = comp.check(
            req.user,
            req.groups,
            req.verb,
            req.resource_request,
            req.namespace,
            req.api_group,
            req.resource,
            req.subresource,
            req.name,
            req.path,
        )
        omitted = ev.stage in d.omit_stages
        if d.level == ev.level and not omitted:
            res.reproduced += 1
        else:
            res.mismatch_count += 1
            if len(res.mismatches) < _MAX_MISMATCHES:
                user, verb, what = _who_what(ev)
                res.mismatches.append(
                    Mismatch(
                        ev.auditID,
                        ev.stage,
                        ev.level,
                        d.level,
                        omitted,
                        d.rule_index,
                        f"{user} {verb} {what}",
                    )
                )
        key = _who_what(ev)
        if d.level == LEVEL_NONE:
            res.dropped[key] += 1
            res.dropped_bytes[key] += size
        elif omitted:
            res.stage_dropped[ev.stage] += 1
        else:
            new_size = _stripped_size(ev, size, d.level)
            res.kept[key] += 1
            res.kept_bytes[key] += new_size
            res.kept_rule.setdefault(key, d.rule_index)
            res.candidate.setdefault(d.level, Tally()).add(new_size)
            res.per_rule.setdefault(d.rule_index, Tally()).add(new_size)
            if level_rank(d.level) > level_rank(ev.level):
                res.more_detail[key] += 1
            elif level_rank(d.level) < level_rank(ev.level):
                res.less_detail[key] += 1
        # A request writes at most one ResponseComplete event; if its RequestReceived event is not in
        # the log, the candidate adds one (unless it omits the stage). Only requests in flight are
        # remembered, so memory stays small on large logs.
        if ev.stage == STAGE_REQUEST_RECEIVED:
            in_flight.add(ev.auditID)
        elif ev.stage == STAGE_RESPONSE_COMPLETE:
            if ev.auditID in in_flight:
                in_flight.discard(ev.auditID)
            elif d.level != LEVEL_NONE and STAGE_REQUEST_RECEIVED not in d.omit_stages:
                res.added_request_received.add(_stripped_size(ev, size, "Metadata"))
    return res
