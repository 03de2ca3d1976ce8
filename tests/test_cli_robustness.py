"""Bad input gets a clear message, never a traceback: every command that reads a file, fed the
inputs users really give by mistake.

One row per command x bad input: the exact exit code and a regular expression the stderr must
match (it names the file). Every row also checks that nothing leaked: no ``Traceback``, no
``internal error``, and for exit 2 exactly one error line. Rows marked ``xfail`` are known bugs in
packages other engineers own; the reason says what is wrong (strict: a fix turns them red until
the mark is removed).

The in-process runner hides what only a real process shows, so a second part runs
``kapsec`` as a subprocess: broken pipes under ``| head``, standard input, ``NO_COLOR`` on a
terminal, and a file the user may not read (as an unprivileged user when the tests run as root).
"""

from __future__ import annotations

import gzip
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import DATA, run_cli

KAPSEC = Path(sys.executable).with_name("kapsec")
ROB = DATA / "robustness"
GOOD_LOG = ROB / "audit-20.log"
MODERATE_LOG = DATA / "oracle-1.36" / "audit-logs" / "moderate" / "audit.log"  # has alerts
GARBAGE_LOG = ROB / "audit-garbage-lines.log"  # lines 11 and 12 are not JSON
REQUESTS = ROB / "requests-garbage-line.jsonl"  # line 2 is not JSON
POLICY = DATA / "oracle-1.36" / "audit-logs" / "policy.yaml"
RBAC_DEMO = DATA / "rbac" / "demo"
SNAPSHOT = DATA / "netpol" / "snapshot.json"
ENC = DATA / "oracle-1.36" / "encryption-at-rest" / "secretbox"
MANIFEST = DATA / "control-plane-manifests" / "kubeadm-v1.29-zeta-linux" / "kube-apiserver.yaml"
BINARY = b"\x00\x01\x02\xff\xfe garbage \x00\x89PNG\r\n"


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every bad input, plus a lab tree, under one temporary directory."""
    base = tmp_path_factory.mktemp("robustness")
    (base / "a-directory").mkdir()
    (base / "empty.yaml").write_bytes(b"")
    (base / "malformed.yaml").write_text("a: [b\n  c: d: e\n")
    (base / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n"
    )
    (base / "binary.dat").write_bytes(BINARY)
    full = gzip.compress(b"".join(b"line %d of some text to compress\n" % i for i in range(2000)))
    (base / "truncated.gz").write_bytes(full[:300])
    lab = base / "lab"
    r = run_cli("lab", "init", str(lab))
    assert r.code == 0, r.stderr
    return {
        "missing": str(base / "no-such-file.yaml"),
        "dir": str(base / "a-directory"),
        "empty": str(base / "empty.yaml"),
        "malformed": str(base / "malformed.yaml"),
        "wrongkind": str(base / "configmap.yaml"),
        "binary": str(base / "binary.dat"),
        "truncgz": str(base / "truncated.gz"),
        "lab": str(lab),
        "log": str(GOOD_LOG),
        "garbagelog": str(GARBAGE_LOG),
        "requests": str(REQUESTS),
        "policy": str(POLICY),
        "rbac": str(RBAC_DEMO),
        "snapshot": str(SNAPSHOT),
        "encconfig": str(ENC / "encryption-config.yaml"),
        "encdump": str(ENC / "etcd-secrets.json"),
        "manifest": str(MANIFEST),
    }


@dataclass(frozen=True)
class Row:
    """``kapsec ARGS`` exits with ``code`` and its stderr matches ``err`` (multi-line mode)."""

    id: str
    args: str  # {placeholders} from the ``paths`` fixture; split on spaces
    code: int
    err: str  # {p} is the bad input's path, escaped; other {placeholders} too
    bad: str = ""  # which placeholder is the bad input ({p} in err)
    out: str | None = None  # a regular expression stdout must match
    xfail: str | None = None


def _err(msg: str) -> str:
    return rf"^kapsec: error: {msg}$"


def _warn(msg: str) -> str:
    return rf"^kapsec: warning: {msg}$"


def _click(msg: str) -> str:
    return rf"^Error: {msg}$"


# Messages shared by every command reading cluster objects (kapsec.sources.objects).
OBJ_MISSING = _err(r"{p}: no such file or directory")
OBJ_MALFORMED = _warn(r"{p}:2: invalid YAML: did not find expected ',' or '\]'")
OBJ_BINARY = _warn(r"{p}: not UTF-8 text \(byte 3\)")
OBJ_TRUNCGZ = _warn(r"{p}: compressed data is truncated or corrupt")
# The audit-log reader.
LOG_MISSING = _err(r"{p}: cannot read: No such file or directory")
LOG_TRUNCGZ = _err(
    r"{p}: compressed data is truncated or corrupt after line \d+ "
    r"\(Compressed file ended before the end-of-stream marker was reached\)"
)
LOG_LINE1 = _warn(r"{p}:1: skipped malformed line: invalid JSON: .+")
NO_EVENTS = _warn("no audit events were read")
# The audit policy loader speaks the API server's words.
POL_MISSING = _err(r'{p}: failed to read file path "{p}": open {p}: no such file or directory')
POL_DIR = _err(r'{p}: failed to read file path "{p}": open {p}: is a directory')
POL_MALFORMED = _err(
    r"{p}:2: failed decoding: error converting YAML to JSON: yaml: line 2: expected ',' or '\]', but got ':'"
)
POL_EMPTY = _err(r"{p}:1: unknown group version field audit.k8s.io/__internal, Kind=Policy in policy")
POL_CM = _err(r'{p}:1: failed decoding: no kind "ConfigMap" is registered for version "v1" in scheme .+')
BINARY3 = _err(r"{p}: not UTF-8 text \(byte 3\)")
BINARY1 = _err(r"{p}: not UTF-8 text \(byte 1\)")
# The EncryptionConfiguration loader (the API server's words too).
ENC_MISSING = _err(
    r"{p}: error while parsing file: error while loading file: error reading encryption provider "
    r'configuration file "{p}": open {p}: no such file or directory'
)
ENC_EMPTY = _err(
    r'{p}: error while parsing file: error while loading file: encryption provider configuration file "{p}" is empty'
)
ENC_MALFORMED = _err(
    r'{p}:2: error while parsing file: error decoding encryption provider configuration file "{p}": '
    r"yaml: line 2: expected ',' or '\]', but got ':'"
)
ENC_CM = _err(
    r'{p}: error while parsing file: error decoding encryption provider configuration file "{p}": '
    r'no kind "ConfigMap" is registered for version "v1"'
)
ENC_DIR = _click(r"Invalid value for '?(FILE|--config|--dump)'?: File '{p}' is a directory\.")
# The PodSecurity admission configuration.
PSS_MISSING = _err(r"{p}: no such file")
PSS_MALFORMED = _err(r"{p}:2: invalid YAML: expected ',' or '\]', but got ':'")
PSS_EMPTY = _err(r"{p}: expected an AdmissionConfiguration object")
PSS_CM = _err(
    r"{p}: expected kind AdmissionConfiguration \(apiserver.config.k8s.io/v1, apiserver.k8s.io/v1alpha1\), "
    r'found kind "ConfigMap" apiVersion "v1"'
)
# RBAC input that holds no RBAC object at all: nothing was analysed, so no answer is a real one.
NO_RBAC = (
    r"^kapsec: (warning|error): .*no (RBAC objects|Role, ClusterRole, RoleBinding or ClusterRoleBinding)"
)


def _file_rows(
    name: str, args: str, expected: dict[str, tuple[int, str] | tuple[int, str, str]], out: str | None = None
) -> list[Row]:
    """One row per bad input kind; a third tuple item is an xfail reason."""
    rows = []
    for kind, exp in expected.items():
        xfail = exp[2] if len(exp) == 3 else None
        rows.append(
            Row(f"{name}[{kind}]", args.replace("@", "{" + kind + "}"), exp[0], exp[1], kind, out, xfail)
        )
    return rows


MANIFEST_LIKE = {
    "missing": (2, _err("{p}: file not found")),
    "dir": (2, _err("{p}: is a directory, expected a file")),
    "malformed": (2, _err(r"{p}:2: malformed YAML: did not find expected ',' or '\]'")),
    "binary": (2, BINARY3),
    "truncgz": (2, BINARY1),
}

ROWS: list[Row] = [
    # -- scan ---------------------------------------------------------------------------------
    *_file_rows(
        "scan --manifest",
        "scan --manifest @",
        {
            **MANIFEST_LIKE,
            "empty": (2, _err("{p}: the file is empty: no pod manifest in it")),
            "wrongkind": (
                2,
                _err(
                    r"{p}: no kube-apiserver container found: no container's command\[0\] \(or args\[0\]\) "
                    r"is kube-apiserver \(found: ConfigMap\)"
                ),
            ),
        },
    ),
    *_file_rows(
        "scan --kubeadm-config",
        "scan --kubeadm-config @",
        {
            **MANIFEST_LIKE,
            "empty": (2, _err("{p}: no kubeadm ClusterConfiguration document in the file")),
            "wrongkind": (2, _err("{p}: no kubeadm ClusterConfiguration document in the file")),
        },
    ),
    *_file_rows(
        "scan --cmdline",
        "scan --cmdline @",
        {
            **MANIFEST_LIKE,
            "empty": (2, _err("{p}: no kube-apiserver command line found in the file")),
            "malformed": (2, _err("{p}: no kube-apiserver command line found in the file")),
            "wrongkind": (2, _err("{p}: no kube-apiserver command line found in the file")),
        },
    ),
    *_file_rows(
        "scan --snapshot",
        "scan --snapshot @",
        {
            "missing": (2, _err("--snapshot {p}: no such file")),
            "dir": (2, _err("{p}: is a directory, expected a file")),
            "empty": (
                2,
                _err(
                    r"{p}: no kube-apiserver pod in kube-system in this snapshot \(collect Pods with kapsec snapshot\)"
                ),
            ),
            "malformed": (2, _err(r"{p}:2: malformed YAML: did not find expected ',' or '\]'")),
            "binary": (2, BINARY3),
            "truncgz": (2, BINARY1),
        },
    ),
    *_file_rows(
        "scan --suppress",
        "scan --manifest {manifest} --suppress @",
        {
            "missing": (2, _err("{p}: file not found")),
            "dir": (2, _err("{p}: is a directory, expected a file")),
            "malformed": (2, _err(r"{p}:2: malformed YAML: did not find expected ',' or '\]'")),
            "wrongkind": (
                2,
                _err("{p}:1: a suppression file is one document with a single 'suppressions' list"),
            ),
            "binary": (2, BINARY3),
        },
    ),
    *_file_rows(
        "scan --root",
        "scan --root @",
        {
            "missing": (2, _err("--root {p}: no such directory")),
            "empty": (2, _err("--root {p}: not a directory")),
            "dir": (2, _err(r"{p}: no kube-apiserver manifest under this root \(looked for .+\)")),
        },
    ),
    Row(
        "scan --fail-on bogus",
        "scan --root {lab} --fail-on bogus",
        2,
        _click(r"Invalid value: unknown severity 'bogus' .+"),
    ),
    Row(
        "scan --k8s-version banana",
        "scan --root {lab} --k8s-version banana",
        2,
        _err(r"--k8s-version: not a Kubernetes version: 'banana' \(expected e.g. 1.30 or v1.30.2\)"),
    ),
    Row(
        "scan --check unknown",
        "scan --root {lab} --check NOPE-999",
        2,
        _err(r"no check selected \(see kapsec checks list\)"),
    ),
    Row(
        "checks docs extra argument",
        "checks docs extra",
        2,
        _click(r"Got unexpected extra argument \(extra\)"),
    ),
    Row(
        "checks explain unknown",
        "checks explain NOPE-999",
        2,
        _err(r"no check 'NOPE-999' \(see kapsec checks list\)"),
    ),
    # -- harden -------------------------------------------------------------------------------
    *_file_rows(
        "harden --manifest",
        "harden --root {lab} --manifest @",
        {
            "missing": (2, _err("{p}: no such file")),
            "dir": (2, _err("{p}: is a directory, expected a file")),
            "empty": (2, _err("{p}: the file is empty: no pod manifest in it")),
            "malformed": (2, _err(r"{p}:2: malformed YAML: did not find expected ',' or '\]'")),
            "binary": (2, BINARY3),
            "truncgz": (2, BINARY1),
        },
    ),
    *_file_rows(
        "harden --snapshot",
        "harden --root {lab} --snapshot @",
        {
            "missing": (2, OBJ_MISSING),
            **{
                k: (
                    2,
                    _err(
                        "{p}: no workloads or namespaces in the snapshot: kapsec cannot tell what the change "
                        r"would stop \(collect one with kapsec snapshot --cluster\)"
                    ),
                )
                for k in ("dir", "empty", "wrongkind")
            },
            "malformed": (2, _err(r"{p}:2: invalid YAML: did not find expected ',' or '\]'")),
            "binary": (2, _err(r"{p}: not UTF-8 text \(byte 3\)")),
            "truncgz": (2, _err(r"{p}: compressed data is truncated or corrupt")),
        },
    ),
    *_file_rows(
        "harden --root",
        "harden --root @",
        {
            "missing": (2, _err("--root {p}: no such directory")),
            "empty": (2, _err("--root {p}: not a directory")),
        },
    ),
    Row(
        "harden --set novalue",
        "harden --root {lab} --set novalue",
        2,
        _err(r"--set novalue: expected FLAG=VALUE .+"),
    ),
    Row(
        "harden --timeout soon",
        "harden --root {lab} --timeout soon",
        2,
        _click(r"Invalid value: not a duration: 'soon' .+"),
    ),
    Row(
        "harden --skip unknown",
        "harden --root {lab} --skip TLS003",
        2,
        _err(r"--skip TLS003: no such check \(kapsec checks list shows the ids\)"),
    ),
    Row("harden --wait without --apply", "harden --root {lab} --wait", 2, _err("--wait needs --apply")),
    # -- audit-policy -------------------------------------------------------------------------
    *_file_rows(
        "audit-policy validate",
        "audit-policy validate @",
        {
            "missing": (2, POL_MISSING),
            "dir": (2, POL_DIR),
            "malformed": (2, POL_MALFORMED),
            "binary": (2, BINARY3),
            "truncgz": (2, BINARY1),
        },
    ),
    # one unreadable FILE among several: the others are still validated
    Row(
        "audit-policy validate good and missing",
        "audit-policy validate {policy} {missing}",
        2,
        POL_MISSING,
        "missing",
        out=r"^{policy}: valid \(4 rules\)$",
    ),
    # an empty or foreign file is a policy the server refuses: validate's answer (exit 1, stdout)
    *_file_rows(
        "audit-policy validate refuses",
        "audit-policy validate @",
        {"empty": (1, "^$"), "wrongkind": (1, "^$")},
        out=r"^{p}:1: ",
    ),
    *_file_rows(
        "audit-policy lint",
        "audit-policy lint @",
        {
            "missing": (2, POL_MISSING),
            "dir": (2, POL_DIR),
            "malformed": (2, POL_MALFORMED),
            "binary": (2, BINARY3),
        },
    ),
    *_file_rows(
        "audit-policy lint refuses",
        "audit-policy lint @ -o json",
        {"empty": (1, "^$"), "wrongkind": (1, "^$")},
        out=r'"id": "AP000"',
    ),
    *_file_rows(
        "audit-policy diff",
        "audit-policy diff @ {policy}",
        {
            "missing": (2, POL_MISSING),
            "empty": (2, POL_EMPTY),
            "malformed": (2, POL_MALFORMED),
            "wrongkind": (2, POL_CM),
            "binary": (2, BINARY3),
        },
    ),
    *_file_rows(
        "audit-policy explain --policy",
        "audit-policy explain --policy @ --user jane --verb get --resource pods",
        {"missing": (2, POL_MISSING), "dir": (2, POL_DIR), "empty": (2, POL_EMPTY), "wrongkind": (2, POL_CM)},
    ),
    *_file_rows(
        "audit-policy explain --batch",
        "audit-policy explain --policy {policy} --batch @",
        {"missing": (2, _err("{p}: cannot read: No such file or directory"))},
    ),
    # a bad line is answered in place; the good lines around it are answered too
    *_file_rows(
        "audit-policy explain --batch bad line",
        "audit-policy explain --policy {policy} --batch @ -o json",
        {"requests": (2, _err(r"{p}:2: not a request: JSON is malformed: invalid character \(byte 4\)"))},
        out=r'^\{"id": ?"c", ?"level": ?"Metadata"',
    ),
    *_file_rows(
        "audit-policy simulate --policy",
        "audit-policy simulate --policy @ {log}",
        {"missing": (2, POL_MISSING), "empty": (2, POL_EMPTY), "malformed": (2, POL_MALFORMED)},
    ),
    *_file_rows(
        "audit-policy simulate LOG",
        "audit-policy simulate --policy {policy} @",
        {
            "missing": (2, LOG_MISSING),
            "truncgz": (2, LOG_TRUNCGZ),
            "empty": (0, NO_EVENTS),
            "binary": (0, LOG_LINE1),
            "garbagelog": (0, _warn(r"{p}:12: skipped malformed line: invalid JSON: .+")),
        },
    ),
    *_file_rows(
        "audit-policy generate --from-log",
        "audit-policy generate --from-log @",
        {
            "missing": (2, LOG_MISSING),
            "truncgz": (2, LOG_TRUNCGZ),
            "dir": (0, NO_EVENTS),
            "binary": (0, LOG_LINE1),
            "garbagelog": (0, _warn(r"{p}:11: skipped malformed line: invalid JSON: .+")),
        },
    ),
    Row(
        "audit-policy generate --top -3",
        "audit-policy generate --top -3",
        2,
        _click(r"Invalid value for '--top': -3 is not in the range x>=0\."),
    ),
    Row(
        "audit-policy generate --min-share 2",
        "audit-policy generate --min-share 2",
        2,
        _click(r"Invalid value for '--min-share': 2.0 is not in the range 0.0<=x<=1.0\."),
    ),
    Row(
        "audit-policy lint --k8s-version x",
        "audit-policy lint {policy} --k8s-version x",
        2,
        _err(r"--k8s-version 'x': expected MAJOR.MINOR, e.g. 1.23"),
    ),
    # -- audit-log ----------------------------------------------------------------------------
    *[
        row
        for cmd in ("query", "summary", "rbac --all")
        for row in _file_rows(
            f"audit-log {cmd}",
            f"audit-log {cmd} @",
            {
                "missing": (2, LOG_MISSING),
                "truncgz": (2, LOG_TRUNCGZ),
                "empty": (0, NO_EVENTS),
                "dir": (0, NO_EVENTS),
                "malformed": (0, LOG_LINE1),
                "binary": (0, LOG_LINE1),
                "garbagelog": (
                    0,
                    _warn(r"{p}:11: skipped malformed line: invalid JSON: Input data was truncated"),
                ),
            },
        )
    ],
    *_file_rows(
        "audit-log detect",
        "audit-log detect @ -j 1",
        {
            "missing": (2, LOG_MISSING),
            "truncgz": (2, LOG_TRUNCGZ),
            "empty": (0, NO_EVENTS),
            "malformed": (
                0,
                LOG_LINE1,
            ),
            "garbagelog": (
                0,
                _warn(r"{p}:11: skipped malformed line: .+"),
            ),
        },
    ),
    *_file_rows(
        "audit-log detect --allowlist",
        "audit-log detect {log} --allowlist @",
        {
            "missing": (2, _err("{p}: cannot read allowlist: No such file or directory")),
            "dir": (2, _err("{p}: cannot read allowlist: Is a directory")),
            "malformed": (2, _err(r"{p}:2: invalid YAML: expected ',' or '\]', but got ':'")),
            "wrongkind": (2, _err("{p}: an allowlist is a mapping with a list 'allow:'")),
            "binary": (
                2,
                _err(r"{p}: .*UTF-8.*"),
            ),
        },
    ),
    *_file_rows(
        "audit-log rules list --rules",
        "audit-log rules list --rules @",
        {
            "missing": (2, _err("{p}: no such rule file or directory")),
            "wrongkind": (2, _err("{p}: not a valid Sigma rule: Sigma rule must have a title")),
            "binary": (2, _err(r"{p}: cannot read rule file: .+")),
            "malformed": (
                2,
                _err(r"{p}:2: .+"),
            ),
        },
    ),
    Row(
        "audit-log rules export --rules",
        "audit-log rules export --backend loki --rules {missing}",
        2,
        _err("{missing}: no such rule file or directory"),
    ),
    Row(
        "audit-log rules export --backend",
        "audit-log rules export --backend splunk",
        2,
        _click(r"Invalid value for '--backend': 'splunk' is not one of 'elasticsearch', 'loki'\."),
    ),
    Row(
        "audit-log query --since yesterday",
        "audit-log query --since yesterday {log}",
        2,
        _err(r"not a duration \(24h, 30m, 7d\) or an RFC 3339 time: 'yesterday'"),
    ),
    Row(
        "audit-log query --code abc",
        "audit-log query --code abc {log}",
        2,
        _err("--code takes 403, 4xx or 400-499, not 'abc'"),
    ),
    Row(
        "audit-log query --source-ip bad",
        "audit-log query --source-ip 999.1.1.1 {log}",
        2,
        _err("--source-ip takes an address or CIDR range, not '999.1.1.1'"),
    ),
    Row(
        "audit-log detect --min-severity huge",
        "audit-log detect --min-severity huge {log}",
        2,
        _click(r"Invalid value for --min-severity: unknown severity 'huge' .+"),
    ),
    Row(
        "audit-log query --limit -1",
        "audit-log query --limit -1 {log}",
        2,
        _click(r"Invalid value for '--limit': .+"),
    ),
    # -- rbac ---------------------------------------------------------------------------------
    *[
        row
        for cmd in ("who-can get pods", "risks")
        for row in _file_rows(
            f"rbac {cmd} --from",
            f"rbac {cmd} -f @",
            {
                "missing": (2, OBJ_MISSING),
                "dir": (2, NO_RBAC),
                "empty": (2, NO_RBAC),
                "wrongkind": (2, NO_RBAC),
                "malformed": (2, OBJ_MALFORMED),
                "binary": (2, OBJ_BINARY),
                "truncgz": (2, OBJ_TRUNCGZ),
            },
        )
    ],
    *_file_rows(
        "rbac can-i --batch",
        "rbac can-i -q -f {rbac} --batch @",
        {
            "missing": (2, _err("{p}: cannot read: No such file or directory")),
            "dir": (2, _err("{p}: cannot read: Is a directory")),
            "requests": (2, _err(r"{p}:2: invalid JSON: JSON is malformed: invalid character \(byte 4\)")),
            "binary": (2, _err(r"{p}:1: not UTF-8 text \(byte 3\)")),
        },
    ),
    *_file_rows(
        "rbac check-escalation FILE",
        "rbac check-escalation -q --as jane -f {rbac} @",
        {
            "missing": (2, OBJ_MISSING),
            **{
                k: (2, _err("no Role, ClusterRole, RoleBinding or ClusterRoleBinding in {p}"))
                for k in ("dir", "empty", "wrongkind")
            },
        },
    ),
    Row(
        "rbac matrix --verbs ''",
        "rbac matrix --as a -f {rbac} --verbs=",
        2,
        _err("--verbs: give at least one verb"),
    ),
    Row(
        "rbac can-i without a subject",
        "rbac can-i get pods -f {rbac}",
        2,
        _err(r"say who asks: --as USER and/or --as-group GROUP \(repeatable\)"),
    ),
    # -- tls ----------------------------------------------------------------------------------
    *_file_rows(
        "tls inspect FILE",
        "tls inspect @",
        {
            "missing": (2, _err("{p}: no such file or directory")),
            "dir": (2, _err("{p}: no files to inspect")),
        },
    ),
    # a file that holds no PEM is a documented warn finding (exit 0: warn never fails)
    *_file_rows(
        "tls inspect FILE warns",
        "tls inspect @",
        dict.fromkeys(
            ("empty", "malformed", "binary", "truncgz"), (0, r"^1 checks: 0 failed, 1 warnings, 0 passed$")
        ),
        out=r"^WARN TLS-FILE-READ \(medium\) {p}: neither a PEM certificate nor a PEM private key$",
    ),
    *_file_rows(
        "tls inspect --ca",
        "tls inspect --root {lab} --ca @",
        {"missing": (2, _err("{p}: cannot read the --ca file: No such file or directory"))},
    ),
    Row(
        "tls inspect --now",
        "tls inspect --root {lab} --now notatime",
        2,
        _click(r"Invalid value: 'notatime' is not an ISO 8601 time .+"),
    ),
    Row(
        "tls probe not HOST:PORT",
        "tls probe notahostport",
        2,
        _err(r"'notahostport' is not HOST:PORT \(use \[ADDR\]:PORT for IPv6\)"),
    ),
    Row(
        "tls probe refused",
        "tls probe 127.0.0.1:1 --timeout 0.5",
        2,
        _err("cannot connect to 127.0.0.1:1: Connection refused"),
    ),
    # -- encryption ---------------------------------------------------------------------------
    *_file_rows(
        "encryption lint",
        "encryption lint @",
        {"missing": (2, ENC_MISSING), "dir": (2, ENC_DIR), "binary": (2, BINARY3), "truncgz": (2, BINARY1)},
    ),
    # a file the API server would refuse is lint's critical ENC-001 finding (exit 1)
    *_file_rows(
        "encryption lint refuses",
        "encryption lint @ -o json",
        {"empty": (1, "^$"), "malformed": (1, "^$"), "wrongkind": (1, "^$")},
        out=r'"id": "ENC-001"',
    ),
    *_file_rows(
        "encryption rotate",
        "encryption rotate @",
        {
            "missing": (2, ENC_MISSING),
            "dir": (2, ENC_DIR),
            "empty": (2, ENC_EMPTY),
            "malformed": (2, ENC_MALFORMED),
            "wrongkind": (2, ENC_CM),
            "binary": (2, BINARY3),
        },
    ),
    *_file_rows(
        "encryption verify --dump",
        "encryption verify --dump @",
        {
            "missing": (2, _err("{p}: cannot read: No such file or directory")),
            "dir": (2, ENC_DIR),
            "empty": (
                2,
                _err(r"{p}: the file is empty: expected `etcdctl get --prefix \.\.\. -w json` output"),
            ),
            "malformed": (2, _err(r"{p}:1: not JSON: Expecting value \(column 1\)")),
            "binary": (2, BINARY3),
            "truncgz": (2, _err("{p}: compressed data is truncated or corrupt")),
            "wrongkind": (2, _err(r"{p}:1: not JSON: Expecting value \(column 1\)")),
        },
    ),
    *_file_rows(
        "encryption verify --config",
        "encryption verify --dump {encdump} --config @",
        {
            "missing": (2, ENC_MISSING),
            "empty": (2, ENC_EMPTY),
            "malformed": (2, ENC_MALFORMED),
            "binary": (2, BINARY3),
        },
    ),
    Row(
        "encryption generate --out exists",
        "encryption generate --out {empty}",
        2,
        _err("{empty} exists; pass --force to replace it"),
    ),
    Row(
        "encryption generate --out in no directory",
        "encryption generate --out {missing}/enc.yaml",
        2,
        _err("{missing}: directory does not exist"),
    ),
    Row(
        "encryption generate --out directory",
        "encryption generate --out {dir}",
        2,
        _click(r"Invalid value for '--out': File '{dir}' is a directory\."),
    ),
    Row(
        "encryption verify refused",
        "encryption verify --etcd http://127.0.0.1:1 --timeout 0.5",
        2,
        _err("cannot connect to etcd at http://127.0.0.1:1: Connection refused"),
    ),
    Row(
        "encryption verify --cacert not PEM",
        "encryption verify --etcd https://127.0.0.1:1 --cacert {wrongkind}",
        2,
        _err(r"{wrongkind}: --cacert: not a PEM CA bundle \(NO_CERTIFICATE_OR_CRL_FOUND\)"),
    ),
    Row(
        "encryption verify --cert/--key mismatch",
        "encryption verify --etcd https://127.0.0.1:1 --cacert {lab}/etc/kubernetes/pki/etcd/ca.crt "
        "--cert {lab}/etc/kubernetes/pki/apiserver-etcd-client.crt --key {lab}/etc/kubernetes/pki/apiserver.key",
        2,
        _err(
            r"{lab}/etc/kubernetes/pki/apiserver-etcd-client.crt: --cert/--key: not a matching PEM certificate "
            r"and key \(KEY_VALUES_MISMATCH\)"
        ),
    ),
    Row("encryption verify no source", "encryption verify", 2, _err(".+--etcd.+--dump.+|.+--dump.+--etcd.+")),
    # -- pss ----------------------------------------------------------------------------------
    *_file_rows(
        "pss check",
        "pss check --level baseline @",
        {
            "missing": (2, OBJ_MISSING),
            **dict.fromkeys(
                ("dir", "empty", "wrongkind"), (2, _err("{p}: no Pods or pod-template workloads.*"))
            ),
            "malformed": (2, OBJ_MALFORMED),
            "binary": (2, OBJ_BINARY),
            "truncgz": (2, OBJ_TRUNCGZ),
        },
    ),
    *_file_rows(
        "pss simulate --from",
        "pss simulate -f @",
        {
            "missing": (2, OBJ_MISSING),
            "malformed": (2, OBJ_MALFORMED),
            "binary": (2, OBJ_BINARY),
            "truncgz": (2, OBJ_TRUNCGZ),
            **dict.fromkeys(
                ("dir", "empty", "wrongkind"),
                (2, r"^kapsec: (warning|error): .*(no Namespaces|no Pods|nothing)"),
            ),
        },
    ),
    *[
        row
        for cmd in ("pss simulate -f {snapshot} --admission-config", "pss config --lint")
        for row in _file_rows(
            cmd.split(" -")[0] + " " + cmd.split()[-1],
            f"{cmd} @",
            {
                "missing": (2, PSS_MISSING),
                "empty": (2, PSS_EMPTY),
                "malformed": (2, PSS_MALFORMED),
                "wrongkind": (2, PSS_CM),
                "dir": (2, _err("{p}: cannot read: .+")),
                "binary": (2, _err("{p}: cannot read: .+")),
            },
        )
    ],
    Row(
        "pss check --version v9",
        "pss check --level baseline --version v9 {snapshot}",
        2,
        _click('Invalid value: \'v9\': must be "latest" or "v1\\.x"'),
    ),
    Row(
        "pss config bad namespace",
        "pss config --exempt-namespace BAD_NS",
        2,
        _err(
            r'generated: exemptions.namespaces\[0\]: Invalid value: "BAD_NS": a lowercase RFC 1123 label .+'
        ),
    ),
    # -- netpol -------------------------------------------------------------------------------
    *_file_rows(
        "netpol check --from",
        "netpol check -f @",
        {
            "missing": (2, OBJ_MISSING),
            "malformed": (2, OBJ_MALFORMED),
            "binary": (2, OBJ_BINARY),
            "truncgz": (2, OBJ_TRUNCGZ),
            **dict.fromkeys(
                ("dir", "empty", "wrongkind"),
                (2, r"^kapsec: (warning|error): .*(no Namespaces|no Pods|nothing)"),
            ),
        },
    ),
    *_file_rows(
        "netpol generate --from",
        "netpol generate -f @",
        {
            "missing": (2, OBJ_MISSING),
            "empty": (2, _err("{p}: .*no Namespace.*")),
            "malformed": (2, OBJ_MALFORMED),
        },
    ),
    Row(
        "netpol generate bad namespace",
        "netpol generate -n Bad_NS",
        2,
        _err(".*Bad_NS.*"),
    ),
    # -- lab ----------------------------------------------------------------------------------
    *_file_rows(
        "lab init",
        "lab init @",
        {k: (2, _err("{p}: exists and is not a directory")) for k in ("empty", "binary")},
    ),
    Row(
        "lab init not empty",
        "lab init {lab}",
        2,
        _err(r"{lab}: directory is not empty \(use --force to write over it\)"),
    ),
    Row(
        "lab init --k8s-version",
        "lab init {dir}/new --k8s-version 9.9",
        2,
        _err(r"invalid Kubernetes version '9.9' \(expected e.g. 1.34 or v1.34.1\)"),
    ),
    # -- kubeconfig (every --cluster command shares the loader) ---------------------------------
    *_file_rows(
        "snapshot --kubeconfig",
        "snapshot --cluster -o {dir}/snap.json --kubeconfig @",
        {
            "missing": (2, _err("{p}: kubeconfig not found")),
            "empty": (2, _err(r"{p}: cannot use the kubeconfig: Invalid kube-config. {p} file is empty")),
            "wrongkind": (
                2,
                _err(
                    r"{p}: cannot use the kubeconfig: Invalid kube-config file. Expected key current-context in {p}"
                ),
            ),
            "dir": (2, _err("{p}: cannot use the kubeconfig: is a directory")),
            "malformed": (2, _err("{p}:2: cannot use the kubeconfig: invalid YAML: .+")),
            "binary": (2, _err(r"{p}: cannot use the kubeconfig: not UTF-8 text \(byte \d+\)")),
        },
    ),
    *_file_rows(
        "rbac who-can --cluster --kubeconfig",
        "rbac who-can get pods --cluster --kubeconfig @",
        {
            "missing": (2, _err("{p}: kubeconfig not found")),
            "malformed": (2, _err("{p}:2: cannot use the kubeconfig: invalid YAML: .+")),
        },
    ),
]


def _assert_no_leak(stderr: str) -> None:
    """Nothing of Python's insides reaches the user."""
    for leak in ("Traceback", "internal error", "BrokenPipe", "Exception ignored"):
        assert leak not in stderr, stderr


