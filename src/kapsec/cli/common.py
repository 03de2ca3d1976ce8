"""Options and helpers shared by the command modules."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kapsec.model.findings import Report, Severity

F = TypeVar("F", bound=Callable[..., Any])


class OutputFormat(enum.Enum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    MARKDOWN = "markdown"
    HTML = "html"


def output_option(*formats: OutputFormat, default: OutputFormat = OutputFormat.TEXT) -> Callable[[F], F]:
    """``-o/--output`` limited to ``formats`` (all report formats when none are named)."""
    choices = [f.value for f in (formats or tuple(OutputFormat))]
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Choice(choices),
        default=default.value,
        show_default=True,
        help="Output format.",
    )


def parse_fail_on(value: str) -> Severity | None:
    if value == "never":
        return None
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def fail_on_option(f: F) -> F:
    return click.option(
        "--fail-on",
        default="low",
        show_default=True,
        metavar="SEVERITY",
        help="Exit 1 when a finding at or above this severity fails "
        "(info, low, medium, high, critical, or never).",
    )(f)


def exit_code_for(report: Report, fail_on: str) -> int:
    """0 when no failed finding reaches the threshold, 1 otherwise."""
    return 1 if report.failed_at_or_above(parse_fail_on(fail_on)) else 0
