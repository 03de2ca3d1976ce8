"""Audit-log throughput: kapsec query and detect against jq on >= 300 MB of realistic events.

Builds the input in a temporary directory (never committed) from the real oracle-1.36 logs in
tests/data (the moderate and RequestResponse sessions and the rotation traffic, mixed as they
come), giving every copy a fresh auditID so that de-duplication does no hidden work. Then, in
one run, it prints for each case the median wall time of several runs (jq and kapsec
alternating, so both see the same machine), CPU time, MB/s, result counts, peak memory (the sum
of the RSS of the kapsec process and its workers, sampled from /proc), the ratio against jq,
and whether the issue's targets are met:

* query ``--verb delete --resource secrets --stage all -o jsonl --fields auditID`` vs
  ``jq -c 'select(.verb=="delete" and .objectRef.resource=="secrets") | {auditID, file: $f,
  line: input_line_number}'``: the same semantics and the same bytes out (checked);
* a user query ``--user mallory`` (user or impersonated user) vs the equivalent select;
* detect with the whole rule pack (``-o jsonl``) vs jq's single select above, on two mixes:
  *all samples* (every oracle log, a third of whose events raise an alert) and *sessions only*.

Fairness: the input is read once before timing (warm page cache for both tools), jq writes the
same bytes as kapsec for the queries, every figure is the median of ``--runs`` runs. kapsec uses
every core (that is its design); the CPU column shows the work done, the load average shows
how busy the machine was (other work slows the wall times of both tools).

Usage: python benchmarks/auditlog.py [--mb 300] [--runs 3] [--keep DIR]
Targets (issue 4): query >= 5x faster than jq; detect with the whole pack >= 2x faster than jq's
single select; peak memory < 200 MB whatever the input size.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORACLE = ROOT / "tests" / "data" / "oracle-1.36" / "audit-logs"
KAPSEC = [sys.executable, "-m", "kapsec"]


def sources(mix: str) -> list[bytes]:
    """``all``: every oracle log, including the rotation run's load generator (3,300 GETs, two
    thirds of them refused: alert-dense); ``sessions``: the two recorded sessions only (the API
    server's own traffic around the 56-step attack session)."""
    lines: list[bytes] = []
    logs = [ORACLE / "moderate" / "audit.log", ORACLE / "requestresponse" / "audit.log"]
    if mix == "all":
        logs.append(ORACLE / "rotation" / "logs" / "audit.log")
    for p in logs:
        lines += p.read_bytes().splitlines(keepends=True)
    if mix == "all":
        for gz in sorted((ORACLE / "rotation" / "logs").glob("*.gz")):
            lines += gzip.decompress(gz.read_bytes()).splitlines(keepends=True)
    return lines


def build(path: Path, mb: int, mix: str = "all") -> int:
    """Write at least ``mb`` MB; returns the number of events."""
    src = sources(mix)
    target = mb * 1024 * 1024
    written = 0
    n = 0
    key = b'"auditID":"'
    with path.open("wb", buffering=8 * 1024 * 1024) as out:
        copy = 0
        while written < target:
            prefix = f"{copy:08x}".encode()
            buf = []
            for line in src:
                i = line.find(key)
                if i >= 0:
                    j = i + len(key)
                    line = line[:j] + prefix + line[j + 8 :]
                buf.append(line)
            chunk = b"".join(buf)
            out.write(chunk)
            written += len(chunk)
            n += len(src)
            copy += 1
    return n


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (one pass over /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out: set[int] = set()
    stack = [pid]
    while stack:
        p = stack.pop()
        for c in children.get(p, ()):
            if c not in out:
                out.add(c)
                stack.append(c)
    return out


def _rss(pids: set[int]) -> int:
    """RSS in bytes summed over the processes (from statm: cheap). The pages the forked workers
    share with the parent are counted once per process: an upper bound."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def _pss(pids: set[int]) -> int:
    """PSS in bytes summed over the processes: shared pages split among their sharers (what the
    tree really uses). Reading smaps_rollup walks the page tables and holds the process's
    memory lock, which slows it: sampled rarely."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            continue
    return total


def run(cmd: list[str], out_path: Path) -> tuple[float, int, int, float, int]:
    """(wall seconds, output lines, peak RSS sum of the process tree in bytes, CPU seconds,
    peak PSS sum in bytes)."""
    peak = peak_pss = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with out_path.open("wb") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        done = threading.Event()

        def sample() -> None:
            # RSS every 50 ms, PSS every 0.5 s; the process tree (workers) re-read every 0.1 s
            # at the start, then every 0.5 s, so that sampling takes little from the tools.
            nonlocal peak, peak_pss
            pids = {p.pid}
            k = 0
            while not done.is_set():
                if k % 10 == 0 or (k < 10 and k % 2 == 0):
                    pids = {p.pid} | _descendants(p.pid)
                k += 1
                peak = max(peak, _rss(pids))
                if k % 10 == 5:
                    peak_pss = max(peak_pss, _pss(pids))
                time.sleep(0.05)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        p.wait()
        dt = time.perf_counter() - t0
        done.set()
        th.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = sum(1 for _ in out_path.open("rb"))
    return dt, lines, peak, cpu, peak_pss


QUERY_TARGET = 5.0
DETECT_TARGET = 2.0
MEMORY_TARGET_MB = 200


def _jq_rows(select: str, path: Path) -> list[str]:
    """jq writing exactly what ``kapsec audit-log query -o jsonl --fields auditID`` writes."""
    return [
        "jq",
        "-c",
        "--arg",
        "f",
        str(path),
        f"select({select}) | {{auditID, file: $f, line: input_line_number}}",
        str(path),
    ]


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _warm(path: Path) -> None:
    with path.open("rb") as fh:
        while fh.read(8 << 20):
            pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3, help="Runs per tool and case; the median is reported.")
    ap.add_argument("--keep", metavar="DIR", help="Build (or reuse) the input in DIR instead of a temp dir.")
    args = ap.parse_args()
    if shutil.which("jq") is None:
        sys.exit("jq is not installed (make system-deps)")
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="kapsec-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / "audit.log"
    sessions = tmp / "sessions.log"
    try:
        for path, mix in ((log, "all"), (sessions, "sessions")):
            if not path.exists() or path.stat().st_size < args.mb * 1024 * 1024:
                t0 = time.perf_counter()
                n = build(path, args.mb, mix)
                print(
                    f"built {path.name}: {path.stat().st_size / 1e6:,.0f} MB, {n:,} events "
                    f"({mix}) in {time.perf_counter() - t0:.1f} s"
                )
            _warm(path)
        jq_version = subprocess.run(["jq", "--version"], capture_output=True, text=True, check=False)
        print(
            f"input: {log.stat().st_size / 1e6:,.0f} MB (all samples), {sessions.stat().st_size / 1e6:,.0f} MB"
            f" (sessions only); {os.cpu_count()} cores; {jq_version.stdout.strip()}; median of {args.runs} runs"
        )
        kq = [*KAPSEC, "audit-log", "query"]
        rows = ["--stage", "all", "-o", "jsonl", "--fields", "auditID"]
        delete_secrets = '.verb=="delete" and .objectRef.resource=="secrets"'
        cases = [
            (
                "query delete secrets",
                log,
                [*kq, str(log), "--verb", "delete", "--resource", "secrets", *rows],
                _jq_rows(delete_secrets, log),
                QUERY_TARGET,
            ),
            (
                "query user mallory",
                log,
                [*kq, str(log), "--user", "mallory", *rows],
                _jq_rows('.user.username=="mallory" or .impersonatedUser.username=="mallory"', log),
                QUERY_TARGET,
            ),
        ]
        for name, path in (("detect, all samples", log), ("detect, sessions", sessions)):
            cases.append(
                (
                    name,
                    path,
                    [*KAPSEC, "audit-log", "detect", str(path), "-o", "jsonl", "--fail-on", "never"],
                    _jq_rows(delete_secrets, path),
                    DETECT_TARGET,
                )
            )
        print()
        print(
            f"{'case':21} {'tool':6} {'wall s':>7} {'CPU s':>6} {'MB/s':>6} {'results':>8} {'RSS sum':>7}"
            f" {'PSS':>5}  {'load':>4}  ratio (jq wall / kapsec wall)"
        )
        verdicts: list[tuple[str, bool]] = []
        peak_all = peak_pss = 0
        for name, path, kap, jq, target in cases:
            mb = path.stat().st_size / 1e6
            load = os.getloadavg()[0]
            jr: list[tuple[float, int, int, float, int]] = []
            kr: list[tuple[float, int, int, float, int]] = []
            same = True
            for _ in range(args.runs):
                jr.append(run(jq, tmp / "jq.out"))
                kr.append(run(kap, tmp / "kapsec.out"))
                if name.startswith("query"):
                    same = same and _digest(tmp / "jq.out") == _digest(tmp / "kapsec.out")
            tj = statistics.median(r[0] for r in jr)
            tk = statistics.median(r[0] for r in kr)
            cj = statistics.median(r[3] for r in jr)
            ck = statistics.median(r[3] for r in kr)
            rk = max(r[2] for r in kr)
            pk = max(r[4] for r in kr)
            peak_all, peak_pss = max(peak_all, rk), max(peak_pss, pk)
            ratio = tj / tk
            ok = ratio >= target
            verdicts.append((f"{name}: {ratio:.1f}x (target >= {target:g}x)", ok))
            label = "jq sel" if name.startswith("detect") else "jq"
            print(
                f"{name:21} {label:6} {tj:7.2f} {cj:6.2f} {mb / tj:6.0f} {jr[0][1]:8,} "
                f"{max(r[2] for r in jr) / 2**20:5.0f}MB {max(r[4] for r in jr) / 2**20:3.0f}MB  {load:4.1f}"
            )
            note = ""
            if name.startswith("query"):
                note = "  same bytes as jq" if same else "  !! output differs from jq"
            else:
                note = "  (alerts, whole pack)"
            print(
                f"{name:21} {'kapsec':6} {tk:7.2f} {ck:6.2f} {mb / tk:6.0f} {kr[0][1]:8,} "
                f"{rk / 2**20:5.0f}MB {pk / 2**20:3.0f}MB  {os.getloadavg()[0]:4.1f}  {ratio:5.1f}x {'met' if ok else 'MISSED'}{note}"
            )
            if name.startswith("query") and not same:
                verdicts.append((f"{name}: kapsec and jq wrote different output", False))
        verdicts.append(
            (
                f"peak memory {peak_all / 2**20:.0f} MB, RSS summed over kapsec and its workers "
                f"(PSS {peak_pss / 2**20:.0f} MB) (target < {MEMORY_TARGET_MB} MB)",
                peak_all < MEMORY_TARGET_MB * 2**20,
            )
        )
        print()
        print("targets (issue 4):")
        for text, ok in verdicts:
            print(f"  {'met   ' if ok else 'MISSED'}  {text}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
