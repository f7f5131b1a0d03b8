"""rsvault diagnose --vault-name V [--item-name I] [--test-freeze]."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from rsvault.cli.advice import print_checks
from rsvault.cli.options import VaultNameOption
from rsvault.cli.render import stdout
from rsvault.cli.session import (
    CURRENT,
    LanguageOption,
    OutputFormat,
    OutputOption,
    PassphraseFileOption,
    begin,
    language,
)
from rsvault.services.diagnose import diagnose as run_diagnose

app = typer.Typer(
    help="Run the preflight checks for a vault or one of its items.", add_completion=False
)

EXIT_CHECK_FAILED = 1


@app.command()
def diagnose(
    vault_name: VaultNameOption,
    item_name: Annotated[
        str | None, typer.Option("--item-name", "-i", help="The protected item (VM or files).")
    ] = None,
    test_freeze: Annotated[
        bool,
        typer.Option("--test-freeze", help="For a VM: freeze its file systems once, then thaw."),
    ] = False,
    lang: LanguageOption = None,
    passphrase_file: PassphraseFileOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Each check in the documented order: pass, warn or fail, with its code and what to do.

    Exits 1 when a check failed.
    """
    ctx = begin(output, passphrase_file, lang)
    view = run_diagnose(ctx, vault_name, item_name, test_freeze=test_freeze, language=language())
    if CURRENT.output is OutputFormat.JSON:
        print(json.dumps(view.as_dict(), ensure_ascii=False, indent=2))
    else:
        stdout().print(f"[bold]{view.kind} {view.name}[/bold] ({view.vault_name})", highlight=False)
        print_checks(view.checks)
    if view.first_failure is not None:
        raise typer.Exit(EXIT_CHECK_FAILED)
