"""rsvault item list|show|set-policy."""

from __future__ import annotations

from typing import Annotated

import typer

from rsvault.cli.advice import print_advice
from rsvault.cli.options import VaultNameOption
from rsvault.cli.render import show_list, show_one
from rsvault.cli.session import (
    CURRENT,
    LanguageOption,
    OutputFormat,
    OutputOption,
    begin,
    language,
)
from rsvault.services import items

app = typer.Typer(help="Protected items.", no_args_is_help=True)

ItemOption = Annotated[str, typer.Option("--name", "-n", help="Protected item name.")]
_COLUMNS = [
    "name",
    "kind",
    "policy",
    "protectionState",
    "lastBackupStatus",
    "lastBackupTime",
    "nextRun",
    "recoveryPoints",
]


@app.command("list")
def list_(vault_name: VaultNameOption, output: OutputOption = OutputFormat.TABLE) -> None:
    """List the items of a vault with their protection state."""
    show_list(items.list_items(begin(output), vault_name), _COLUMNS)


@app.command()
def show(
    vault_name: VaultNameOption,
    name: ItemOption,
    lang: LanguageOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show one item; one in ProtectionError also says what failed and what to run."""
    view = items.show_item(begin(output, lang=lang), vault_name, name, language())
    show_one(view, skip=("advice",))
    if CURRENT.output is OutputFormat.TABLE and view.advice:
        print_advice([view.advice])


@app.command("set-policy")
def set_policy(
    vault_name: VaultNameOption,
    name: ItemOption,
    policy_name: Annotated[str, typer.Option("--policy-name", "-p", help="The new policy.")],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Move an item to another policy of its vault; prints the ConfigureBackup job."""
    show_one(items.set_item_policy(begin(output), vault_name, name, policy_name))
