"""Every ``--help`` teaches: a description, examples that still parse, and help on every option.

The commands are walked from the click tree, so a new command is checked the day it is added.
Examples are the help lines that start with ``kapsec <the command>``; each is split like a shell
would (continuations joined, cut at ``&&``, ``|``, ``>`` and ``#``) and parsed by the command
itself, so an example that names a removed option or an invalid choice fails here.
Commands of other packages that lack something are strict xfails naming what is missing.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from kapsec.cli import cli


def _walk(group: click.Group = cli, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name in group.list_commands(click.Context(group)):
        cmd = group.get_command(click.Context(group), name)
        assert cmd is not None, name
        yield f"{prefix}{name}", cmd
        if isinstance(cmd, click.Group):
            yield from _walk(cmd, f"{prefix}{name} ")


ALL = list(_walk())
GROUPS = [n for n, c in ALL if isinstance(c, click.Group)]
LEAVES = [n for n, c in ALL if not isinstance(c, click.Group)]

NO_EXAMPLES: set[str] = set()
OPTIONS_WITHOUT_HELP: dict[str, list[str]] = {}


def _help(name: str) -> str:
    """``kapsec NAME --help`` as a user sees it (the program named kapsec, as the entry point does)."""
    r = CliRunner().invoke(cli, [*name.split(), "--help"], prog_name="kapsec", catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""
    return r.stdout


def _description(text: str) -> str:
    """The first paragraph after the Usage line."""
    paragraphs = [p.strip() for p in text.split("\n\n")]
    assert paragraphs[0].startswith("Usage: "), text
    return paragraphs[1] if len(paragraphs) > 1 and not paragraphs[1].startswith("Options:") else ""


def _examples(text: str, name: str) -> list[list[str]]:
    """The example command lines for ``kapsec NAME``, as argument lists after the command name."""
    lines = text.splitlines()
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        else:
            joined.append(line.strip())
    out = []
    for line in joined:
        for part in line.split("&&"):
            command = part.split(" #")[0].strip()
            if not command.startswith(f"kapsec {name} "):
                continue
            words = shlex.split(command, posix=True)
            if words[: 1 + len(name.split())] != ["kapsec", *name.split()]:
                continue
            args = words[1 + len(name.split()) :]
            for stop in ("|", ">", ">>", "2>"):
                if stop in args:
                    args = args[: args.index(stop)]
            out.append(args)
    return out


def _mark(name: str, known: set[str] | dict[str, list[str]], reason: str) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=f"{name}: {reason}")] if name in known else []
    return pytest.param(name, id=name, marks=marks)


def test_top_level_help_describes_lists_and_shows_examples() -> None:
    text = _help("")
    assert _description(text).startswith("kapsec secures the Kubernetes API server")
    examples = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("kapsec ")]
    assert len(examples) >= 3, text
    for top in [n for n, _ in ALL if " " not in n]:
        assert f"\n  {top} " in text


@pytest.mark.parametrize("name", [n for n, _ in ALL], ids=lambda n: n)
def test_every_command_has_a_description(name: str) -> None:
    text = _help(name)
    assert text.startswith(f"Usage: kapsec {name} ")
    description = _description(text)
    assert len(description.split()) >= 4, f"no real description:\n{text}"


@pytest.mark.parametrize("name", [_mark(n, NO_EXAMPLES, "--help has no example") for n in LEAVES])
def test_every_command_shows_an_example(name: str) -> None:
    text = _help(name)
    assert _examples(text, name), f"no line starting with `kapsec {name}` in:\n{text}"


@pytest.mark.parametrize("name", [n for n in LEAVES if n not in NO_EXAMPLES], ids=lambda n: n)
def test_examples_still_parse(name: str) -> None:
    cmd = dict(ALL)[name]
    for args in _examples(_help(name), name):
        try:
            cmd.make_context(f"kapsec {name}", list(args))
        except click.BadParameter as exc:
            # an example may name a file of the reader's machine
            if "does not exist" not in str(exc):
                pytest.fail(f"`kapsec {name} {shlex.join(args)}`: {exc}")
        except click.UsageError as exc:
            pytest.fail(f"`kapsec {name} {shlex.join(args)}` does not parse: {exc}")


def test_example_parsing_can_fail() -> None:
    """The parse check above is not vacuous: a stale option is caught."""
    cmd = dict(ALL)["harden"]
    with pytest.raises(click.UsageError, match="No such option '--no-such-option'"):
        cmd.make_context("kapsec harden", ["--root", "/", "--no-such-option"])
    assert _examples("  kapsec harden --root / --profile cis  # comment\n", "harden") == [
        ["--root", "/", "--profile", "cis"]
    ]


@pytest.mark.parametrize(
    "name", [_mark(n, OPTIONS_WITHOUT_HELP, "options without help text") for n in LEAVES]
)
def test_every_option_has_help(name: str) -> None:
    cmd = dict(ALL)[name]
    bare = [
        p.opts[-1]
        for p in cmd.params
        if isinstance(p, click.Option) and not p.hidden and not p.help and p.name != "help"
    ]
    assert bare == []
