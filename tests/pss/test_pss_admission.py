"""The AdmissionConfiguration loader/generator against what a real kube-apiserver v1.36 did
with each admission config (tests/data/oracle-1.36/config-errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers import DATA, run_cli
from kapsec.errors import InputError, ValidationError
from kapsec.pss.admission import (
    generate_admission_config,
    generate_admission_config_files,
    load_admission_config,
    parse_admission_config,
)
from kapsec.pss.api import Level
from kapsec.pss.simulate import simulate
from kapsec.sources.objects import load_text

ORACLE = json.loads((DATA / "oracle-1.36" / "config-errors" / "config-errors.json").read_text())
CASES = {c["case"]: c for c in ORACLE if c["case"].startswith("admission-")}
PRIV_POD = """
apiVersion: v1
kind: Pod
metadata: {name: priv, namespace: default}
spec:
  containers:
  - name: c
    image: registry.k8s.io/pause
    securityContext: {privileged: true}
"""


def write_case(tmp_path: Path, case: dict) -> Path:
    for name, content in case["files"].items():
        (tmp_path / name).write_text(content)
    return tmp_path / "admission.yaml"


def test_all_oracle_admission_cases_are_covered() -> None:
    assert sorted(CASES) == [
        "admission-config-for-plugin-not-enabled",
        "admission-podsecurity-disabled-but-configured",
        "admission-podsecurity-invalid-level",
        "admission-podsecurity-invalid-version",
        "admission-podsecurity-unknown-field",
        "admission-podsecurity-v1beta1-config",
        "admission-podsecurity-valid-baseline",
    ]


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        (
            "admission-podsecurity-invalid-level",
            "PodSecurity configuration error: enforce: must be one of privileged, baseline, restricted",
        ),
        (
            "admission-podsecurity-unknown-field",
            'strict decoding error: unknown field "defaults.enforcement"',
        ),
    ],
)
def test_rejected_like_the_api_server(tmp_path: Path, case: str, fragment: str) -> None:
    assert fragment in CASES[case]["error"]
    with pytest.raises(ValidationError) as err:
        load_admission_config(write_case(tmp_path, CASES[case]))
    assert fragment in str(err.value)
    # the CLI says the same, one line, exit 2
    result = run_cli("pss", "config", "--lint", str(tmp_path / "admission.yaml"))
    assert result.code == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "case",
    [
        "admission-podsecurity-invalid-version",
        "admission-podsecurity-valid-baseline",
        "admission-podsecurity-v1beta1-config",
        "admission-podsecurity-disabled-but-configured",
    ],
)
def test_accepted_configs_enforce_what_the_server_enforced(tmp_path: Path, case: str) -> None:
    cfg = load_admission_config(write_case(tmp_path, CASES[case]))
    ps = cfg.pod_security
    assert ps is not None
    observed = CASES[case]["observed"]
    if "--disable-admission-plugins=PodSecurity" in CASES[case]["flags"]:
        assert observed["dry-run create privileged pod in default"] == 201  # config ignored
        off = load_admission_config(tmp_path / "admission.yaml", enabled_plugins={"NodeRestriction"})
        assert off.pod_security is None
        assert "PodSecurity" in off.plugins
        return
    # the default namespace has no labels: the config's defaults apply
    [ns] = simulate(load_text(PRIV_POD, "priv.yaml"), ps, ps.defaults.enforce.version)
    [obj] = ns.objects
    current = obj.results["current"]
    assert observed["dry-run create privileged pod in default"] == 403
    assert current.denial("pods", "priv") == observed["message"]


def test_plugin_not_enabled_with_missing_path_is_accepted(tmp_path: Path) -> None:
    cfg = load_admission_config(write_case(tmp_path, CASES["admission-config-for-plugin-not-enabled"]))
    assert cfg.pod_security is None
    assert list(cfg.plugins) == ["EventRateLimit"]


def test_generated_config_round_trips(tmp_path: Path) -> None:
    text = generate_admission_config(
        exempt_namespaces=["kube-system", "monitoring"], exempt_usernames=["alice"]
    )
    (tmp_path / "a.yaml").write_text(text)
    cfg = load_admission_config(tmp_path / "a.yaml")
    assert cfg.pod_security is not None
    d = cfg.pod_security.defaults
    assert (str(d.enforce), str(d.audit), str(d.warn)) == (
        "baseline:latest",
        "restricted:latest",
        "restricted:latest",
    )
    assert cfg.pod_security.exemptions.namespaces == ("kube-system", "monitoring")
    assert cfg.pod_security.exemptions.usernames == ("alice",)
    # exactly the six defaults keys and three exemption lists
    doc = yaml.safe_load(text)["plugins"][0]["configuration"]
    assert list(doc["defaults"]) == [
        "enforce",
        "enforce-version",
        "audit",
        "audit-version",
        "warn",
        "warn-version",
    ]
    assert list(doc["exemptions"]) == ["usernames", "runtimeClasses", "namespaces"]


def test_two_file_form_resolves_relative_path(tmp_path: Path) -> None:
    admission, psa = generate_admission_config_files("pss.yaml", enforce="restricted")
    (tmp_path / "admission.yaml").write_text(admission)
    (tmp_path / "pss.yaml").write_text(psa)
    cfg = load_admission_config(tmp_path / "admission.yaml")
    assert cfg.pod_security is not None
    assert cfg.pod_security.defaults.enforce.level is Level.RESTRICTED
    (tmp_path / "pss.yaml").unlink()
    with pytest.raises(InputError, match="no such file"):
        load_admission_config(tmp_path / "admission.yaml")


@pytest.mark.parametrize(
    ("exemptions", "message"),
    [
        (
            "namespaces: [Kube_System]",
            'exemptions.namespaces[0]: Invalid value: "Kube_System": a lowercase RFC 1123 label',
        ),
        ("namespaces: [a, a]", 'exemptions.namespaces[1]: Duplicate value: "a"'),
        ("usernames: ['']", "exemptions.usernames[0]: Required value"),
        ("runtimeClasses: [gVisor]", 'exemptions.runtimeClasses[0]: Invalid value: "gVisor"'),
        ("users: [a]", 'strict decoding error: unknown field "exemptions.users"'),
    ],
)
def test_exemption_validation(exemptions: str, message: str) -> None:
    text = (
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n"
        "  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1\n"
        f"    kind: PodSecurityConfiguration\n    exemptions:\n      {exemptions}\n"
    )
    with pytest.raises(ValidationError) as err:
        parse_admission_config(text, "a.yaml")
    assert message in str(err.value)


def test_missing_defaults_are_privileged_latest() -> None:
    text = (
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n"
        "  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1alpha1\n"
        "    kind: PodSecurityConfiguration\n    defaults: {warn: restricted}\n"
    )
    ps = parse_admission_config(text, "a.yaml").pod_security
    assert ps is not None
    assert (str(ps.defaults.enforce), str(ps.defaults.warn)) == ("privileged:latest", "restricted:latest")


def test_wrong_kinds_and_bad_yaml() -> None:
    with pytest.raises(ValidationError, match="this is a PodSecurityConfiguration"):
        parse_admission_config(
            "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\n", "p.yaml"
        )
    with pytest.raises(InputError) as err:
        parse_admission_config("plugins: [\n", "bad.yaml")
    assert str(err.value).startswith("bad.yaml:2: invalid YAML")


def test_cli_config_generate_and_lint(tmp_path: Path) -> None:
    out = tmp_path / "admission.yaml"
    result = run_cli(
        "pss",
        "config",
        "--enforce",
        "restricted",
        "--exempt-namespace",
        "kube-system",
        "--exempt-namespace",
        "istio-system",
        "--write",
        str(out),
    )
    assert result.code == 0, result.stderr
    assert result.stdout == ""
    lint = run_cli("pss", "config", "--lint", str(out), "-o", "json")
    assert lint.code == 0
    info = json.loads(lint.stdout)
    assert info["podSecurity"]["defaults"] == {
        "enforce": "restricted:latest",
        "audit": "restricted:latest",
        "warn": "restricted:latest",
    }
    assert info["podSecurity"]["exemptions"]["namespaces"] == ["kube-system", "istio-system"]


def test_cli_config_rejects_bad_values() -> None:
    result = run_cli("pss", "config", "--warn-version", "v1.05")
    assert result.code == 2
    assert result.stderr.strip() == (
        'kapsec: error: generated: PodSecurity configuration error: warn-version: must be "latest" or "v1.x"'
    )
    result = run_cli(
        "pss", "config", "--exempt-user", "system:serviceaccount:kube-system:replicaset-controller"
    )
    assert result.code == 0
    assert "exempts the pods of every workload that controller creates" in result.stderr


def test_duplicate_field_is_rejected_like_strict_decoding() -> None:
    text = (
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n"
        "  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1\n"
        "    kind: PodSecurityConfiguration\n    defaults:\n      enforce: baseline\n      enforce: restricted\n"
    )
    with pytest.raises(ValidationError) as err:
        parse_admission_config(text, "dup.yaml")
    assert str(err.value) == 'dup.yaml: strict decoding error: line 10: key "enforce" already set in map'


def test_invalid_pod_security_config_is_not_read_when_the_plugin_is_off(tmp_path: Path) -> None:
    path = write_case(tmp_path, CASES["admission-podsecurity-invalid-level"])
    with pytest.raises(ValidationError):
        load_admission_config(path)
    cfg = load_admission_config(path, enabled_plugins=["NodeRestriction", "EventRateLimit"])
    assert cfg.pod_security is None
