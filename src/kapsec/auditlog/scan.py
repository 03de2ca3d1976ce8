"""Scan logs for matching events, on every core when the input is large.

A *spec* says what to look for; it is small and picklable so that worker processes can rebuild
it. Plain JSONL files are cut into byte ranges on line boundaries, gzip files are one task each.
A query worker jumps to the lines holding the query's rarest needle (in a memory map of the
file); a detect worker decodes every line with msgspec and evaluates the rules that can match.
Workers never send events back, only compact records (see :attr:`Built.record`): a query's
finished row, or a detection's rule ids and the alert's event part already encoded. The parent
adds exact line numbers, keeps file order and the sequential state (stage de-duplication, one
alert per request, correlations), so results are identical to a single-process scan (tested).
Memory is bounded by the chunk size times the number of workers.

Records: query ``(line index, auditID, stage, payload)``; detect ``(line index, auditID, rule
ids, event part JSON without braces, time in seconds (correlation bases only), correlation
group-by values or None, the event's JSON without bodies or None on the fast path)``.
"""

from __future__ import annotations

import gc
import gzip
import itertools
import mmap
import multiprocessing
import os
import signal
import zlib
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec
import msgspec.structs

from kapsec.auditlog.detect import target_of
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
_event_decoder = msgspec.json.Decoder(AuditEvent)
#: Below this much input a single process is faster than starting workers.
PARALLEL_MIN_BYTES = 48 * 1024 * 1024

Evaluator = Callable[[AuditEvent], Any]


class EventPart(msgspec.Struct):
    """The event fields of an alert, in output order (encodes like :func:`detect.event_part`)."""

    auditID: str
    stage: str
    time: str
    user: str
    impersonatedUser: str | None
    verb: str
    target: str
    code: int | None
    decision: str | None
    sourceIP: str | None
    userAgent: str


def event_part_body(e: AuditEvent) -> str:
    """The alert's event fields as JSON object members (no braces), as the fast output path writes them."""
    imp = e.impersonatedUser
    rs = e.responseStatus
    part = EventPart(
        e.auditID,
        e.stage,
        e.received,
        e.user.username,
        (imp.username or None) if imp is not None else None,
        e.verb,
        target_of(e),
        (rs.code or None) if rs is not None else None,
        e.annotations.get("authorization.k8s.io/decision") or None,
        (e.sourceIPs[0] or None) if e.sourceIPs else None,
        e.userAgent,
    )
    return _enc.encode(part)[1:-1].decode()


_SECONDS: dict[str, int] = {}


def epoch_seconds(text: str) -> float:
    """``parse_time(text).timestamp()`` (0.0 when unparsable), fast for the API server's
    ``2026-11-28T09:11:43.915144Z``: the same float, computed the way ``timestamp()`` does."""
    if len(text) == 27 and text[26] == "Z" and text[19] == "." and text[20:26].isdigit():
        head = text[:19]
        sec = _SECONDS.get(head)
        if sec is None:
            t = parse_time(head + "Z")
            if t is None:
                return 0.0
            sec = int(t.timestamp())
            if len(_SECONDS) > 100000:
                _SECONDS.clear()
            _SECONDS[head] = sec
        return (sec * 1000000 + int(text[20:26])) / 1000000
    t = parse_time(text)
    return t.timestamp() if t is not None else 0.0


class Built(NamedTuple):
    """What a spec compiles to in each process."""

    evaluate: Evaluator
    prefilter: Callable[[bytes], bool] | None
    extra: Counter[str]
    # Groups of case-sensitive needles, one of each group must be in a matching line (query).
    needle_sets: tuple[tuple[bytes, ...], ...]
    # (line index, event, evaluation result, file) -> the record a worker sends back
    record: Callable[[int, AuditEvent, Any, str], tuple[Any, ...]]


