"""Run the rule pack over an event stream: alerts, allowlists, correlations, blind spots.

A rule fires at most once per request (``auditID``), on the first stage that satisfies it and is
one of the rule's stages, so ResponseStarted gives an early alert for exec and the 401s that have
no later stage. A rule whose condition depends on a request body the policy did not log is
*blind* for that event: counted per rule so that the user learns which detections the audit
policy disables. Allowlist entries suppress alerts and are reported when unused.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import yaml

from kapsec.auditlog import fields
from kapsec.auditlog.event import AuditEvent, parse_time
from kapsec.auditlog.pack import Rule, RuleIndex, RulePack
from kapsec.auditlog.reader import Location
from kapsec.errors import InputError, ValidationError
from kapsec.model.findings import Severity

_SEEN_MEMORY = 100000


def target_of(e: AuditEvent) -> str:
    """What the request touched: ``resource[/sub][.group] [namespace/]name``, or its path."""
    ref = e.objectRef
    if ref is None or not ref.resource:
        return e.requestURI.split("?", 1)[0]
    res = ref.resource + (f"/{ref.subresource}" if ref.subresource else "")
    if ref.apiGroup:
        res = f"{res}.{ref.apiGroup}"
    if ref.resource == "namespaces" and ref.name:
        return f"{res} {ref.name}"
    if ref.namespace:
        return f"{res} {ref.namespace}/{ref.name or '*'}"
    return f"{res} {ref.name}" if ref.name else res


@dataclass(frozen=True)
class Alert:
    rule_id: str
    title: str
    severity: Severity
    confidence: str
    mitre: tuple[str, ...]
    audit_id: str
    stage: str
    time: str
    user: str
    impersonated: str
    verb: str
    target: str
    code: int
    decision: str
    source_ip: str
    user_agent: str
    location: Location | None
    detail: str = ""
    # The event part of to_dict() already encoded as JSON (by the worker that matched it).
    event_json: bytes = field(default=b"", compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "rule": self.rule_id,
            "title": self.title,
            "severity": self.severity.label,
            "confidence": self.confidence,
            "mitre": list(self.mitre),
        }
        d.update(event_part(self.audit_id, self.stage, self.time, self.user, self.impersonated, self.verb,
                            self.target, self.code, self.decision, self.source_ip, self.user_agent))  # fmt: skip
        d["file"] = self.location.file if self.location else None
        d["line"] = self.location.line if self.location else None
        if self.detail:
            d["detail"] = self.detail
        return d

    def summary(self) -> str:
        who = self.user or "<unauthenticated>"
        if self.impersonated:
            who += f" as {self.impersonated}"
        code = f" -> {self.code}" if self.code else ""
        return f"{who} {self.verb} {self.target}{code}"


def event_part(  # noqa: PLR0917 - the alert's event fields, in output order
    audit_id: str,
    stage: str,
    time: str,
    user: str,
    impersonated: str,
    verb: str,
    target: str,
    code: int,
    decision: str,
    source_ip: str,
    user_agent: str,
) -> dict[str, Any]:
    return {
        "auditID": audit_id,
        "stage": stage,
        "time": time,
        "user": user,
        "impersonatedUser": impersonated or None,
        "verb": verb,
        "target": target,
        "code": code or None,
        "decision": decision or None,
        "sourceIP": source_ip or None,
        "userAgent": user_agent,
    }


def event_part_of(e: AuditEvent) -> dict[str, Any]:
    imp = e.impersonatedUser.username if e.impersonatedUser is not None else ""
    src = e.sourceIPs[0] if e.sourceIPs else ""
    return event_part(e.auditID, e.stage, e.received, e.user.username, imp, e.verb, target_of(e), e.code,
                      e.decision, src, e.userAgent)  # fmt: skip


_fast_enc = msgspec.json.Encoder()


def _rule_prefix(rule: Rule) -> str:
    """The rule part of an alert's JSON: ``{"rule":…,"mitre":[…],`` (the event part follows)."""
    head = {
        "rule": rule.id,
        "title": rule.title,
        "severity": rule.severity.label,
        "confidence": rule.confidence,
        "mitre": list(rule.mitre),
    }
    return _fast_enc.encode(head)[:-1].decode() + ","


