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
import multiprocessing
import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import msgspec
import msgspec.structs

from kapsec.auditlog.event import AuditEvent, decode_event, encode_event
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

CHUNK = 16 * 1024 * 1024
_EMPTY = msgspec.Raw()
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
        from kapsec.auditlog.pack import RuleIndex, load_pack

        pack = load_pack(self.rule_dirs, only=self.only)
        index = RuleIndex(pack.rules)
        blind: Counter[str] = Counter()

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

        pre = needle_filter(pack.needles)
        return evaluate, pre, blind


Spec = QuerySpec | DetectSpec


def needle_filter(needles: tuple[bytes, ...] | None) -> Callable[[bytes], bool] | None:
    """A case-insensitive test that the raw line holds one of the needles.

    (One regular expression of all needles was measured slower: Python's engine tries each
    alternative at each position.)"""
    if not needles:
        return None
    ns = tuple(sorted(set(needles), key=len))

    def test(line: bytes) -> bool:
        low = line.lower()
        return any(n in low for n in ns)

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
    if gz:
        fh = open_log(path)
        try:
            data = fh.read()
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise InputError(f"compressed data is truncated or corrupt ({exc})", file=path) from exc
        finally:
            fh.close()
    else:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start)
    st.bytes += len(data)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    res.lines = len(lines)
    st.lines += len(lines)
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        if pre is not None and not pre(raw):
            st.skipped += 1
            continue
        try:
            events = decode_line(raw)
        except ValueError as exc:
            st.bad_line(Location(path, i + 1), str(exc))  # line fixed up by the parent
            continue
        for ev in events:
            st.events += 1
            r = evaluate(ev)
            if r is not None:
                if strip:
                    ev = msgspec.structs.replace(ev, requestObject=_EMPTY, responseObject=_EMPTY)
                # The event itself, not the line: a line may hold several (an EventList).
                res.hits.append((i, encode_event(ev), r))
    res.extra = Counter(extra)
    return res


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
) -> Iterator[tuple[AuditEvent, Location, Any]]:
    """Yield ``(event, location, result)`` for every event the spec matches, in file order.

    ``jobs``: 0 = every core when the input is large, 1 = this process only.
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
        for (path, _s, _e, _gz), res in zip(tasks, pool.map(_scan_chunk, tasks), strict=True):
            if path not in counted:
                counted.add(path)
                stats.files += 1
            base = line_base.get(path, 0)
            for loc_, reason in res.stats.errors:
                res.stats.errors[res.stats.errors.index((loc_, reason))] = (
                    Location(path, base + loc_.line),
                    reason,
                )
            stats.merge(res.stats)
            if extra is not None:
                extra.update(res.extra)
            for i, raw, r in res.hits:
                yield decode_event(raw), Location(path, base + i + 1), r
            line_base[path] = base + res.lines