@dataclass(frozen=True)
class QuerySpec:
    kwargs: tuple[tuple[str, Any], ...]
    #: What workers send back for a matching event: ``event`` (the event's JSON, decoded again
    #: by the parent), ``count`` (nothing), ``values`` (the row of ``columns`` as a dict) or
    #: ``jsonl`` (the row as a JSON line without its line number, see :class:`Batch`).
    mode: str = "event"
    columns: tuple[str, ...] = ()

    def build(self) -> Built:
        from kapsec.auditlog.query import Query, column

        q = Query(**dict(self.kwargs))
        cols = [(n, column(n)) for n in self.columns]
        mode = self.mode
        checks = q.checks

        def evaluate(e: AuditEvent) -> bool | None:
            for check in checks:
                if not check(e):
                    return None
            return True

        tails: dict[str, str] = {}

        def record(i: int, e: AuditEvent, _r: Any, path: str) -> tuple[Any, ...]:
            payload: Any
            if mode == "count":
                payload = None
            elif mode == "event":
                payload = encode_event(e)
            else:
                values = {n: f(e) for n, f in cols}
                payload = values
                if mode == "jsonl":
                    try:
                        body = _enc.encode(values)
                    except TypeError:
                        pass  # the parent writes it with json's fallback for unknown types
                    else:
                        tail = tails.get(path)
                        if tail is None:
                            tail = tails[path] = '"file":' + _enc.encode(path).decode() + ',"line":'
                        head = body[:-1].decode()
                        payload = head + ("," if len(head) > 1 else "") + tail
            return (i, e.auditID, e.stage, payload)

        return Built(evaluate, q.prefilter(), Counter(), tuple(q.needle_sets), record)


@dataclass(frozen=True)
class DetectSpec:
    rule_dirs: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    #: Workers send no copy of the event (the parent writes JSON lines from the event part and
    #: needs no allowlist or sink): see :meth:`Detector.feed_batch`.
    fast: bool = False

    def build(self) -> Built:
        from kapsec.auditlog import fields
        from kapsec.auditlog.pack import RuleIndex, load_pack

        pack = _PACKS.get((self.rule_dirs, self.only))
        if pack is None:
            pack = load_pack(self.rule_dirs, only=self.only)
        index = RuleIndex(pack.rules)
        blind: Counter[str] = Counter()
        # base rule -> [(correlation id, getters of its group-by fields)]
        corr: dict[str, list[tuple[str, list[fields.Getter]]]] = {}
        for r in pack.rules:
            if r.correlation is not None:
                for b in r.correlation.base:
                    corr.setdefault(b, []).append((r.id, [fields.getter(f) for f in r.correlation.group_by]))
        select = index._select
        # (resource, verb, code, stage) -> [(rule id, predicate)] worth evaluating, in pack order
        plans: dict[tuple[str, str, int, str], list[tuple[str, Any]]] = {}

        def plan(key: tuple[str, str, int, str]) -> list[tuple[str, Any]]:
            got = [
                (r.id, r.predicate)
                for r in select(key[:3])
                if r.predicate is not None and (not r.stages or key[3] in r.stages)
            ]
            if len(plans) < 8192:
                plans[key] = got
            return got

        def evaluate(e: AuditEvent) -> tuple[str, ...] | None:
            ref = e.objectRef
            rs = e.responseStatus
            key = (ref.resource if ref is not None else "", e.verb, rs.code if rs is not None else 0, e.stage)
            rules = plans.get(key)
            if rules is None:
                rules = plan(key)
            hits: list[str] | None = None
            for rule_id, pred in rules:
                r = pred(e)
                if r:
                    if hits is None:
                        hits = [rule_id]
                    else:
                        hits.append(rule_id)
                elif r is None:
                    blind[rule_id] += 1
            return tuple(hits) if hits is not None else None

        fast = self.fast

        def record(i: int, e: AuditEvent, hits: tuple[str, ...], _path: str) -> tuple[Any, ...]:
            # Detect: what the parent needs to de-duplicate, correlate and write without
            # decoding the event again; the event itself (bodies dropped) only when an
            # allowlist or another output needs it.
            ts = 0.0
            groups: dict[str, tuple[str, ...]] | None = None
            for h in hits:
                if h in corr:
                    for cid, getters in corr[h]:
                        if groups is None:
                            groups = {}
                            ts = epoch_seconds(e.received)
                        key = []
                        for g in getters:
                            vs = g(e) or ()
                            v0 = vs[0] if len(vs) == 1 else None
                            key.append(v0 if type(v0) is str else ",".join(str(v) for v in vs))
                        groups[cid] = tuple(key)
            raw = (
                None
                if fast
                else _enc.encode(msgspec.structs.replace(e, requestObject=_NULL, responseObject=_NULL))
            )
            return (i, e.auditID, hits, event_part_body(e), ts, groups, raw)

        pre = needle_filter(pack.needles)
        return Built(evaluate, pre, blind, (), record)


