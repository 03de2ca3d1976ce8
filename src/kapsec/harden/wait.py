"""Wait for the API server to become ready again after a manifest change.

Polls ``GET /readyz`` (``staging/src/k8s.io/apiserver/pkg/server/healthz``) with the
credentials of an admin kubeconfig (client certificate and key, or a bearer token; the
cluster's CA) until it answers 200 ``ok`` or the timeout passes. Reads the kubeconfig and
talks HTTPS; nothing else.
"""

from __future__ import annotations

import base64
import http.client
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from kapsec.errors import InputError


@dataclass(frozen=True)
class Credentials:
    server: str
    ca_pem: bytes | None
    cert_pem: bytes | None
    key_pem: bytes | None
    token: str | None
    source: str


def _data_or_file(
    entry: Mapping[str, Any], key: str, base: str, root: str | None, source: str
) -> bytes | None:
    data = entry.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except ValueError as exc:
            raise InputError(f"{key}-data is not base64", file=source) from exc
    path = entry.get(key)
    if not path:
        return None
    p = str(path)
    if root is not None and p.startswith("/"):
        p = os.path.join(root, p.lstrip("/"))
    elif not p.startswith("/"):
        p = os.path.join(base, p)
    try:
        with open(p, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError(f"cannot read {key} {path}: {exc.strerror}", file=source) from exc


def load_credentials(kubeconfig: str, root: str | None = None, server: str | None = None) -> Credentials:
    """The current context's server, CA and client credentials."""
    try:
        with open(kubeconfig, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except OSError as exc:
        raise InputError(f"cannot read the kubeconfig: {exc.strerror}", file=kubeconfig) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"the kubeconfig is not valid YAML: {exc}", file=kubeconfig) from exc
    if not isinstance(doc, Mapping):
        raise InputError("not a kubeconfig", file=kubeconfig)

    def named(section: str, name: Any) -> Mapping[str, Any]:
        for item in doc.get(section) or []:
            if isinstance(item, Mapping) and item.get("name") == name:
                inner = item.get(section[:-1])
                if isinstance(inner, Mapping):
                    return inner
        raise InputError(f"no {section[:-1]} named {name!r}", file=kubeconfig, field=section)

    ctx = named("contexts", doc.get("current-context"))
    cluster = named("clusters", ctx.get("cluster"))
    user = named("users", ctx.get("user"))
    base = os.path.dirname(os.path.abspath(kubeconfig))
    return Credentials(
        server=server or str(cluster.get("server") or ""),
        ca_pem=_data_or_file(cluster, "certificate-authority", base, root, kubeconfig),
        cert_pem=_data_or_file(user, "client-certificate", base, root, kubeconfig),
        key_pem=_data_or_file(user, "client-key", base, root, kubeconfig),
        token=str(user["token"]) if user.get("token") else None,
        source=kubeconfig,
    )


def _context(creds: Credentials, keydir: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if creds.ca_pem:
        ctx.load_verify_locations(cadata=creds.ca_pem.decode("ascii", "replace"))
    if creds.cert_pem and creds.key_pem:
        cert = os.path.join(keydir, "c.pem")
        key = os.path.join(keydir, "k.pem")
        for p, data in ((cert, creds.cert_pem), (key, creds.key_pem)):
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        ctx.load_cert_chain(cert, key)
    return ctx


@dataclass(frozen=True)
class WaitResult:
    ready: bool
    attempts: int
    last: str  # the last answer or error, for the report


def probe_once(creds: Credentials, ctx: ssl.SSLContext, timeout: float) -> tuple[bool, str]:
    u = urlsplit(creds.server)
    if u.scheme != "https" or not u.hostname:
        return False, f"not an https server URL: {creds.server}"
    conn = http.client.HTTPSConnection(u.hostname, u.port or 443, context=ctx, timeout=timeout)
    headers = {"Accept": "text/plain"}
    if creds.token:
        headers["Authorization"] = f"Bearer {creds.token}"
    try:
        conn.request("GET", "/readyz", headers=headers)
        resp = conn.getresponse()
        body = resp.read(2048).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if resp.status == 200:
        return True, f"200 {body[:80]}"
    return False, f"{resp.status} {body.splitlines()[-1][:200] if body else resp.reason}"


def wait_ready(
    creds: Credentials,
    timeout: float,
    interval: float = 2.0,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WaitResult:
    """Poll /readyz until it answers 200 or ``timeout`` seconds pass."""
    deadline = clock() + timeout
    attempts = 0
    last = "no attempt"
    with tempfile.TemporaryDirectory(prefix="kapsec-wait-") as keydir:
        os.chmod(keydir, 0o700)
        ctx = _context(creds, keydir)
        while True:
            attempts += 1
            ok, last = probe_once(creds, ctx, timeout=max(0.5, min(5.0, interval * 2)))
            if ok:
                return WaitResult(True, attempts, last)
            if clock() + interval > deadline:
                return WaitResult(False, attempts, last)
            sleep(interval)
