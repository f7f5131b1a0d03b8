"""`troubleshoot`: a code, or a pasted message, to its catalog entry in the user's language."""

from __future__ import annotations

from collections.abc import Mapping

from rsvault.diagnose import lookup
from rsvault.diagnose.matcher import match_message
from rsvault.errors import CatalogEntry, Code, RsvaultError, catalog, operations
from rsvault.services.views import CatalogEntryView, TroubleshootView


def entry_for_code(code: str, language: str) -> TroubleshootView:
    entry = lookup.find(code)
    if entry is None:
        closest = ", ".join(lookup.closest(code)) or "-"
        raise RsvaultError(Code.ERROR_CODE_UNKNOWN, code=code, closest=closest)
    return entry_view(entry, language)


def entries_for_message(text: str, language: str, limit: int = 3) -> list[TroubleshootView]:
    """The likeliest entries for a pasted message, best first."""
    matches = match_message(text, limit)
    if not matches:
        raise RsvaultError(Code.TROUBLESHOOT_NO_MATCH, text=_shortened(text))
    views = []
    for match in matches:
        view = entry_view(catalog()[match.code], language)
        view.match = {"how": match.how, "score": match.score}
        views.append(view)
    return views


def list_entries(category: str | None = None, language: str = "en") -> list[CatalogEntryView]:
    entries = sorted(catalog().values(), key=lambda e: (e.category, e.code))
    if category is not None:
        _known_category(category)
        entries = [e for e in entries if e.category == category]
    return [
        CatalogEntryView(
            name=e.code,
            category=e.category,
            title=_text(e.title, language),
            raised=e.raised,
            azure_id=e.azure_id,
        )
        for e in entries
    ]


def categories() -> list[str]:
    return sorted({e.category for e in catalog().values()})


def entry_view(entry: CatalogEntry, language: str) -> TroubleshootView:
    names = operations()
    return TroubleshootView(
        name=entry.code,
        title=_text(entry.title, language),
        category=entry.category,
        message=_text(entry.message, language),
        causes=list(entry.causes_in(language)),
        actions=list(entry.actions_in(language)),
        raised=entry.raised,
        azure_id=entry.azure_id,
        aliases=list(entry.aliases),
        raised_in=[_text(names[key], language) if key in names else key for key in entry.raised_in],
        lookup_only=_text(entry.lookup_only, language) if entry.lookup_only else None,
        equivalent=entry.equivalent,
        related=list(entry.related),
    )


def _known_category(category: str) -> None:
    if category not in categories():
        raise RsvaultError(
            Code.INVALID_ARGUMENT,
            argument="--category",
            reason=f"one of {', '.join(categories())}",
        )


def _text(texts: dict[str, str], language: str) -> str:
    return texts.get(language) or texts["en"]


def _shortened(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def advice(
    code: str, params: Mapping[str, object], language: str, *, count: int = 1
) -> dict[str, object]:
    """What a job or item view says about one of its codes: the entry, worded for the reader."""
    entry = lookup.find(code) or catalog()[Code.INTERNAL_ERROR.value]
    out: dict[str, object] = {
        "code": entry.code,
        "title": _text(entry.title, language),
        "message": entry.render_message(language, dict(params)),
        "causes": list(entry.causes_in(language)),
        "actions": list(entry.actions_in(language)),
    }
    if count > 1:
        out["occurrences"] = count
    return out
