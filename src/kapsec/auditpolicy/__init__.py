"""Exact audit policy semantics: load and validate, evaluate, lint, simulate, generate.

The public interface other packages use (see the team's interface contract):
``load_policy_file``, ``load_policy_text``, ``evaluate``, ``generate``, ``lint``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kapsec.auditpolicy.checker import Decision, evaluate
from kapsec.auditpolicy.loader import PolicyDecodeError, load_policy_file, load_policy_text, policy_from_dict
from kapsec.auditpolicy.model import Policy, PolicyRule

if TYPE_CHECKING:
    from kapsec.auditpolicy.linter import Need
    from kapsec.model.findings import Finding

__all__ = [
    "Decision",
    "Policy",
    "PolicyDecodeError",
    "PolicyRule",
    "evaluate",
    "generate",
    "lint",
    "load_policy_file",
    "load_policy_text",
    "policy_from_dict",
]


def generate(profile: str) -> str:
    """YAML text (with a comment header) of a built-in profile; see :mod:`kapsec.auditpolicy.profiles`."""
    from kapsec.auditpolicy.profiles import generate_profile

    return generate_profile(profile)


def lint(policy: Policy, needs: Sequence[Need] | None = None) -> list[Finding]:
    """Expert review findings for ``policy``; see :mod:`kapsec.auditpolicy.linter`."""
    from kapsec.auditpolicy.linter import lint_policy

    return lint_policy(policy, needs)
