"""Wall time of `kapsec scan` on the lab next to `checkov -f` on the same manifest, same run.

Both are started as subprocesses, so interpreter start-up is included, which is what a user
waits for. checkov is installed into its own virtualenv, `.venv-bench` at the repository root
(created by this script when missing), never into the project's `.venv`.

Run: .venv/bin/python benchmarks/scan.py [--repeat N] [--no-checkov]
Target (issue 2): kapsec at least 10x faster than checkov and under 0.5 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KAPSEC = Path(sys.executable).with_name("kapsec")
BENCH_VENV = REPO / ".venv-bench"
CHECKOV = BENCH_VENV / "bin" / "checkov"


def ensure_checkov() -> Path:
    if CHECKOV.exists():
        return CHECKOV
    print(f"installing checkov into {BENCH_VENV.relative_to(REPO)} (once) ...", file=sys.stderr)
    base = shutil.which("python3.11") or shutil.which("python3") or sys.executable
    subprocess.run([base, "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "--quiet", "checkov"], check=True)
    return CHECKOV


def timed(cmd: list[str], repeat: int, ok: tuple[int, ...]) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if proc.returncode not in ok:
            raise SystemExit(f"{cmd[0]} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return times


def show(name: str, times: list[float]) -> None:
    print(
        f"  {name:<44} median {statistics.median(times):7.3f} s   min {min(times):7.3f} s   (n={len(times)})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--no-checkov", action="store_true", help="time kapsec only")
    args = ap.parse_args()
    # An installed package has its bytecode compiled (pip does it; so was checkov's). An editable
    # checkout run with PYTHONDONTWRITEBYTECODE=1 would recompile every module on every start,
    # which is not what a user runs: compile once, as an install would.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src" / "kapsec")], check=True)
    with tempfile.TemporaryDirectory(prefix="kapsec-bench-") as tmp:
        lab = Path(tmp) / "node"
        subprocess.run([str(KAPSEC), "lab", "init", str(lab)], check=True, capture_output=True)
        manifest = lab / "etc/kubernetes/manifests/kube-apiserver.yaml"
        print(
            f"kube-apiserver manifest of the lab ({manifest.stat().st_size} bytes), {args.repeat} runs each"
        )
        subprocess.run(
            [str(KAPSEC), "scan", "--root", str(lab), "-o", "json"], capture_output=True, check=False
        )  # warm
        k_json = timed([str(KAPSEC), "scan", "--root", str(lab), "-o", "json"], args.repeat, (0, 1))
        k_text = timed([str(KAPSEC), "scan", "--root", str(lab)], args.repeat, (0, 1))
        k_manifest = timed(
            [str(KAPSEC), "scan", "--manifest", str(manifest), "-o", "json"], args.repeat, (0, 1)
        )
        show("kapsec scan --root LAB -o json (all checks)", k_json)
        show("kapsec scan --root LAB (text)", k_text)
        show("kapsec scan --manifest FILE -o json", k_manifest)
        if args.no_checkov:
            return
        checkov = ensure_checkov()
        cmd = [
            str(checkov),
            "-f",
            str(manifest),
            "--framework",
            "kubernetes",
            "--quiet",
            "--compact",
            "-o",
            "json",
        ]
        subprocess.run(cmd, capture_output=True, check=False)  # warm
        # Interleave the two tools so that both see the same machine load; compare run by run.
        pairs = []
        for _ in range(max(3, args.repeat // 2)):
            (c,) = timed(cmd, 1, (0, 1))
            (k,) = timed([str(KAPSEC), "scan", "--root", str(lab), "-o", "json"], 1, (0, 1))
            pairs.append((c, k))
        show("checkov -f MANIFEST --framework kubernetes", [c for c, _ in pairs])
        show("kapsec scan --root LAB -o json (same rounds)", [k for _, k in pairs])
        ratio = statistics.median(c / k for c, k in pairs)
        slowest = max(statistics.median(k_json), statistics.median(k_text))
        print(f"  ratio checkov / kapsec, median of {len(pairs)} interleaved rounds: {ratio:.1f}x")
        print(f"  target: >= 10x and < 0.5 s -> {'met' if ratio >= 10 and slowest < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
