"""rsvault restore files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rsvault.cli.progressbar import progress_bar
from rsvault.cli.render import show_one
from rsvault.cli.session import OutputFormat, OutputOption, PassphraseFileOption, begin
from rsvault.services.restores import run_files_restore

app = typer.Typer(help="Restore from recovery points.", no_args_is_help=True)


@app.command()
def files(
    vault_name: Annotated[str, typer.Option("--vault-name", "-v", help="Vault name.")],
    rp_name: Annotated[str, typer.Option("--rp-name", "-r", help="Recovery point name.")],
    target: Annotated[
        Path,
        typer.Option(
            "--target",
            "-t",
            help="Folder to restore into; files land at TARGET/<original path>. "
            "Use / to restore to the original location.",
        ),
    ],
    path: Annotated[
        list[str] | None,
        typer.Option("--path", "-p", help="Original path to restore (file or folder); repeatable."),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Restore all or part of a recovery point; every chunk is verified before it is written."""
    ctx = begin(output, passphrase_file)
    with progress_bar("restore") as progress:
        job = run_files_restore(ctx, vault_name, rp_name, target, path or [], progress)
    show_one(job)
