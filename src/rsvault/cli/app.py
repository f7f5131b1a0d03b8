"""The `rsvault` entry point: groups shaped like `az backup`, and one error boundary."""

from __future__ import annotations

import os
import sys
import traceback

import click
import typer

from rsvault.cli.commands import (
    backup,
    container,
    item,
    job,
    policy,
    protectableitem,
    protection,
    recoverypoint,
    restore,
    scheduler,
    vault,
)
from rsvault.cli.memory import tune_allocator
from rsvault.cli.render import show_error
from rsvault.errors import Code, RsvaultError

app = typer.Typer(
    name="rsvault",
    help="Self-hosted backup for virtual machines and Linux servers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(vault.app, name="vault")
app.add_typer(backup.app, name="backup")
app.add_typer(recoverypoint.app, name="recoverypoint")
app.add_typer(restore.app, name="restore")
app.add_typer(policy.app, name="policy")
app.add_typer(protection.app, name="protection")
app.add_typer(item.app, name="item")
app.add_typer(container.app, name="container")
app.add_typer(protectableitem.app, name="protectable-item")
app.add_typer(job.app, name="job")
app.add_typer(scheduler.app, name="scheduler")

# Exit codes scripts can rely on (restic's numbering where the meaning matches).
EXIT_FAILURE = 1
EXIT_USAGE = 2
_EXIT_BY_CODE = {
    Code.VAULT_NOT_FOUND: 10,
    Code.VAULT_LOCKED: 11,
    Code.PASSPHRASE_INCORRECT: 12,
    Code.OPERATION_CANCELLED: 130,
}


def main() -> None:
    tune_allocator()
    try:
        # Without standalone mode click hands back the code of a typer.Exit instead of exiting.
        code = app(standalone_mode=False)
    except RsvaultError as error:
        show_error(error)
        sys.exit(_EXIT_BY_CODE.get(error.code, EXIT_FAILURE))
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        show_error(RsvaultError(Code.OPERATION_CANCELLED))
        sys.exit(130)
    except click.ClickException as usage:
        usage.show()
        sys.exit(EXIT_USAGE)
    except Exception as bug:  # a defect, still reported in the one shape scripts expect
        if os.environ.get("RSVAULT_DEBUG"):
            traceback.print_exc()
        show_error(RsvaultError(Code.INTERNAL_ERROR, reason=f"{type(bug).__name__}: {bug}"))
        sys.exit(EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) else 0)
