"""The command line: parse arguments, call the core, pick a reporter, map outcomes to exit codes.

Command groups live in one module each and are imported only when used, so that
``kapsec scan`` does not pay for the Kubernetes client or pySigma at start-up.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

import click

from kapsec import __version__
from kapsec.errors import KapsecError

# command name -> (module under kapsec.cli, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "lab": ("lab", "lab", "Build a realistic control-plane tree to try kapsec on."),
    "scan": ("scan", "scan", "Scan an API server's configuration against the checklist and CIS."),
    "checks": ("checks", "checks", "List the check catalog and explain each check."),
    "harden": ("harden", "harden", "Apply the hardening guide to a control plane, safely."),
    "audit-policy": ("auditpolicy", "audit_policy", "Lint, explain, simulate and generate audit policies."),
    "audit-log": ("auditlog", "audit_log", "Query, summarise and run detections over audit logs."),
    "rbac": ("rbac", "rbac", "Exact RBAC answers: can-i, who-can, risks, matrix."),
    "tls": ("tls", "tls", "Inspect certificates and keys; probe a live TLS endpoint."),
    "encryption": ("encryption", "encryption", "Encryption at rest: generate, lint, rotate, verify in etcd."),
    "pss": ("pss", "pss", "Pod Security Standards: check, simulate a rollout, admission config."),
    "netpol": ("netpol", "netpol", "NetworkPolicy coverage and default-deny generation."),
    "snapshot": ("snapshot", "snapshot", "Collect cluster objects into a file for offline analysis."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        try:
            module = importlib.import_module(f"kapsec.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"kapsec.cli.{module_name}":
                return None
            raise
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KapsecError as exc:
            click.echo(f"kapsec: error: {exc}", err=True)
            ctx.exit(2)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("kapsec: interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): nothing more to say.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(0)
        except Exception as exc:  # the last line of defence: never a bare traceback
            if os.environ.get("KAPSEC_DEBUG"):
                traceback.print_exc()
            click.echo(
                f"kapsec: internal error: {type(exc).__name__}: {exc}\n"
                "  (set KAPSEC_DEBUG=1 for the traceback, and please report it)",
                err=True,
            )
            ctx.exit(2)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="kapsec")
def cli() -> None:
    """kapsec secures the Kubernetes API server: it reads a control plane as it is, says exactly
    what is weak and why, writes the hardened configuration safely, and watches what the API
    server records.

    \b
    Examples:
      kapsec lab init ./node && kapsec scan --root ./node
      kapsec scan --root / --benchmark cis-1.12 -o sarif > scan.sarif
      kapsec harden --root /
      kapsec audit-log detect /var/log/kubernetes/audit/
      kapsec rbac who-can get secrets -n kube-system --from rbac-dump.json

    \b
    Exit codes: 0 no failed finding at or above --fail-on; 1 failed findings at or above it;
                2 usage, input or internal error.
    Machine output goes to stdout, human notes to stderr.
    """


def main() -> None:
    cli(prog_name="kapsec")