def _fill(text: str, paths: dict[str, str], escape: bool) -> str:
    values = {k: (re.escape(v) if escape else v) for k, v in paths.items()}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


def _params() -> Iterator[object]:
    for row in ROWS:
        marks = [pytest.mark.xfail(strict=True, reason=row.xfail)] if row.xfail else []
        yield pytest.param(row, id=row.id, marks=marks)


@pytest.mark.parametrize("row", list(_params()))
def test_bad_input_is_a_clear_message(row: Row, paths: dict[str, str]) -> None:
    args = [_fill(a, paths, escape=False) for a in row.args.split(" ")]
    r = run_cli(*args)
    scope = dict(paths)
    if row.bad:
        scope["p"] = paths[row.bad]
    err_re = _fill(row.err, scope, escape=True)
    _assert_no_leak(r.stderr)
    assert r.code == row.code, f"exit {r.code}\nstderr: {r.stderr}\nstdout: {r.stdout[:500]}"
    assert re.search(err_re, r.stderr, re.M), f"stderr does not match {err_re!r}:\n{r.stderr}"
    if row.out is not None:
        out_re = _fill(row.out, scope, escape=True)
        assert re.search(out_re, r.stdout, re.M), f"stdout does not match {out_re!r}:\n{r.stdout[:2000]}"
    if r.code == 2:
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith(("kapsec: error:", "Error:"))]
        # at most one error line (batch modes report each bad line in place, one line each);
        # commands that go on past unreadable inputs warn per file and exit 2 at the end
        assert len(errors) <= 1 or row.bad == "requests", r.stderr
        assert errors or re.search(r"^kapsec: warning: ", r.stderr, re.M), r.stderr
        if row.bad:
            named = [ln for ln in r.stderr.splitlines() if paths[row.bad] in ln]
            assert named, f"the message does not name the file:\n{r.stderr}"


