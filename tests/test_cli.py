from __future__ import annotations

from helpers import run_cli
from kapsec import __version__
from kapsec.cli import COMMANDS


def test_version() -> None:
    r = run_cli("--version")
    assert r.code == 0
    assert r.stdout.strip() == f"kapsec, version {__version__}"


def test_help_lists_every_command_group() -> None:
    r = run_cli("--help")
    assert r.code == 0
    for name in COMMANDS:
        assert name in r.stdout


def test_unknown_command_is_a_usage_error() -> None:
    r = run_cli("no-such-command")
    assert r.code == 2
    assert "No such command 'no-such-command'" in r.stderr