Spec = QuerySpec | DetectSpec
#: Rule packs the parent already loaded, inherited by forked workers: (rule_dirs, only) -> pack.
_PACKS: dict[tuple[tuple[str, ...], tuple[str, ...]], Any] = {}


def share_pack(rule_dirs: Sequence[str], only: Sequence[str], pack: Any) -> None:
    """Let :class:`DetectSpec` reuse a pack this process loaded (forked workers inherit it)."""
    _PACKS.clear()
    _PACKS[(tuple(rule_dirs), tuple(only))] = pack


class Batch(NamedTuple):
    """The records of one worker task: line ``base + i + 1`` of ``path`` for record index ``i``."""

    path: str
    base: int
    hits: list[tuple[Any, ...]]


class NeedleFilter:
    """A case-insensitive test that the raw line holds one of the needles.

    Adaptive: a needle that hits moves one place forward (frequent ones end up first), and when
    most lines pass (more than 75% of the first 4,000) the test switches itself off (``off``):
    lowering and scanning every line then costs more than decoding the few it would skip
    (measured). (One regular expression of all needles was measured slower: Python's engine
    tries each alternative at each position.)
    """

    def __init__(self, needles: tuple[bytes, ...]) -> None:
        self.needles = sorted(set(needles), key=len)
        self.seen = 0
        self.passed = 0
        self.off = False

    def __call__(self, line: bytes) -> bool:
        if self.off:
            return True
        if line[:1] != b"{" or not (line.endswith(b"}") or line.rstrip().endswith(b"}")):
            # Not one whole JSON object: let the decoder see it, so a malformed line is
            # reported (file:line) rather than ruled out and counted as an event checked.
            return True
        low = line.lower()
        hit = False
        ns = self.needles
        for i, n in enumerate(ns):
            if n in low:
                if i:
                    ns[i - 1], ns[i] = ns[i], ns[i - 1]
                hit = True
                break
        self.seen += 1
        self.passed += hit
        if self.seen == 4000 and self.passed > 3000:
            self.off = True
        return hit


def needle_filter(needles: tuple[bytes, ...] | None) -> NeedleFilter | None:
    """A :class:`NeedleFilter`, or None without needles."""
    return NeedleFilter(needles) if needles else None


@dataclass
class ChunkResult:
    hits: list[tuple[Any, ...]] = field(default_factory=list)  # records, see Built.record
    lines: int = 0
    stats: ReadStats = field(default_factory=ReadStats)
    extra: Counter[str] = field(default_factory=Counter)


_worker_state: dict[str, Any] = {}


def _init_worker(spec: Spec) -> None:
    # Ctrl-C is the parent's to handle (it stops the pool): a worker printing its own
    # KeyboardInterrupt traceback, or dying mid-task and breaking the pool, is noise. The parent
    # forks with SIGINT blocked, so one arriving before this line stays pending and is dropped.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if _worker_state.get("spec") != spec:
        _worker_state["built"] = spec.build()
        _worker_state["spec"] = spec
    # The scan allocates millions of short-lived objects and creates no reference cycles: the
    # cyclic collector would only cost time (5-10%, measured). One collection per task instead.
    _worker_state["worker"] = True
    gc.freeze()
    gc.disable()


