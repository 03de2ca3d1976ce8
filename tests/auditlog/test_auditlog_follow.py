"""--follow through real rotations, and alerts to a webhook and to a real rsyslogd.

The follower runs as a separate ``kapsec`` process while this test appends to the live file,
renames it away (as the API server's lumberjack rotation does) or truncates it (copytruncate),
and partial lines are written in two halves. Every event must come out exactly once.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from helpers import DATA

MODERATE = DATA / "oracle-1.36" / "audit-logs" / "moderate" / "audit.log"
LINES = MODERATE.read_text().splitlines(keepends=True)


def kapsec(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kapsec", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(p: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail(f"follower did not stop: {err}")
    return out, err


def wait_for(path: Path, p: subprocess.Popen[str]) -> None:
    """Wait until the follower has opened the file (it says so on stderr)."""
    assert p.stderr is not None
    line = p.stderr.readline()
    assert line == f"kapsec: following {path} (SIGINT or SIGTERM to stop)\n", line + p.stderr.read()


def test_follow_through_rename_rotation_loses_and_repeats_nothing(tmp_path: Path) -> None:
    live = tmp_path / "audit.log"
    live.write_text("")
    p = kapsec(
        "audit-log", "query", "--follow", "--from-start", "--idle-exit", "2.5", "--stage", "all",
        "-o", "jsonl", "--fields", "auditID,stage", str(live),
    )  # fmt: skip
    wait_for(live, p)
    rotations = 0
    fh = live.open("a")
    for i, line in enumerate(LINES):
        if i % 7 == 3:
            # a line written in two halves: the follower must wait for its end
            fh.write(line[:40])
            fh.flush()
            time.sleep(0.001)
            fh.write(line[40:])
        else:
            fh.write(line)
        if i % 50 == 49:
            fh.flush()
            time.sleep(0.02)
        if i % 300 == 299:
            # lumberjack: rename the file away and start a new one; late writes go to the new file
            fh.flush()
            fh.close()
            os.rename(live, tmp_path / f"audit-{rotations}.log")
            rotations += 1
            fh = live.open("a")
    fh.close()
    out, err = finish(p)
    assert p.returncode == 0, err
    got = [(r["auditID"], r["stage"]) for r in map(json.loads, out.splitlines())]
    want = [(e["auditID"], e["stage"]) for e in map(json.loads, LINES)]
    assert rotations == 4
    assert len(got) == len(want) == 1226
    assert got == want


def test_follow_through_truncation(tmp_path: Path) -> None:
    live = tmp_path / "audit.log"
    live.write_text("")
    p = kapsec(
        "audit-log", "query", "--follow", "--from-start", "--idle-exit", "2", "--stage", "all",
        "-o", "jsonl", "--fields", "auditID", str(live),
    )  # fmt: skip
    wait_for(live, p)
    first, second = LINES[:400], LINES[400:500]
    with live.open("a") as fh:
        fh.writelines(first)
    time.sleep(1.0)  # the follower has read everything (copytruncate loses what it has not)
    with live.open("r+") as fh:
        fh.truncate(0)
    time.sleep(0.5)
    with live.open("a") as fh:
        fh.writelines(second)
    out, err = finish(p)
    assert p.returncode == 0, err
    got = [json.loads(x)["auditID"] for x in out.splitlines()]
    assert got == [json.loads(x)["auditID"] for x in first + second]


def test_follow_without_from_start_begins_at_the_end(tmp_path: Path) -> None:
    live = tmp_path / "audit.log"
    live.write_text("".join(LINES[:100]))
    p = kapsec(
        "audit-log",
        "query",
        "--follow",
        "--idle-exit",
        "1.5",
        "--stage",
        "all",
        "-o",
        "jsonl",
        "--fields",
        "auditID",
        str(live),
    )
    wait_for(live, p)
    with live.open("a") as fh:
        fh.writelines(LINES[100:110])
    out, _ = finish(p)
    got = [json.loads(x) for x in out.splitlines()]
    assert [g["auditID"] for g in got] == [json.loads(x)["auditID"] for x in LINES[100:110]]
    assert [g["line"] for g in got] == list(range(101, 111))


def test_sigterm_stops_follow_cleanly(tmp_path: Path) -> None:
    live = tmp_path / "audit.log"
    live.write_text("")
    p = kapsec("audit-log", "detect", "--follow", str(live))
    wait_for(live, p)
    p.send_signal(signal.SIGTERM)
    _out, err = finish(p, 10)
    assert p.returncode == 0, err
    assert "Traceback" not in err


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        n = int(self.headers["Content-Length"])
        _Hook.received.append({"type": self.headers["Content-Type"], "body": json.loads(self.rfile.read(n))})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def rsyslog(tmp_path: Path) -> Any:
    exe = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd") else None)
    if exe is None:
        pytest.skip("rsyslogd is not installed (make system-deps installs it)")
    d = tmp_path / "rsyslog"
    d.mkdir()
    tcp, udp = _free_port(), _free_port(socket.SOCK_DGRAM)
    out = d / "out.log"
    conf = d / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{d}")\n'
        'module(load="imtcp")\nmodule(load="imudp")\n'
        f'input(type="imtcp" address="127.0.0.1" port="{tcp}")\n'
        f'input(type="imudp" address="127.0.0.1" port="{udp}")\n'
        'template(name="t" type="string" string="%syslogfacility-text%|%syslogseverity-text%|%app-name%|'
        '%msgid%|%structured-data%|%msg%\\n")\n'
        f'*.* action(type="omfile" file="{out}" template="t")\n'
    )
    proc = subprocess.Popen(
        [exe, "-n", "-f", str(conf), "-i", str(d / "pid")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", tcp), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail(f"rsyslogd did not start: {proc.stdout.read() if proc.stdout else b''!r}")
                time.sleep(0.1)
        yield {"tcp": tcp, "udp": udp, "out": out}
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_lines(path: Path, n: int, timeout: float = 10) -> list[str]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists():
            lines = path.read_text().splitlines()
            if len(lines) >= n:
                return lines
        time.sleep(0.1)
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.rsyslog
@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_detect_follow_alerts_to_stdout_webhook_and_syslog(
    tmp_path: Path, rsyslog: dict[str, Any], transport: str
) -> None:
    _Hook.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        live = tmp_path / "audit.log"
        live.write_text("")
        url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
        p = kapsec(
            "audit-log", "detect", "--follow", "--from-start", "--idle-exit", "2", "--only", "pod-exec",
            "--webhook", url, "--syslog", f"{transport}://127.0.0.1:{rsyslog[transport]}", str(live),
        )  # fmt: skip
        wait_for(live, p)
        with live.open("a") as fh:
            fh.writelines(LINES)
        out, err = finish(p)
    finally:
        server.shutdown()
        server.server_close()
    assert p.returncode == 0, err
    alerts = [json.loads(x) for x in out.splitlines()]
    assert [(a["rule"], a["user"], a["target"], a["stage"]) for a in alerts] == [
        ("pod-exec", "dev-bob", "pods/exec dev/web", "ResponseStarted"),
        ("pod-exec", "dev-bob", "pods/attach dev/web", "ResponseStarted"),
        ("pod-exec", "admin", "pods/exec kube-system/node-debugger", "ResponseStarted"),
    ]
    assert [h["body"] for h in _Hook.received] == alerts
    assert {h["type"] for h in _Hook.received} == {"application/json"}
    lines = _wait_lines(rsyslog["out"], 3)
    assert len(lines) == 3
    for line, alert in zip(lines, alerts, strict=True):
        facility, severity, app, msgid, sd, msg = line.split("|", 5)
        assert (facility, severity, app, msgid) == ("audit", "warning", "kapsec", "pod-exec")
        assert sd.startswith('[kapsec@32473 rule="pod-exec" severity="medium" auditID="')
        assert json.loads(msg) == alert


def test_webhook_failure_is_a_warning_and_the_stream_goes_on(tmp_path: Path) -> None:
    live = tmp_path / "audit.log"
    live.write_text("".join(LINES))
    port = _free_port()  # nothing listens there
    p = kapsec(
        "audit-log",
        "detect",
        "--only",
        "token-request",
        "-o",
        "jsonl",
        "--webhook",
        f"http://127.0.0.1:{port}/x",
        str(live),
    )
    out, err = finish(p)
    assert p.returncode == 1
    assert len(out.splitlines()) == 2
    assert err.count(f"kapsec: warning: webhook http://127.0.0.1:{port}/x: alert token-request") == 2


def test_two_rotations_between_polls_are_caught_up(tmp_path: Path) -> None:
    from kapsec.auditlog.follow import Follower

    live = tmp_path / "audit.log"
    (tmp_path / "audit-old.log").write_text("old backup, never read\n")
    live.write_text("a1\n")
    f = Follower(str(live), from_start=True)
    assert [r for r, _ in f.poll_once()] == [b"a1\n"]
    with live.open("a") as fh:
        fh.write("a2\n")
    os.rename(live, tmp_path / "audit-1.log")
    live.write_text("b1\nb2\n")
    os.rename(live, tmp_path / "audit-2.log")
    live.write_text("c1\n")
    got = f.poll_once()
    assert [r for r, _ in got] == [b"a2\n", b"b1\n", b"b2\n", b"c1\n"]
    assert [(Path(loc.file).name, loc.line) for _, loc in got] == [
        ("audit.log", 2),
        ("audit-2.log", 1),
        ("audit-2.log", 2),
        ("audit.log", 1),
    ]
    assert f.poll_once() == []
    f.close()


def test_follow_keeps_one_event_per_request_and_releases_401s_when_idle(tmp_path: Path) -> None:
    live = tmp_path / "audit.log"
    live.write_text("")
    p = kapsec(
        "audit-log", "query", "--follow", "--from-start", "--idle-exit", "2", "-o", "jsonl",
        "--fields", "auditID,stage,code", str(live),
    )  # fmt: skip
    wait_for(live, p)
    with live.open("a") as fh:
        fh.writelines(LINES)
    out, err = finish(p)
    assert p.returncode == 0, err
    rows = [json.loads(x) for x in out.splitlines()]
    assert len(rows) == 1226 - 169
    assert len({r["auditID"] for r in rows}) == len(rows)
    assert sum(1 for r in rows if r["code"] == 401 and r["stage"] == "ResponseStarted") == 5
