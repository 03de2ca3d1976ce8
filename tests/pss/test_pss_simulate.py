"""Rollout simulation per namespace, the kubectl-label dry-run warnings, the checklist status,
and the pss check / simulate CLIs."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import DATA, run_cli
from kapsec.model.findings import Status
from kapsec.pss import checklist_status
from kapsec.pss.admission import parse_admission_config
from kapsec.pss.api import Level
from kapsec.pss.simulate import simulate
from kapsec.sources.objects import load_paths, load_text

SNAPSHOT = DATA / "netpol" / "snapshot.json"


def by_ns(config: object = None) -> dict:
    return {r.namespace: r for r in simulate(load_paths([SNAPSHOT]), config)}  # type: ignore[arg-type]


def test_simulation_per_namespace() -> None:
    r = by_ns()
    summary = {
        ns: (
            str(x.policy.enforce),
            len(x.objects),
            len(x.refused("current")),
            len(x.refused("baseline")),
            len(x.refused("restricted")),
            x.recommended.value if x.recommended else None,
        )
        for ns, x in r.items()
    }
    assert summary == {
        "default": ("privileged:latest", 0, 0, 0, 0, "restricted"),
        "kube-node-lease": ("privileged:latest", 0, 0, 0, 0, "restricted"),
        "kube-public": ("privileged:latest", 0, 0, 0, 0, "restricted"),
        "kube-system": ("privileged:latest", 5, 0, 2, 5, "privileged"),
        "legacy": ("privileged:latest", 2, 0, 2, 2, "privileged"),
        # an invalid enforce label fails closed: restricted
        "payments": ("restricted:latest", 1, 1, 1, 1, "privileged"),
        "prod": ("baseline:v1.36", 7, 0, 0, 7, "baseline"),
        "web": ("restricted:latest", 3, 0, 0, 0, "restricted"),
    }
    assert r["payments"].label_errors == (
        'metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "bogus": must be one of '
        "privileged, baseline, restricted",
    )
    assert r["default"].label_command() == (
        "kubectl label --overwrite namespace default pod-security.kubernetes.io/enforce=restricted "
        "pod-security.kubernetes.io/enforce-version=latest"
    )
    assert r["prod"].already_enforced
    # enforce baseline holds; warn (inherited) and audit go to restricted to show what is left
    assert r["prod"].label_command() == (
        "kubectl label --overwrite namespace prod pod-security.kubernetes.io/warn=restricted "
        "pod-security.kubernetes.io/warn-version=latest pod-security.kubernetes.io/audit=restricted "
        "pod-security.kubernetes.io/audit-version=latest"
    )
    assert r["web"].label_command() is None  # restricted already
    # where even baseline refuses something: only warn and audit, which never refuse anything
    assert r["kube-system"].label_command() == (
        "kubectl label --overwrite namespace kube-system pod-security.kubernetes.io/warn=baseline "
        "pod-security.kubernetes.io/warn-version=latest pod-security.kubernetes.io/audit=baseline "
        "pod-security.kubernetes.io/audit-version=latest"
    )
    # running objects already refused by the current level: a person decides
    assert r["payments"].label_command() is None


def test_dry_run_warnings_like_kubectl_label() -> None:
    r = by_ns()
    assert r["prod"].existing_pod_warnings["restricted"] == (
        'existing pods in namespace "prod" violate the new PodSecurity enforce level "restricted:latest"',
        "api-7f9c6d8b4-abc12 (and 1 other pod): allowPrivilegeEscalation != false, unrestricted capabilities, "
        "runAsNonRoot != true, seccompProfile",
        "report-29400000-k8v2n: runAsNonRoot != true, runAsUser=0",
    )
    assert r["prod"].existing_pod_warnings["baseline"] == ()
    assert r["kube-system"].existing_pod_warnings["baseline"] == (
        'existing pods in namespace "kube-system" violate the new PodSecurity enforce level "baseline:latest"',
        "kube-proxy-7xk2p: host namespaces, hostPath volumes, privileged",
    )


def test_admission_config_defaults_and_exemptions() -> None:
    cfg = parse_admission_config(
        """
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults: {enforce: baseline}
    exemptions: {namespaces: [kube-system], runtimeClasses: [kata]}
