"""Encryption-at-rest benchmark: ``kapsec encryption verify`` over 100,000 Secrets in a real etcd.

Starts a throwaway etcd on loopback (Debian ``etcd``), bulk-loads 100,000 Secrets through etcd's
JSON gateway in large transactions (95,000 sealed with ``secretbox`` exactly as the API server
seals them, under their own etcd keys, and 5,000 left in clear as ``identity`` would write
them), then runs, each as its own process so that peak RSS is the process's own:

* ``kapsec encryption verify --etcd URL --config CONFIG`` (paged reads, classification of every
  value, one decryption proof per key, the list of the 5,000 objects in clear);
* the baseline users would otherwise script, when ``etcdctl`` is installed: one
  ``ETCDCTL_API=3 etcdctl get --prefix /registry/secrets/ -w json`` (reading only, no
  classification at all).

It prints the load time, each wall time, each peak RSS and the ratio. Targets (issue 6): verify
under 20 s and under 300 MB. Run: ``.venv/bin/python benchmarks/encryption.py [--count N]``.
The etcd is always stopped and its data directory removed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from kapsec.encryption.config import ProviderType, parse_encryption_config
from kapsec.encryption.envelope import seal_value

CONFIG = """apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - secretbox:
          keys:
            - name: key1
              secret: bCgSNaIYsLUBNFQmDtGf7AV9WN7DUqTh7UgOljQ548Y=
      - identity: {}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def secret_protobuf(namespace: str, name: str, i: int) -> bytes:
    """``k8s\\x00`` + runtime.Unknown{typeMeta{v1, Secret}, raw=v1.Secret{metadata, data}} like the API server writes."""
    meta = _field(1, name.encode()) + _field(3, namespace.encode()) + _field(5, f"uid-{i:08d}".encode())
    data = b"".join(
        _field(2, _field(1, k.encode()) + _field(2, v.encode()))
        for k, v in (
            ("username", f"user-{i}"),
            ("password", f"P@ss-{i:08d}-TESTONLY-padding-to-realistic-size"),
        )
    )
    raw = _field(1, meta) + data + _field(3, b"Opaque")
    unknown = (
        _field(1, _field(1, b"v1") + _field(2, b"Secret")) + _field(2, raw) + _field(3, b"") + _field(4, b"")
    )
    return b"k8s\x00" + unknown


def start_etcd(tmp: Path) -> tuple[str, subprocess.Popen[bytes]]:
    etcd = shutil.which("etcd") or "/usr/bin/etcd"
    client, peer = _free_port(), _free_port()
    url = f"http://127.0.0.1:{client}"
    proc = subprocess.Popen(
        [
            etcd,
            "--name",
            "bench",
            "--data-dir",
            str(tmp / "data"),
            "--listen-client-urls",
            url,
            "--advertise-client-urls",
            url,
            "--listen-peer-urls",
            f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{peer}",
            "--initial-cluster",
            f"bench=http://127.0.0.1:{peer}",
            "--max-txn-ops",
            "5000",
            "--max-request-bytes",
            str(16 * 1024 * 1024),
            "--quota-backend-bytes",
            str(4 * 1024**3),
            "--log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/version", timeout=1):
                return url, proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("etcd did not start")


def bulk_load(url: str, count: int, clear_every: int) -> None:
    config = parse_encryption_config(CONFIG)
    ((_, key),) = list(config.all_keys())
    ops: list[dict[str, object]] = []

    def flush() -> None:
        body = json.dumps({"success": ops}).encode()
        req = urllib.request.Request(
            url + "/v3/kv/txn", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=120) as resp:
            resp.read()
        ops.clear()

    for i in range(count):
        ns, name = f"team-{i % 300:03d}", f"app-secret-{i:06d}"
        etcd_key = f"/registry/secrets/{ns}/{name}".encode()
        plain = secret_protobuf(ns, name, i)
        value = (
            plain
            if i % clear_every == 0
            else seal_value(ProviderType.SECRETBOX, key, plain, etcd_key, os.urandom(24))
        )
        ops.append(
            {
                "request_put": {
                    "key": base64.b64encode(etcd_key).decode(),
                    "value": base64.b64encode(value).decode(),
                }
            }
        )
        if len(ops) == 5000:
            flush()
    if ops:
        flush()


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int, bytes]:
    """Wall seconds, peak RSS (MB) of that process alone, exit code, stdout."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        data = out.read()
    return wall, usage.ru_maxrss / 1024, proc.returncode, data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=5000)
    args = parser.parse_args()
    if not (shutil.which("etcd") or Path("/usr/bin/etcd").exists()):
        print("etcd is not installed (Debian etcd-server): cannot run", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="kapsec-bench-enc-"))
    url, proc = start_etcd(tmp)
    try:
        t0 = time.perf_counter()
        bulk_load(url, args.count, clear_every=20)
        load = time.perf_counter() - t0
        clear = len(range(0, args.count, 20))
        print(
            f"loaded {args.count:,} Secrets ({args.count - clear:,} secretbox, {clear:,} in clear) in {load:.1f} s"
        )
        config = tmp / "enc.yaml"
        config.write_text(CONFIG)
        config.chmod(0o600)
        cmd = [
            sys.executable,
            "-m",
            "kapsec",
            "encryption",
            "verify",
            "--etcd",
            url,
            "--config",
            str(config),
            "--page-size",
            str(args.page_size),
            "-o",
            "json",
        ]
        wall, rss, code, out = run_measured(cmd)
        data = json.loads(out)
        r = data["encryption"]["resources"][0]
        assert r["total"] == args.count, r["total"]
        assert r["byStorage"] == {"secretbox/key1": args.count - clear, "protobuf": clear}, r["byStorage"]
        assert len(r["inClear"]) == clear
        assert all(c["ok"] for c in data["encryption"]["decryptChecks"])
        print(
            f"kapsec encryption verify: {wall:.2f} s wall, peak RSS {rss:.0f} MB, exit {code} "
            f"(targets: < 20 s {'OK' if wall < 20 else 'MISSED'}, < 300 MB {'OK' if rss < 300 else 'MISSED'})"
        )
        dwall, drss, _, dout = run_measured([*cmd, "--decrypt-all"])
        decrypted = json.loads(dout)["encryption"]["resources"][0]["decrypted"]
        print(
            f"kapsec encryption verify --decrypt-all ({decrypted:,} values opened): {dwall:.2f} s wall, "
            f"peak RSS {drss:.0f} MB"
        )
        etcdctl = shutil.which("etcdctl")
        if etcdctl:
            env = dict(os.environ, ETCDCTL_API="3")
            bwall, brss, bcode, bout = run_measured(
                [etcdctl, "--endpoints", url, "get", "--prefix", "/registry/secrets/", "-w", "json"], env
            )
            kvs = len(json.loads(bout).get("kvs", [])) if bcode == 0 else 0
            print(
                f"baseline etcdctl get --prefix -w json (read only, {kvs:,} kvs, no classification): "
                f"{bwall:.2f} s wall, peak RSS {brss:.0f} MB, exit {bcode}"
            )
            print(f"ratio kapsec/etcdctl: {wall / bwall:.2f}x time, {rss / brss:.2f}x memory")
        else:
            print("etcdctl not installed (Debian etcd-client): no baseline")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
