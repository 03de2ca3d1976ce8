"""Wall time of `kapsec lab init` next to making the same PKI by hand with the openssl CLI.

Without kapsec, a lab means running kubeadm (which needs a real node) or scripting openssl: one
`genrsa` per key, a self-signed `req -x509` per CA and a `req | x509 -req` pair per leaf. This
script times both, in the same run, on the same machine, including interpreter start-up, and
prints the ratio. Run: .venv/bin/python benchmarks/lab.py [--repeat N]
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

KAPSEC = Path(sys.executable).with_name("kapsec")

# (name, issuer or None for a CA, subject) — the 17 key pairs the kubeadm lab makes.
PKI = [
    ("ca", None, "/CN=kubernetes"),
    ("front-proxy-ca", None, "/CN=front-proxy-ca"),
    ("etcd-ca", None, "/CN=etcd-ca"),
    ("apiserver", "ca", "/CN=kube-apiserver"),
    ("apiserver-kubelet-client", "ca", "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client"),
    ("front-proxy-client", "front-proxy-ca", "/CN=front-proxy-client"),
    ("etcd-server", "etcd-ca", "/CN=controlplane"),
    ("etcd-peer", "etcd-ca", "/CN=controlplane"),
    ("etcd-healthcheck-client", "etcd-ca", "/CN=kube-etcd-healthcheck-client"),
    ("apiserver-etcd-client", "etcd-ca", "/CN=kube-apiserver-etcd-client"),
    ("admin", "ca", "/O=kubeadm:cluster-admins/CN=kubernetes-admin"),
    ("super-admin", "ca", "/O=system:masters/CN=kubernetes-super-admin"),
    ("controller-manager", "ca", "/CN=system:kube-controller-manager"),
    ("scheduler", "ca", "/CN=system:kube-scheduler"),
    ("kubelet-client", "ca", "/O=system:nodes/CN=system:node:controlplane"),
    ("kubelet-serving-ca", None, "/CN=controlplane-ca"),
    ("kubelet", "kubelet-serving-ca", "/CN=controlplane"),
]


def run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


def openssl_pki(workdir: Path) -> None:
    for name, issuer, subject in PKI:
        run(["openssl", "genrsa", "-out", f"{name}.key", "2048"], workdir)
        if issuer is None:
            run(
                [
                    "openssl",
                    "req",
                    "-x509",
                    "-new",
                    "-key",
                    f"{name}.key",
                    "-subj",
                    subject,
                    "-days",
                    "3650",
                    "-out",
                    f"{name}.crt",
                ],
                workdir,
            )
        else:
            run(
                ["openssl", "req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr"],
                workdir,
            )
            run(
                [
                    "openssl",
                    "x509",
                    "-req",
                    "-in",
                    f"{name}.csr",
                    "-CA",
                    f"{issuer}.crt",
                    "-CAkey",
                    f"{issuer}.key",
                    "-CAcreateserial",
                    "-days",
                    "365",
                    "-out",
                    f"{name}.crt",
                ],
                workdir,
            )


def kapsec_lab(workdir: Path) -> None:
    run([str(KAPSEC), "lab", "init", str(workdir / "lab")], workdir)


def timed(fn: object, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            fn(Path(tmp))  # type: ignore[operator]
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("openssl") is None:
        sys.exit("openssl is not installed")
    ours = timed(kapsec_lab, args.repeat)
    theirs = timed(openssl_pki, args.repeat)
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    print(
        f"kapsec lab init (tree + 17 key pairs + kubeconfigs + manifests): median {m_ours:.3f} s "
        f"(min {min(ours):.3f}, max {max(ours):.3f}, n={args.repeat})"
    )
    print(
        f"openssl CLI (the same 17 key pairs only):                     median {m_theirs:.3f} s "
        f"(min {min(theirs):.3f}, max {max(theirs):.3f}, n={args.repeat})"
    )
    print(f"ratio: kapsec is {m_theirs / m_ours:.1f}x faster, and writes the whole tree")


if __name__ == "__main__":
    main()
