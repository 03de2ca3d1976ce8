"""Scan logs for matching events, on every core when the input is large.

A *spec* says what to look for; it is small and picklable so that worker processes can rebuild
it. Plain JSONL files are cut into byte ranges on line boundaries, gzip files are one task each;
each worker reads its range, skips lines with the spec's byte pre-filter, decodes the rest with
msgspec and returns only the matching lines. The parent re-decodes those few lines and yields
them in file order with their exact line numbers, so results are identical to a sequential
scan. Memory is bounded by the chunk size times the number of workers.
"""

from __future__ import annotations

import gzip
import itertools
import multiprocessing
import os
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec
import msgspec.structs

from kapsec.auditlog.detect import event_part_of
from kapsec.auditlog.event import AuditEvent, decode_event, encode_event, parse_time
from kapsec.auditlog.reader import (
    Location,
    ReadStats,
    _complete_json,
    decode_line,
    expand_paths,
    open_log,
    read_events_sized,
)
from kapsec.errors import InputError

CHUNK = 8 * 1024 * 1024
_NULL = msgspec.Raw(b"null")
_enc = msgspec.json.Encoder()
#: Below this much input a single process is faster than starting workers.
PARALLEL_MIN_BYTES = 48 * 1024 * 1024

Evaluator = Callable[[AuditEvent], Any]


@dataclass(frozen=True)
class QuerySpec:
    kwargs: tuple[tuple[str, Any], ...]
    strip_bodies = False

    def build(self) -> tuple[Evaluator, Callable[[bytes], bool] | None, Counter[str]]:
        from kapsec.auditlog.query import Query

        q = Query(**dict(self.kwargs))
        return (lambda e: True if q.matches(e) else None), q.prefilter(), Counter()


@dataclass(frozen=True)
class DetectSpec:
    rule_dirs: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    # Alerts, allowlists and correlations read no body: workers send back events without them.
    strip_bodies = True

    def build(self) -> tuple[Evaluator, Callable[[bytes], bool] | None, Counter[str]]:
        from kapsec.auditlog import fields
        from kapsec.auditlog.pack import RuleIndex, load_pack

        pack = load_pack(self.rule_dirs, only=self.only)
        index = RuleIndex(pack.rules)
        blind: Counter[str] = Counter()
        # base rule -> [(correlation id, getters of its group-by fields)]
        corr: dict[str, list[tuple[str, list[fields.Getter]]]] = {}
        for r in pack.rules:
            if r.correlation is not None:
                for b in r.correlation.base:
                    corr.setdefault(b, []).append((r.id, [fields.getter(f) for f in r.correlation.group_by]))

        def evaluate(e: AuditEvent) -> tuple[str, ...] | None:
            hits = []
            for rule in index.candidates(e):
                if rule.stages and e.stage not in rule.stages:
                    continue
                assert rule.predicate is not None
                r = rule.predicate(e)
                if r is None:
                    blind[rule.id] += 1
                elif r:
                    hits.append(rule.id)
            return tuple(hits) if hits else None

        def groups(e: AuditEvent, hits: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
            out: dict[str, tuple[str, ...]] = {}
            for h in hits:
                for cid, getters in corr.get(h, ()):
                    out[cid] = tuple(",".join(str(v) for v in (g(e) or [])) for g in getters)
            return out

        _worker_state["groups"] = groups

        pre = needle_filter(pack.needles)
        return evaluate, pre, blind


Spec = QuerySpec | DetectSpec


class WorkerHit(NamedTuple):
    """What a worker sends back for an event some rules matched."""

    hits: tuple[str, ...]
    event_json: bytes  # the alert's event part, encoded
    ts: float  # requestReceivedTimestamp, seconds
    audit_id: str
    groups: dict[str, tuple[str, ...]]  # correlation id -> group-by values


def needle_filter(needles: tuple[bytes, ...] | None) -> Callable[[bytes], bool] | None:
    """A case-insensitive test that the raw line holds one of the needles.

    Adaptive: a needle that hits moves one place forward (frequent ones end up first), and when
    most lines pass (more than 75% of the first 4,000) the test is dropped: lowering and
    scanning every line then costs more than decoding the few it would skip (measured). (One regular expression of all needles was measured
    slower: Python's engine tries each alternative at each position.)
    """
    if not needles:
        return None
    ns = sorted(set(needles), key=len)
    state = {"seen": 0, "passed": 0, "off": False}

    def test(line: bytes) -> bool:
        if state["off"]:
            return True
        low = line.lower()
        hit = False
        for i, n in enumerate(ns):
            if n in low:
                if i:
                    ns[i - 1], ns[i] = ns[i], ns[i - 1]
                hit = True
                break
        state["seen"] += 1
        state["passed"] += hit
        if state["seen"] == 4000 and state["passed"] > 3000:
            state["off"] = True
        return hit

    return test


@dataclass
class ChunkResult:
    hits: list[tuple[int, bytes, Any]] = field(default_factory=list)  # (line index in chunk, raw, result)
    lines: int = 0
    stats: ReadStats = field(default_factory=ReadStats)
    extra: Counter[str] = field(default_factory=Counter)


_worker_state: dict[str, Any] = {}


def _init_worker(spec: Spec) -> None:
    _worker_state["built"] = spec.build()
    _worker_state["strip"] = spec.strip_bodies


def _scan_chunk(task: tuple[str, int, int, bool]) -> ChunkResult:
    path, start, end, gz = task
    evaluate, pre, extra = _worker_state["built"]
    strip = _worker_state["strip"]
    extra.clear()
    res = ChunkResult()
    st = res.stats
    source: Iterator[bytes]
    gz_fh = None
    if gz:
        gz_fh = open_log(path)
        source = (line.rstrip(b"\n") for line in gz_fh)  # streamed: a backup may be 100 MB
    else:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start)
        source = _lines(data)
    n = 0
    try:
        for i, raw in enumerate(source):
            n = i + 1
            st.bytes += len(raw) + 1
            res.hits.extend(_scan_line(i, raw, st, pre, evaluate, strip))
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise InputError(
            f"compressed data is truncated or corrupt after line {n} ({exc})", file=path
        ) from exc
    finally:
        if gz_fh is not None:
            gz_fh.close()
    res.lines = n
    st.lines += n
    res.extra = Counter(extra)
    return res


