"""rsvault protection enable-for-files|enable-for-vm|check-vm|backup-now|disable|resume|undelete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rsvault.cli.options import ItemNameOption, VaultNameOption, YesOption, parse_day
from rsvault.cli.progressbar import progress_bar
from rsvault.cli.render import show_one
from rsvault.cli.session import OutputFormat, OutputOption, PassphraseFileOption, begin
from rsvault.errors import Code, RsvaultError
from rsvault.services import protection
from rsvault.services.vmsettings import MAX_DISK_SIZE, TRANSFER_TIMEOUT_S

app = typer.Typer(help="Protect items with a policy, back up now, stop, resume.")

EXIT_COMPLETED_WITH_WARNINGS = 3
PolicyNameOption = Annotated[str, typer.Option("--policy-name", "-p", help="Backup policy.")]


@app.command("enable-for-files")
def enable_for_files(
    vault_name: VaultNameOption,
    policy_name: PolicyNameOption,
    path: Annotated[list[str], typer.Option("--path", help="Folder or file; repeatable.")],
    item_name: Annotated[
        str | None, typer.Option("--item-name", "-i", help="Item name (default: host name).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", "-e", help="Glob to leave out; repeatable.")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Protect files and folders of this machine; prints the ConfigureBackup job."""
    ctx = begin(output)
    show_one(
        protection.enable_for_files(ctx, vault_name, policy_name, path, item_name, exclude or [])
    )


VmOption = Annotated[str, typer.Option("--vm", help="Domain name on a registered libvirt host.")]


@app.command("check-vm")
def check_vm(
    vault_name: VaultNameOption, vm: VmOption, output: OutputOption = OutputFormat.TABLE
) -> None:
    """Is this VM protected (and by which vault), and what will its backups be like?"""
    from rsvault.services import vmprotection  # libvirt loads for the VM verbs only

    show_one(vmprotection.check_vm(begin(output), vault_name, vm))


@app.command("enable-for-vm")
def enable_for_vm(
    vault_name: VaultNameOption,
    vm: VmOption,
    policy_name: PolicyNameOption,
    disk_list_setting: Annotated[
        str | None,
        typer.Option(help="include: back up only the disks of --diskslist; exclude: all but them."),
    ] = None,
    diskslist: Annotated[
        list[str] | None, typer.Option("--diskslist", help="Disk target (vda...); repeatable.")
    ] = None,
    container_name: Annotated[
        str | None, typer.Option(help="Host to look on (default: every registered host).")
    ] = None,
    fsfreeze: Annotated[
        bool, typer.Option(help="Freeze the guest's file systems around the checkpoint.")
    ] = True,
    mounts_to_skip: Annotated[
        list[str] | None,
        typer.Option("--mount-to-skip", help="Guest mount not to freeze; repeatable."),
    ] = None,
    safe_freeze_wait: Annotated[
        int | None, typer.Option(help="Seconds a freeze may last before it is undone.")
    ] = None,
    pre_script: Annotated[
        str | None, typer.Option(help="Script in the guest run before the freeze.")
    ] = None,
    pre_script_param: Annotated[
        list[str] | None, typer.Option(help="Argument; repeatable.")
    ] = None,
    post_script: Annotated[
        str | None, typer.Option(help="Script in the guest run after the thaw.")
    ] = None,
    post_script_param: Annotated[
        list[str] | None, typer.Option(help="Argument; repeatable.")
    ] = None,
    script_retries: Annotated[
        int | None, typer.Option(help="Extra tries of a failing script.")
    ] = None,
    script_timeout: Annotated[
        int | None, typer.Option(help="Seconds a script may run (≤ 1800).")
    ] = None,
    continue_on_failure: Annotated[
        bool,
        typer.Option(help="On agent, freeze or script failure take a less consistent point."),
    ] = True,
    script_config: Annotated[
        Path | None,
        typer.Option(
            help="Azure's VMSnapshotScriptPluginConfig.json to take the script settings from."
        ),
    ] = None,
    max_disk_size_gb: Annotated[
        int | None, typer.Option(help="Refuse disks larger than this.")
    ] = None,
    transfer_timeout_minutes: Annotated[
        float | None, typer.Option(help="Fail a transfer that takes longer (default 12 h).")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Protect a VM of a registered libvirt host; prints the ConfigureBackup job."""
    from rsvault.services import vmprotection  # libvirt loads for the VM verbs only

    ctx = begin(output)
    consistency = vmprotection.consistency_options(
        script_config,
        fsfreeze_enabled=fsfreeze,
        mounts_to_skip=mounts_to_skip,
        safe_freeze_wait_s=safe_freeze_wait,
        pre_script=pre_script,
        pre_params=pre_script_param,
        post_script=post_script,
        post_params=post_script_param,
        pre_retries=script_retries,
        post_retries=script_retries,
        timeout_s=script_timeout,
        continue_on_failure=continue_on_failure,
    )
    options = vmprotection.VmProtectionOptions(
        disk_setting=disk_list_setting,
        disk_list=diskslist or [],
        container=container_name,
        consistency=consistency,
        max_disk_size=(max_disk_size_gb << 30) if max_disk_size_gb else MAX_DISK_SIZE,
        transfer_timeout_s=(transfer_timeout_minutes * 60)
        if transfer_timeout_minutes
        else TRANSFER_TIMEOUT_S,
    )
    show_one(vmprotection.enable_for_vm(ctx, vault_name, vm, policy_name, options))


@app.command("backup-now")
def backup_now(
    vault_name: VaultNameOption,
    item_name: ItemNameOption,
    retain_until: Annotated[
        str | None,
        typer.Option(help="Keep the recovery point until this day (DD-MM-YYYY; default 30 days)."),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Back up a protected item now; prints the job when it ends."""
    ctx = begin(output, passphrase_file)
    until = parse_day(retain_until, "--retain-until") if retain_until else None
    with progress_bar("backup") as progress:
        job = protection.backup_now(ctx, vault_name, item_name, until, progress)
    show_one(job)
    if job.warnings:
        raise typer.Exit(EXIT_COMPLETED_WITH_WARNINGS)


@app.command()
def disable(
    vault_name: VaultNameOption,
    item_name: ItemNameOption,
    delete_backup_data: Annotated[
        bool, typer.Option(help="Delete its recovery points (kept in soft delete first).")
    ] = False,
    retain_as_per_policy: Annotated[
        bool, typer.Option(help="Keep recovery points until the policy expires them.")
    ] = False,
    yes: YesOption = False,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Stop protecting an item. Without a flag its recovery points are kept until deleted."""
    ctx = begin(output, passphrase_file)
    if not yes:
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="--yes", reason="stopping protection needs --yes"
        )
    show_one(
        protection.disable(
            ctx,
            vault_name,
            item_name,
            delete_backup_data=delete_backup_data,
            retain_as_per_policy=retain_as_per_policy,
        )
    )


@app.command()
def resume(
    vault_name: VaultNameOption,
    item_name: ItemNameOption,
    policy_name: Annotated[
        str | None, typer.Option("--policy-name", "-p", help="Policy (default: its last one).")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Resume protection of a stopped item."""
    show_one(protection.resume(begin(output), vault_name, item_name, policy_name))


@app.command()
def undelete(
    vault_name: VaultNameOption,
    item_name: ItemNameOption,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Bring a soft-deleted item back (stopped, data kept); then resume it."""
    show_one(protection.undelete(begin(output), vault_name, item_name))
