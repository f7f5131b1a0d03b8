"""rsvault container register|list|update."""

from __future__ import annotations

from typing import Annotated

import typer

from rsvault.cli.options import VaultNameOption
from rsvault.cli.render import show_list, show_one
from rsvault.cli.session import OutputFormat, OutputOption, begin
from rsvault.services import containers, hypervisors

app = typer.Typer(help="Machines whose data a vault protects.", no_args_is_help=True)


@app.command()
def register(
    vault_name: VaultNameOption,
    libvirt_uri: Annotated[
        str, typer.Option("--libvirt-uri", help="libvirt URI of the host, e.g. qemu:///system.")
    ],
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Container name (default: host name).")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Register a KVM/QEMU host through libvirt, so its VMs can be protected."""
    show_one(hypervisors.register_container(begin(output), vault_name, libvirt_uri, name))


@app.command("list")
def list_(vault_name: VaultNameOption, output: OutputOption = OutputFormat.TABLE) -> None:
    """List the containers of a vault."""
    views = containers.list_containers(begin(output), vault_name)
    show_list(views, ["name", "kind", "uri", "items", "maxConcurrentBackups", "registered"])


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
