"""rsvault vault passphrase list|add|remove|change."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from rsvault.cli.render import show_list, show_one, stderr
from rsvault.cli.session import OutputFormat, OutputOption, PassphraseFileOption, begin
from rsvault.errors import Code, RsvaultError
from rsvault.services import passphrases

app = typer.Typer(
    help="Passphrases that open a vault. Changing them rewrites no data.", no_args_is_help=True
)

NameOption = Annotated[str, typer.Option("--name", "-n", help="Vault name.")]
NewPassphraseFile = Annotated[
    Path | None,
    typer.Option(help="File holding the new passphrase (else RSVAULT_NEW_PASSPHRASE)."),
]


def _new_passphrase(path: Path | None) -> str:
    if path is not None:
        try:
            return path.read_text("utf-8").rstrip("\r\n")
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise RsvaultError(
                Code.INVALID_ARGUMENT, argument="--new-passphrase-file", reason=reason
            ) from exc
    value = os.environ.get("RSVAULT_NEW_PASSPHRASE")
    if not value:
        raise RsvaultError(
            Code.INVALID_ARGUMENT,
            argument="--new-passphrase-file",
            reason="give the new passphrase in a file or in RSVAULT_NEW_PASSPHRASE",
        )
    return value


@app.command("list")
def list_(
    name: NameOption,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """List the key slots; `current` marks the one your passphrase opens."""
    ctx = begin(output, passphrase_file)
    show_list(passphrases.list_passphrases(ctx, name), ["name", "label", "created", "current"])


@app.command()
def add(
    name: NameOption,
    new_passphrase_file: NewPassphraseFile = None,
    label: Annotated[str, typer.Option(help="A note to tell slots apart.")] = "",
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Add another passphrase that opens the vault."""
    ctx = begin(output, passphrase_file)
    show_one(passphrases.add_passphrase(ctx, name, _new_passphrase(new_passphrase_file), label))


@app.command()
def remove(
    name: NameOption,
    slot: Annotated[str, typer.Option(help="Key slot name from `passphrase list`.")],
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Remove a passphrase (the last one cannot be removed)."""
    passphrases.remove_passphrase(begin(output, passphrase_file), name, slot)
    stderr().print(f"Key slot {slot} removed.")


@app.command()
def change(
    name: NameOption,
    new_passphrase_file: NewPassphraseFile = None,
    output: OutputOption = OutputFormat.TABLE,
    passphrase_file: PassphraseFileOption = None,
) -> None:
    """Replace the passphrase you opened the vault with by a new one."""
    ctx = begin(output, passphrase_file)
    show_one(passphrases.change_passphrase(ctx, name, _new_passphrase(new_passphrase_file)))
