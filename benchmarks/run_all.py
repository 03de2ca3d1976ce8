"""Run every benchmark in turn (`make bench`); each prints its own timings and ratios.

Benchmarks are not tests: they print what they measure and never fail on a number. A
benchmark that crashes is reported and the others still run; the exit code is 1 then.

Run: .venv/bin/python benchmarks/run_all.py [NAME ...]   (names: scan, lab, auditpolicy, ...)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["scan", "lab", "auditpolicy", "auditlog", "rbac", "tls", "encryption", "pss", "harden"]


def main(argv: list[str]) -> int:
    names = argv or ORDER
    unknown = [n for n in names if not (HERE / f"{n}.py").exists()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(ORDER)}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / f"{name}.py")])
        print(f"--- {name}: exit {rc}, {time.perf_counter() - start:.1f} s", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
