"""Flags read as kube-apiserver's pflag reads them, and the API server found in real manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import DATA
from kapsec.errors import InputError, UsageError
from kapsec.model.apiserver import ApiServerConfig, Arg, K8sVersion, Location, build_config
from kapsec.model.goparse import GoParseError, parse_bool, parse_duration_ns, parse_int, split_csv
from kapsec.sources import apiserver as src

REAL = DATA / "control-plane-manifests"


def cfg(*words: str, minor: int = 34, etcd: bool = True) -> ApiServerConfig:
    base = (
        "--etcd-servers=https://127.0.0.1:2379",
        "--service-account-issuer=https://kubernetes.default.svc",
        "--service-account-signing-key-file=/etc/kubernetes/pki/sa.key",
    )
    words = (*base, *words) if etcd else words
    args = [Arg(w, Location("m.yaml", i + 1)) for i, w in enumerate(words)]
    return build_config(
        source="cmdline", file="m.yaml", flag_args=args, version=K8sVersion(minor, f"v1.{minor}", "test")
    )


def problems(c: ApiServerConfig) -> list[tuple[str, str]]:
    return [(p.kind, p.message) for p in c.problems]


# ------------------------------------------------------------------ Go value syntax


@pytest.mark.parametrize("text", ["1", "t", "T", "TRUE", "true", "True"])
def test_parsebool_true_spellings(text: str) -> None:
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["0", "f", "F", "FALSE", "false", "False"])
def test_parsebool_false_spellings(text: str) -> None:
    assert parse_bool(text) is False


@pytest.mark.parametrize("text", ["yes", "no", "tRUE", "on", "", " true"])
def test_parsebool_rejects_everything_else(text: str) -> None:
    with pytest.raises(GoParseError) as err:
        parse_bool(text)
    assert str(err.value) == f'strconv.ParseBool: parsing "{text}": invalid syntax'


@pytest.mark.parametrize(
    ("text", "value"),
    [("30", 30), ("0x1e", 30), ("010", 8), ("0o17", 15), ("1_000", 1000), ("-5", -5), ("0", 0)],
)
def test_parseint_base0(text: str, value: int) -> None:
    assert parse_int(text) == value


@pytest.mark.parametrize("text", ["08", "30d", "", "1__0", "3.0"])
def test_parseint_rejects(text: str) -> None:
    with pytest.raises(GoParseError):
        parse_int(text)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("300s", 300 * 10**9),
        ("1m0s", 60 * 10**9),
        ("1h30m", 5400 * 10**9),
        ("300ms", 300 * 10**6),
        ("-1.5h", -5400 * 10**9),
        ("1µs", 1000),
    ],
)
def test_durations(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("30", 'time: missing unit in duration "30"'),
        ("1d", 'time: invalid duration "1d"'),
        ("", 'time: invalid duration ""'),
    ],
)
def test_duration_errors(text: str, message: str) -> None:
    with pytest.raises(GoParseError) as err:
        parse_duration_ns(text)
    assert str(err.value) == message


def test_strings_flags_are_csv() -> None:
    assert split_csv('"a,b",c') == ["a,b", "c"]
    assert split_csv("") == []


# ------------------------------------------------------------------ pflag behaviour


def test_equals_and_space_separated_values() -> None:
    c = cfg("--audit-log-maxage=30", "--audit-log-maxbackup", "10", "--audit-log-path", "/var/log/a.log")
    assert (c.get_int("audit-log-maxage"), c.get_int("audit-log-maxbackup"), c.get_str("audit-log-path")) == (
        30,
        10,
        "/var/log/a.log",
    )
    assert c.last("audit-log-maxbackup").written == "--audit-log-maxbackup 10"  # type: ignore[union-attr]
    assert problems(c) == []


def test_bool_flag_never_takes_the_next_word() -> None:
    c = cfg("--anonymous-auth", "false")
    assert c.get_bool("anonymous-auth") is True
    assert problems(c) == [
        (
            "positional",
            'kube-apiserver does not take arguments, got "false" (after the bool flag --anonymous-auth: bool flags '
            "never take the next word, write --anonymous-auth=false)",
        )
    ]


def test_bare_bool_flag_is_true() -> None:
    c = cfg("--encryption-provider-config-automatic-reload")
    assert c.get_bool("encryption-provider-config-automatic-reload") is True


def test_scalars_last_wins_with_the_last_location() -> None:
    c = cfg("--profiling=false", "--secure-port=6443", "--profiling=true")
    assert c.get_bool("profiling") is True
    assert c.evidence("profiling").line == 6  # cfg() adds three flags first


def test_string_slices_accumulate_across_repeats() -> None:
    c = cfg(
        "--enable-admission-plugins=NodeRestriction",
        "--enable-admission-plugins=EventRateLimit,AlwaysPullImages",
    )
    assert c.get_list("enable-admission-plugins") == ("NodeRestriction", "EventRateLimit", "AlwaysPullImages")
    assert c.evidence("enable-admission-plugins").value == "NodeRestriction,EventRateLimit,AlwaysPullImages"


def test_lists_are_ordered_sets_and_duplicates_are_refused() -> None:
    c = cfg("--authorization-mode=Node,RBAC,Node")
    assert c.get_set("authorization-mode") == ("Node", "RBAC")
    assert problems(c) == [
        ("invalid", 'authorization-mode ["Node" "RBAC" "Node"] has mode specified more than once')
    ]


def test_podsecuritypolicy_never_counts_as_podsecurity() -> None:
    c = cfg("--enable-admission-plugins=PodSecurityPolicy", minor=22)
    assert "PodSecurity" not in c.admission_plugins()
    assert "PodSecurityPolicy" in c.admission_plugins()
    assert problems(cfg("--enable-admission-plugins=PodSecurityPolicy", minor=25)) == [
        ("invalid", 'enable-admission-plugins plugin "PodSecurityPolicy" is unknown')
    ]


def test_default_on_plugins_per_version() -> None:
    assert "PodSecurity" not in cfg(minor=22).admission_plugins()
    assert "PodSecurity" in cfg(minor=23).admission_plugins()
    assert "NodeRestriction" not in cfg().admission_plugins()
    assert (
        "NamespaceLifecycle" not in cfg("--disable-admission-plugins=NamespaceLifecycle").admission_plugins()
    )


def test_legacy_admission_control_replaces_the_defaults() -> None:
    c = cfg("--admission-control=NodeRestriction,ServiceAccount", minor=10)
    assert c.admission_plugins() == ("NodeRestriction", "ServiceAccount")


def test_word_separators_are_normalised() -> None:
    assert cfg("--audit_log_maxage=30").get_int("audit-log-maxage") == 30


def test_double_dash_ends_flags() -> None:
    c = cfg("--profiling=false", "--", "--anonymous-auth=false")
    assert c.get_bool("anonymous-auth") is True
    assert problems(c) == [
        ("positional", 'kube-apiserver does not take arguments, got "--anonymous-auth=false"')
    ]


def test_value_missing_at_the_end() -> None:
    assert problems(cfg("--audit-log-path")) == [
        ("missing-value", "flag needs an argument: --audit-log-path")
    ]


def test_values_may_contain_equals_and_hash() -> None:
    c = cfg("--oidc-required-claim=claim1=value1", "--etcd-servers-overrides=/events#https://127.0.0.1:4002")
    assert c.get_map("oidc-required-claim") == {"claim1": "value1"}
    assert c.get_list("etcd-servers-overrides") == ("/events#https://127.0.0.1:4002",)


def test_feature_gates_merge_across_repeats() -> None:
    c = cfg("--feature-gates=A=true,B=false", "--feature-gates=B=true")
    assert c.get_map("feature-gates") == {"A": "true", "B": "true"}
    assert c.feature_enabled("B", default=False) is True


def test_removed_and_unknown_flags() -> None:
    assert problems(cfg("--insecure-port=0", minor=23)) == []
    assert problems(cfg("--insecure-port=0", minor=24)) == [
        (
            "removed",
            "unknown flag: --insecure-port on kube-apiserver 1.24 (removed in 1.24: insecure serving was removed in 1.20); "
            "the API server refuses to start",
        )
    ]
    (p,) = cfg("--enable-fun", "yes").problems
    assert (p.kind, p.fatal) == ("unknown", False)


def test_shorthand_v_and_unknown_shorthand() -> None:
    assert cfg("-v=2").get_int("v") == 2
    assert cfg("-v", "4").get_int("v") == 4
    assert problems(cfg("-x")) == [("unknown", "unknown shorthand flag: 'x' in -x")]


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (("--audit-log-maxage=-1",), "--audit-log-maxage -1 can't be a negative number"),
        (("--audit-log-format=yaml",), 'invalid audit log format yaml, allowed formats are "legacy,json"'),
        (
            ("--audit-log-mode=async",),
            'invalid audit log mode async, allowed modes are "batch,blocking,blocking-strict"',
        ),
        (("--tls-min-version=VersionTLS14",), 'unknown tls version "VersionTLS14"'),
        (
            ("--tls-cipher-suites=TLS_BOGUS_WITH_NOTHING",),
            "Cipher suite TLS_BOGUS_WITH_NOTHING not supported or doesn't exist",
        ),
        (("--authorization-mode=Bogus",), 'authorization-mode "Bogus" is not a valid mode'),
        (("--authorization-mode=ABAC",), "authorization-mode ABAC's authorization policy file not passed"),
        (("--tls-private-key-file=k.key",), "missing filename for serving key"),
        (
            ("--profiling=yes",),
            'invalid argument "yes" for "--profiling" flag: strconv.ParseBool: parsing "yes": invalid syntax',
        ),
        (
            ("--secure-port=64k",),
            'invalid argument "64k" for "--secure-port" flag: strconv.ParseInt: parsing "64k": invalid syntax',
        ),
    ],
)
def test_startup_validation_messages(words: tuple[str, ...], message: str) -> None:
    assert [p.message for p in cfg(*words).problems] == [message]


# ------------------------------------------------------------------ real manifests


@pytest.mark.parametrize(
    ("path", "version", "nflags", "flag", "line", "value"),
    [
        ("kubeadm-v1.29-zeta-linux/kube-apiserver.yaml", 29, 27, "authorization-mode", 18, "Node,RBAC"),
        ("kubeadm-v1.10-managed-kubernetes/kube-apiserver.yaml", 10, 26, "insecure-port", None, "0"),
        ("kubeadm-v1.25-otel-kubeadm/kube-apiserver.yaml", 25, 29, "tracing-config-file", None, None),
        ("kubeadm-v1.26-kind-packt/kube-apiserver.yaml", 26, 31, "runtime-config", None, ""),
        ("minikube-kubescape-regolibrary/apiserverpod.json", 20, 28, "enable-admission-plugins", None, None),
        ("minikube-kubescape-regolibrary/apiserverpod.yaml", 23, 27, "authorization-mode", None, "Node,RBAC"),
        ("minikube-kubescape-regolibrary/1.yaml", 24, 27, "authorization-mode", None, "Node,RBAC"),
        ("kops-nodeup-golden/minimal/kube-apiserver.manifest", 33, 33, "anonymous-auth", None, "false"),
        ("kops-nodeup-golden/oidc/kube-apiserver.manifest", 35, 45, "oidc-username-prefix", None, "oidc:"),
        ("talos-k8stemplates/apiserver-minimal.yaml", 36, 2, None, None, None),
    ],
)
def test_real_manifests(
    path: str, version: int, nflags: int, flag: str | None, line: int | None, value: str | None
) -> None:
    c = src.from_manifest(str(REAL / path))
    assert (c.version.minor, c.version.origin) == (version, "image tag")
    assert len(c.occurrences) == nflags
    if path.startswith("talos"):  # Talos's renderer test passes only two flags
        assert [m for _, m in problems(c)] == [
            "service-account-issuer is a required flag",
            "--service-account-signing-key-file and --service-account-issuer are required flags",
        ]
    else:
        assert problems(c) == []
    if flag:
        assert c.is_set(flag)
        o = c.last(flag)
        assert o is not None
        assert o.loc.file == str(REAL / path)
        if line is not None:
            assert o.loc.line == line
        if value is not None:
            assert o.value == value


def test_line_numbers_in_json_and_folded_scalars() -> None:
    j = src.from_manifest(str(REAL / "minikube-kubescape-regolibrary/apiserverpod.json"))
    text = (REAL / "minikube-kubescape-regolibrary/apiserverpod.json").read_text().splitlines()
    for o in j.occurrences:
        assert o.written in text[o.loc.line - 1], o  # type: ignore[operator]
    y = src.from_manifest(str(REAL / "minikube-kubescape-regolibrary/1.yaml"))
    lines = (REAL / "minikube-kubescape-regolibrary/1.yaml").read_text().splitlines()
    for o in y.occurrences:
        here = "\n".join(lines[o.loc.line - 1 : o.loc.line + 1])  # type: ignore[operator]
        assert o.written.split("=")[0] in here, o


def test_go_runner_wrapper_and_repeats_in_kops() -> None:
    c = src.from_manifest(str(REAL / "kops-nodeup-golden/oidc/kube-apiserver.manifest"))
    assert not c.is_set("log-file")  # go-runner's own flag, before the binary
    assert len(c.get_list("service-account-issuer")) == 5
    assert c.get_map("oidc-required-claim") == {"claim1": "value1", "claim2": "value2"}


def test_full_path_binary_talos() -> None:
    c = src.from_manifest(str(REAL / "talos-k8stemplates/apiserver-minimal.yaml"))
    assert c.container_name == "kube-apiserver"


def test_command_and_args_are_merged() -> None:
    text = """\
