"""rsvault backup files."""

from __future__ import annotations

from typing import Annotated

import typer

from rsvault.cli.progressbar import progress_bar
from rsvault.cli.render import show_one
from rsvault.cli.session import OutputFormat, OutputOption, PassphraseFileOption, begin
from rsvault.services.backups import run_files_backup

app = typer.Typer(help="Back up data now.", no_args_is_help=True)

EXIT_COMPLETED_WITH_WARNINGS = 3


@app.command()
def files(
    vault_name: Annotated[str, typer.Option("--vault-name", "-v", help="Vault to back up into.")],
    path: Annotated[list[str], typer.Option("--path", "-p", help="File or folder; repeatable.")],
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", "-e", help="Glob to leave out; repeatable.")
    ] = None,
    item_name: Annotated[
        str | None, typer.Option(help="Protected item name (default: this host's name).")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Back up files and folders into a vault; prints the job."""
    ctx = begin(output, passphrase_file)
    with progress_bar("backup") as progress:
        job = run_files_backup(ctx, vault_name, path, exclude or [], item_name, progress)
    show_one(job)
    if job.warnings:
        raise typer.Exit(EXIT_COMPLETED_WITH_WARNINGS)
