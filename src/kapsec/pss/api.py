"""Pod Security levels, policy versions, namespace labels and the policy they resolve to.

Mirrors ``staging/src/k8s.io/pod-security-admission/api/constants.go`` and ``api/helpers.go``
(level/version parsing, ``PolicyToEvaluate``: defaults, label overrides, fail-closed enforce,
warn inheriting enforce). Pure: no I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

LABEL_PREFIX = "pod-security.kubernetes.io/"

#: The newest policy version whose rules this evaluator implements (sysctls v1.37).
MAX_MINOR = 37

_VERSION_RE = re.compile(r"^v1\.(0|[1-9][0-9]*)$")


class Level(enum.Enum):
    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, text: str) -> Level:
        for level in cls:
            if level.value == text:
                return level
        raise ValueError("must be one of privileged, baseline, restricted")


_RANK = {Level.PRIVILEGED: 0, Level.BASELINE: 1, Level.RESTRICTED: 2}


@dataclass(frozen=True, slots=True)
class Version:
    """A policy version: ``latest`` (minor None) or ``v1.<minor>``."""

    minor: int | None = None

    @property
    def latest(self) -> bool:
        return self.minor is None

    @classmethod
    def parse(cls, text: str) -> Version:
        if text == "latest":
            return cls(None)
        m = _VERSION_RE.match(text)
        if m is None:
            raise ValueError('must be "latest" or "v1.x"')
        return cls(int(m.group(1)))

    def effective_minor(self, max_minor: int = MAX_MINOR) -> int:
        """The rules used: ``latest`` and versions newer than we know are the newest rules."""
        if self.minor is None or self.minor > max_minor:
            return max_minor
        return self.minor

    def __str__(self) -> str:
        return "latest" if self.minor is None else f"v1.{self.minor}"


LATEST = Version(None)


@dataclass(frozen=True, slots=True)
class LevelVersion:
    level: Level
    version: Version

    def __str__(self) -> str:
        return f"{self.level.value}:{self.version}"

    def equivalent(self, other: LevelVersion) -> bool:
        """Privileged at any version is privileged at every version."""
        if self.level is Level.PRIVILEGED and other.level is Level.PRIVILEGED:
            return True
        return self == other


PRIVILEGED_LATEST = LevelVersion(Level.PRIVILEGED, LATEST)


class Mode(enum.Enum):
    ENFORCE = "enforce"
    AUDIT = "audit"
    WARN = "warn"


@dataclass(frozen=True, slots=True)
class Policy:
    enforce: LevelVersion = PRIVILEGED_LATEST
    audit: LevelVersion = PRIVILEGED_LATEST
    warn: LevelVersion = PRIVILEGED_LATEST

    def for_mode(self, mode: Mode) -> LevelVersion:
        return {Mode.ENFORCE: self.enforce, Mode.AUDIT: self.audit, Mode.WARN: self.warn}[mode]

    @property
    def fully_privileged(self) -> bool:
        return all(lv.level is Level.PRIVILEGED for lv in (self.enforce, self.audit, self.warn))


@dataclass(frozen=True, slots=True)
class LabelError:
    label: str
    value: str
    message: str

    def __str__(self) -> str:
        return f'metadata.labels[{self.label}]: Invalid value: "{self.value}": {self.message}'


def policy_from_labels(
    labels: Mapping[str, str] | None, defaults: Policy = Policy()
) -> tuple[Policy, list[LabelError]]:
    """The policy a namespace's labels give on top of ``defaults``, and any label errors.

    An invalid enforce level fails closed (restricted), an invalid audit/warn level fails open
    (privileged), an invalid version is ``latest``. Warn inherits the enforce level (and version,
    unless warn-version is set) when no warn label is set and enforce is stricter.
    """
    labels = labels or {}
    errors: list[LabelError] = []
    result: dict[Mode, LevelVersion] = {}
    for mode in Mode:
        base = defaults.for_mode(mode)
        level, version = base.level, base.version
        level_key = LABEL_PREFIX + mode.value
        version_key = level_key + "-version"
        if level_key in labels:
            raw = labels[level_key]
            try:
                level = Level.parse(str(raw))
            except ValueError as exc:
                errors.append(LabelError(level_key, str(raw), str(exc)))
                level = Level.RESTRICTED if mode is Mode.ENFORCE else Level.PRIVILEGED
        if version_key in labels:
            raw = labels[version_key]
            try:
                version = Version.parse(str(raw))
            except ValueError as exc:
                errors.append(LabelError(version_key, str(raw), str(exc)))
                version = LATEST
        result[mode] = LevelVersion(level, version)

    enforce_key = LABEL_PREFIX + "enforce"
    warn_key = LABEL_PREFIX + "warn"
    enforce_valid = enforce_key in labels and not any(e.label == enforce_key for e in errors)
    if (
        warn_key not in labels
        and enforce_valid
        and result[Mode.ENFORCE].level.rank > result[Mode.WARN].level.rank
    ):
        warn_version = result[Mode.WARN].version
        if warn_key + "-version" not in labels:
            warn_version = result[Mode.ENFORCE].version
        result[Mode.WARN] = LevelVersion(result[Mode.ENFORCE].level, warn_version)
    return Policy(result[Mode.ENFORCE], result[Mode.AUDIT], result[Mode.WARN]), errors
