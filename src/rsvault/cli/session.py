"""Per-invocation choices shared by every command: output format, language, passphrase."""

from __future__ import annotations

import locale
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from rsvault.core.passphrase import passphrase_in, read_passphrase_file
from rsvault.errors import Code, RsvaultError
from rsvault.services.context import ServiceContext


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", envvar="RSVAULT_OUTPUT", help="table or json."),
]
PassphraseFileOption = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="Read the vault passphrase from this file (else RSVAULT_PASSPHRASE).",
    ),
]


class Language(StrEnum):
    EN = "en"
    ZH_CN = "zh-CN"
    ZH_TW = "zh-TW"


LanguageOption = Annotated[
    Language | None,
    typer.Option("--lang", help="en, zh-CN or zh-TW (default: RSVAULT_LANG, else the locale)."),
]


def language() -> str:
    """--lang, else RSVAULT_LANG, else the locale; English when none says Chinese."""
    if CURRENT.language is not None:
        return CURRENT.language.value
    chosen = os.environ.get("RSVAULT_LANG") or locale.getlocale()[0] or os.environ.get("LANG", "")
    chosen = chosen.replace("_", "-")
    if chosen.lower().startswith(("zh-tw", "zh-hk", "zh-hant")):
        return "zh-TW"
    if chosen.lower().startswith("zh"):
        return "zh-CN"
    return "en"


@dataclass
class Session:
    output: OutputFormat = OutputFormat.TABLE
    passphrase_file: Path | None = None
    language: Language | None = None

    def context(self) -> ServiceContext:
        return ServiceContext.from_environment(passphrase_source=self._passphrase)

    def _passphrase(self) -> str | None:
        if self.passphrase_file is None:
            return passphrase_in(os.environ)
        try:
            return read_passphrase_file(self.passphrase_file)
        except OSError as exc:
            raise RsvaultError(
                Code.INVALID_ARGUMENT, argument="--passphrase-file", reason=exc.strerror or str(exc)
            ) from exc


CURRENT = Session()


def begin(
    output: OutputFormat, passphrase_file: Path | None = None, lang: Language | None = None
) -> ServiceContext:
    """Called first by every command: remembers its choices for rendering errors too."""
    CURRENT.output = output
    CURRENT.passphrase_file = passphrase_file
    CURRENT.language = lang
    return CURRENT.context()
