"""Unlocking ahead: the passphrase is stretched first thing for the key slot the vault opened
with last time; a memo that is stale, wrong or broken costs time at most, never a wrong key or
an error."""

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
    new_process(monkeypatch)


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "vault")
    Vault.create(store, PASSPHRASE, SYSTEM_CLOCK, kdf=SMALL_KDF)
    return store


def new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a new process starts with: nothing stretched, no key slot opened or made."""
    monkeypatch.setattr(kdf, "_ahead", {})
    monkeypatch.setattr(kdf, "_noted", [])


def finished_stretching() -> list[bytes | None]:
    return [ahead.key() for ahead in kdf._ahead.values()]


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


def begin(memo: Path, command: str = "backup.files", passphrase: str = PASSPHRASE) -> bool:
    """Starts a command naming vault v1; whether it stretched the passphrase ahead."""
    before = len(kdf._ahead)
    arguments = ["vault", "check", "--name", "v1"] if command == "vault.check" else BACKUP
    pending = unlockahead.begin(memo, command, arguments, {"RSVAULT_PASSPHRASE": passphrase})
    assert pending == unlockahead.Pending(memo, command, "v1")
    return len(kdf._ahead) > before


def end(memo: Path, command: str = "backup.files") -> None:
    unlockahead.record(unlockahead.Pending(memo, command, "v1"))


def test_the_slot_a_vault_opened_with_is_stretched_first_next_time(
    store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memo = tmp_path / "home" / "startup" / "unlock.json"
    assert not begin(memo)  # no memo yet
    Vault.open(store, PASSPHRASE, SYSTEM_CLOCK)
    end(memo)
    remembered = json.loads(memo.read_text())
    slot = json.loads(next((tmp_path / "vault" / "keys").iterdir()).read_text())
    assert remembered["vaults"]["v1"] == {k: slot[k] for k in FIELDS}
    assert remembered["commands"] == {"backup.files": True}
    assert memo.stat().st_mode & 0o777 == 0o600

    new_process(monkeypatch)
    assert begin(memo)
    finished_stretching()
    no_stretching(monkeypatch)
    opened = Vault.open(store, PASSPHRASE, SYSTEM_CLOCK)  # with the key stretched ahead
    assert opened.config.vault_id


def test_a_new_vault_is_remembered_by_the_command_that_made_it(tmp_path: Path) -> None:
    memo = tmp_path / "unlock.json"
    store = LocalStore(tmp_path / "new-vault")
    Vault.create(store, PASSPHRASE, SYSTEM_CLOCK, kdf=SMALL_KDF)
    end(memo, "vault.create")
    slot = json.loads(next((tmp_path / "new-vault" / "keys").iterdir()).read_text())
    assert read_salt(memo) == slot["salt"]


def read_salt(memo: Path) -> str:
    salt: str = json.loads(memo.read_text())["vaults"]["v1"]["salt"]
    return salt


def test_only_commands_that_open_vaults_stretch_ahead(
    store: LocalStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memo = tmp_path / "unlock.json"
    Vault.open(store, PASSPHRASE, SYSTEM_CLOCK)
    end(memo)
    assert begin(memo, "vault.check")  # never run here, and likely to open its vault
    assert not begin(memo, "recoverypoint.list")  # never run here, and not likely to
    new_process(monkeypatch)
    end(memo, "vault.check")  # ran, and opened no vault after all
    assert json.loads(memo.read_text())["commands"]["vault.check"] is False
    assert not begin(memo, "vault.check")
    assert "v1" in json.loads(memo.read_text())["vaults"]  # the vault's slot is still known


def test_a_stale_memo_costs_a_stretch_and_is_corrected(store: LocalStore, tmp_path: Path) -> None:
    memo = tmp_path / "unlock.json"
    memo.write_text(json.dumps({"vaults": {"v1": FIELDS, "other": FIELDS}}))
    assert begin(memo)  # for a slot the vault no longer has
    Vault.open(store, PASSPHRASE, SYSTEM_CLOCK)
    end(memo)
    assert read_salt(memo) != FIELDS["salt"]
    assert json.loads(memo.read_text())["vaults"]["other"] == FIELDS  # other vaults kept


def test_a_wrong_passphrase_stretched_ahead_is_still_refused(
    store: LocalStore, tmp_path: Path
) -> None:
    memo = tmp_path / "unlock.json"
    Vault.open(store, PASSPHRASE, SYSTEM_CLOCK)
    end(memo)
    assert begin(memo, passphrase="not-the-passphrase")
    with pytest.raises(RsvaultError) as caught:
        Vault.open(store, "not-the-passphrase", SYSTEM_CLOCK)
    assert caught.value.code is Code.PASSPHRASE_INCORRECT


@pytest.mark.parametrize(
    "vaults",
    [
        "not a mapping",
        {"v1": "not a mapping"},
        {"v1": {**FIELDS, "salt": "zz"}},
        {"v1": {**FIELDS, "time_cost": 0}},
        {"v1": {**FIELDS, "salt": "00"}},  # too short for Argon2
        {"v1": {"salt": "00" * 16, "time_cost": 1, "memory_kib": 8}},
        {"v1": {**FIELDS, "memory_kib": 2**40}},  # more than Argon2 can take
    ],
)
def test_a_broken_memo_is_no_memo(vaults: object, tmp_path: Path) -> None:
    memo = tmp_path / "unlock.json"
    memo.write_text(json.dumps({"vaults": vaults, "commands": {"backup.files": True}}))
    begin(memo)
    memo.write_text("not json")
    assert not begin(memo)
    assert not any(finished_stretching())  # nothing usable, and nothing raised


def test_the_memo_keeps_the_newest_vaults(store: LocalStore, tmp_path: Path) -> None:
    memo = tmp_path / "unlock.json"
    many = {f"old-{n}": FIELDS for n in range(unlockahead.MEMO_VAULTS + 5)}
    memo.write_text(json.dumps({"vaults": many}))
    Vault.open(store, PASSPHRASE, SYSTEM_CLOCK)
    end(memo)
    kept = list(json.loads(memo.read_text())["vaults"])
    assert len(kept) == unlockahead.MEMO_VAULTS
    assert kept[-1] == "v1"
    assert "old-0" not in kept
