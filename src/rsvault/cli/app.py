"""The `rsvault` entry point: groups shaped like `az backup`, and one error boundary."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

import click
import typer
from typer.core import TyperGroup

from rsvault.cli.render import show_error
from rsvault.core.limits import raise_open_files_limit
from rsvault.core.memory import tune_allocator, tune_collector
from rsvault.errors import Code, RsvaultError

# Each group's (or single command's) module is imported only when it runs: `rsvault job list`
# does not pay for libvirt, the files engine or the restore pipelines.
GROUPS: dict[str, str] = {  # command group → its module in rsvault.cli.commands
    "vault": "vault",
    "backup": "backup",
    "recoverypoint": "recoverypoint",
    "restore": "restore",
    "policy": "policy",
    "protection": "protection",
    "protectable-item": "protectableitem",
    "item": "item",
    "container": "container",
    "job": "job",
    "scheduler": "scheduler",
    "troubleshoot": "troubleshoot",
    "diagnose": "diagnose",
}
# Commands with no sub-commands: `rsvault diagnose --vault-name V`, not `rsvault diagnose run`.
# (A group with one sub-command, like `backup files`, must stay a group.)
SINGLE_COMMANDS = {"troubleshoot", "diagnose"}


class LazyGroups(TyperGroup):
    """Typer's own group (Typer bundles its click), with the groups loaded on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(GROUPS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in GROUPS:
            return None
        module = importlib.import_module(f"rsvault.cli.commands.{GROUPS[cmd_name]}")
        build = typer.main.get_command if cmd_name in SINGLE_COMMANDS else typer.main.get_group
        command = build(module.app)
        command.name = cmd_name
        return command


app = LazyGroups(
    name="rsvault",
    help="Self-hosted backup for virtual machines and Linux servers.",
    no_args_is_help=True,
)


# Exit codes scripts can rely on (restic's numbering where the meaning matches).
EXIT_FAILURE = 1
EXIT_USAGE = 2
# Usage errors come from Typer's bundled click (its ClickException is not exported by name)
# or from the click package that a command may raise from.
USAGE_ERRORS: tuple[type[Exception], ...] = (
    click.ClickException,
    *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"),
)
_EXIT_BY_CODE = {
    Code.VAULT_NOT_FOUND: 10,
    Code.VAULT_LOCKED: 11,
    Code.PASSPHRASE_INCORRECT: 12,
    Code.OPERATION_CANCELLED: 130,
}


def main() -> None:
    tune_allocator()
    tune_collector()
    raise_open_files_limit()
    try:
        # Without standalone mode click hands back the code of a typer.Exit instead of exiting.
        code = app.main(prog_name="rsvault", standalone_mode=False)
    except RsvaultError as error:
        show_error(error)
        sys.exit(_EXIT_BY_CODE.get(error.code, EXIT_FAILURE))
    except (click.exceptions.Exit, typer.Exit) as done:
        sys.exit(done.exit_code)
    except (click.exceptions.Abort, typer.Abort, KeyboardInterrupt):
        show_error(RsvaultError(Code.OPERATION_CANCELLED))
        sys.exit(130)
    except USAGE_ERRORS as usage:
        usage.show()  # type: ignore[attr-defined]
        sys.exit(EXIT_USAGE)
    except Exception as bug:  # a defect, still reported in the one shape scripts expect
        if os.environ.get("RSVAULT_DEBUG"):
            traceback.print_exc()
        show_error(RsvaultError(Code.INTERNAL_ERROR, reason=f"{type(bug).__name__}: {bug}"))
        sys.exit(EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) else 0)
