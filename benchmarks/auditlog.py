"""Audit-log throughput: kapsec query and detect against jq on >= 300 MB of realistic events.

Builds the input in a temporary directory (never committed) from the real oracle-1.36 logs in
tests/data (the moderate and RequestResponse sessions and the rotation traffic, mixed as they
come), giving every copy a fresh auditID so that de-duplication does no hidden work. Then, in
one run, it prints wall time, MB/s, the ratio against jq, and peak memory (the sum of the RSS
of the kapsec process and its workers, sampled from /proc):

* query: kapsec ``--verb delete --resource secrets --stage all -o jsonl`` vs
  ``jq -c 'select(.verb=="delete" and .objectRef.resource=="secrets")'``, same output count;
* a selective user query: ``--user mallory`` vs ``select(.user.username=="mallory" or
  .impersonatedUser.username=="mallory")``;
* detect with the whole rule pack vs jq's single select above.

Usage: python benchmarks/auditlog.py [--mb 300] [--keep DIR]
Targets (issue 4): query >= 5x faster than jq; detect >= 2x faster than jq's single select;
peak memory < 200 MB whatever the input size.
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import shutil
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


def _tree_rss(pid: int) -> int:
    """RSS (bytes) of a process and all its descendants."""
    total = 0
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            ppid = int(fields[1])
            rss[int(d)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            children.setdefault(ppid, []).append(int(d))
        except (OSError, IndexError, ValueError):
            continue
    stack = [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def run(cmd: list[str], out_path: Path) -> tuple[float, int, int, float]:
    """(wall seconds, output lines, peak RSS of the process tree in bytes, CPU seconds)."""
    peak = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with out_path.open("wb") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss(p.pid))
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
    return dt, lines, peak, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=300)
    ap.add_argument("--keep", metavar="DIR", help="Build (or reuse) the input in DIR instead of a temp dir.")
    args = ap.parse_args()
    if shutil.which("jq") is None:
        sys.exit("jq is not installed (make system-deps)")
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="kapsec-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / "audit.log"
    try:
        if not log.exists() or log.stat().st_size < args.mb * 1024 * 1024:
            t0 = time.perf_counter()
            n = build(log, args.mb)
            print(
                f"built {log.stat().st_size / 1e6:,.0f} MB, {n:,} events in {time.perf_counter() - t0:.1f} s"
            )
        size_mb = log.stat().st_size / 1e6
        print(
            f"input: {size_mb:,.0f} MB of audit events; {os.cpu_count()} cores; jq {subprocess.run(['jq', '--version'], capture_output=True, text=True, check=False).stdout.strip()}"
        )
        print()
        cases = [
            (
                "query delete secrets",
                [
                    *KAPSEC,
                    "audit-log",
                    "query",
                    str(log),
                    "--verb",
                    "delete",
                    "--resource",
                    "secrets",
                    "--stage",
                    "all",
                    "-o",
                    "jsonl",
                    "--fields",
                    "auditID",
                ],
                [
                    "jq",
                    "-c",
                    'select(.verb=="delete" and .objectRef.resource=="secrets") | .auditID',
                    str(log),
                ],
            ),
            (
                "query user mallory",
                [
                    *KAPSEC,
                    "audit-log",
                    "query",
                    str(log),
                    "--user",
                    "mallory",
                    "--stage",
                    "all",
                    "-o",
                    "jsonl",
                    "--fields",
                    "auditID",
                ],
                [
                    "jq",
                    "-c",
                    'select(.user.username=="mallory" or .impersonatedUser.username=="mallory") | .auditID',
                    str(log),
                ],
            ),
        ]
        jq_single = None
        print(f"load average before: {os.getloadavg()[0]:.1f} (other work on the machine slows wall times)")
        print(
            f"{'case':22} {'tool':7} {'wall s':>7} {'CPU s':>7} {'MB/s':>7} {'results':>9} {'peak RSS':>9}  vs jq (wall)"
        )
        for name, kap, jq in cases:
            tj, nj, rj, cj = run(jq, tmp / "jq.out")
            tk, nk, rk, ck = run(kap, tmp / "kapsec.out")
            if jq_single is None:
                jq_single = tj
            print(f"{name:22} {'jq':7} {tj:7.2f} {cj:7.2f} {size_mb / tj:7.1f} {nj:9,} {rj / 2**20:7.0f}MB")
            print(
                f"{name:22} {'kapsec':7} {tk:7.2f} {ck:7.2f} {size_mb / tk:7.1f} {nk:9,} {rk / 2**20:7.0f}MB"
                f"  {tj / tk:5.1f}x faster"
            )
            if nk != nj:
                print(f"  !! result counts differ: kapsec {nk} vs jq {nj}")
        assert jq_single is not None
        sessions = tmp / "sessions.log"
        if not sessions.exists() or sessions.stat().st_size < args.mb * 1024 * 1024:
            build(sessions, args.mb, "sessions")
        for name, path in (("detect, all samples", log), ("detect, sessions only", sessions)):
            mb = path.stat().st_size / 1e6
            tjs, _, _, _ = run(
                [
                    "jq",
                    "-c",
                    'select(.verb=="delete" and .objectRef.resource=="secrets") | .auditID',
                    str(path),
                ],
                tmp / "jq.out",
            )
            detect = [*KAPSEC, "audit-log", "detect", str(path), "-o", "jsonl", "--fail-on", "never"]
            td, nd, rd, cd = run(detect, tmp / "detect.out")
            print(f"{name:22} {'jq sel':7} {tjs:7.2f} {'':7} {mb / tjs:7.1f}")
            print(
                f"{name:22} {'kapsec':7} {td:7.2f} {cd:7.2f} {mb / td:7.1f} {nd:9,} {rd / 2**20:7.0f}MB"
                f"  {tjs / td:5.1f}x faster than jq's single select (alerts: whole pack)"
            )
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