def _scan_line(  # noqa: PLR0917 - the hot loop passes its state positionally
    i: int, raw: bytes, st: ReadStats, pre: Callable[[bytes], bool] | None, evaluate: Evaluator, strip: bool
) -> list[tuple[int, bytes, Any]]:
    out: list[tuple[int, bytes, Any]] = []
    if not raw.strip():
        return out
    if pre is not None and not pre(raw):
        st.skipped += 1
        return out
    try:
        events = decode_line(raw)
    except ValueError as exc:
        st.bad_line(Location("", i + 1), str(exc))  # the parent names the file and line
        return out
    for ev in events:
        st.events += 1
        r = evaluate(ev)
        if r is not None:
            if strip:
                # Detect: bodies dropped (written as null), and also what the parent needs to
                # de-duplicate, correlate and write without decoding the event again.
                t = parse_time(ev.received)
                r = WorkerHit(
                    r,
                    _enc.encode(event_part_of(ev)),
                    t.timestamp() if t is not None else 0.0,
                    ev.auditID,
                    _worker_state["groups"](ev, r),
                )
                raw_ev = _enc.encode(msgspec.structs.replace(ev, requestObject=_NULL, responseObject=_NULL))
            else:
                raw_ev = encode_event(ev)
            # The event itself, not the line: a line may hold several (an EventList).
            out.append((i, raw_ev, r))
    return out


def _lines(data: bytes) -> Iterator[bytes]:
    start = 0
    find = data.find
    while True:
        end = find(b"\n", start)
        if end == -1:
            if start < len(data):
                yield data[start:]
            return
        yield data[start:end]
        start = end + 1


def _plan(files: Sequence[str]) -> tuple[list[tuple[str, int, int, bool]], int] | None:
    """Byte-range tasks for the files, or None when some file cannot be split (stdin, a JSON document)."""
    tasks = []
    total = 0
    for path in files:
        if path == "-":
            return None
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as fh:
                magic = fh.read(2)
                fh.seek(0)
                first = fh.readline(1 << 20)
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", file=path) from exc
        total += size
        if magic == b"\x1f\x8b":
            tasks.append((path, 0, size, True))
            continue
        if first.strip()[:1] in (b"{", b"[") and not _complete_json(first.strip()):
            return None
        start = 0
        with open(path, "rb") as fh:
            while start < size:
                end = min(start + CHUNK, size)
                if end < size:
                    fh.seek(end)
                    tail = fh.readline()
                    end += len(tail)
                tasks.append((path, start, end, False))
                start = end
    return tasks, total


def scan(
    paths: Sequence[str],
    spec: Spec,
    stats: ReadStats,
    *,
    jobs: int = 0,
    extra: Counter[str] | None = None,
    decode: bool = True,
) -> Iterator[tuple[Any, Location, Any]]:
    """Yield ``(event, location, result)`` for every event the spec matches, in file order.

    ``jobs``: 0 = every core when the input is large, 1 = this process only. With ``decode``
    false, events found by worker processes come as their JSON (bytes) with a
    :class:`WorkerHit`.
    """
    files = expand_paths(paths)
    ncpu = os.cpu_count() or 1
    workers = ncpu if jobs <= 0 else jobs
    planned = _plan(files) if workers > 1 else None
    if planned is None or (jobs <= 0 and planned[1] < PARALLEL_MIN_BYTES) or len(planned[0]) < 2:
        evaluate, pre, ex = spec.build()
        for ev, loc, _ in read_events_sized(files, stats, prefilter=pre, expand=False):
            r = evaluate(ev)
            if r is not None:
                yield ev, loc, r
        if extra is not None:
            extra.update(ex)
        return
    tasks, _ = planned
    line_base: dict[str, int] = {}
    counted: set[str] = set()
    ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(spec,)
    ) as pool:
        # At most two chunks per worker in flight: memory stays bounded even when the parent
        # (alerts, output) is slower than the workers.
        pending: deque[tuple[tuple[str, int, int, bool], Future[ChunkResult]]] = deque()
        todo = iter(tasks)
        for task in itertools.islice(todo, 2 * workers):
            pending.append((task, pool.submit(_scan_chunk, task)))
        while pending:
            (path, _s, _e, _gz), fut = pending.popleft()
            res = fut.result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(_scan_chunk, nxt)))
            if path not in counted:
                counted.add(path)
                stats.files += 1
            base = line_base.get(path, 0)
            res.stats.errors = [(Location(path, base + loc_.line), why) for loc_, why in res.stats.errors]
            stats.merge(res.stats)
            if extra is not None:
                extra.update(res.extra)
            hits = res.hits
            res.hits = []
            for i, raw, r in hits:
                # decode=False: the caller gets the event's JSON and decodes it only if needed
                yield (decode_event(raw) if decode else raw), Location(path, base + i + 1), r
            line_base[path] = base + res.lines
