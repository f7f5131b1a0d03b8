"""The error catalog: complete, in every language, consistent placeholders, doc kept current."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from rsvault.errors import LANGUAGES, CatalogEntry, Code, RsvaultError, catalog
from rsvault.errors.docgen import render

REPO = Path(__file__).resolve().parents[3]
CATEGORIES = {"vault", "storage", "encryption", "backup", "restore", "jobs", "config", "internal"}
CATEGORIES |= {"hypervisor", "vm-state", "agent", "snapshot", "extension"}
ENTRIES = sorted(catalog().values(), key=lambda e: e.code)


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def test_every_code_has_an_entry() -> None:
    missing = {code.value for code in Code} - set(catalog())
    assert not missing, f"codes without a catalog entry: {sorted(missing)}"


def test_every_entry_is_a_code_or_marked_lookup_only() -> None:
    codes = {code.value for code in Code}
    stray = [e.code for e in ENTRIES if e.code not in codes and e.raised]
    assert not stray, f"catalog entries that no Code raises and not marked raised=false: {stray}"


def test_no_entry_is_lookup_only_yet() -> None:
    assert all(e.raised for e in ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.code)
def test_entry_has_texts_in_every_language(entry: CatalogEntry) -> None:
    for language in LANGUAGES:
        assert entry.title.get(language, "").strip(), (entry.code, "title", language)
        assert entry.message.get(language, "").strip(), (entry.code, "message", language)
        assert entry.causes.get(language), (entry.code, "causes", language)
        assert entry.actions.get(language), (entry.code, "actions", language)
        assert all(text.strip() for text in entry.causes[language] + entry.actions[language])


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.code)
def test_languages_have_the_same_number_of_causes_and_actions(entry: CatalogEntry) -> None:
    assert len({len(entry.causes[lang]) for lang in LANGUAGES}) == 1, entry.code
    assert len({len(entry.actions[lang]) for lang in LANGUAGES}) == 1, entry.code


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.code)
def test_placeholders_match_across_languages(entry: CatalogEntry) -> None:
    found = {lang: _placeholders(entry.message[lang]) for lang in LANGUAGES}
    assert len(set(map(frozenset, found.values()))) == 1, (entry.code, found)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.code)
def test_category_and_azure_id_are_well_formed(entry: CatalogEntry) -> None:
    assert entry.category in CATEGORIES, entry.code
    assert entry.azure_id is None or entry.azure_id.strip(), entry.code


def test_message_is_rendered_with_parameters() -> None:
    report = RsvaultError(Code.VAULT_NOT_FOUND, name="v1").report("zh-CN")
    assert "v1" in report.message
    assert report.code == "UserErrorVaultNotFound"


def test_unknown_placeholder_is_left_as_is() -> None:
    report = RsvaultError(Code.VAULT_NOT_FOUND).report("en")
    assert "{name}" in report.message


def test_errors_doc_is_current() -> None:
    doc = (REPO / "docs" / "errors.md").read_text("utf-8")
    assert doc == render(), "docs/errors.md is stale: run `make errors-doc`"


def test_errors_doc_has_a_section_per_code() -> None:
    text = render()
    for code in Code:
        assert f"### {code.value}\n" in text
