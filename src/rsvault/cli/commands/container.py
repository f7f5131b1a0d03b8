"""rsvault container list|update."""

from __future__ import annotations

from typing import Annotated

import typer

from rsvault.cli.options import VaultNameOption
from rsvault.cli.render import show_list, show_one
from rsvault.cli.session import OutputFormat, OutputOption, begin
from rsvault.services import containers

app = typer.Typer(help="Machines whose data a vault protects.", no_args_is_help=True)


@app.command("list")
def list_(vault_name: VaultNameOption, output: OutputOption = OutputFormat.TABLE) -> None:
    """List the containers of a vault."""
    views = containers.list_containers(begin(output), vault_name)
    show_list(views, ["name", "kind", "items", "maxConcurrentBackups", "registered"])


@app.command()
def update(
    vault_name: VaultNameOption,
    name: Annotated[str, typer.Option("--name", "-n", help="Container name.")],
    max_concurrent_backups: Annotated[
        int, typer.Option(help="Scheduled backups that may run at once on this machine.")
    ],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Change a container's concurrency cap."""
    ctx = begin(output)
    show_one(containers.update_container(ctx, vault_name, name, max_concurrent_backups))
