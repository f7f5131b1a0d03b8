"""troubleshoot: every code in every language, Azure's codes and messages, our own messages."""

from __future__ import annotations

import string

import pytest
from tests.unit.diagnose.azure_texts import AZURE_CODES, AZURE_MESSAGES, EXTENSION_STATUSES

from rsvault.diagnose import lookup
from rsvault.diagnose.matcher import match_message
from rsvault.errors import LANGUAGES, CatalogEntry, Code, RsvaultError, catalog
from rsvault.services import troubleshoot

ENTRIES = sorted(catalog().values(), key=lambda e: e.code)
RAISED = [e for e in ENTRIES if e.raised]
# Values a real message carries: names, paths, numbers, a reason in the user's words.
SAMPLE = {
    "name": "web-07", "vm": "web-07", "path": "/srv/data/orders.db", "disk": "vdb",
    "reason": "the peer went quiet", "size": "40.0 TiB", "limit": "32.0 TiB", "count": 19,
    "script": "/usr/local/bin/flush-db.sh", "exitcode": 3, "output": "flush failed",
    "seconds": 600, "location": "/backup/vault", "needed": "1.2 GiB", "store": "/backup/vault",
    "uri": "qemu:///system", "state": "paused", "holder": "prune (pid 4242 on host1)",
    "container": "kvm-host-1",
}  # fmt: skip


def placeholders(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


@pytest.mark.parametrize("code", AZURE_CODES)
def test_every_azure_code_and_id_is_in_the_catalog(code: str) -> None:
    assert lookup.find(code) is not None, code


@pytest.mark.parametrize("status", EXTENSION_STATUSES)
def test_every_failing_extension_status_has_an_entry(status: int) -> None:
    assert lookup.find(str(status)) is not None, status


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.code)
def test_every_code_in_every_language(entry: CatalogEntry) -> None:
    views = {lang: troubleshoot.entry_for_code(entry.code, lang) for lang in LANGUAGES}
    for lang, view in views.items():
        assert view.name == entry.code
        assert all((view.title, view.message, view.causes, view.actions)), (lang, view)
        assert (view.lookup_only is None) == entry.raised
    assert views["zh-CN"].title != views["en"].title
    assert views["zh-TW"].causes != views["zh-CN"].causes


def test_lookup_forgives_case_and_knows_other_spellings() -> None:
    assert troubleshoot.entry_for_code("userErrorFSFreezeFailed", "en").name == (
        "UserErrorFsFreezeFailed"
    )
    assert troubleshoot.entry_for_code("VmNotInDesirableState", "en").name == (
        "UserErrorVmNotInDesirableState"
    )
    assert troubleshoot.entry_for_code("320001", "en").name == "ResourceNotFound"
    assert troubleshoot.entry_for_code("0x1fc07", "en").name == "ActivationDidNotComplete"
    assert troubleshoot.entry_for_code("121", "en").name == "UserErrorFsFreezeFailed"


def test_an_unknown_code_suggests_the_closest() -> None:
    with pytest.raises(RsvaultError) as caught:
        troubleshoot.entry_for_code("UserErrorFsFrezeFailed", "en")
    assert caught.value.code is Code.ERROR_CODE_UNKNOWN
    assert "UserErrorFsFreezeFailed" in str(caught.value.params["closest"])


@pytest.mark.parametrize(("text", "codes"), AZURE_MESSAGES, ids=lambda v: str(v)[:30])
def test_azure_messages_resolve_to_their_code(text: str, codes: tuple[str, ...]) -> None:
    found = match_message(text)
    assert found, text
    assert found[0].code in codes, [(m.code, m.score) for m in found]


@pytest.mark.parametrize("entry", RAISED, ids=lambda e: e.code)
def test_our_own_messages_resolve_to_themselves(entry: CatalogEntry) -> None:
    for language in LANGUAGES:
        text = entry.render_message(language, SAMPLE)
        found = match_message(text)
        best = found[0].code if found else None
        assert best == entry.code, (language, text, [(m.code, m.score) for m in found])


def test_a_message_survives_small_differences() -> None:
    pasted = "ERROR  the guest agent of 'db-server-2' doesnt answer:  timed out after 30s !!"
    assert match_message(pasted)[0].code == "UserErrorGuestAgentStatusUnavailable"
    assert match_message("错误代码：UserErrorFsFrezeFailed")[0].code == "UserErrorFsFreezeFailed"
    assert match_message("Job failed: UserErrorVmNotFoundV2 (vm gone)")[0].how == "code"


@pytest.mark.parametrize("text", ["the weather is nice today", "今天天气很好", "1234 5678"])
def test_unrelated_text_finds_nothing(text: str) -> None:
    with pytest.raises(RsvaultError) as caught:
        troubleshoot.entries_for_message(text, "en")
    assert caught.value.code is Code.TROUBLESHOOT_NO_MATCH


def test_list_by_category() -> None:
    listed = troubleshoot.list_entries("agent", "zh-CN")
    assert listed
    assert all(e.category == "agent" for e in listed)
    assert len(troubleshoot.list_entries()) == len(ENTRIES)
    with pytest.raises(RsvaultError) as caught:
        troubleshoot.list_entries("no-such-category")
    assert caught.value.code is Code.INVALID_ARGUMENT
