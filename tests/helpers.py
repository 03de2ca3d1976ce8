"""Shared test helpers.

Test data copied from the project's reference material lives under ``tests/data/`` (see
``tests/data/NOTICE``); tests never read outside the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from kapsec.cli import cli

DATA = Path(__file__).parent / "data"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, input: str | bytes | None = None) -> CliResult:
    """Run ``kapsec ARGS`` in-process and return exit code, stdout and stderr separately."""
    runner = CliRunner()
    result = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)