def _correlation_detail(c: Any, n: int, group: tuple[str, ...]) -> str:
    return f"{n} matches of {', '.join(c.base)} within {int(c.timespan)}s for " + ", ".join(
        f"{f}={g or '<none>'}" for f, g in zip(c.group_by, group, strict=True)
    )


def make_alert(
    rule: Rule, e: AuditEvent, loc: Location | None, detail: str = "", event_json: bytes = b""
) -> Alert:
    imp = e.impersonatedUser.username if e.impersonatedUser is not None else ""
    return Alert(
        rule_id=rule.id,
        title=rule.title,
        severity=rule.severity,
        confidence=rule.confidence,
        mitre=rule.mitre,
        audit_id=e.auditID,
        stage=e.stage,
        time=e.received,
        user=e.user.username,
        impersonated=imp,
        verb=e.verb,
        target=target_of(e),
        code=e.code,
        decision=e.decision,
        source_ip=e.sourceIPs[0] if e.sourceIPs else "",
        user_agent=e.userAgent,
        location=loc,
        detail=detail,
        event_json=event_json,
    )


# ---------------------------------------------------------------------------------------------
# Allowlists

_ALLOW_KEYS = {
    "rules": "rule ids, or '*'",
    "users": "user.username globs (the impersonated user counts too)",
    "groups": "user.groups globs",
    "namespaces": "objectRef.namespace globs",
    "names": "objectRef.name globs",
    "resources": "objectRef.resource globs",
    "verbs": "verbs",
    "userAgents": "userAgent globs",
    "sourceIPs": "addresses or CIDR ranges",
    "reason": "why this is allowed (required)",
}


@dataclass
class AllowEntry:
    rules: tuple[str, ...]
    conds: Mapping[str, tuple[str, ...]]
    reason: str
    where: str
    used: int = 0

    def matches(self, rule_id: str, e: AuditEvent) -> bool:
        if "*" not in self.rules and rule_id not in self.rules:
            return False
        return all(any(_cond_match(key, p, e) for p in pats) for key, pats in self.conds.items())


def _glob_any(pattern: str, values: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(v, pattern) for v in values)


def _cond_match(key: str, pat: str, e: AuditEvent) -> bool:
    ref = e.objectRef
    if key == "users":
        names = [e.user.username] + ([e.impersonatedUser.username] if e.impersonatedUser else [])
        return _glob_any(pat, names)
    if key == "groups":
        return _glob_any(pat, e.user.groups)
    if key == "namespaces":
        return _glob_any(pat, [ref.namespace if ref else ""])
    if key == "names":
        return _glob_any(pat, [ref.name if ref else ""])
    if key == "resources":
        return _glob_any(pat, [ref.resource if ref else ""])
    if key == "verbs":
        return e.verb == pat
    if key == "userAgents":
        return _glob_any(pat, [e.userAgent])
    if key == "sourceIPs":
        try:
            net = ipaddress.ip_network(pat, strict=False)
        except ValueError:
            return pat in e.sourceIPs
        for ip in e.sourceIPs:
            try:
                if ipaddress.ip_address(ip) in net:
                    return True
            except ValueError:
                continue
        return False
    return False


