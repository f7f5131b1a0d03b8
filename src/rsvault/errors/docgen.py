"""Render docs/errors.md from the error catalog.

python -m rsvault.errors.docgen > docs/errors.md     (what `make errors-doc` runs)
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from rsvault.errors.catalog import LANGUAGES, CatalogEntry, catalog, operations

CATEGORIES: dict[str, str] = {
    "vault": "Vault",
    "storage": "Storage",
    "encryption": "Encryption and keys",
    "backup": "Backup",
    "hypervisor": "Hypervisor hosts",
    "vm-state": "VM state",
    "agent": "Guest agent",
    "snapshot": "Snapshots and checkpoints",
    "extension": "Pre- and post-scripts",
    "restore": "Restore",
    "jobs": "Jobs",
    "network": "Network",
    "credentials": "Vault credentials and registration",
    "config": "Configuration and arguments",
    "internal": "Internal",
}

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English (en)",
    "zh-CN": "简体中文 (zh-CN)",
    "zh-TW": "繁體中文 (zh-TW)",
}

LABELS: dict[str, tuple[str, str]] = {
    "en": ("Causes, in the order worth checking:", "What to do:"),
    "zh-CN": ("可能原因（按检查顺序）：", "建议操作："),
    "zh-TW": ("可能原因（依檢查順序）：", "建議動作："),
}
ORIGIN_LABELS: dict[str, tuple[str, str]] = {  # (raised in, lookup only)
    "en": ("Raised by rsvault in", "Lookup only"),
    "zh-CN": ("rsvault 在以下操作中报告", "仅供查询"),
    "zh-TW": ("rsvault 在以下作業中回報", "僅供查詢"),
}


def _category_rank(category: str) -> tuple[int, str]:
    order = list(CATEGORIES)
    return (order.index(category) if category in order else len(order), category)


def _sorted_entries() -> list[CatalogEntry]:
    entries = catalog().values()
    return sorted(entries, key=lambda e: (_category_rank(e.category), e.code))


def _by_category(entries: Iterable[CatalogEntry]) -> dict[str, list[CatalogEntry]]:
    groups: dict[str, list[CatalogEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.category, []).append(entry)
    return groups


def _category_title(category: str) -> str:
    return CATEGORIES.get(category, category.capitalize())


def _header() -> list[str]:
    return [
        "# Error codes",
        "",
        "This file is generated from `src/rsvault/errors/catalog.json` by `make errors-doc`;"
        " do not edit it by hand.",
        "",
    ]


def _toc(groups: dict[str, list[CatalogEntry]]) -> list[str]:
    lines = ["## Contents", ""]
    for category, entries in groups.items():
        lines.append(f"- {_category_title(category)}")
        lines.extend(f"  - [`{e.code}`](#{e.code}): {e.title['en']}" for e in entries)
    return [*lines, ""]


def _code_line(entry: CatalogEntry) -> list[str]:
    line = f"Code: `{entry.code}`"
    if entry.azure_id:
        line += f" · Azure id: `{entry.azure_id}`"
    if entry.aliases:
        line += " · Also written: " + ", ".join(f"`{a}`" for a in entry.aliases)
    if entry.extension_status:
        line += " · Linux extension status: " + ", ".join(map(str, entry.extension_status))
    line += " · raised by rsvault" if entry.raised else " · lookup only"
    return [line, ""]


def _origin(entry: CatalogEntry, language: str) -> list[str]:
    raised_label, lookup_label = ORIGIN_LABELS.get(language, ORIGIN_LABELS["en"])
    if entry.raised:
        names = operations()
        where = "; ".join(names[k].get(language, names[k]["en"]) for k in entry.raised_in)
        return [f"*{raised_label}:* {where}", ""]
    line = f"*{lookup_label}:* {entry.lookup_only.get(language) or entry.lookup_only['en']}"
    if entry.equivalent:
        line += f" → [`{entry.equivalent}`](#{entry.equivalent})"
    return [line, ""]


def _ordered(items: Iterable[str]) -> list[str]:
    return [f"{n}. {item}" for n, item in enumerate(items, start=1)]


def _language_block(entry: CatalogEntry, language: str) -> list[str]:
    causes_label, actions_label = LABELS.get(language, LABELS["en"])
    return [
        f"#### {LANGUAGE_NAMES.get(language, language)}",
        "",
        f"**{entry.title[language]}**",
        "",
        f"> {entry.message[language]}",
        "",
        *_origin(entry, language),
        causes_label,
        "",
        *_ordered(entry.causes_in(language)),
        "",
        actions_label,
        "",
        *_ordered(entry.actions_in(language)),
        "",
    ]


def _related(entry: CatalogEntry, known: set[str]) -> list[str]:
    if not entry.related:
        return []
    links = [f"[`{c}`](#{c})" if c in known else f"`{c}` (Azure)" for c in entry.related]
    return ["Related: " + ", ".join(links), ""]


def _section(entry: CatalogEntry, known: set[str]) -> list[str]:
    lines = [f'<a id="{entry.code}"></a>', "", f"### {entry.code}", ""]
    lines += _code_line(entry)
    for language in LANGUAGES:
        lines += _language_block(entry, language)
    return lines + _related(entry, known)


def render() -> str:
    """The whole of docs/errors.md."""
    groups = _by_category(_sorted_entries())
    known = set(catalog())
    lines = _header() + _toc(groups)
    for category, entries in groups.items():
        lines += [f"## {_category_title(category)}", ""]
        for entry in entries:
            lines += _section(entry, known)
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> None:
    sys.stdout.buffer.write(render().encode("utf-8"))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