def _json_rows() -> Iterator[object]:
    """The rows whose command offers -o json (and does not already choose a format)."""
    from click import Choice, Command, Group, Option

    from kapsec.cli import cli

    for row in ROWS:
        if row.xfail or " -o " in f" {row.args} ":
            continue
        cmd: Command = cli
        for w in row.args.split(" "):
            sub = cmd.get_command(None, w) if isinstance(cmd, Group) else None  # type: ignore[arg-type]
            if sub is None:
                break
            cmd = sub
        for p in cmd.params:
            if (
                isinstance(p, Option)
                and "-o" in p.opts
                and isinstance(p.type, Choice)
                and "json" in p.type.choices
            ):
                yield pytest.param(row, id=row.id)


@pytest.mark.parametrize("row", list(_json_rows()))
def test_bad_input_with_json_output_keeps_stdout_machine_readable(row: Row, paths: dict[str, str]) -> None:
    """With -o json, a failing command writes nothing on stdout, or JSON: never a half-written text."""
    args = [_fill(a, paths, escape=False) for a in row.args.split(" ")]
    r = run_cli(*args, "-o", "json")
    _assert_no_leak(r.stderr)
    assert r.code == row.code, r.stderr
    out = r.stdout.strip()
    if out:
        try:
            json.loads(out)
        except ValueError:
            for line in out.splitlines():  # JSON lines (batch modes)
                json.loads(line)


