"""Every upstream Pod Security fixture (v1.0-v1.37, both levels) gives its expected outcome.

Fixtures: ``tests/data/pss/pod-security-fixtures.tar.gz`` (see the NOTICE there). A ``pass``
file must give no violation at its level and version; a ``fail`` file must be denied, by the
check it was written for (or the restricted check that replaces it at that version), with the
message containing upstream's ``expectErrorSubstring`` (test/fixtures_*.go) and never
``unknown forbidden reason``. Each file is loaded through ``sources.objects.load_text``, the
same path the CLI uses.
"""

from __future__ import annotations

import re
import tarfile
from functools import cache

import pytest

from helpers import DATA
from kapsec.pss.api import Level, Version
from kapsec.pss.checks import checks_for
from kapsec.pss.evaluate import evaluate
from kapsec.sources.objects import load_text

ARCHIVE = DATA / "pss" / "pod-security-fixtures.tar.gz"

# file prefix -> (check ID, expected substring in the denial): upstream expectErrorSubstring,
# or the check ID when it is unset.
EXPECTED = {
    "apparmorprofile": ("appArmorProfile", "forbidden AppArmor profile"),
    "capabilities_baseline": ("capabilities_baseline", "capabilities"),
    "hostnamespaces": ("hostNamespaces", "host namespaces"),
    "hostpathvolumes": ("hostPathVolumes", "hostPath"),
    "hostports": ("hostPorts", "hostPort"),
    "hostprobesandhostlifecycle": ("hostProbesAndHostLifecycle", "probe or lifecycle host"),
    "privileged": ("privileged", "privileged"),
    "procmount": ("procMount", "procMount"),
    "selinuxoptions": ("seLinuxOptions", "seLinuxOptions"),
    "seccompprofile_baseline": ("seccompProfile_baseline", "seccompProfile"),
    "sysctls": ("sysctls", "forbidden sysctl"),
    "windowshostprocess": ("windowsHostProcess", "hostProcess"),
    "allowprivilegeescalation": ("allowPrivilegeEscalation", "allowPrivilegeEscalation"),
    "capabilities_restricted": ("capabilities_restricted", "unrestricted capabilities"),
    "procmount_restricted": ("procMount_restricted", "procMount"),
    "restrictedvolumes": ("restrictedVolumes", "restricted volume types"),
    "runasnonroot": ("runAsNonRoot", "runAsNonRoot"),
    "runasuser": ("runAsUser", "runAsUser"),
    "seccompprofile_restricted": ("seccompProfile_restricted", "seccompProfile"),
}
# baseline check -> the restricted check that replaces it (and from which minor version)
REPLACED_BY = {
    "hostPathVolumes": ("restrictedVolumes", 0),
    "capabilities_baseline": ("capabilities_restricted", 22),
    "seccompProfile_baseline": ("seccompProfile_restricted", 19),
    "procMount": ("procMount_restricted", 35),
}


@cache
def _texts() -> dict[str, str]:
    out = {}
    with tarfile.open(ARCHIVE) as tf:
        for member in tf.getmembers():
            if member.name.endswith(".yaml"):
                f = tf.extractfile(member)
                assert f is not None
                out[member.name] = f.read().decode()
    return out


def _names() -> list[str]:
    with tarfile.open(ARCHIVE) as tf:
        return sorted(m.name for m in tf.getmembers() if m.name.endswith(".yaml"))


NAMES = _names()


def test_fixture_count() -> None:
    assert len(NAMES) == 4537
    assert sum("/pass/" in n for n in NAMES) == 1051
    assert sum("/fail/" in n for n in NAMES) == 3486


@pytest.mark.parametrize("name", NAMES)
def test_fixture(name: str) -> None:
    level_s, version_s, outcome, filename = name.split("/")
    loaded = load_text(_texts()[name], name)
    assert not loaded.problems
    [(pod, _)] = loaded.objects
    level, version = Level(level_s), Version.parse(version_s)
    result = evaluate(pod, level, version)
    assert result is not None
    if outcome == "pass":
        assert result.allowed, result.message
        assert result.message == ""
        return
    assert outcome == "fail"
    assert not result.allowed
    prefix = re.sub(r"\d+$", "", filename[: -len(".yaml")])
    check, substring = EXPECTED[prefix]
    if level is Level.RESTRICTED and check in REPLACED_BY:
        replacement, since = REPLACED_BY[check]
        if version.effective_minor() >= since:
            check = replacement
    failing = [v.check for v in result.violations]
    assert check in failing, (check, failing)
    assert substring in result.message
    assert "unknown forbidden reason" not in result.message
    assert result.message.startswith(f'violates PodSecurity "{level_s}:{version_s}": ')
    # every failing check is one that runs at this level and version
    assert set(failing) <= {cid for cid, _ in checks_for(level, version.effective_minor())}
