"""Unlocking ahead: the passphrase is stretched first thing for the key slot that opened last
time; a memo that is stale, wrong or broken costs time at most, never a wrong key or an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rsvault.core.clock import SYSTEM_CLOCK
from rsvault.errors import Code, RsvaultError
from rsvault.services import unlockahead
from rsvault.storage import LocalStore
from rsvault.vault import kdf
from rsvault.vault.keys import KdfParams
from rsvault.vault.repository import Vault

PASSPHRASE = "pass-phrase-1"
SMALL_KDF = KdfParams(time_cost=1, memory_kib=1024, parallelism=1)
FIELDS = {"salt": "00" * 16, "time_cost": 1, "memory_kib": 1024, "parallelism": 1}
BACKUP = ["backup", "files", "--vault-name", "v1", "--path", "/srv"]


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a new process starts with: nothing stretched, nothing opened."""
    monkeypatch.setattr(kdf, "_ahead", {})
    monkeypatch.setattr(kdf, "_opened", [])


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "vault")
    Vault.create(store, PASSPHRASE, SYSTEM_CLOCK, kdf=SMALL_KDF)
    return store


def new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kdf, "_ahead", {})
    monkeypatch.setattr(kdf, "_opened", [])


def no_stretching(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(passphrase: str, how: kdf.Stretch) -> bytes:
        raise AssertionError("stretched where the vault opened")

    monkeypatch.setattr(kdf, "_argon2id", refuse)


@pytest.mark.parametrize(
    ("arguments", "vault"),
    [
        (BACKUP, "v1"),
        (["restore", "files", "--vault-name=v2", "--target", "/t"], "v2"),
        (["restore", "restore-disks", "-v", "v3"], "v3"),
        (["vault", "check", "--name", "v4", "--read-data"], "v4"),
        (["vault", "prune", "-n", "v5"], "v5"),
        (["job", "show", "--name", "a-job"], None),  # a job's name is no vault's
        (["backup", "files", "--path", "/srv", "--", "--vault-name", "x"], None),
        (["backup", "files", "--vault-name"], None),
    ],
)
def test_the_vault_a_command_line_names(arguments: list[str], vault: str | None) -> None:
    assert unlockahead.vault_named(arguments) == vault


def test_the_passphrase_is_read_as_the_cli_reads_it(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file-1\r\n")
    environ = {"RSVAULT_PASSPHRASE": "from-the-environment"}
    assert unlockahead.passphrase_given(BACKUP, environ) == "from-the-environment"
    with_file = [*BACKUP, "--passphrase-file", str(secret)]
    assert unlockahead.passphrase_given(with_file, environ) == "from-a-file-1"
    missing = [*BACKUP, f"--passphrase-file={tmp_path / 'missing'}"]
    assert unlockahead.passphrase_given(missing, environ) is None
    assert unlockahead.passphrase_given(BACKUP, {}) is None


def test_the_slot_that_opened_is_stretched_first_next_time(
    store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memo = tmp_path / "home" / "startup" / "backup.files.unlock"
    environ = {"RSVAULT_PASSPHRASE": PASSPHRASE}
    assert unlockahead.begin(memo, BACKUP, environ) == "v1"  # no memo yet: nothing stretched
    Vault.open(store, PASSPHRASE, SYSTEM_CLOCK)
    unlockahead.record(memo, "v1")
    remembered = json.loads(memo.read_text())["v1"]
    slot = json.loads(next((tmp_path / "vault" / "keys").iterdir()).read_text())
    assert remembered == {k: slot[k] for k in ("salt", "time_cost", "memory_kib", "parallelism")}
    assert memo.stat().st_mode & 0o777 == 0o600

    new_process(monkeypatch)
    unlockahead.begin(memo, BACKUP, environ)
    no_stretching(monkeypatch)
    opened = Vault.open(store, PASSPHRASE, SYSTEM_CLOCK)  # with the key stretched ahead
    assert opened.config.vault_id


def test_a_stale_memo_costs_a_stretch_and_is_corrected(
    store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memo = tmp_path / "backup.files.unlock"
    stale = {"salt": "00" * 16, "time_cost": 1, "memory_kib": 1024, "parallelism": 1}
    memo.write_text(json.dumps({"v1": stale, "other": stale}))
    unlockahead.begin(memo, BACKUP, {"RSVAULT_PASSPHRASE": PASSPHRASE})
    assert len(kdf._ahead) == 1  # stretched for a slot the vault no longer has
    Vault.open(store, PASSPHRASE, SYSTEM_CLOCK)
    unlockahead.record(memo, "v1")
    entries = json.loads(memo.read_text())
    assert entries["v1"]["salt"] != stale["salt"]
    assert entries["other"] == stale  # other vaults' entries are kept


def test_a_wrong_passphrase_stretched_ahead_is_still_refused(
    store: LocalStore, tmp_path: Path
) -> None:
    memo = tmp_path / "backup.files.unlock"
    Vault.open(store, PASSPHRASE, SYSTEM_CLOCK)
    unlockahead.record(memo, "v1")
    unlockahead.begin(memo, BACKUP, {"RSVAULT_PASSPHRASE": "not-the-passphrase"})
    with pytest.raises(RsvaultError) as caught:
        Vault.open(store, "not-the-passphrase", SYSTEM_CLOCK)
    assert caught.value.code is Code.PASSPHRASE_INCORRECT


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[1, 2]",
        json.dumps({"v1": {"salt": "zz", "time_cost": 1, "memory_kib": 8, "parallelism": 1}}),
        json.dumps({"v1": {"salt": "00" * 16, "time_cost": 0, "memory_kib": 8, "parallelism": 1}}),
        json.dumps({"v1": {"salt": "00", "time_cost": 1, "memory_kib": 8, "parallelism": 1}}),
        json.dumps({"v1": {"salt": "00" * 16, "time_cost": 1, "memory_kib": 2**40}}),
        json.dumps({"v1": {**FIELDS, "memory_kib": 2**40}}),  # more than Argon2 can take
    ],
)
def test_a_broken_memo_is_no_memo(content: str, tmp_path: Path) -> None:
    memo = tmp_path / "backup.files.unlock"
    memo.write_text(content)
    assert unlockahead.begin(memo, BACKUP, {"RSVAULT_PASSPHRASE": PASSPHRASE}) == "v1"
    assert kdf._ahead == {}


def test_a_command_that_opened_no_vault_forgets_it(
    store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memo = tmp_path / "recoverypoint.list.unlock"
    Vault.open(store, PASSPHRASE, SYSTEM_CLOCK)
    unlockahead.record(memo, "v1")
    assert "v1" in json.loads(memo.read_text())
    new_process(monkeypatch)
    unlockahead.record(memo, "v1")
    assert json.loads(memo.read_text()) == {}