def test_every_command_is_fed_bad_input() -> None:
    """The table walks every leaf command (and none is forgotten when one is added)."""
    from click import Command, Group

    from kapsec.cli import cli

    def leaves(group: Group, prefix: str) -> Iterator[str]:
        for name in group.list_commands(None):  # type: ignore[arg-type]
            cmd = group.get_command(None, name)  # type: ignore[arg-type]
            assert cmd is not None, name
            if isinstance(cmd, Group):
                yield from leaves(cmd, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}"

    def leaf_of(args: str) -> str:
        cmd: Command = cli
        words: list[str] = []
        for w in args.split(" "):
            sub = cmd.get_command(None, w) if isinstance(cmd, Group) else None  # type: ignore[arg-type]
            if sub is None:
                break
            cmd, words = sub, [*words, w]
        return " ".join(words)

    covered = {leaf_of(r.args) for r in ROWS}
    exempt = {"checks list"}  # reads no file; its one option is a click.Choice
    missing = [c for c in leaves(cli, "") if c not in covered and c not in exempt]
    assert missing == [], f"commands with no bad-input row: {missing}"


# -- real processes ---------------------------------------------------------------------------


def _run(
    args: list[str], input: bytes | None = None, stdin: int | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "KAPSEC_DEBUG")}
    return subprocess.run(
        [str(KAPSEC), *args], input=input, stdin=stdin, capture_output=True, env=env, timeout=120, check=False
    )


