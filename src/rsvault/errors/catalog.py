"""The error catalog: one JSON file in the package, texts in en, zh-CN and zh-TW."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from functools import cache
from typing import Any

LANGUAGES = ("en", "zh-CN", "zh-TW")
DEFAULT_LANGUAGE = "en"


class _KeepMissing(dict[str, object]):
    """Leaves an unknown {placeholder} as it is rather than failing while reporting a failure."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class CatalogEntry:
    """One code: its texts in every language, and whether rsvault raises it or only explains it.

    A lookup-only entry is one of Azure's codes whose condition cannot arise here (VSS, COM+,
    BitLocker, ...): `lookup_only` says why and what the nearest thing on a Linux guest is, and
    `equivalent` names the code rsvault raises for that nearest condition, if there is one.
    """

    code: str
    azure_id: str | None
    category: str
    raised: bool
    title: dict[str, str]
    message: dict[str, str]
    causes: dict[str, tuple[str, ...]]
    actions: dict[str, tuple[str, ...]]
    related: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    raised_in: tuple[str, ...] = ()
    lookup_only: dict[str, str] = field(default_factory=dict)
    equivalent: str | None = None
    keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)
    extension_status: tuple[int, ...] = ()

    def render_message(self, language: str, params: dict[str, object]) -> str:
        template = self.message.get(language) or self.message[DEFAULT_LANGUAGE]
        return string.Formatter().vformat(template, (), _KeepMissing(params))

    def causes_in(self, language: str) -> tuple[str, ...]:
        return self.causes.get(language) or self.causes[DEFAULT_LANGUAGE]

    def actions_in(self, language: str) -> tuple[str, ...]:
        return self.actions.get(language) or self.actions[DEFAULT_LANGUAGE]


def _entry(code: str, raw: dict[str, Any]) -> CatalogEntry:
    return CatalogEntry(
        code=code,
        azure_id=raw.get("azureId"),
        category=raw["category"],
        raised=raw.get("raised", True),
        title=dict(raw["title"]),
        message=dict(raw["message"]),
        causes={lang: tuple(v) for lang, v in raw["causes"].items()},
        actions={lang: tuple(v) for lang, v in raw["actions"].items()},
        related=tuple(raw.get("related", ())),
        aliases=tuple(raw.get("aliases", ())),
        raised_in=tuple(raw.get("raisedIn", ())),
        lookup_only=dict(raw.get("lookupOnly") or {}),
        equivalent=raw.get("equivalent"),
        keywords={lang: tuple(v) for lang, v in (raw.get("keywords") or {}).items()},
        extension_status=tuple(raw.get("extensionStatus", ())),
    )


@cache
def _document() -> dict[str, Any]:
    # Imported here: importlib.resources brings tempfile, shutil and the compression modules,
    # which a worker process that never fails would load for nothing.
    from importlib import resources

    text = resources.files("rsvault.errors").joinpath("catalog.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def catalog() -> dict[str, CatalogEntry]:
    return {code: _entry(code, raw) for code, raw in _document()["codes"].items()}


@cache
def operations() -> dict[str, dict[str, str]]:
    """Where a raised code can come from: operation key -> its name in each language."""
    return {key: dict(names) for key, names in _document()["operations"].items()}


def lookup(code: str) -> CatalogEntry:
    """The entry for a code; an unknown code is a bug, reported as InternalError."""
    entries = catalog()
    return entries.get(code) or entries["InternalError"]
