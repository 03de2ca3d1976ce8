"""Options and helpers shared by the command modules."""

from __future__ import annotations

import enum
import functools
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from kapsec.errors import InputError, UsageError
from kapsec.model.findings import Report, Severity

if TYPE_CHECKING:
    from kapsec.sources.objects import LoadedObjects

F = TypeVar("F", bound=Callable[..., Any])


class OutputFormat(enum.Enum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    MARKDOWN = "markdown"
    HTML = "html"


def output_option(
    *formats: OutputFormat, default: OutputFormat = OutputFormat.TEXT, help: str = "Output format."
) -> Callable[[F], F]:
    """``-o/--output`` limited to ``formats`` (all report formats when none are named)."""
    choices = [f.value for f in (formats or tuple(OutputFormat))]
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Choice(choices),
        default=default.value,
        show_default=True,
        help=help,
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


def echo_report(
    report: Report,
    output: str,
    *,
    extra: Callable[[], dict[str, Any]] | None = None,
    text: Callable[[], None] | None = None,
) -> None:
    """Print a findings report as ``output``: json is the report's dict with the command's own
    sections (``extra()``) added; text is ``text()`` when the command prints its own; any other
    format (and text without ``text``) goes to the reporters."""
    if output == OutputFormat.JSON.value:
        click.echo(json.dumps(report.to_dict() | (extra() if extra else {}), indent=2))
    elif output == OutputFormat.TEXT.value and text is not None:
        text()
    else:
        from kapsec.report import render

        click.echo(render(report, output), nl=False)


def write_file(path: str, data: str | bytes, *, what: str = "") -> None:
    """Write ``data`` (text as UTF-8) to ``path``; a failure is an input error naming the file."""
    try:
        if isinstance(data, bytes):
            Path(path).write_bytes(data)
        else:
            Path(path).write_text(data, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write{' ' + what if what else ''}: {exc.strerror}", file=path) from exc


# --- where Kubernetes objects come from: --from PATH... and/or --cluster ------------------------


STDIN = "<stdin>"  # how objects read from standard input are named in messages


def read_stdin() -> str:
    """Standard input as UTF-8 text; bytes that are not are an input error naming it."""
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=STDIN) from exc


def input_names(names: Sequence[str]) -> str:
    """Inputs as a message names them (``-`` is standard input)."""
    return ", ".join(STDIN if n == "-" else n for n in names)


@dataclass(frozen=True)
class ObjectInputs:
    """The ``--from`` paths and ``--cluster`` choice of a command that reads Kubernetes objects."""

    sources: tuple[str, ...]
    cluster: bool
    kubeconfig: str | None
    context: str | None
    save: str | None = None
    noun: str = "objects"  # what the usage error calls them

    @property
    def given(self) -> bool:
        return bool(self.sources) or self.cluster

    @property
    def names(self) -> list[str]:
        """The inputs as a report's target and messages name them (``-`` is ``<stdin>``)."""
        return [STDIN if s == "-" else s for s in self.sources] or ["<cluster>"]

    def load(self, kinds: Sequence[str] | None = None) -> LoadedObjects:
        """Read the ``--from`` paths and/or collect ``kinds`` live (writing them to ``--save``).

        Problems with single files or documents are kept on the result, for the command to report.
        """
        from kapsec.sources.objects import LoadedObjects, load_paths, load_text

        if not self.given:
            raise UsageError(f"say where the {self.noun} are: --from PATH (repeatable) or --cluster")
        if not self.cluster and (self.kubeconfig or self.context):
            raise UsageError("--kubeconfig and --context only apply with --cluster")
        if not self.cluster and self.save:
            raise UsageError("--save only applies with --cluster")
        if self.sources.count("-") > 1:
            raise UsageError("standard input ('-') can be read only once")
        loaded = LoadedObjects()
        if "-" in self.sources:  # e.g. kubectl get roles -A -o json | kapsec rbac risks --from -
            load_text(read_stdin(), STDIN, loaded)
        paths = [s for s in self.sources if s != "-"]
        if paths:
            load_paths(paths, loaded)
        if self.cluster:
            from kapsec.sources.cluster import collect_snapshot

            text = json.dumps(collect_snapshot(self.kubeconfig, self.context, kinds))
            if self.save:
                write_file(self.save, text + "\n", what="the snapshot")
                click.echo(f"kapsec: saved the cluster's {self.noun} to {self.save}", err=True)
            load_text(text, "<cluster>", loaded)
        return loaded


_INPUT_PARAMS = ("sources", "cluster", "kubeconfig", "context", "save")


def input_options(
    what: str, *, noun: str = "objects", save: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-f/--from``, ``--cluster``, ``--kubeconfig``, ``--context`` (and ``--save`` when asked),
    handed to the command as one keyword argument ``inputs`` (an :class:`ObjectInputs`)."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def command(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name, None) for name in _INPUT_PARAMS}
            inputs = ObjectInputs(
                sources=values["sources"],
                cluster=values["cluster"],
                kubeconfig=values["kubeconfig"],
                context=values["context"],
                save=values["save"],
                noun=noun,
            )
            return f(inputs=inputs, **kwargs)

        opts = [
            click.option(
                "-f",
                "--from",
                "sources",
                multiple=True,
                metavar="PATH",
                help=f"{what} to read: a kapsec snapshot, YAML/JSON files or directories, List kinds, "
                "`kubectl get -A -o json` dumps (.gz too), or - for standard input. Repeatable.",
            ),
            click.option("--cluster", is_flag=True, help=f"Collect the {noun} from a live cluster instead."),
            click.option(
                "--kubeconfig",
                metavar="FILE",
                help="kubeconfig for --cluster (default: $KUBECONFIG, then ~/.kube/config).",
            ),
            click.option("--context", metavar="NAME", help="kubeconfig context for --cluster."),
        ]
        if save:
            opts.append(
                click.option(
                    "--save", metavar="FILE", help="With --cluster: also write the collected objects to FILE."
                )
            )
        for opt in reversed(opts):
            command = opt(command)
        return command

    return decorate


def report_problems(loaded: LoadedObjects) -> None:
    """Each load problem as a warning on stderr."""
    for p in loaded.problems:
        click.echo(f"kapsec: warning: {p}", err=True)


def table_console() -> Any:
    """A rich Console for tables: the terminal's width, or wide lines when piped (one row per
    line, so the output can be grepped)."""
    from rich.console import Console

    width = None if sys.stdout.isatty() else 220
    return Console(width=width, soft_wrap=True, highlight=False)
