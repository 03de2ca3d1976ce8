"""Benchmark ``kapsec tls probe`` and ``kapsec tls inspect`` against what users would otherwise run.

probe: cipher-suite enumeration against a real ``openssl s_server`` on 127.0.0.1, compared with
the usual shell loop (one ``openssl s_client -cipher X`` per suite per version), which is what
most "which ciphers does my API server accept" recipes do. Both must find the same suites.

inspect: a kubeadm tree from ``kapsec lab init``, compared with a shell loop of
``openssl x509 -enddate`` + ``openssl verify`` + key/cert modulus comparison per certificate
(which covers fewer checks than kapsec).

Run: ``.venv/bin/python benchmarks/tls.py``. Prints wall times and ratios; nothing is asserted.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KAPSEC = [sys.executable, "-m", "kapsec"]
OPENSSL = shutil.which("openssl") or "openssl"
VERSIONS = {"-tls1": "TLSv1.0", "-tls1_1": "TLSv1.1", "-tls1_2": "TLSv1.2"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(cert: Path, key: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            OPENSSL,
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-cert",
            str(cert),
            "-key",
            str(key),
            "-www",
            *args,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("s_server did not start")


def shell_loop_probe(addr: str) -> tuple[float, set[tuple[str, str]]]:
    """One s_client per (version, suite): the common recipe."""
    names = (
        subprocess.run(
            [OPENSSL, "ciphers", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .split(":")
    )
    names = [n for n in names if not n.startswith("TLS_") and "PSK" not in n and "SRP" not in n]
    found: set[tuple[str, str]] = set()
    t0 = time.perf_counter()
    for flag, label in VERSIONS.items():
        for name in names:
            out = subprocess.run(
                [OPENSSL, "s_client", "-connect", addr, flag, "-cipher", f"{name}:@SECLEVEL=0"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if f"Cipher is {name}" in out:
                found.add((label, name))
    return time.perf_counter() - t0, found


def kapsec_probe(addr: str) -> tuple[float, set[tuple[str, str]]]:
    import json

    t0 = time.perf_counter()
    out = subprocess.run(
        [*KAPSEC, "tls", "probe", addr, "-o", "json"], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - t0
    doc = json.loads(out.stdout)["probe"]
    found = {
        (version, s["openssl"])
        for version, suites in doc["cipherSuites"].items()
        if version != "TLSv1.3"
        for s in suites
    }
    return elapsed, found


def shell_loop_inspect(root: Path) -> float:
    pki = root / "etc/kubernetes/pki"
    t0 = time.perf_counter()
    for crt in sorted(pki.rglob("*.crt")):
        subprocess.run(
            [OPENSSL, "x509", "-noout", "-enddate", "-in", str(crt)], capture_output=True, check=False
        )
        ca = crt.parent / "ca.crt"
        subprocess.run([OPENSSL, "verify", "-CAfile", str(ca), str(crt)], capture_output=True, check=False)
        key = crt.with_suffix(".key")
        if key.exists():
            subprocess.run(
                [OPENSSL, "x509", "-noout", "-modulus", "-in", str(crt)], capture_output=True, check=False
            )
            subprocess.run(
                [OPENSSL, "rsa", "-noout", "-modulus", "-in", str(key)], capture_output=True, check=False
            )
    return time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "node"
        subprocess.run([*KAPSEC, "lab", "init", str(root)], capture_output=True, check=True)
        pki = root / "etc/kubernetes/pki"
        cert, key = pki / "apiserver.crt", pki / "apiserver.key"

        print("== tls inspect (kubeadm lab tree) ==")
        t0 = time.perf_counter()
        subprocess.run(
            [*KAPSEC, "tls", "inspect", "--root", str(root), "-o", "json"], capture_output=True, check=False
        )
        k = time.perf_counter() - t0
        s = shell_loop_inspect(root)
        print(
            f"kapsec tls inspect --root:                {k:6.2f} s  (every check, kubeconfigs and flags included)"
        )
        print(
            f"openssl x509/verify/modulus shell loop:   {s:6.2f} s  (expiry, chain to same-dir ca.crt, RSA pairing only)"
        )
        print(f"ratio shell/kapsec:                       {s / k:6.1f}x")

        for label, args in (
            ("weak server (ALL:@SECLEVEL=0, TLS 1.0-1.3)", ("-cipher", "ALL:@SECLEVEL=0")),
            ("strong server (TLS 1.2+, ECDHE-GCM)", ("-no_tls1", "-no_tls1_1", "-cipher", "ECDHE+AESGCM")),
        ):
            proc, addr = start_server(cert, key, *args)
            try:
                print(f"== tls probe: {label} ==")
                k, kfound = kapsec_probe(addr)
                s, sfound = shell_loop_probe(addr)
            finally:
                proc.kill()
                proc.wait()
            print(
                f"kapsec tls probe:                         {k:6.2f} s  ({len(kfound)} (version, suite) pairs for TLS <= 1.2)"
            )
            print(f"s_client loop (one suite at a time):      {s:6.2f} s  ({len(sfound)} pairs)")
            print(
                f"ratio loop/kapsec:                        {s / k:6.1f}x   same suites found: {kfound == sfound}"
            )
            if kfound != sfound:
                print(f"  only kapsec: {sorted(kfound - sfound)}")
                print(f"  only loop:   {sorted(sfound - kfound)}")


if __name__ == "__main__":
    main()
