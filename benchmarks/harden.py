"""`kapsec harden`: wall times, and what a plain round-trip editor would have changed.

No other tool edits a static pod manifest (kube-bench prints advice, kubescape refuses static
control-plane pods), so the comparison is with the way people script it: load the manifest with
ruamel.yaml's round-trip mode, change the flags, dump it. This script times both on the same
edits and counts the lines each changes beyond the edit itself, on the kubeadm lab and on the
hand-edited manifest of the tests. It also times `kapsec harden` (diff and apply) end to end,
interpreter start-up included. Run: .venv/bin/python benchmarks/harden.py [--repeat N]
"""

from __future__ import annotations

import argparse
import difflib
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ruamel.yaml import YAML

from kapsec.harden.patch import ManifestEdits, MountSpec, patch_manifest

KAPSEC = Path(sys.executable).with_name("kapsec")
HERE = Path(__file__).resolve().parent.parent
HAND = HERE / "tests/data/harden/hand-edited/kube-apiserver.yaml"

EDITS = ManifestEdits(
    set_flags=(("profiling", "false"), ("audit-log-maxage", "30"), ("audit-log-maxbackup", "10")),
    add_mounts=(
        MountSpec("audit-log", "/var/log/kubernetes/audit", "/var/log/kubernetes/audit", read_only=False),
    ),
)


def plain_roundtrip(text: str) -> str:
    """What a script does: ruamel round trip, append the flags, the mount and the volume."""
    y = YAML(typ="rt")
    y.indent(mapping=2, sequence=2, offset=0)  # kubeadm's style: the fairest single choice
    doc = y.load(text)
    c = doc["spec"]["containers"][0]
    flags = c["args"] if "args" in c and any(str(a).startswith("--") for a in c["args"]) else c["command"]
    for name, value in EDITS.set_flags:
        for i, w in enumerate(list(flags)):
            if str(w).startswith(f"--{name}="):
                del flags[i]
        flags.append(f"--{name}={value}")
    m = EDITS.add_mounts[0]
    c.setdefault("volumeMounts", []).append({"mountPath": m.mount_path, "name": m.name})
    doc["spec"].setdefault("volumes", []).append(
        {"hostPath": {"path": m.host_path, "type": m.host_type}, "name": m.name}
    )
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


def changed_lines(old: str, new: str) -> tuple[int, int]:
    removed = added = 0
    for ln in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0):
        if ln.startswith("-") and not ln.startswith("---"):
            removed += 1
        elif ln.startswith("+") and not ln.startswith("+++"):
            added += 1
    return removed, added


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        lab = Path(d) / "lab"
        subprocess.run([str(KAPSEC), "lab", "init", str(lab)], check=True, capture_output=True)
        kubeadm = (lab / "etc/kubernetes/manifests/kube-apiserver.yaml").read_text()
        print("manifest        editor            median ms   lines removed/added")
        for name, text in (("kubeadm lab", kubeadm), ("hand-edited", HAND.read_text())):
            t_k = timed(lambda text=text: patch_manifest(text, "m", EDITS), args.repeat)
            t_p = timed(lambda text=text: plain_roundtrip(text), args.repeat)
            rk = changed_lines(text, patch_manifest(text, "m", EDITS))
            rp = changed_lines(text, plain_roundtrip(text))
            print(f"{name:<15} kapsec patch      {t_k * 1000:8.2f}    {rk[0]:3d} / {rk[1]:3d}")
            print(
                f"{name:<15} ruamel round trip {t_p * 1000:8.2f}    {rp[0]:3d} / {rp[1]:3d}   (ratio {t_k / t_p:.2f}x)"
            )
        reps = max(3, args.repeat // 5)
        diff_times, apply_times = [], []
        for i in range(reps):
            root = Path(d) / f"r{i}"
            shutil.copytree(lab, root, symlinks=True)
            t = time.perf_counter()
            subprocess.run([str(KAPSEC), "harden", "--root", str(root)], capture_output=True, check=False)
            diff_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            subprocess.run(
                [str(KAPSEC), "harden", "--root", str(root), "--apply"], capture_output=True, check=True
            )
            apply_times.append(time.perf_counter() - t)
        print(f"kapsec harden --diff  (end to end, kubeadm lab): {statistics.median(diff_times):.2f} s")
        print(f"kapsec harden --apply (end to end, kubeadm lab): {statistics.median(apply_times):.2f} s")


if __name__ == "__main__":
    main()