def load_allowlist(path: str, pack: RulePack) -> list[AllowEntry]:
    """Read an allowlist file; raises InputError/ValidationError naming the entry at fault."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except OSError as exc:
        raise InputError(f"cannot read allowlist: {exc.strerror}", file=path) from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"cannot read allowlist: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
            file=path,
        ) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(
            f"invalid YAML: {getattr(exc, 'problem', exc)}", file=path, line=mark.line + 1 if mark else None
        ) from exc
    if doc is None:
        return []
    items = doc.get("allow") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ValidationError("an allowlist is a mapping with a list 'allow:'", file=path)
    ids = {r.id for r in pack.rules}
    out: list[AllowEntry] = []
    for i, item in enumerate(items):
        where = f"allow[{i}]"
        if not isinstance(item, dict):
            raise ValidationError("each entry must be a mapping", file=path, field=where)
        unknown = set(item) - set(_ALLOW_KEYS)
        if unknown:
            raise ValidationError(
                f"unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(_ALLOW_KEYS)}",
                file=path,
                field=where,
            )
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("every entry needs a 'reason'", file=path, field=where)
        rules = item.get("rules")
        if isinstance(rules, str):
            rules = [rules]
        if not isinstance(rules, list) or not rules or not all(isinstance(r, str) for r in rules):
            raise ValidationError("'rules' must name rule ids (or '*')", file=path, field=where)
        bad = [r for r in rules if r != "*" and r not in ids]
        if bad:
            raise ValidationError(f"unknown rule id(s): {', '.join(bad)}", file=path, field=f"{where}.rules")
        conds: dict[str, tuple[str, ...]] = {}
        for key in _ALLOW_KEYS:
            if key in ("rules", "reason") or key not in item:
                continue
            v = item[key]
            if isinstance(v, str):
                v = [v]
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ValidationError(
                    f"'{key}' must be a string or a list of strings", file=path, field=f"{where}.{key}"
                )
            conds[key] = tuple(v)
        out.append(AllowEntry(tuple(rules), conds, reason.strip(), f"{path}:{where}"))
    return out


# ---------------------------------------------------------------------------------------------
# The engine


@dataclass
class DetectStats:
    events: int = 0
    alerts: int = 0
    suppressed: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)
    blind: Counter[str] = field(default_factory=Counter)


class Detector:
    def __init__(
        self, pack: RulePack, allow: Sequence[AllowEntry] = (), min_severity: Severity = Severity.INFO
    ) -> None:
        self.pack = pack
        self.allow = list(allow)
        self.stats = DetectStats()
        self.simple = [r for r in pack.rules if r.correlation is None]
        self.index = RuleIndex(self.simple)
        self.correlations = [r for r in pack.rules if r.correlation is not None]
        self._corr_by_base: dict[str, list[Rule]] = {}
        for c in self.correlations:
            assert c.correlation is not None
            for b in c.correlation.base:
                self._corr_by_base.setdefault(b, []).append(c)
        silent: set[str] = set()
        for c in self.correlations:
            assert c.correlation is not None
            if not c.correlation.generate:
                silent.update(c.correlation.base)
        self._silent = silent
        self._windows: dict[tuple[str, tuple[str, ...]], deque[float]] = {}
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.min_severity = min_severity
        self._by_id = {r.id: r for r in pack.rules}
        self._group_getters: dict[str, list[fields.Getter]] = {}
        self.max_severity: Severity | None = None
        # rule id -> the JSON prefix of its alerts, None when it raises none (silent, below minimum)
        self._emit_prefix: dict[str, str | None] | None = None

    def _first(self, rule_id: str, audit_id: str) -> bool:
        if not audit_id:
            return True
        key = (rule_id, audit_id)
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > _SEEN_MEMORY:
            self._seen.popitem(last=False)
        return True

    def _allowed(self, rule_id: str, e: AuditEvent) -> bool:
        for entry in self.allow:
            if entry.matches(rule_id, e):
                entry.used += 1
                return True
        return False

    def feed(self, e: AuditEvent, loc: Location | None = None) -> list[Alert]:
        """Evaluate every rule on one event; the alerts it raises."""
        hits = []
        for rule in self.index.candidates(e):
            if rule.stages and e.stage not in rule.stages:
                continue
            assert rule.predicate is not None
            r = rule.predicate(e)
            if r is None:
                self.stats.blind[rule.id] += 1
            elif r:
                hits.append(rule.id)
        return self.feed_hits(e, loc, hits)

    def feed_hits(
        self,
        e: AuditEvent,
        loc: Location | None,
        hits: Sequence[str],
        event_json: bytes = b"",
        ts: float | None = None,
    ) -> list[Alert]:
        """The alerts for rules already known to match ``e`` (evaluated in a worker process,
        which may also have encoded the alert's event part and parsed the time)."""
        self.stats.events += 1
        out: list[Alert] = []
        for rule_id in hits:
            rule = self._by_id[rule_id]
            if not self._first(rule.id, e.auditID):
                continue
            if self._allowed(rule.id, e):
                self.stats.suppressed += 1
                continue
            if rule.id not in self._silent and rule.severity >= self.min_severity:
                self._emit(out, make_alert(rule, e, loc, event_json=event_json))
            for corr in self._corr_by_base.get(rule.id, ()):
                self._correlate(corr, e, loc, out, ts)
        return out

    def feed_batch(self, path: str, base: int, records: Sequence[tuple[Any, ...]]) -> str:
        """The JSON lines of the alerts for what a worker matched in one task, without decoding
        any event: each record is ``(line index, auditID, rule ids, event part, time, groups,
        _)`` (see :mod:`kapsec.auditlog.scan`). Only without allowlists, which need the event.

        The output is the same as :func:`~kapsec.auditlog.sinks.alert_json` of the alerts
        :meth:`feed_hits` would raise."""
        assert not self.allow
        tail = ',"file":' + _fast_enc.encode(path).decode() + ',"line":'
        out: list[str] = []
        fired: list[str] = []
        seen = self._seen
        emit = self._emit_prefix
        if emit is None:
            emit = self._emit_prefix = {
                r.id: _rule_prefix(r)
                if r.id not in self._silent and r.severity >= self.min_severity
                else None
                for r in self.pack.rules
            }
        bases = self._corr_by_base
        self.stats.events += len(records)
        for i, audit_id, hits, body, ts, groups, _raw in records:
            for rule_id in hits:
                if audit_id:
                    key = (rule_id, audit_id)
                    if key in seen:
                        continue
                    seen[key] = None
                    if len(seen) > _SEEN_MEMORY:
                        seen.popitem(last=False)
                prefix = emit[rule_id]
                if prefix is not None:
                    fired.append(rule_id)
                    out.append(f"{prefix}{body}{tail}{base + i + 1}}}\n")
                if rule_id in bases:
                    for corr in bases[rule_id]:
                        c = corr.correlation
                        assert c is not None
                        group = groups.get(corr.id, ()) if groups else ()
                        win = self._windows.setdefault((corr.id, group), deque())
                        win.append(ts)
                        while win and ts - win[0] > c.timespan:
                            win.popleft()
                        if len(win) >= c.threshold:
                            n = len(win)
                            win.clear()
                            cprefix = emit[corr.id]
                            if cprefix is None:
                                continue
                            fired.append(corr.id)
                            detail = _fast_enc.encode(_correlation_detail(c, n, group)).decode()
                            out.append(f'{cprefix}{body}{tail}{base + i + 1},"detail":{detail}}}\n')
        if fired:
            counts = Counter(fired)
            for rule_id, n in counts.items():
                sev = self._by_id[rule_id].severity
                self.stats.alerts += n
                self.stats.by_rule[rule_id] += n
                self.stats.by_severity[sev.label] += n
                if self.max_severity is None or sev > self.max_severity:
                    self.max_severity = sev
        return "".join(out)

    def _count(self, severity: Severity, rule_id: str) -> None:
        self.stats.alerts += 1
        self.stats.by_rule[rule_id] += 1
        self.stats.by_severity[severity.label] += 1
        if self.max_severity is None or severity > self.max_severity:
            self.max_severity = severity

    def _emit(self, out: list[Alert], alert: Alert) -> None:
        if alert.severity < self.min_severity:
            return
        self._count(alert.severity, alert.rule_id)
        out.append(alert)

    def _correlate(
        self, corr: Rule, e: AuditEvent, loc: Location | None, out: list[Alert], ts: float | None = None
    ) -> None:
        c = corr.correlation
        assert c is not None
        getters = self._group_getters.get(corr.id)
        if getters is None:
            getters = self._group_getters[corr.id] = [fields.getter(f) for f in c.group_by]
        group = tuple(",".join(str(v) for v in (g(e) or [])) for g in getters)
        if ts is None:
            t = parse_time(e.received)
            ts = t.timestamp() if t is not None else 0.0
        now = ts
        win = self._windows.setdefault((corr.id, group), deque())
        win.append(now)
        while win and now - win[0] > c.timespan:
            win.popleft()
        if len(win) >= c.threshold:
            n = len(win)
            win.clear()
            if self._allowed(corr.id, e):
                self.stats.suppressed += 1
                return
            self._emit(out, make_alert(corr, e, loc, _correlation_detail(c, n, group)))

    def unused_allow(self) -> list[AllowEntry]:
        return [a for a in self.allow if a.used == 0]
