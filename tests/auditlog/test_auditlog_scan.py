"""The parallel scan's fast paths give what one process gives, byte for byte.

Workers send finished rows (query) and alert parts (detect) instead of events; these tests run
the same command with ``--jobs 1`` (everything in this process, from decoded events) and
``--jobs 2`` (workers, small chunks so that every log is cut into many tasks) and compare.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from helpers import DATA, run_cli
from kapsec.auditlog.event import parse_time
from kapsec.auditlog.scan import _locate, epoch_seconds

ORACLE = DATA / "oracle-1.36" / "audit-logs"
MODERATE = str(ORACLE / "moderate" / "audit.log")
ROTATION = str(ORACLE / "rotation" / "logs")  # three gzip backups and the active file: alert-dense


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    import kapsec.auditlog.scan as scan

    monkeypatch.setattr(scan, "CHUNK", 64 * 1024)


def _same(*args: str) -> str:
    seq = run_cli(*args, "--jobs", "1")
    par = run_cli(*args, "--jobs", "2")
    assert (par.code, par.stdout, par.stderr) == (seq.code, seq.stdout, seq.stderr)
    return str(seq.stdout)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl"])
def test_query_rows_from_workers_equal_one_process(fmt: str) -> None:
    # --user takes the needle path (jump to the lines holding "dev-bob"), default --stage final
    # de-duplicates stages in the parent; --fields mixes short names and event paths.
    out = _same(
        "audit-log", "query", MODERATE, "--user", "dev-bob", "-o", fmt,
        "--fields", "time,user,verb,target,code,user.groups,annotations.authorization.k8s.io/decision",
    )  # fmt: skip
    if fmt == "jsonl":
        rows = [json.loads(line) for line in out.splitlines()]
        # jq -r 'select(.user.username=="dev-bob" or .impersonatedUser.username=="dev-bob")
        # | .auditID' | sort -u | wc -l: one row per request
        assert len(rows) == 56
        assert rows[0]["file"] == MODERATE
        assert rows[0]["user.groups"] == ["developers", "system:authenticated"]


@pytest.mark.usefixtures("small_chunks")
def test_query_count_limit_and_stage_from_workers_equal_one_process() -> None:
    assert (
        _same("audit-log", "query", MODERATE, "--resource", "secrets", "--stage", "all", "--count") == "39\n"
    )
    out = _same("audit-log", "query", MODERATE, "--stage", "ResponseStarted", "-o", "jsonl", "--limit", "7")
    assert len(out.splitlines()) == 7
    out = _same("audit-log", "query", ROTATION, "--code", "403", "-o", "jsonl", "--fields", "auditID,code")
    # jq -c 'select(.responseStatus.code==403) | .auditID' over the four files | sort -u | wc -l
    assert len(out.splitlines()) == 2206


@pytest.mark.usefixtures("small_chunks")
def test_detect_alert_lines_from_workers_equal_one_process() -> None:
    out = _same("audit-log", "detect", ROTATION, "-o", "jsonl", "--fail-on", "never")
    alerts = [json.loads(line) for line in out.splitlines()]
    # traffic-summary.json of the rotation run: 2,200 refused GETs (dev-bob and mallory, 1,100
    # each, 220 of them on Secrets each) and 220 lists of kube-system Secrets by admin.
    rules = [a["rule"] for a in alerts]
    assert (rules.count("forbidden-request"), rules.count("secret-access-denied")) == (2200, 440)
    assert (rules.count("secrets-list"), len(alerts)) == (220, 3300)
    # Correlation alerts are written by the parent from the event part too, with their detail:
    # one per 5 refusals of a user (the window restarts after each alert).
    bursts = [a for a in alerts if a["rule"] == "forbidden-burst"]
    assert len(bursts) == 440
    assert bursts[0]["detail"] == "5 matches of forbidden-request within 300s for user.username=dev-bob"
    assert bursts[0]["file"].endswith(".log.gz")


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_detect_reports_from_workers_equal_one_process(fmt: str) -> None:
    # Outputs other than jsonl need the event: workers send it (bodies dropped) with the alert part.
    _same("audit-log", "detect", ROTATION, MODERATE, "-o", fmt, "--min-severity", "medium")


def test_epoch_seconds_is_parse_time_timestamp() -> None:
    rng = random.Random(4)
    texts = [
        "2026-11-28T09:11:43.915144Z",
        "2026-11-28T09:11:43Z",
        "2026-11-28T09:11:43.915144123Z",
        "2026-11-28T10:11:43.915144+01:00",
        "2026-02-30T09:11:43.915144Z",
        "garbage",
        "",
    ]
    for _ in range(2000):
        when = datetime.fromtimestamp(rng.randrange(0, 2**32), UTC)
        texts.append(f"{when:%Y-%m-%dT%H:%M:%S}.{rng.randrange(10**6):06d}Z")
    for text in texts:
        parsed = parse_time(text)
        assert epoch_seconds(text) == (parsed.timestamp() if parsed is not None else 0.0), text


def test_locate_finds_the_lines_of_the_rarest_needle() -> None:
    lines = [b'{"user":"alice","verb":"get"}'] * 40 + [b'{"user":"mallory","verb":"delete"}'] + [b"{}"] * 40
    lines[10] = b'{"user":"mallory","verb":"get"} mallory again'
    data = b"\n".join(lines)  # no newline after the last line
    located = _locate(data, 0, len(data), ((b"mallory",), (b"get", b"delete")))
    assert located == (
        [(10, data.index(b'{"user":"mallory"')), (40, data.index(b'{"user":"mallory","verb":"delete"'))],
        81,
    )
    # A needle on more than a third of the lines: reading every line is cheaper.
    many = b'{"user":"alice"}\n{}\n' * 500
    assert _locate(many, 0, len(many), ((b"alice",),)) is None
    # A range of a buffer (a task of a mapped file): offsets stay absolute, lines count from lo.
    buf = b"x\n" * 300 + b"needle\n" + b"y\nneedle"
    assert _locate(buf, 4, len(buf), ((b"needle",),)) == ([(298, 600), (300, 609)], 301)
    assert _locate(buf, 4, 607, ((b"needle",),)) == ([(298, 600)], 299)


def test_rule_pack_parsed_with_libyaml_equals_pysigma_parse() -> None:
    from sigma.collection import SigmaCollection

    from kapsec.auditlog.pack import _collection, builtin_rule_files

    for name, text in builtin_rule_files():
        ours = [r.to_dict() for r in _collection(text).rules]
        theirs = [
            r.to_dict()
            for r in SigmaCollection.from_yaml(text, collect_errors=True, resolve_references=False).rules
        ]
        assert ours == theirs, name


def test_bad_yaml_rule_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("title: x\n  detection: [\n")
    r = run_cli("audit-log", "rules", "list", "--rules", str(tmp_path))
    assert r.code == 2
    assert (
        r.stderr
        == f"kapsec: error: {tmp_path / 'bad.yml'}:2: invalid YAML: mapping values are not allowed here\n"
    )


@pytest.mark.usefixtures("small_chunks")
def test_workers_send_batches_of_records() -> None:
    from kapsec.auditlog.reader import ReadStats
    from kapsec.auditlog.scan import Batch, QuerySpec, scan

    stats = ReadStats()
    spec = QuerySpec((("verbs", ("delete",)),), "count")
    items = list(scan([MODERATE], spec, stats, jobs=2, batched=True))
    assert all(isinstance(b, Batch) for b in items)
    assert len(items) == 18  # 1.1 MB in 64 kB tasks
    # jq -c 'select(.verb=="delete")' audit.log | wc -l
    assert sum(len(b.hits) for b in items) == 11
    assert (stats.lines, stats.events + stats.skipped) == (1226, 1226)


@pytest.mark.usefixtures("small_chunks")
def test_a_worker_that_dies_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import kapsec.auditlog.scan as scan

    # What the kernel does to a worker whose mapped file is truncated under it (SIGBUS).
    monkeypatch.setattr(scan, "_mapped", lambda path: os._exit(7))
    r = run_cli("audit-log", "query", MODERATE, "--user", "dev-bob", "--jobs", "2")
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == (
        f"kapsec: error: {MODERATE}: a worker process died while reading it (was the file truncated meanwhile?)\n"
    )
