"""rsvault restore create-vm | replace-disks | files mount-rp|unmount-rp|list|extract.

`register(app, files_default)` adds these to the `restore` group. `restore files` becomes a
group of its own whose default (no sub-command) is the files-and-folders restore it has
always been, so `rsvault restore files --vault-name V --rp-name RP --target DIR` still works.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from rsvault.cli.progressbar import progress_bar
from rsvault.cli.render import show_list, show_one, stdout
from rsvault.cli.session import CURRENT, OutputFormat, OutputOption, PassphraseFileOption, begin
from rsvault.services.vmfilerecovery import list_files, run_extract_files
from rsvault.services.vmmounts import MOUNT_HOURS, MountRequest, MountView, mount_rp, unmount_rp

VaultOption = Annotated[str, typer.Option("--vault-name", "-v", help="Vault name.")]
ItemOption = Annotated[
    str, typer.Option("--item-name", "-i", help="The VM's item (its domain name).")
]
RpOption = Annotated[str, typer.Option("--rp-name", "-r", help="Recovery point name.")]
VolumeOption = Annotated[
    str | None,
    typer.Option(
        "--volume", help="vda for a file system on the whole disk, vda1 for partition 1. "
        "Default: the one ext2/3/4 volume of the point."
    ),
]  # fmt: skip

files_app = typer.Typer(
    help="Files of a recovery point: restore them (files items), or mount a VM's point "
    "read-only and list or extract its files.",
)


def register(app: typer.Typer, files_default: Callable[..., None]) -> None:
    """Add the VM restores to `app`; `files_default` runs for `restore files` alone."""
    app.command("create-vm")(create_vm)
    app.command("replace-disks")(replace_disks)
    files_app.callback(invoke_without_command=True)(files_default)
    app.add_typer(files_app, name="files")


def create_vm(
    vault_name: VaultOption,
    item_name: ItemOption,
    rp_name: RpOption,
    vm_name: Annotated[str, typer.Option("--vm-name", help="Name of the new VM.")],
    network: Annotated[
        str | None,
        typer.Option("--network", help="libvirt network for every network interface."),
    ] = None,
    target_dir: Annotated[
        Path | None,
        typer.Option(
            "--target-dir",
            help="Folder for the new disks (QEMU must be able to read it). "
            "Default: libvirt's default pool, /var/lib/libvirt/images.",
        ),
    ] = None,
    start: Annotated[bool, typer.Option("--start", help="Start the VM once defined.")] = False,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Create a new VM from a recovery point: new disks, new UUID and MAC addresses."""
    # libvirt loads for the verbs that talk to a hypervisor, not for every restore
    from rsvault.services.vmrecreate import CreateVmOptions, run_create_vm

    ctx = begin(output, passphrase_file)
    options = CreateVmOptions(vm_name, network, target_dir, start)
    with progress_bar("restore") as progress:
        job = run_create_vm(ctx, vault_name, item_name, rp_name, options, progress)
    show_one(job)
    if CURRENT.output is OutputFormat.TABLE and not start:
        stdout().print(f"{vm_name} is defined but not started: virsh start {vm_name}")


def replace_disks(
    vault_name: VaultOption,
    item_name: ItemOption,
    rp_name: RpOption,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Replace the disks of a shut-off VM with the recovery point's; the old files are kept."""
    from rsvault.services.vmrecreate import run_replace_disks  # libvirt loads here only

    ctx = begin(output, passphrase_file)
    with progress_bar("restore") as progress:
        job = run_replace_disks(ctx, vault_name, item_name, rp_name, progress)
    show_one(job)


@files_app.command("mount-rp")
def mount(
    vault_name: VaultOption,
    item_name: ItemOption,
    rp_name: RpOption,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Where the disks are restored (default: RSVAULT_HOME)."),
    ] = None,
    hours: Annotated[
        float, typer.Option("--hours", help="Unmount by itself after this many hours (max 12).")
    ] = MOUNT_HOURS,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Expose the point's disks read-only over NBD, to mount their file systems."""
    ctx = begin(output, passphrase_file)
    with progress_bar("restore") as progress:
        request = MountRequest(vault_name, item_name, rp_name, cache_dir, hours)
        view = mount_rp(ctx, request, progress)
    _show_mount(view)


@files_app.command("unmount-rp")
def unmount(
    vault_name: VaultOption,
    item_name: ItemOption,
    rp_name: RpOption,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Stop the NBD exports of a mounted point and remove its restored disks."""
    ctx = begin(output)
    view = unmount_rp(ctx, vault_name, item_name, rp_name)
    _show_mount(view, unmounted=True)


@files_app.command("list")
def list_(
    vault_name: VaultOption,
    item_name: ItemOption,
    rp_name: RpOption,
    path: Annotated[str, typer.Option("--path", "-p", help="Folder or file in the guest.")] = "/",
    volume: VolumeOption = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-R", help="Everything below.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List files of a mounted point (ext2/3/4), without mounting anything on this host."""
    ctx = begin(output)
    entries = list_files(ctx, vault_name, item_name, rp_name, path, volume, recursive)
    show_list(entries, ["path", "type", "size", "mode", "uid", "gid"])


@files_app.command("extract")
def extract(
    vault_name: VaultOption,
    item_name: ItemOption,
    rp_name: RpOption,
    target_dir: Annotated[
        Path, typer.Option("--target-dir", "-t", help="Files land at DIR/<path in the guest>.")
    ],
    path: Annotated[
        list[str] | None, typer.Option("--path", "-p", help="File or folder; repeatable.")
    ] = None,
    volume: VolumeOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Copy files out of a mounted point (ext2/3/4); nothing in DIR is overwritten."""
    ctx = begin(output)
    job = run_extract_files(ctx, vault_name, item_name, rp_name, path or [], target_dir, volume)
    show_one(job)


def _show_mount(view: MountView, unmounted: bool = False) -> None:
    body: dict[str, Any] = view.as_dict()
    if CURRENT.output is OutputFormat.JSON:
        print(json.dumps(body, indent=2, default=str))
        return
    if unmounted:
        stdout().print(f"Unmounted {view.rp_name} of {view.item}.", highlight=False)
        return
    stdout().print(
        f"{view.rp_name} of {view.item} is mounted read-only until {view.expires_at}.",
        highlight=False,
    )
    for disk in view.disks:
        volumes = ", ".join(f"{v['name']} ({v['filesystem'] or 'unknown'})" for v in disk.volumes)
        stdout().print(
            f"  {disk.target}: {disk.uri}  volumes: {volumes or 'none'}", highlight=False
        )
    stdout().print("To mount a volume on this host (as root):", highlight=False)
    for line in body["attach"]:
        stdout().print(f"  {line}", highlight=False, markup=False)
