"""Bad input never escapes as anything but a KapsecError (never a traceback)."""

from __future__ import annotations

import random

from helpers import DATA
from kapsec.auditpolicy import lint, load_policy_text
from kapsec.errors import KapsecError

SEEDS = [p.read_text() for p in sorted((DATA / "auditpolicy" / "policies").glob("*.yaml"))]
JUNK = [
    "",
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "*",
    "&a ",
    "*a",
    "!!binary ",
    "\t",
    "'",
    '"',
    "\n",
    "~",
    "null",
    "<<: ",
]


def test_mutated_policies_raise_only_kapsec_errors() -> None:
    rng = random.Random(1)
    accepted = 0
    messages: list[str] = []
    for _ in range(600):
        text = rng.choice(SEEDS)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(text) + 1)
            cut = rng.randint(0, 6)
            text = text[:pos] + rng.choice(JUNK) + text[pos + cut :]
        try:
            policy = load_policy_text(text, "fuzz.yaml")
        except KapsecError as exc:
            messages.append(str(exc))
            continue
        lint(policy)
        accepted += 1
    assert accepted > 50
    assert len(messages) > 50
    assert all(m.startswith("fuzz.yaml") for m in messages)


def test_merge_keys_are_applied() -> None:
    text = (
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
        "- &base\n  level: Metadata\n  verbs: [get]\n"
        "- <<: *base\n  level: Request\n"
    )
    policy = load_policy_text(text, "p.yaml")
    assert [r.to_dict() for r in policy.rules] == [
        {"level": "Metadata", "verbs": ["get"]},
        {"level": "Request", "verbs": ["get"]},
    ]
    assert policy.warnings == ()
