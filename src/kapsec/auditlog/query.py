"""Queries over audit events: typed filters, a byte pre-filter, and output rows.

Every filter is exact on the typed event (globs where said), never a substring test on the
raw line; the raw line is only used to skip events cheaply: a value the query requires
verbatim (a verb, a resource, a name, a code) must appear in the line's bytes.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kapsec.auditlog import fields
from kapsec.auditlog.detect import target_of
from kapsec.auditlog.event import AuditEvent, parse_time
from kapsec.errors import UsageError

Check = Callable[[AuditEvent], bool]

DEFAULT_FIELDS = ("time", "user", "verb", "target", "code", "decision")
#: Column names usable in --fields besides any audit event field path.
COLUMNS: dict[str, Callable[[AuditEvent], Any]] = {
    "time": lambda e: e.received,
    "user": lambda e: e.user.username or "<unauthenticated>",
    "as": lambda e: e.impersonatedUser.username if e.impersonatedUser else "",
    "verb": lambda e: e.verb,
    "target": target_of,
    "namespace": lambda e: e.objectRef.namespace if e.objectRef else "",
    "resource": lambda e: e.objectRef.resource if e.objectRef else "",
    "subresource": lambda e: e.objectRef.subresource if e.objectRef else "",
    "name": lambda e: e.objectRef.name if e.objectRef else "",
    "code": lambda e: e.code or "",
    "decision": lambda e: e.decision,
    "sourceIP": lambda e: e.sourceIPs[0] if e.sourceIPs else "",
    "userAgent": lambda e: e.userAgent,
    "stage": lambda e: e.stage,
    "level": lambda e: e.level,
    "auditID": lambda e: e.auditID,
    "uri": lambda e: e.requestURI,
}

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """``24h``/``30m``/``7d`` (ago) or an RFC 3339 time; raises UsageError."""
    m = _DURATION.match(text.strip())
    if m:
        now = now or datetime.now(UTC)
        return now - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    t = parse_time(text)
    if t is None:
        raise UsageError(f"not a duration (24h, 30m, 7d) or an RFC 3339 time: {text!r}")
    return t


def _code_check(spec: str) -> tuple[Callable[[int], bool], bytes | None]:
    s = spec.strip().lower()
    if re.fullmatch(r"\d{3}", s):
        n = int(s)
        return (lambda c: c == n), s.encode()
    if re.fullmatch(r"[1-5]xx", s):
        base = int(s[0]) * 100
        return (lambda c: base <= c < base + 100), None
    m = re.fullmatch(r"(\d{3})-(\d{3})", s)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        return (lambda c: lo <= c <= hi), None
    raise UsageError(f"--code takes 403, 4xx or 400-499, not {spec!r}")


def _globs(pats: Sequence[str]) -> Callable[[str], bool]:
    plain = {p for p in pats if not any(ch in p for ch in "*?[")}
    globs = [p for p in pats if p not in plain]
    return lambda v: v in plain or any(fnmatch.fnmatchcase(v, g) for g in globs)


def _literal(pats: Sequence[str]) -> tuple[bytes, ...] | None:
    """Needles for values matched exactly: the longest run without JSON-escapable characters."""
    out = []
    for p in pats:
        pieces = [x for x in re.split(r'[*?\[\]"\\/<>&\x80-\U0010ffff]+', p) if x]
        best = max(pieces, key=len, default="")
        if len(best) < 3:
            return None
        out.append(best.encode())
    return tuple(out) if out else None


@dataclass
class Query:
    users: Sequence[str] = ()
    groups: Sequence[str] = ()
    verbs: Sequence[str] = ()
    resources: Sequence[str] = ()  # resource, resource/sub, resource.group
    subresources: Sequence[str] = ()
    namespaces: Sequence[str] = ()
    names: Sequence[str] = ()
    codes: Sequence[str] = ()
    decisions: Sequence[str] = ()
    impersonated: bool = False
    source_ips: Sequence[str] = ()
    user_agents: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None
    checks: list[Check] = field(default_factory=list, init=False)
    needle_sets: list[tuple[bytes, ...]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._compile()

    def _compile(self) -> None:
        c = self.checks
        ns = self.needle_sets

        def add_needles(n: tuple[bytes, ...] | None) -> None:
            if n:
                ns.append(n)

        if self.users:
            m_user = _globs(self.users)
            c.append(
                lambda e: (
                    m_user(e.user.username)
                    or (e.impersonatedUser is not None and m_user(e.impersonatedUser.username))
                )
            )
            add_needles(_literal(self.users))
        if self.groups:
            m_group = _globs(self.groups)
            c.append(
                lambda e: (
                    any(m_group(g) for g in e.user.groups)
                    or (e.impersonatedUser is not None and any(m_group(g) for g in e.impersonatedUser.groups))
                )
            )
            add_needles(_literal(self.groups))
        if self.verbs:
            vs = set(self.verbs)
            c.append(lambda e: e.verb in vs)
            add_needles(_literal(self.verbs))
        if self.resources:
            specs = []
            for r in self.resources:
                res, _, sub = r.partition("/")
                res, _, grp = res.partition(".")
                specs.append((res, sub or None, grp or None))

            def res_ok(e: AuditEvent) -> bool:
                ref = e.objectRef
                if ref is None:
                    return False
                for res, sub, grp in specs:
                    if (
                        fnmatch.fnmatchcase(ref.resource, res)
                        and (sub is None or ref.subresource == sub)
                        and (grp is None or ref.apiGroup == grp)
                    ):
                        return True
                return False

            c.append(res_ok)
            add_needles(_literal([s[0] for s in specs]))
        if self.subresources:
            subs = set(self.subresources)
            c.append(lambda e: e.objectRef is not None and e.objectRef.subresource in subs)
            add_needles(_literal(self.subresources))
        if self.namespaces:
            m_ns = _globs(self.namespaces)
            c.append(lambda e: e.objectRef is not None and m_ns(e.objectRef.namespace))
            add_needles(_literal(self.namespaces))
        if self.names:
            m_name = _globs(self.names)
            c.append(lambda e: e.objectRef is not None and m_name(e.objectRef.name))
            add_needles(_literal(self.names))
        if self.codes:
            parsed = [_code_check(x) for x in self.codes]
            c.append(lambda e: any(p(e.code) for p, _ in parsed))
            if all(n is not None for _, n in parsed):
                ns.append(tuple(n for _, n in parsed if n is not None))
        if self.decisions:
            ds = {d.lower() for d in self.decisions}
            c.append(lambda e: e.decision.lower() in ds)
            add_needles(_literal(self.decisions))
        if self.impersonated:
            c.append(lambda e: e.impersonatedUser is not None)
            ns.append((b"impersonatedUser",))
        if self.source_ips:
            nets = []
            for s in self.source_ips:
                try:
                    nets.append(ipaddress.ip_network(s, strict=False))
                except ValueError:
                    raise UsageError(f"--source-ip takes an address or CIDR range, not {s!r}") from None

            def ip_ok(e: AuditEvent) -> bool:
                for ip in e.sourceIPs:
                    try:
                        a = ipaddress.ip_address(ip)
                    except ValueError:
                        continue
                    if any(a in n for n in nets):
                        return True
                return False

            c.append(ip_ok)
        if self.user_agents:
            m_agent = _globs(self.user_agents)
            c.append(lambda e: m_agent(e.userAgent))
        if self.since is not None or self.until is not None:
            lo, hi = self.since, self.until

            def time_ok(e: AuditEvent) -> bool:
                t = parse_time(e.received)
                if t is None:
                    return False
                return (lo is None or t >= lo) and (hi is None or t < hi)

            c.append(time_ok)

    def matches(self, e: AuditEvent) -> bool:
        return all(check(e) for check in self.checks)

    def prefilter(self) -> Callable[[bytes], bool] | None:
        """A byte test every matching line passes (None when the query gives no literal)."""
        if not self.needle_sets:
            return None
        sets = self.needle_sets

        def test(line: bytes) -> bool:
            return all(any(n in line for n in group) for group in sets)

        return test


def column(name: str) -> Callable[[AuditEvent], Any]:
    """The accessor for a --fields column (a short name or an audit event field path)."""
    if name in COLUMNS:
        return COLUMNS[name]
    try:
        get = fields.getter(name)
    except ValueError as exc:
        raise UsageError(f"--fields: {exc}; short names: {', '.join(COLUMNS)}") from None

    def value(e: AuditEvent) -> Any:
        vs = get(e)
        if not vs:
            return ""
        return vs[0] if len(vs) == 1 else vs

    return value
