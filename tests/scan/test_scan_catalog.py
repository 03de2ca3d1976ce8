"""The catalog covers every kube-bench CIS check of sections 1.1, 1.2 and 3.2, with the right
ids in CIS 1.8-1.12, and is validated when it loads."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
import yaml

from helpers import DATA
from kapsec.checks.catalog import BENCHMARKS, CHECKLIST_ITEMS, CatalogError, load_catalog, parse_catalog

KUBE_BENCH: dict[str, Any] = yaml.safe_load(
    gzip.decompress((DATA / "scan" / "kube-bench-cis-apiserver.yaml.gz").read_bytes())
)


def kube_bench_checks() -> list[dict[str, Any]]:
    return [c for c in KUBE_BENCH["checks"] if c["section"] in ("1.1", "1.2", "3.2")]


def test_reference_has_the_documented_counts() -> None:
    sections = [c["section"] for c in kube_bench_checks()]
    assert (sections.count("1.1"), sections.count("1.2"), sections.count("3.2")) == (21, 30, 2)


def test_every_kube_bench_check_has_a_counterpart() -> None:
    ours = {c.cis: c for c in load_catalog() if c.cis}
    missing = [kb["id"] for kb in kube_bench_checks() if kb["id"] not in ours]
    assert missing == []


@pytest.mark.parametrize("kb", kube_bench_checks(), ids=lambda kb: kb["id"])
def test_benchmark_ids_match_kube_bench(kb: dict[str, Any]) -> None:
    check = next(c for c in load_catalog() if c.cis == kb["id"])
    expected = {
        bench: kb["id_in_kube_bench_configs"][bench].split()[0]
        for bench in BENCHMARKS
        if bench in kb["id_in_kube_bench_configs"]
    }
    assert dict(check.benchmarks) == expected
    assert check.cis_manual == (not kb["scored"] or kb.get("assessment") == "Manual")


def test_every_checklist_item_is_covered() -> None:
    covered = {c.checklist for c in load_catalog()}
    assert sorted(set(CHECKLIST_ITEMS) - covered) == []


def test_ids_are_unique_and_grouped_by_prefix() -> None:
    ids = [c.id for c in load_catalog()]
    assert len(ids) == len(set(ids)) == 67
    for cid in ids:
        prefix, number = cid.split("-")
        assert prefix.isupper()
        assert len(number) == 3
        assert number.isdigit()


def test_every_check_is_documented() -> None:
    for c in load_catalog():
        assert c.doc["checks"], c.id
        assert c.references, c.id
        assert all(r.startswith("https://") for r in c.references), c.id
        assert c.rationale, c.id
        assert c.remediation, c.id


GOOD = """\
checks:
- id: API-900
  title: A check
  severity: low
  rationale: Because.
  remediation: Do it.
  fix: {safety: safe}
  rule: {flag_unset: {flag: token-auth-file}}
  doc: {checks: What.}
"""


def parse(text: str) -> tuple[Any, ...]:
    return parse_catalog({"t.yaml": text}, frozenset({"known"}))


def test_a_minimal_check_loads() -> None:
    (c,) = parse(GOOD)
    assert (c.id, c.severity.label, c.rule.op, c.source) == ("API-900", "low", "flag_unset", "t.yaml:2")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("  title: A check\n", "  title: A check\n  colour: red\n"),
            "t.yaml:4: colour: unknown key 'colour'",
        ),
        (
            ("{flag_unset: {flag: token-auth-file}}", "{flag_contains: {flag: x}}"),
            "t.yaml:8: rule: unknown operator 'flag_contains' (known: authz_excludes, authz_includes, file_mode, "
            "file_owner, flag_bool, flag_int_gte, flag_set, flag_unset, plugin_off, plugin_on, predicate)",
        ),
        (
            ("{flag: token-auth-file}", "{flag: x, value: 1}"),
            "t.yaml:8: rule.flag_unset: unknown argument 'value' for flag_unset",
        ),
        (
            ("{flag_unset: {flag: token-auth-file}}", "{predicate: {name: nope}}"),
            "t.yaml:8: rule.predicate.name: unknown predicate 'nope'",
        ),
        (
            ("{flag_unset: {flag: token-auth-file}}", "{file_mode: {target: x, max: '999'}}"),
            "t.yaml:8: rule.file_mode.max: file_mode max '999' is not an octal mode",
        ),
        (
            (
                "{flag_unset: {flag: token-auth-file}}",
                "{file_mode: {target: x, max: '600', max_by_benchmark: {cis-2.0: '644'}}}",
            ),
            "t.yaml:8: rule.file_mode.max_by_benchmark: max_by_benchmark keys must be among "
            "cis-1.8, cis-1.9, cis-1.10, cis-1.11, cis-1.12",
        ),
        (
            (
                "{flag_unset: {flag: token-auth-file}}",
                "{flag_int_gte: {flag: x, min: 1, skip_when: {flag: y}}}",
            ),
            "t.yaml:8: rule.flag_int_gte.skip_when: skip_when needs exactly flag, value and reason",
        ),
        (
            ("severity: low", "severity: severe"),
            "t.yaml:4: severity: unknown severity 'severe' (expected one of: info, low, medium, high, critical)",
        ),
        (
            ("{safety: safe}", "{safety: yolo}"),
            "t.yaml:7: fix.safety: fix.safety 'yolo' is not one of safe, needs-restart, risky, manual",
        ),
        (
            ("id: API-900", "id: WHAT-900"),
            "t.yaml:2: id: id 'WHAT-900' must be PREFIX-NNN with a known prefix",
        ),
        (("  doc: {checks: What.}\n", ""), "t.yaml:2: doc: missing key 'doc'"),
        (
            ("  severity: low\n", "  severity: low\n  checklist: vibes\n"),
            "t.yaml:5: checklist: unknown checklist item 'vibes'",
        ),
        (
            ("  doc: {checks: What.}\n", "  doc: {checks: What., trivia: x}\n"),
            "t.yaml:9: doc: unknown doc section 'trivia'",
        ),
    ],
)
def test_invalid_catalog_fails_at_load(change: tuple[str, str], message: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(CatalogError) as err:
        parse(text)
    assert str(err.value) == message


def test_duplicate_ids_fail_at_load() -> None:
    two = GOOD + GOOD.split("checks:\n", 1)[1]
    with pytest.raises(CatalogError) as err:
        parse(two)
    assert str(err.value) == "t.yaml:10: id: duplicate check id 'API-900' (first at t.yaml:2)"


def test_malformed_catalog_yaml_fails_at_load() -> None:
    with pytest.raises(CatalogError) as err:
        parse("checks: [")
    assert str(err.value) == "t.yaml:2: malformed YAML: did not find expected node content"