""",
        "admission.yaml",
    ).pod_security
    r = by_ns(cfg)
    assert r["kube-system"].exempt
    assert r["kube-system"].recommended is None
    assert r["kube-system"].label_command() is None
    assert (
        str(r["legacy"].policy.enforce) == "baseline:latest"
    )  # the default applies to unlabelled namespaces
    assert [o.ref for o in r["legacy"].refused("current")] == [
        "Pod/legacy/old-app-0",
        "StatefulSet/legacy/old-app",
    ]
    # a pod with an exempt runtime class is never refused
    pod = load_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: vm, namespace: sandbox}\n"
        "spec: {runtimeClassName: kata, hostPID: true, containers: [{name: c, image: x}]}\n",
        "vm.yaml",
    )
    [sandbox] = simulate(pod, cfg)
    assert sandbox.objects[0].exempt_runtime_class
    assert sandbox.recommended is Level.RESTRICTED


def test_checklist_status() -> None:
    status, reason = checklist_status(load_paths([SNAPSHOT]))
    assert status is Status.FAIL
    assert reason == (
        "2 of 5 namespaces enforce privileged: default, legacy; "
        "1 running pods violate their namespace's enforce level: Pod/payments/pay-0"
    )
    ok = load_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {pod-security.kubernetes.io/enforce: restricted}}\n"
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n",
        "ns.yaml",
    )
    assert checklist_status(ok) == (
        Status.PASS,
        "all 1 non-system namespaces enforce baseline or restricted (1 restricted)",
    )
    assert (
        checklist_status(load_text("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n", "p.yaml"))[0]
        is Status.WARN
    )


def test_simulate_cli_json_and_text() -> None:
    result = run_cli("pss", "simulate", "--from", str(SNAPSHOT), "-o", "json")
    assert result.code == 0
    doc = {n["namespace"]: n for n in json.loads(result.stdout)}
    assert doc["web"]["policy"] == {
        "enforce": "restricted:latest",
        "audit": "privileged:latest",
        "warn": "restricted:latest",
    }
    assert doc["legacy"]["refused"]["baseline"] == [
        {
            "object": "Pod/legacy/old-app-0",
            "file": f"{SNAPSHOT}:1",
            "violations": [{"check": "hostPathVolumes", "message": 'hostPath volumes (volume "data")'}],
        },
        {
            "object": "StatefulSet/legacy/old-app",
            "file": f"{SNAPSHOT}:1",
            "violations": [{"check": "hostPathVolumes", "message": 'hostPath volumes (volume "data")'}],
        },
    ]
    text = run_cli("pss", "simulate", "--from", str(SNAPSHOT), "--version", "v1.30")
    assert text.code == 0
    lines = text.stdout.splitlines()
    [payments_row] = [line for line in lines if line.startswith("│ payments ")]
    assert "running objects violate the current" in payments_row
    [prod_row] = [line for line in lines if line.startswith("│ prod ")]
    assert "ok: already enforces baseline" in prod_row
    start = lines.index(
        "# where even baseline would refuse something, warn and audit at baseline while it is fixed:"
    )
    assert lines[start + 1 :] == [
        *(
            f"kubectl label --overwrite namespace {ns} pod-security.kubernetes.io/enforce=restricted "
            "pod-security.kubernetes.io/enforce-version=v1.30"
            for ns in ("default", "kube-node-lease", "kube-public")
        ),
        *(
            f"kubectl label --overwrite namespace {ns} pod-security.kubernetes.io/warn=baseline "
            "pod-security.kubernetes.io/warn-version=v1.30 pod-security.kubernetes.io/audit=baseline "
            "pod-security.kubernetes.io/audit-version=v1.30"
            for ns in ("kube-system", "legacy")
        ),
        "kubectl label --overwrite namespace prod pod-security.kubernetes.io/warn=restricted "
        "pod-security.kubernetes.io/warn-version=v1.30 pod-security.kubernetes.io/audit=restricted "
        "pod-security.kubernetes.io/audit-version=v1.30",
    ]


def test_simulate_baseline_recommendation_adds_warn_and_audit(tmp_path: Path) -> None:
    f = tmp_path / "app.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: app}\nspec: {containers: [{name: c, image: x}]}\n"
    )
    result = run_cli("pss", "simulate", "--from", str(f), "-o", "json")
    [ns] = json.loads(result.stdout)
    assert ns["recommended"] == "baseline"
    assert ns["command"] == (
        "kubectl label --overwrite namespace app pod-security.kubernetes.io/enforce=baseline "
        "pod-security.kubernetes.io/enforce-version=latest pod-security.kubernetes.io/warn=restricted "
        "pod-security.kubernetes.io/warn-version=latest pod-security.kubernetes.io/audit=restricted "
        "pod-security.kubernetes.io/audit-version=latest"
    )


def test_check_cli(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
        "spec:\n  template:\n    spec:\n      containers: [{name: c, image: x, securityContext: {privileged: true}}]\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
    )
    result = run_cli("pss", "check", str(f), "--level", "baseline", "-o", "json")
    assert result.code == 1
    assert json.loads(result.stdout) == [
        {
            "object": "Deployment/shop/web",
            "file": f"{f}:1",
            "allowed": False,
            "violations": [
                {
                    "check": "privileged",
                    "message": 'privileged (container "c" must not set securityContext.privileged=true)',
                }
            ],
        }
    ]
    text = run_cli("pss", "check", str(f), "--level", "baseline", "--version", "v1.20")
    assert text.stdout == (
        f"DENIED   Deployment/shop/web  ({f}:1)\n"
        '  Warning: would violate PodSecurity "baseline:v1.20": privileged (container "c" must not set '
        "securityContext.privileged=true)\n"
        "  (admitted with this warning; enforce refuses the pods it creates)\n"
        "1 object at baseline:v1.20: 0 allowed, 1 denied\n"
    )
    assert run_cli("pss", "check", str(f), "--level", "privileged").code == 0


def test_check_cli_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n")
    result = run_cli("pss", "check", str(bad), "--level", "baseline")
    assert result.code == 2
    assert result.stderr.startswith(f"kapsec: warning: {bad}:")
    assert "invalid YAML" in result.stderr
    assert "Traceback" not in result.stderr
    empty = tmp_path / "cm.yaml"
    empty.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    result = run_cli("pss", "check", str(empty), "--level", "baseline")
    assert result.code == 2
    assert result.stderr == (
        f"kapsec: error: {empty}: no Pods or pod-template workloads found (expected Pod, Deployment, "
        "StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, ReplicationController or PodTemplate)\n"
    )
    assert result.stdout == ""  # no "0 objects" summary: nothing was checked
    for fmt in ("json", "sarif"):
        result = run_cli("pss", "check", str(empty), "--level", "baseline", "-o", fmt)
        assert (result.code, result.stdout) == (2, "")
    result = run_cli("pss", "check", "-", "--level", "baseline", input="")
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr.startswith("kapsec: error: <stdin>: no Pods or pod-template workloads found ")
    result = run_cli("pss", "check", "-", "-", "--level", "baseline", input="")
    assert (result.code, result.stderr) == (2, "kapsec: error: standard input ('-') can be read only once\n")
    result = run_cli("pss", "check", str(empty), "--level", "baseline", "--version", "1.25")
    assert result.code == 2
    assert '\'1.25\': must be "latest" or "v1.x"' in result.stderr


def test_exempt_namespace_refuses_nothing_now() -> None:
    cfg = parse_admission_config(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n"
        "  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1\n"
        "    kind: PodSecurityConfiguration\n    defaults: {enforce: baseline}\n"
        "    exemptions: {namespaces: [kube-system]}\n",
        "a.yaml",
    ).pod_security
    r = by_ns(cfg)
    assert r["kube-system"].refused("current") == []
    assert len(r["kube-system"].refused("baseline")) == 2


def test_check_cli_reads_stdin() -> None:
    pods = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "a", "namespace": "x"},
                "spec": {
                    "containers": [{"name": "c", "image": "i", "securityContext": {"privileged": True}}]
                },
            }
        ],
    }
    result = run_cli("pss", "check", "-", "--level", "baseline", "-o", "json", input=json.dumps(pods))
    assert result.code == 1
    assert json.loads(result.stdout)[0]["file"] == "<stdin>:1"


def test_k8s_version_bounds_latest(tmp_path: Path) -> None:
    # a 1.30 API server does not know the v1.34 probe-host check: "latest" there allows this pod
    f = tmp_path / "probe.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\n"
        "spec: {containers: [{name: c, image: i, livenessProbe: {httpGet: {host: 10.0.0.1, port: 80}}}]}\n"
    )
    newest = run_cli("pss", "check", str(f), "--level", "baseline", "-o", "json")
    assert newest.code == 1
    assert json.loads(newest.stdout)[0]["violations"] == [
        {
            "check": "hostProbesAndHostLifecycle",
            "message": 'probe or lifecycle host (container "c" uses probe or lifecycle host "10.0.0.1")',
        }
    ]
    old = run_cli("pss", "check", str(f), "--level", "baseline", "--k8s-version", "1.30", "-o", "json")
    assert old.code == 0
    # a pinned version newer than the server is also bounded by it
    pinned = run_cli(
        "pss", "check", str(f), "--level", "baseline", "--version", "v1.35", "--k8s-version", "v1.33.4"
    )
    assert pinned.code == 0
    sim = run_cli("pss", "simulate", "--from", str(f), "--k8s-version", "1.30", "-o", "json")
    assert json.loads(sim.stdout)[0]["recommended"] == "baseline"
    bad = run_cli("pss", "check", str(f), "--level", "baseline", "--k8s-version", "2.0")
    assert bad.code == 2
    assert "expected a Kubernetes version like 1.30" in bad.stderr


def test_check_cli_reports(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    f = tmp_path / "p.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: debug, namespace: shop}\n"
        "spec: {hostPID: true, containers: [{name: s, image: b, securityContext: {privileged: true}}]}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: ok, namespace: shop}\nspec: {containers: [{name: s, image: b}]}\n"
    )
    sarif = run_cli("pss", "check", str(f), "--level", "baseline", "-o", "sarif")
    assert sarif.code == 1
    doc = json.loads(sarif.stdout)
    results = [(r["ruleId"], r["message"]["text"]) for r in doc["runs"][0]["results"]]
    assert results == [
        (
            "PSS-hostNamespaces",
            'Pod Security baseline: hostNamespaces: Pod/shop/debug: violates PodSecurity "baseline:latest": '
            "host namespaces (hostPID=true)",
        ),
        (
            "PSS-privileged",
            'Pod Security baseline: privileged: Pod/shop/debug: violates PodSecurity "baseline:latest": '
            'privileged (container "s" must not set securityContext.privileged=true)',
        ),
    ]
    junit = run_cli("pss", "check", str(f), "--level", "baseline", "-o", "junit")
    assert junit.code == 1
    root = ET.fromstring(junit.stdout)
    assert len(root.findall(".//failure")) == 2


def test_dry_run_checks_3000_pods_one_per_controller_first() -> None:
    from kapsec.pss.api import LATEST, LevelVersion
    from kapsec.pss.evaluate import Evaluation, Violation
    from kapsec.pss.simulate import existing_pod_warnings

    lv = LevelVersion(Level.BASELINE, LATEST)
    ok = Evaluation(lv, ())
    bad = Evaluation(lv, (Violation("privileged", "privileged", 'container "c" must not ...'),))
    replicas = [(f"web-{i:04d}", "uid-web", ok) for i in range(3000)]
    # a lone bad pod listed after 3,000 replicas is still checked: one pod per controller comes first
    warnings = existing_pod_warnings("ns", [*replicas, ("debug", None, bad)], lv)
    assert warnings == [
        'existing pods in namespace "ns" violate the new PodSecurity enforce level "baseline:latest"',
        "debug: privileged",
    ]
    # a bad 3,001st replica of the same controller is beyond the limit; no time-budget warning offline
    assert existing_pod_warnings("ns", [*replicas, ("web-3000", "uid-web", bad)], lv) == []
    # grouping: smallest name first, counts of the others
    three = [("b", None, bad), ("a", None, bad), ("c", None, bad)]
    assert existing_pod_warnings("ns", three, lv)[1] == "a (and 2 other pods): privileged"


def test_check_cli_fail_on(tmp_path: Path) -> None:
    """baseline failures are high, restricted-only ones medium: --fail-on picks which ones exit 1."""
    f = tmp_path / "p.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: root, namespace: shop}\n"
        "spec: {containers: [{name: s, image: b}]}\n"
    )
    # allowed at baseline, refused at restricted (a medium finding per failing check)
    assert run_cli("pss", "check", str(f), "--level", "baseline").code == 0
    codes = {
        t: run_cli("pss", "check", str(f), "--level", "restricted", "--fail-on", t).code
        for t in ("info", "low", "medium", "high", "critical", "never")
    }
    assert codes == {"info": 1, "low": 1, "medium": 1, "high": 0, "critical": 0, "never": 0}
    assert run_cli("pss", "check", str(f), "--level", "restricted").code == 1  # default: low
    f.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: debug, namespace: shop}\n"
        "spec: {containers: [{name: s, image: b, securityContext: {privileged: true}}]}\n"
    )
    r = run_cli("pss", "check", str(f), "--level", "baseline", "-o", "sarif", "--fail-on", "high")
    assert r.code == 1
    assert run_cli("pss", "check", str(f), "--level", "baseline", "--fail-on", "critical").code == 0
    bad = run_cli("pss", "check", str(f), "--level", "baseline", "--fail-on", "severe")
    assert bad.code == 2
    assert "unknown severity 'severe'" in bad.stderr


def test_simulate_cli_nothing_to_simulate_and_stdin(tmp_path: Path) -> None:
    cm = tmp_path / "cm.yaml"
    cm.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    for args in (["-f", str(cm)], ["-f", str(cm), "-o", "json"]):
        r = run_cli("pss", "simulate", *args)
        assert (r.code, r.stdout, r.stderr) == (
            2,
            "",
            f"kapsec: error: {cm}: no Namespaces, Pods or pod-template workloads found: nothing to simulate\n",
        )
    snapshot = (DATA / "netpol" / "snapshot.json").read_text()
    from_file = run_cli("pss", "simulate", "-f", str(DATA / "netpol" / "snapshot.json"), "-o", "json")
    from_stdin = run_cli("pss", "simulate", "-f", "-", "-o", "json", input=snapshot)
    assert (from_stdin.code, from_stdin.stderr) == (0, "")
    strip = [{k: v for k, v in ns.items() if k != "refused"} for ns in json.loads(from_file.stdout)]
    assert [{k: v for k, v in ns.items() if k != "refused"} for ns in json.loads(from_stdin.stdout)] == strip
    legacy = next(ns for ns in json.loads(from_stdin.stdout) if ns["namespace"] == "legacy")
    assert {o["file"].split(":")[0] for o in legacy["refused"]["baseline"]} == {"<stdin>"}
    # stdin and a file together; stdin only once; --kubeconfig still needs --cluster
    both = run_cli("pss", "simulate", "-f", "-", "-f", str(cm), "-o", "json", input=snapshot)
    assert both.code == 0
    twice = run_cli("pss", "simulate", "-f", "-", "-f", "-", input=snapshot)
    assert (twice.code, twice.stderr) == (2, "kapsec: error: standard input ('-') can be read only once\n")
    kc = run_cli("pss", "simulate", "-f", "-", "--kubeconfig", "k", input=snapshot)
    assert (kc.code, kc.stderr) == (
        2,
        "kapsec: error: --kubeconfig and --context only apply with --cluster\n",
    )
    empty = run_cli("pss", "simulate", "-f", "-", input="")
    assert (empty.code, empty.stderr) == (
        2,
        "kapsec: error: <stdin>: no Namespaces, Pods or pod-template workloads found: nothing to simulate\n",
    )
    garbage = run_cli("pss", "simulate", "-f", "-", input=b"\x00\x01\xff")
    assert (garbage.code, garbage.stderr) == (2, "kapsec: error: <stdin>: not UTF-8 text (byte 2)\n")
