"""rsvault protectable-item list."""

from __future__ import annotations

import typer

from rsvault.cli.options import VaultNameOption
from rsvault.cli.render import show_list
from rsvault.cli.session import OutputFormat, OutputOption, begin
from rsvault.services import hypervisors

app = typer.Typer(help="VMs on registered hosts that are not protected yet.", no_args_is_help=True)


@app.command("list")
def list_(vault_name: VaultNameOption, output: OutputOption = OutputFormat.TABLE) -> None:
    """List the domains of the vault's libvirt hosts that no item protects yet."""
    views = hypervisors.protectable_items(begin(output), vault_name)
    show_list(
        views, ["name", "container", "state", "vcpus", "memoryMib", "guestAgentChannel", "disks"]
    )