@pytest.mark.parametrize(
    "args",
    [
        ["audit-log", "query", str(GOOD_LOG), "-o", "jsonl"],
        ["audit-log", "query", str(GOOD_LOG)],
        ["audit-log", "detect", str(MODERATE_LOG), "-o", "jsonl", "-j", "1"],
        ["checks", "list"],
        ["audit-policy", "generate"],
        ["rbac", "who-can", "get", "pods", "-f", str(RBAC_DEMO), "-q"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_broken_pipe_under_head_is_silent(args: list[str]) -> None:
    """``kapsec ... | head -1``: the reader goes away early; kapsec stops quietly."""
    with subprocess.Popen([str(KAPSEC), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
        assert p.stdout is not None
        assert p.stderr is not None
        first = p.stdout.readline()
        p.stdout.close()  # like head: the pipe's reading end is gone
        err = p.stderr.read().decode()
        code = p.wait(timeout=120)
    assert first.strip(), "no first line"
    _assert_no_leak(err)
    assert code in (0, 1), (code, err)


def test_broken_pipe_on_a_large_output() -> None:
    """Enough output to fill the pipe many times over, cut after one line, through a real shell."""
    big = " ".join([str(GOOD_LOG)] * 200)
    r = subprocess.run(
        f"set -o pipefail; {KAPSEC} audit-log query {big} --stage all -o jsonl | head -1",
        shell=True,
        capture_output=True,
        executable="/bin/bash",
        timeout=120,
        check=False,
    )
    err = r.stderr.decode()
    assert r.stdout.decode().startswith('{"time":'), r.stdout[:200]
    _assert_no_leak(err)
    assert r.returncode == 0, err


def test_stdin_is_read_as_a_log_and_as_objects() -> None:
    log = GOOD_LOG.read_bytes()
    r = _run(["audit-log", "query", "-", "--count"], input=log)
    assert (r.returncode, r.stdout.decode().strip(), r.stderr.decode()) == (0, "20", "")
    r = _run(["audit-log", "summary", "-o", "json"], input=log)  # no LOG: stdin is the default
    assert r.returncode == 0, r.stderr
    assert b'"events": 20' in r.stdout
    pods = SNAPSHOT.read_bytes()
    r = _run(["pss", "check", "--level", "privileged", "-", "-o", "json"], input=pods)
    assert r.returncode == 0, r.stderr


def test_stdin_garbage_is_named_stdin() -> None:
    r = _run(["audit-log", "query", "-", "--count"], input=BINARY)
    err = r.stderr.decode()
    assert r.returncode == 0
    assert re.search(r"^kapsec: warning: (-|<stdin>|stdin):1: skipped malformed line: ", err, re.M), err
    r = _run(
        ["rbac", "can-i", "-q", "-f", str(RBAC_DEMO), "--batch", "-"], input=b'{"user": "a", "verb": "get"\n'
    )
    err = r.stderr.decode()
    assert r.returncode == 2, err
    _assert_no_leak(err)
    assert re.search(r"^kapsec: error: (-|<stdin>|stdin):1: invalid JSON: ", err, re.M), err


def test_audit_policy_reads_a_policy_on_stdin() -> None:
    policy = POLICY.read_bytes()
    r = _run(["audit-policy", "validate", "-"], input=policy)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"-: valid (4 rules)\n", b"")
    r = _run(["audit-policy", "lint", "-", "-o", "json", "--fail-on", "never"], input=policy)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["target"] == {"kind": "audit-policy", "file": "-"}
    r = _run(["audit-policy", "lint", "-"], input=BINARY)
    assert (r.returncode, r.stderr) == (2, b"kapsec: error: <stdin>: not UTF-8 text (byte 3)\n")
    r = _run(["audit-policy", "diff", "-", "-"], input=policy)
    assert (r.returncode, r.stderr) == (2, b"kapsec: error: standard input ('-') can be read only once\n")


@pytest.mark.parametrize(
    "args",
    [
        ["rbac", "who-can", "get", "pods", "-q", "-f", "-"],
        ["pss", "simulate", "-f", "-"],
        ["netpol", "check", "-f", "-"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_from_stdin(args: list[str]) -> None:
    r = _run(args, input=SNAPSHOT.read_bytes())
    assert r.returncode in (0, 1), r.stderr


def test_closed_stdin_is_an_empty_input() -> None:
    r = _run(["audit-log", "query", "--count"], stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stdout, r.stderr.decode()) == (
        0,
        b"0\n",
        "kapsec: warning: no audit events were read\n",
    )


def _on_a_terminal(args: list[str], env: dict[str, str]) -> bytes:
    """Run kapsec with stdout on a pseudo-terminal; return what it wrote there."""
    main, sub = pty.openpty()
    full_env = (
        {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"COLUMNS": "120", "TERM": "xterm"} | env
    )
    with subprocess.Popen([str(KAPSEC), *args], stdout=sub, stderr=subprocess.PIPE, env=full_env) as p:
        os.close(sub)
        chunks = []
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        p.wait(timeout=120)
    os.close(main)
    return b"".join(chunks)


def test_no_color_on_a_terminal(paths: dict[str, str]) -> None:
    """On a terminal the text report is coloured; NO_COLOR turns colour off (no-color.org)."""
    args = ["scan", "--root", paths["lab"]]
    coloured = _on_a_terminal(args, {})
    plain = _on_a_terminal(args, {"NO_COLOR": "1"})
    assert b"\x1b[" in coloured, "a terminal should get colour (else this test proves nothing)"
    assert b"\x1b[" not in plain
    assert b"FAIL" in plain


def _colours(output: bytes) -> set[int]:
    """The colour parameters (foreground/background, plain, bright, 256 and RGB) of SGR sequences."""
    found = set()
    for params in re.findall(rb"\x1b\[([0-9;]*)m", output):
        for p in params.split(b";"):
            n = int(p or b"0")
            if 30 <= n <= 38 or 40 <= n <= 48 or 90 <= n <= 97 or 100 <= n <= 107:
                found.add(n)
    return found


@pytest.mark.parametrize(
    "args",
    [
        ["tls", "inspect", "--root", "{lab}"],
        ["netpol", "check", "-f", str(SNAPSHOT)],
        ["audit-policy", "lint", str(POLICY)],
        ["encryption", "lint", str(ENC / "encryption-config.yaml")],
        ["rbac", "risks", "-q", "-f", str(RBAC_DEMO)],
        ["harden", "--root", "{lab}"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_no_color_means_no_colour_on_a_terminal(args: list[str], paths: dict[str, str]) -> None:
    """NO_COLOR removes colour (bold and dim may stay: no-color.org is about colour)."""
    out = _on_a_terminal([a.replace("{lab}", paths["lab"]) for a in args], {"NO_COLOR": "1"})
    assert out.strip()
    assert _colours(out) == set()


@pytest.mark.parametrize(
    "args",
    [
        ["scan", "--root", "{lab}"],
        ["audit-log", "detect", str(GOOD_LOG)],
        ["audit-log", "query", str(GOOD_LOG)],
        ["rbac", "risks", "-f", str(RBAC_DEMO), "-q"],
        ["tls", "inspect", "--root", "{lab}"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_no_escape_codes_without_a_terminal(args: list[str], paths: dict[str, str]) -> None:
    r = _run([a.replace("{lab}", paths["lab"]) for a in args])
    assert r.returncode in (0, 1), r.stderr
    assert b"\x1b[" not in r.stdout
    assert b"\x1b[" not in r.stderr


# -- a file the user may not read -------------------------------------------------------------

UNREADABLE = [
    (["scan", "--manifest", "@"], r"^kapsec: error: @: permission denied$"),
    (["scan", "--kubeadm-config", "@"], r"^kapsec: error: @: permission denied$"),
    (["harden", "--manifest", "@"], r"^kapsec: error: @: cannot read: Permission denied$"),
    (
        ["audit-policy", "lint", "@"],
        r'^kapsec: error: @: failed to read file path "@": open @: permission denied$',
    ),
    (["audit-log", "query", "@"], r"^kapsec: error: @: cannot read: Permission denied$"),
    (["audit-policy", "generate", "--from-log", "@"], r"^kapsec: error: @: cannot read: Permission denied$"),
    (["encryption", "lint", "@"], r"^Error: Invalid value for 'FILE': File '@' is not readable\.$"),
    (
        ["pss", "check", "--level", "baseline", "@"],
        r"^Error: Invalid value for 'FILES\.\.\.': Path '@' is not readable\.$",
    ),
    (["pss", "config", "--lint", "@"], r"^kapsec: error: @: cannot read: .*Permission denied.*$"),
    (
        ["rbac", "can-i", "get", "pods", "--as", "a", "-f", "@"],
        r"^kapsec: warning: @: cannot read: Permission denied$",
    ),
]


@pytest.fixture(scope="module")
def unprivileged() -> Iterator[tuple[list[str], Path]]:
    """A command prefix that runs kapsec as a user who cannot read a 0000 file, and that file.

    The file lives in its own world-traversable temporary directory: pytest's own temporary root
    is private (and a concurrent pytest run makes it private again), so another user cannot
    reach a file inside it at all.
    """
    base = Path(tempfile.mkdtemp(prefix="kapsec-noperm-"))
    try:
        base.chmod(0o755)
        target = base / "secret.yaml"
        target.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
        target.chmod(0)
        if os.geteuid() != 0:
            yield [], target
            return
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and no setpriv to drop privileges: root reads every file")
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
        if probe.returncode != 0:
            pytest.skip(f"cannot drop privileges here: {probe.stderr.decode().strip()}")
        yield prefix, target
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize(
    ("args", "err"), UNREADABLE, ids=lambda a: " ".join(a[:2]) if isinstance(a, list) else ""
)
def test_unreadable_file_is_named(
    args: list[str], err: str, unprivileged: tuple[list[str], Path], paths: dict[str, str]
) -> None:
    prefix, target = unprivileged
    argv = [a.replace("@", str(target)).replace("{lab}", paths["lab"]) for a in args]
    r = subprocess.run(
        [*prefix, str(KAPSEC), *argv],
        capture_output=True,
        cwd="/",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp", "LANG": "C.UTF-8"},
        timeout=120,
        check=False,
    )
    stderr = r.stderr.decode()
    _assert_no_leak(stderr)
    want = err.replace("@", re.escape(str(target)))
    assert re.search(want, stderr, re.M), f"{want!r} not in:\n{stderr}"
    assert r.returncode == 2, stderr  # rbac: nothing readable is no RBAC object at all


# -- Ctrl-C -----------------------------------------------------------------------------------


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    """What a terminal's Ctrl-C does: SIGINT to the whole foreground process group."""
    os.killpg(proc.pid, signal.SIGINT)


@pytest.mark.parametrize(
    "args",
    [
        ["audit-log", "query"],
        ["pss", "check", "--level", "baseline", "-"],
        ["rbac", "can-i", "-q", "-f", str(RBAC_DEMO), "--batch", "-"],
        ["audit-policy", "explain", "--policy", str(POLICY), "--batch", "-"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_ctrl_c_while_reading_stdin_is_one_line(args: list[str]) -> None:
    with subprocess.Popen(
        [str(KAPSEC), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    ) as p:
        time.sleep(1.0)  # started, and waiting for input that never comes
        _interrupt(p)
        out, err = p.communicate(timeout=20)
    assert (p.returncode, out, err.decode()) == (130, b"", "kapsec: interrupted\n")


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 12 MB of real events: enough for the worker processes to be busy when Ctrl-C comes."""
    path = tmp_path_factory.mktemp("big") / "audit.log"
    chunk = MODERATE_LOG.read_bytes()
    with path.open("wb") as fh:
        for _ in range(10):
            fh.write(chunk)
    return path


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to see the worker processes")
@pytest.mark.parametrize("cmd", ["query --count", "detect"])
def test_ctrl_c_as_workers_start_is_one_line(cmd: str, big_log: Path) -> None:
    for _attempt in range(3):
        with subprocess.Popen(
            [str(KAPSEC), "audit-log", *cmd.split(), "-j", "2", str(big_log)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        ) as p:
            deadline = time.monotonic() + 20
            while not _children(p.pid) and p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.001)
            _interrupt(p)
            try:
                _out, err = p.communicate(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.communicate()
                pytest.fail("kapsec hung after Ctrl-C")
        assert (p.returncode, err.decode()) == (130, "kapsec: interrupted\n")


# -- the last line of defence -------------------------------------------------------------------


def _boom() -> None:
    raise RuntimeError("the catalog exploded")


def test_an_unexpected_exception_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kapsec.checks.catalog.load_catalog", _boom)
    monkeypatch.delenv("KAPSEC_DEBUG", raising=False)
    r = run_cli("checks", "list")
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == (
        "kapsec: internal error: RuntimeError: the catalog exploded\n"
        "  (set KAPSEC_DEBUG=1 for the traceback, and please report it)\n"
    )


def test_kapsec_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kapsec.checks.catalog.load_catalog", _boom)
    monkeypatch.setenv("KAPSEC_DEBUG", "1")
    r = run_cli("checks", "list")
    assert r.code == 2
    assert r.stderr.startswith("Traceback (most recent call last):\n")
    assert "RuntimeError: the catalog exploded\n" in r.stderr
    assert r.stderr.endswith("(set KAPSEC_DEBUG=1 for the traceback, and please report it)\n")


# -- a refused --apply writes nothing ---------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("backup_dir", "err"),
    [
        ("{empty}", r"^kapsec: error: --backup-dir {empty}: {empty} is not a directory$"),
        ("{empty}/backups", r"^kapsec: error: --backup-dir {empty}/backups: {empty} is not a directory$"),
        (
            "{root}/etc/kubernetes/manifests/backups",
            r"^kapsec: error: --backup-dir {root}/etc/kubernetes/manifests/backups is inside the static pod "
            r"directory: the kubelet would start the backup as a second API server; choose a directory outside it$",
        ),
    ],
    ids=["a file", "under a file", "in the static pod directory"],
)
def test_harden_apply_with_a_bad_backup_dir_writes_nothing(
    backup_dir: str, err: str, paths: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "node"
    shutil.copytree(paths["lab"], root, symlinks=True)
    before = _tree(root)
    scope = {"empty": paths["empty"], "root": str(root)}
    r = run_cli(
        "harden", "--root", str(root), "--apply", "--backup-dir", _fill(backup_dir, scope, escape=False)
    )
    _assert_no_leak(r.stderr)
    assert r.code == 2, r.stderr
    assert re.search(_fill(err, scope, escape=True), r.stderr, re.M), r.stderr
    assert _tree(root) == before


# -- what a log may contain cannot break a report ---------------------------------------------------

EVIL_USER = "evil\x1b[31mRED\x1b[0m\x07<script>alert(1)</script>|x\x00y"


@pytest.fixture(scope="module")
def hostile_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real event whose user, object name and user agent carry control characters and markup."""
    event = json.loads(GOOD_LOG.read_text().splitlines()[0])
    event |= {
        "verb": "get",
        "user": {"username": EVIL_USER},
        "userAgent": "ua\x1b]0;pwned\x07",
        "objectRef": {
            "resource": "secrets",
            "namespace": "default",
            "name": "a|b<c>\x1b[2J",
            "apiVersion": "v1",
        },
        "responseStatus": {"code": 200},
        "annotations": {"authorization.k8s.io/decision": "allow"},
    }
    path = tmp_path_factory.mktemp("hostile") / "audit.log"
    path.write_text(json.dumps(event) + "\n")
    return path


def test_hostile_log_content_keeps_junit_well_formed(hostile_log: Path) -> None:
    r = run_cli("audit-log", "detect", str(hostile_log), "-o", "junit")
    assert r.code == 1, r.stderr
    root = ET.fromstring(r.stdout)  # control characters would make this raise
    messages = [f.get("message", "") for f in root.iter("failure")]
    assert any("evil\\x1b[31mRED\\x1b[0m\\x07<script>alert(1)</script>|x\\x00y" in m for m in messages), (
        messages
    )


def test_hostile_log_content_is_escaped_in_html_and_markdown(hostile_log: Path) -> None:
    html = run_cli("audit-log", "detect", str(hostile_log), "-o", "html").stdout
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    markdown = run_cli("audit-log", "detect", str(hostile_log), "-o", "markdown").stdout
    rows = [line for line in markdown.splitlines() if "evil" in line]
    assert rows
    for row in rows:  # a raw pipe inside a cell would add a column
        assert "|x" not in row.replace("\\|x", "")


@pytest.mark.parametrize(
    "cmd",
    [
        "query",
        "detect",
    ],
)
def test_hostile_log_content_puts_no_escape_sequence_on_a_terminal(cmd: str, hostile_log: Path) -> None:
    r = run_cli("audit-log", cmd, str(hostile_log))
    assert "evil" in r.stdout
    assert "\x1b" not in r.stdout


@pytest.fixture(scope="module")
def hostile_rbac(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Names the API server accepts (a ClusterRole name is any path segment; a subject any string)."""
    role = "evil\x1b]0;pwned\x07role"
    objects = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": role},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "b\x1b[2J"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [
                    {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "mallory\x1b[31m"}
                ],
            },
        ],
    }
    path = tmp_path_factory.mktemp("hostile-rbac") / "rbac.json"
    path.write_text(json.dumps(objects))
    return path


@pytest.mark.parametrize("cmd", ["who-can get secrets", "risks"])
def test_hostile_rbac_names_put_no_escape_sequence_on_a_terminal(cmd: str, hostile_rbac: Path) -> None:
    r = run_cli("rbac", *cmd.split(), "-f", str(hostile_rbac))
    assert "mallory" in r.stdout
    assert "\x1b" not in r.stdout


@pytest.fixture(scope="module")
def applied(paths: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A lab hardened with --apply: (root, the backup's metadata file)."""
    root = tmp_path_factory.mktemp("applied") / "node"
    shutil.copytree(paths["lab"], root, symlinks=True)
    r = run_cli("harden", "--root", str(root), "--apply")
    assert r.code == 0, r.stderr
    (backup,) = (root / "var/lib/kapsec/backups").iterdir()
    return root, backup / "kapsec-backup.json"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"\xff\xfe", r"not UTF-8 text \(byte 0\)"),
        (b"{", r"not JSON \(Expecting property name enclosed in double quotes: .+\)"),
        (b"[]", "expected an object with the manifest's absolute node path .+"),
        (b'{"manifest": 5}', "expected an object with the manifest's absolute node path .+"),
        (b'{"manifest": "/../../etc/x"}', "expected an object with the manifest's absolute node path .+"),
    ],
    ids=["binary", "truncated JSON", "a list", "a number", "a path out of the root"],
)
def test_harden_rollback_with_damaged_backup_metadata(
    content: bytes, why: str, applied: tuple[Path, Path]
) -> None:
    root, meta = applied
    good = meta.read_bytes()
    manifest = root / "etc/kubernetes/manifests/kube-apiserver.yaml"
    before = manifest.read_bytes()
    meta.write_bytes(content)
    try:
        r = run_cli("harden", "--root", str(root), "--rollback")
    finally:
        meta.write_bytes(good)
    _assert_no_leak(r.stderr)
    assert r.code == 2
    assert re.fullmatch(
        rf"kapsec: error: {re.escape(str(meta))}: unreadable backup metadata: {why}\n", r.stderr
    )
    assert manifest.read_bytes() == before
