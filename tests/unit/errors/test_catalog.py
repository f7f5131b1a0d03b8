"""The error catalog: complete, in every language, consistent placeholders, doc kept current."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from rsvault.errors import LANGUAGES, CatalogEntry, Code, RsvaultError, catalog, operations
from rsvault.errors.docgen import render

REPO = Path(__file__).resolve().parents[3]
CATEGORIES = {"vault", "storage", "encryption", "backup", "restore", "jobs", "config", "internal"}
CATEGORIES |= {"hypervisor", "vm-state", "agent", "snapshot", "extension", "network", "credentials"}
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


def test_every_code_is_raised_somewhere_in_the_source() -> None:
    source = "".join(
        path.read_text("utf-8")
        for path in (REPO / "src" / "rsvault").rglob("*.py")
        if path.name != "codes.py"
    )
    unused = [code.name for code in Code if f"Code.{code.name}" not in source]
    assert not unused, f"codes no module raises: {unused}"


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.raised], ids=lambda e: e.code)
def test_a_raised_entry_says_where(entry: CatalogEntry) -> None:
    assert entry.code in {code.value for code in Code}, entry.code
    assert entry.raised_in, entry.code
    assert set(entry.raised_in) <= set(operations()), entry.raised_in
    assert not entry.lookup_only, entry.code
    assert entry.equivalent is None, entry.code


@pytest.mark.parametrize("entry", [e for e in ENTRIES if not e.raised], ids=lambda e: e.code)
def test_a_lookup_only_entry_says_why_and_what_is_near(entry: CatalogEntry) -> None:
    assert entry.code not in {code.value for code in Code}, entry.code
    assert all(entry.lookup_only.get(lang, "").strip() for lang in LANGUAGES), entry.code
    assert not entry.raised_in, entry.code
    if entry.equivalent is not None:
        assert catalog()[entry.equivalent].raised, (entry.code, entry.equivalent)
    assert not _placeholders(entry.message["en"]), "nothing fills a lookup-only message"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.code)
def test_related_codes_exist_and_keywords_are_in_every_language(entry: CatalogEntry) -> None:
    assert set(entry.related) <= set(catalog()), (entry.code, entry.related)
    assert all(entry.keywords.get(lang) for lang in LANGUAGES), entry.code


def test_every_spelling_names_one_entry() -> None:
    seen: dict[str, str] = {}
    for entry in ENTRIES:
        spellings = [entry.code, *entry.aliases, *map(str, entry.extension_status)]
        spellings += [entry.azure_id] if entry.azure_id else []
        for spelling in spellings:
            key = spelling.lower()
            assert seen.setdefault(key, entry.code) == entry.code, (spelling, seen[key])


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
