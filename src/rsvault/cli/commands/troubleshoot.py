"""rsvault troubleshoot CODE | --message TEXT | list [--category C]."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from rsvault.cli.advice import print_entry
from rsvault.cli.render import show_list, stdout
from rsvault.cli.session import (
    CURRENT,
    LanguageOption,
    OutputFormat,
    OutputOption,
    begin,
    language,
)
from rsvault.errors import Code, RsvaultError
from rsvault.services import troubleshoot
from rsvault.services.views import TroubleshootView

app = typer.Typer(
    help="Explain an error: by its code, or from a pasted message.", add_completion=False
)

_LIST = "list"


@app.command()
def troubleshoot_(
    code: Annotated[
        str | None,
        typer.Argument(
            metavar="CODE|list",
            help="An error code, Azure id or alias; or `list` for the whole catalog.",
        ),
    ] = None,
    message: Annotated[
        str | None,
        typer.Option("--message", "-m", help="A pasted error message, ours or Azure's."),
    ] = None,
    category: Annotated[str | None, typer.Option(help="With `list`: only this category.")] = None,
    lang: LanguageOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Causes in order and what to do, for a code or a pasted message, in en, zh-CN or zh-TW."""
    begin(output, lang=lang)
    if code == _LIST:
        show_list(troubleshoot.list_entries(category, language()), ["name", "category", "title"])
        return
    if category is not None:
        raise RsvaultError(Code.INVALID_ARGUMENT, argument="--category", reason="only with list")
    if (code is None) == (message is None):
        raise RsvaultError(
            Code.INVALID_ARGUMENT, argument="CODE", reason="give a code or --message, not both"
        )
    if code is not None:
        _show([troubleshoot.entry_for_code(code, language())], single=True)
    else:
        _show(troubleshoot.entries_for_message(message or "", language()), single=False)


def _show(views: list[TroubleshootView], *, single: bool) -> None:
    if CURRENT.output is OutputFormat.JSON:
        data = [v.as_dict() for v in views]
        print(json.dumps(data[0] if single else data, ensure_ascii=False, indent=2))
        return
    for number, view in enumerate(views):
        if number:
            stdout().print()
        print_entry(view.as_dict())