apiVersion: v1
kind: Pod
metadata: {name: kube-apiserver}
spec:
  containers:
  - name: kube-apiserver
    image: rancher/hardened-kubernetes:v1.33.1-rke2r1-build20250515
    command: [kube-apiserver, --profiling=false]
    args:
    - --anonymous-auth=false
    - --audit-log-maxage
    - "30"
"""
    c = src.from_manifest_text(text, "rke2.yaml")
    assert (
        c.version.minor,
        c.get_bool("profiling"),
        c.get_bool("anonymous-auth"),
        c.get_int("audit-log-maxage"),
    ) == (33, False, False, 30)
    assert [o.loc.line for o in c.occurrences] == [8, 10, 11]


def test_hyperkube_and_shell_wrappers() -> None:
    hk = src.split_argv([Arg("/hyperkube"), Arg("apiserver"), Arg("--profiling=false")])
    assert [a.text for a in hk or []] == ["--profiling=false"]
    sh = src.split_argv(
        [Arg("/bin/sh"), Arg("-c"), Arg("exec /usr/local/bin/kube-apiserver --secure-port=6443 --v=2")]
    )
    assert [a.text for a in sh or []] == ["--secure-port=6443", "--v=2"]
    assert src.split_argv([Arg("etcd"), Arg("--data-dir=/var/lib/etcd")]) is None


def test_rke2_command_line_from_ps_output() -> None:
    path = REAL / "rke2-cis-self-assessment/cis_self_assessment112-ps.txt"
    c = src.from_command_line(path.read_text(), str(path), k8s_version="1.33")
    assert c.version == K8sVersion(33, "1.33", "--k8s-version")
    assert c.get_bool("anonymous-auth") is False
    assert c.get_str("admission-control-config-file") == "/etc/rancher/rke2/rke2-pss.yaml"
    assert problems(c) == []


def test_kubeadm_config_v1beta3_map_form() -> None:
    path = REAL / "kubeadm-config-docs/kubeadm-config.v1beta3-example.yaml"
    c = src.from_kubeadm_config(str(path))
    assert (c.version.minor, c.version.origin) == (21, "kubernetesVersion")
    o = c.last("authorization-mode")
    assert o is not None
    assert o.value == "Node,RBAC"
    extra = [x for x in c.occurrences if x.loc.file == str(path)]
    assert [x.name for x in extra] == ["authorization-mode"]
    text = path.read_text().splitlines()
    assert "authorization-mode" in text[extra[0].loc.line - 1]  # type: ignore[operator]


def test_kubeadm_config_v1beta4_list_form_overrides_defaults() -> None:
    path = REAL / "kubeadm-config-minikube/v1.36/options.yaml"
    c = src.from_kubeadm_config(str(path))
    assert c.version.minor == 36
    assert c.get_list("enable-admission-plugins")[:2] == ("NamespaceLifecycle", "LimitRanger")
    assert (
        len(c.occurrences_of("enable-admission-plugins")) == 1
    )  # replaced kubeadm's NodeRestriction default
    assert c.get_str("client-ca-file") == "/var/lib/minikube/certs/ca.crt"  # certificatesDir
    assert [p.flag for p in c.problems] == ["fail-no-swap"]  # minikube's test data passes an unknown flag


def test_kubeadm_config_that_is_not_valid_yaml() -> None:
    with pytest.raises(InputError) as err:
        src.from_kubeadm_config(str(REAL / "kubeadm-config-docs/kubeadm-config.v1beta4-example.yaml"))
    assert str(err.value).endswith(
        "kubeadm-config.v1beta4-example.yaml:12: malformed YAML: mapping values are not allowed in this context"
    )


def test_process_source(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "cmdline").write_bytes(b"/sbin/init\0")
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "cmdline").write_bytes(
        b"/usr/local/bin/kube-apiserver\0--profiling=false\0--audit-log-maxage\x0030\0"
    )
    (tmp_path / "self").mkdir()
    c = src.from_process(str(tmp_path), k8s_version="1.30")
    assert (c.source, c.file, c.get_bool("profiling"), c.get_int("audit-log-maxage")) == (
        "process",
        f"{tmp_path}/42/cmdline",
        False,
        30,
    )
    assert c.extra["pid"] == 42


def test_no_process(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        src.from_process(str(tmp_path))
    assert "no running kube-apiserver process found" in str(err.value)


@pytest.mark.parametrize(
    "rel",
    [
        "etc/kubernetes/manifests/kube-apiserver.yaml",
        "etc/kubernetes/manifests/kube-apiserver.manifest",
        "etc/kubernetes/manifests/talos-kube-apiserver.yaml",
        "var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml",
    ],
)
def test_root_finds_the_manifest(tmp_path: Path, rel: str) -> None:
    p = tmp_path / rel
    p.parent.mkdir(parents=True)
    p.write_text((REAL / "kubeadm-v1.29-zeta-linux/kube-apiserver.yaml").read_text())
    c = src.load(root=str(tmp_path))
    assert (c.file, c.extra["manifest_rel"]) == ("/" + rel, rel)


def test_root_on_k3s(tmp_path: Path) -> None:
    (tmp_path / "etc/rancher/k3s").mkdir(parents=True)
    (tmp_path / "etc/rancher/k3s/config.yaml").write_text("write-kubeconfig-mode: '0600'\n")
    with pytest.raises(InputError) as err:
        src.load(root=str(tmp_path))
    assert "this looks like a k3s node" in str(err.value)


def test_bogus_root() -> None:
    with pytest.raises(UsageError) as err:
        src.load(root="/no/such/dir")
    assert str(err.value) == "--root /no/such/dir: no such directory"


def test_paths_map_through_hostpath_mounts() -> None:
    c = src.from_manifest(str(REAL / "kubeadm-v1.25-otel-kubeadm/kube-apiserver.yaml"))
    # the otel manifest mounts hostPath /tmp/trace at /var/lib/trace
    assert c.host_path("/var/lib/trace/trace.yaml") == "/tmp/trace/trace.yaml"
    assert c.host_path("/etc/kubernetes/pki/ca.crt") == "/etc/kubernetes/pki/ca.crt"
    assert c.host_path("/opt/unmounted.yaml") is None


def test_process_version_from_the_node_manifest(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "7").mkdir(parents=True)
    (proc / "7" / "cmdline").write_bytes(b"kube-apiserver\0--profiling=false\0")
    node = tmp_path / "node"
    (node / "etc/kubernetes/manifests").mkdir(parents=True)
    (node / "etc/kubernetes/manifests/kube-apiserver.yaml").write_text(
        (REAL / "kubeadm-v1.29-zeta-linux/kube-apiserver.yaml").read_text()
    )
    c = src.from_process(str(proc), node_root=str(node))
    assert c.version == K8sVersion(
        29, "v1.29.0", "image tag in /etc/kubernetes/manifests/kube-apiserver.yaml"
    )
    assert c.notes == ()


def test_process_files_are_read_through_proc_root(tmp_path: Path) -> None:
    from kapsec.checks.catalog import by_id
    from kapsec.checks.context import ScanContext
    from kapsec.checks.engine import evaluate

    proc = tmp_path / "proc"
    (proc / "42" / "root" / "etc/kubernetes/pki").mkdir(parents=True)
    (proc / "42" / "root" / "etc/kubernetes/pki/ca.crt").write_text("x")
    (proc / "42" / "cmdline").write_bytes(
        b"kube-apiserver\0--etcd-servers=https://127.0.0.1:2379\0--client-ca-file=/etc/kubernetes/pki/ca.crt\0"
        b"--service-account-issuer=https://kubernetes.default.svc\0"
        b"--service-account-signing-key-file=/etc/kubernetes/pki/ca.crt\0"
        b"--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt\0"
    )
    c = src.from_process(str(proc), k8s_version="1.34", node_root=str(tmp_path / "none"))
    ctx = ScanContext(config=c)
    assert ctx.resolve("/etc/kubernetes/pki/ca.crt").real == f"{proc}/42/root/etc/kubernetes/pki/ca.crt"
    check = by_id("FLAG-003")
    assert check is not None
    f = evaluate(check, ctx)
    assert (f.status.value, f.message) == (
        "fail",
        "the API server would refuse to start: --etcd-cafile: open /etc/kubernetes/pki/etcd/ca.crt: no such file or directory",
    )


def test_etcd_servers_and_service_account_issuer_are_required() -> None:
    assert problems(cfg("--profiling=false", etcd=False)) == [
        ("invalid", "service-account-issuer is a required flag"),
        ("invalid", "--service-account-signing-key-file and --service-account-issuer are required flags"),
        ("invalid", "--etcd-servers must be specified"),
    ]
    assert problems(cfg("--profiling=false", etcd=False, minor=19)) == [
        ("invalid", "--etcd-servers must be specified")
    ]


def test_k3s_log_line_as_command_line() -> None:
    # Constructed in the format k3s logs its argv (pkg/daemons/control/server.go: "Running kube-apiserver %s").
    line = (
        'Nov 28 10:00:00 node k3s[1234]: time="2026-11-28T10:00:00Z" level=info msg="Running kube-apiserver '
        "--advertise-address=10.0.0.5 --anonymous-auth=false --authorization-mode=Node,RBAC "
        "--client-ca-file=/var/lib/rancher/k3s/server/tls/client-ca.crt --enable-admission-plugins=NodeRestriction "
        "--etcd-servers=unix://kine.sock --profiling=false --secure-port=6444 "
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local "
        '--service-account-signing-key-file=/var/lib/rancher/k3s/server/tls/service.current.key"'
    )
    c = src.from_command_line("noise\n" + line + "\n", "k3s.log", k8s_version="1.33")
    assert [o.name for o in c.occurrences] == [
        "advertise-address", "anonymous-auth", "authorization-mode", "client-ca-file",
        "enable-admission-plugins", "etcd-servers", "profiling", "secure-port",
        "service-account-issuer", "service-account-signing-key-file",
    ]  # fmt: skip
    assert c.get_int("secure-port") == 6444
    assert c.last("secure-port").loc == Location("k3s.log", 2)  # type: ignore[union-attr]
    assert problems(c) == []


def test_symlinks_in_a_node_copy_resolve_inside_the_copy(tmp_path: Path) -> None:
    from kapsec.checks.context import under_root

    root = tmp_path / "node"
    (root / "etc/kubernetes/pki").mkdir(parents=True)
    (root / "srv/pki").mkdir(parents=True)
    (root / "srv/pki/ca.crt").write_text("x")
    (root / "etc/kubernetes/pki/ca.crt").symlink_to("/srv/pki/ca.crt")  # absolute: means the node's /srv
    (root / "etc/kubernetes/pki/rel.crt").symlink_to("../../../srv/pki/ca.crt")
    (root / "etc/kubernetes/pki/escape.crt").symlink_to("../../../../../../../../etc/hostname")
    (root / "loop").symlink_to("/loop")
    assert under_root(str(root), "/etc/kubernetes/pki/ca.crt") == str(root / "srv/pki/ca.crt")
    assert under_root(str(root), "/etc/kubernetes/pki/rel.crt") == str(root / "srv/pki/ca.crt")
    assert under_root(str(root), "/etc/kubernetes/pki/escape.crt") == str(root / "etc/hostname")
    assert under_root(str(root), "/etc/kubernetes/pki/none.crt") == str(root / "etc/kubernetes/pki/none.crt")
    assert under_root(str(root), "/loop/x").startswith(str(root))