def _locate(
    buf: Any, lo: int, hi: int, sets: tuple[tuple[bytes, ...], ...]
) -> tuple[list[tuple[int, int]], int] | None:
    """(line index, offset) of the lines of ``buf[lo:hi]`` holding a needle of the rarest group,
    and the number of lines; None when that group is common enough that reading every line is
    cheaper. ``buf`` is bytes or a memory map of the file (nothing copied).

    The needles are found at C speed; newlines are counted with ``find`` (memchr: twice as
    fast as ``bytes.count``), never a Python step per line read."""
    sample = buf[lo : min(hi, lo + (1 << 20))]
    best = min(sets, key=lambda g: sum(sample.count(x) for x in g))
    # More hits than a third of the lines: give up (estimated from the sample's line length).
    limit = max(64, (hi - lo) * (sample.count(b"\n") + 1) // (3 * len(sample))) if sample else 0
    starts: set[int] = set()
    find, rfind = buf.find, buf.rfind
    for needle in best:
        pos = find(needle, lo, hi)
        while pos != -1:
            starts.add(max(lo, rfind(b"\n", lo, pos) + 1))
            if len(starts) > limit:
                return None
            e = find(b"\n", pos, hi)
            if e == -1:
                break
            pos = find(needle, e + 1, hi)
    out = []
    idx = 0
    pos = lo
    for s in sorted(starts):
        while True:  # count the newlines before s
            nl = find(b"\n", pos, s)
            if nl == -1:
                break
            idx += 1
            pos = nl + 1
        pos = s
        out.append((idx, s))
    while True:
        nl = find(b"\n", pos, hi)
        if nl == -1:
            break
        idx += 1
        pos = nl + 1
    if pos < hi:  # a last line without a newline
        idx += 1
    return out, idx


def _mapped(path: str) -> mmap.mmap | None:
    """A read-only memory map of the file, or None when it cannot be mapped."""
    try:
        with open(path, "rb") as fh:
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None


def _scan_chunk(task: tuple[str, int, int, bool]) -> ChunkResult:
    path, start, end, gz = task
    built: Built = _worker_state["built"]
    evaluate, pre, extra, sets, record = built
    extra.clear()
    res = ChunkResult()
    st = res.stats
    out = res.hits
    decode = _event_decoder.decode

    def process(i: int, raw: bytes) -> None:
        if raw[:1] != b"{" and not raw.strip():
            return
        if pre is not None and not pre(raw):
            st.skipped += 1
            return
        try:
            ev = decode(raw)
            events = [ev] if (ev.auditID or ev.verb or ev.stage) else decode_line(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            try:
                events = decode_line(raw)  # a legacy line, an envelope, or the error's reason
            except ValueError as exc:
                st.bad_line(Location("", i + 1), str(exc))  # the parent names the file and line
                return
        except ValueError as exc:
            st.bad_line(Location("", i + 1), str(exc))
            return
        for ev in events:
            st.events += 1
            r = evaluate(ev)
            if r is not None:
                # The event itself, not the line: a line may hold several (an EventList).
                out.append(record(i, ev, r, path))

    n = 0
    if gz:
        gz_fh = open_log(path)
        try:
            for i, line in enumerate(gz_fh):  # streamed: a backup may be 100 MB
                n = i + 1
                st.bytes += len(line)
                process(i, line.rstrip(b"\n"))
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise InputError(
                f"compressed data is truncated or corrupt after line {n} ({exc})", file=path
            ) from exc
        finally:
            gz_fh.close()
    else:
        st.bytes += end - start
        located = None
        mm: Any = None
        if sets:
            # A query with needles: jump to the lines holding them, in the mapped file.
            mm = _mapped(path)
            if mm is not None:
                located = _locate(mm, start, end, sets)
        if located is not None:
            find = mm.find
            hits_at, n = located
            if len(sets) == 1:
                # Every located line holds a needle of the only group (the pre-filter is a
                # necessary condition only: the typed checks decide either way).
                pre = None
            for i, s in hits_at:
                e = find(b"\n", s, end)
                process(i, mm[s:end] if e == -1 else mm[s:e])
            st.skipped += n - len(hits_at)
        else:
            with open(path, "rb") as fh:
                fh.seek(start)
                data = fh.read(end - start)
            lines = data.split(b"\n")
            del data
            if lines[-1] == b"":
                lines.pop()
            n = len(lines)
            if pre is not None and getattr(pre, "off", False):
                pre = None
            if pre is not None:
                for i, raw in enumerate(lines):
                    process(i, raw)
            else:  # the hot loop, inlined; anything unusual goes through process()
                events = 0
                for i, raw in enumerate(lines):
                    try:
                        ev = decode(raw)
                    except (msgspec.DecodeError, msgspec.ValidationError):
                        process(i, raw)
                        continue
                    if not (ev.auditID or ev.verb or ev.stage):
                        process(i, raw)
                        continue
                    events += 1
                    r = evaluate(ev)
                    if r is not None:
                        out.append(record(i, ev, r, path))
                st.events += events
        if mm is not None:
            mm.close()
    res.lines = n
    st.lines += n
    res.extra = Counter(extra)
    if _worker_state.get("worker"):
        gc.collect()
    return res


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
    batched: bool = False,
) -> Generator[Any, None, None]:
    """Yield ``(event, location, result)`` for every event the spec matches, in file order.

    ``jobs``: 0 = every core when the input is large, 1 = this process only. With ``batched``,
    what worker processes found comes as one :class:`Batch` of their records per task instead
    (see :attr:`Built.record`; the parent then decodes nothing), while events read in this
    process still come as ``(event, location, result)``.
    """
    files = expand_paths(paths)
    ncpu = os.cpu_count() or 1
    workers = ncpu if jobs <= 0 else jobs
    planned = _plan(files) if workers > 1 else None
    if planned is None or (jobs <= 0 and planned[1] < PARALLEL_MIN_BYTES) or len(planned[0]) < 2:
        evaluate, pre, ex = spec.build()[:3]
        for ev, loc, _ in read_events_sized(files, stats, prefilter=pre, expand=False):
            r = evaluate(ev)
            if r is not None:
                yield ev, loc, r
        if extra is not None:
            extra.update(ex)
        return
    tasks, _ = planned
    fork = hasattr(os, "fork")
    if fork:  # built once here; the forked workers inherit it
        _worker_state["built"] = spec.build()
        _worker_state["spec"] = spec
    ctx = multiprocessing.get_context("fork" if fork else "spawn")
    collecting = gc.isenabled()
    gc.disable()  # the batches are short-lived tuples and strings (see _init_worker)
    try:
        yield from _run_pool(tasks, spec, stats, workers, ctx, extra, batched)
    finally:
        if collecting:
            gc.enable()


def _run_pool(  # noqa: PLR0917 - scan()'s state, passed on
    tasks: list[tuple[str, int, int, bool]],
    spec: Spec,
    stats: ReadStats,
    workers: int,
    ctx: Any,
    extra: Counter[str] | None,
    batched: bool,
) -> Generator[Any, None, None]:
    line_base: dict[str, int] = {}
    counted: set[str] = set()
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(spec,)
    )
    finished = False
    try:
        # At most two chunks per worker in flight: memory stays bounded even when the parent
        # (alerts, output) is slower than the workers.
        pending: deque[tuple[tuple[str, int, int, bool], Future[ChunkResult]]] = deque()
        todo = iter(tasks)
        # The workers are forked by the first submit: with SIGINT blocked, so that a Ctrl-C
        # right then reaches only this process (see _init_worker).
        masked = hasattr(signal, "pthread_sigmask")
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if masked else None
        try:
            for task in itertools.islice(todo, 2 * workers):
                pending.append((task, pool.submit(_scan_chunk, task)))
        finally:
            if old_mask is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        while pending:
            (path, _s, _e, _gz), fut = pending.popleft()
            try:
                res = fut.result()
            except BrokenProcessPool as exc:
                # A query's worker reads a memory map of the file: if the file shrinks under
                # it (copytruncate rotation of a live log), the kernel kills the worker.
                raise InputError(
                    "a worker process died while reading it (was the file truncated meanwhile?)", file=path
                ) from exc
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
            line_base[path] = base + res.lines
            if batched:
                yield Batch(path, base, hits)
                continue
            for rec in hits:
                loc = Location(path, base + rec[0] + 1)
                if isinstance(spec, QuerySpec):
                    if spec.mode != "event":
                        raise ValueError("scan() without batched needs QuerySpec(mode='event')")
                    yield decode_event(rec[3]), loc, True
                else:
                    if rec[6] is None:
                        raise ValueError("scan() without batched needs DetectSpec(fast=False)")
                    yield decode_event(rec[6]), loc, rec[2]
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _abandon(pool)


def _abandon(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now (Ctrl-C, an error, or the reader stopped early): waiting for the
    chunks in flight would keep the user waiting for results nobody reads."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)  # shutdown() forgets it
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(2)
    # Let the pool's manager thread see its workers gone and close its wake-up pipe now:
    # left running, it races the interpreter's exit hook, which then writes to a closed pipe.
    if manager is not None:
        manager.join(2)
