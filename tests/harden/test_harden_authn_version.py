"""The AuthenticationConfiguration harden writes has an apiVersion whose ``anonymous`` field the
scanned server's minor decodes: v1 from 1.34, v1beta1 on 1.32-1.33, v1alpha1 on 1.31 (a 1.31
server rejects ``anonymous`` in v1beta1 with 'unknown field "anonymous"'). The scan then loads it
as that server would and passes AUTHN-001 and FLAG-003."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers import run_cli
from kapsec.lab import pki

GATE = "    - --feature-gates=AnonymousAuthConfigurableEndpoints=true\n"


@pytest.fixture(scope="module")
def keys() -> tuple[object, object]:
    return pki.new_key(), pki.new_ec_key()


@pytest.mark.parametrize(
    ("version", "api_version"),
    [
        ("1.31", "apiserver.config.k8s.io/v1alpha1"),
        ("1.32", "apiserver.config.k8s.io/v1beta1"),
        ("1.33", "apiserver.config.k8s.io/v1beta1"),
        ("1.34", "apiserver.config.k8s.io/v1"),
        ("1.36", "apiserver.config.k8s.io/v1"),
    ],
)
def test_authentication_config_api_version_follows_the_server(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    keys: tuple[object, object],
    version: str,
    api_version: str,
) -> None:
    monkeypatch.setattr(pki, "new_key", lambda: keys[0])
    monkeypatch.setattr(pki, "new_ec_key", lambda: keys[1])
    root = tmp_path / "node"
    assert run_cli("lab", "init", "--k8s-version", f"{version}.0", str(root)).code == 0
    manifest = root / "etc/kubernetes/manifests/kube-apiserver.yaml"
    if version == "1.31":  # alpha in 1.31: harden plans the file only with the gate on
        text = manifest.read_text()
        manifest.write_text(text.replace("    - kube-apiserver\n", "    - kube-apiserver\n" + GATE, 1))
    r = run_cli("harden", "--root", str(root), "--apply")
    assert r.code == 0, r.stderr
    written = yaml.safe_load((root / "etc/kubernetes/hardening/authentication-config.yaml").read_text())
    assert written["apiVersion"] == api_version
    assert written["anonymous"] == {
        "enabled": True,
        "conditions": [{"path": "/livez"}, {"path": "/readyz"}, {"path": "/healthz"}],
    }
    scan = run_cli("scan", "--root", str(root), "--check", "AUTHN-001", "--check", "FLAG-003", "-o", "json")
    findings = {f["id"]: (f["status"], f["message"]) for f in json.loads(scan.stdout)["findings"]}
    assert findings == {
        "AUTHN-001": ("pass", "anonymous limited to health endpoints: /healthz, /livez, /readyz"),
        "FLAG-003": ("pass", "no start-up error found in the flags and the files they name"),
    }


def test_v1beta1_anonymous_on_1_31_is_what_the_server_refuses(tmp_path: Path) -> None:
    """What harden wrote for 1.31 before: the scan now reports the start-up failure."""
    from kapsec.checks.structured import load_authentication_config
    from kapsec.errors import ValidationError

    f = tmp_path / "authn.yaml"
    f.write_text(
        "apiVersion: apiserver.config.k8s.io/v1beta1\nkind: AuthenticationConfiguration\n"
        "anonymous:\n  enabled: true\n  conditions:\n  - path: /livez\n"
    )
    with pytest.raises(ValidationError) as err:
        load_authentication_config(str(f), "authn.yaml", minor=31)
    assert err.value.message == (
        'failed to load authentication configuration from file "authn.yaml": strict decoding error: '
        'unknown field "anonymous"'
    )
    assert load_authentication_config(str(f), "authn.yaml", minor=32).anonymous is not None
