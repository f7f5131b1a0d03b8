"""The error catalog: one JSON file in the package, texts in en, zh-CN and zh-TW."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES = ("en", "zh-CN", "zh-TW")
DEFAULT_LANGUAGE = "en"


class _KeepMissing(dict[str, object]):
    """Leaves an unknown {placeholder} as it is rather than failing while reporting a failure."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class CatalogEntry:
    code: str
    azure_id: str | None
    category: str
    raised: bool
    title: dict[str, str]
    message: dict[str, str]
    causes: dict[str, tuple[str, ...]]
    actions: dict[str, tuple[str, ...]]
    related: tuple[str, ...]

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
    )


@cache
def catalog() -> dict[str, CatalogEntry]:
    text = resources.files("rsvault.errors").joinpath("catalog.json").read_text("utf-8")
    return {code: _entry(code, raw) for code, raw in json.loads(text)["codes"].items()}


def lookup(code: str) -> CatalogEntry:
    """The entry for a code; an unknown code is a bug, reported as InternalError."""
    entries = catalog()
    return entries.get(code) or entries["InternalError"]
