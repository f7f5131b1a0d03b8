"""Unlocking ahead: the passphrase is stretched before the command loads its libraries.

Opening a vault stretches the passphrase with Argon2id, 64 MiB of memory for a default key
slot (see `vault.kdf`). Done where the vault is opened, that comes on top of the libraries
and catalog already loaded, and sets the peak memory of the whole command. So this machine
keeps a memo of the key slot each vault opened with (its salt and cost, both stored in the
clear in the vault's key slot, nothing secret), and of which commands opened a vault last
time they ran. A command that opens vaults, or for one never run here one whose purpose is
reading or writing a vault's data (`LIKELY_TO_UNLOCK`), starts stretching the passphrase for
the vault it names first thing, in a thread, while its libraries load. If the memo is
stale (a passphrase changed), the key stretched ahead is simply never asked for and the
vault opens as it would have.

The memo is JSON in RSVAULT_HOME/startup/unlock.json: `{"vaults": {name: {"salt": hex,
"time_cost": n, "memory_kib": n, "parallelism": n}}, "commands": {"backup.files": true}}`.
It is a hint: a memo that cannot be read or written is no memo, and never an error.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsvault.core.passphrase import passphrase_in, read_passphrase_file
from rsvault.vault.kdf import Stretch, noted, stretch_ahead

MEMO_NAME = "unlock.json"  # in RSVAULT_HOME/startup, beside the start-up file lists
MEMO_VAULTS = 32  # the newest are kept
# Commands (as `core.readahead` names them) presumed to open the vault they name until they
# have run here once: a wrong guess costs one stretch, once.
LIKELY_TO_UNLOCK = frozenset({"backup", "restore", "protection.backup-now", "vault.check"})
_VAULT_OPTIONS = ("--vault-name", "-v")
_VAULT_NOUN_OPTIONS = ("--name", "-n")  # `rsvault vault check --name V`


@dataclass
class Memo:
    vaults: dict[str, Stretch] = field(default_factory=dict)
    commands: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Pending:
    """What to remember when the command ends: which command, naming which vault."""

    memo: Path
    command: str
    vault: str


def begin(
    memo: Path, command: str, arguments: Sequence[str], environ: Mapping[str, str]
) -> Pending | None:
    """Stretch the passphrase for the vault `arguments` name, if `command` is expected to open
    it and its key slot is known; None when the command line names no vault."""
    vault = vault_named(arguments)
    if vault is None:
        return None
    known = read_memo(memo)
    how = known.vaults.get(vault)
    if how is not None and known.commands.get(command, _likely(command)):
        passphrase = passphrase_given(arguments, environ)
        if passphrase is not None:
            stretch_ahead(passphrase, how)
    return Pending(memo, command, vault)


def record(pending: Pending) -> None:
    """Remember whether the command opened a vault, and the key slot that opened it (or was
    made, for a new vault); the memo is rewritten only when it changed."""
    known = read_memo(pending.memo)
    slots = noted()
    vaults = dict(known.vaults)
    if slots:
        vaults.pop(pending.vault, None)
        vaults[pending.vault] = slots[0]  # newest last, so the oldest go first
    commands = {**known.commands, pending.command: bool(slots)}
    if vaults == known.vaults and commands == known.commands:
        return
    newest = dict(list(vaults.items())[-MEMO_VAULTS:])
    _write(pending.memo, Memo(newest, commands))


def _likely(command: str) -> bool:
    return command in LIKELY_TO_UNLOCK or command.partition(".")[0] in LIKELY_TO_UNLOCK


def vault_named(arguments: Sequence[str]) -> str | None:
    """The vault a command line names: `--vault-name V`, or `--name V` after `vault`."""
    options = _VAULT_OPTIONS + (_VAULT_NOUN_OPTIONS if arguments[:1] == ["vault"] else ())
    return _option(arguments, options)


def passphrase_given(arguments: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """The passphrase the command will use, read as the CLI reads it; None if unreadable."""
    path = _option(arguments, ("--passphrase-file",))
    if path is None:
        return passphrase_in(environ)
    try:
        return read_passphrase_file(Path(path))
    except (OSError, UnicodeDecodeError):
        return None  # the CLI reports it when it reads the file


def _option(arguments: Sequence[str], names: Sequence[str]) -> str | None:
    for index, word in enumerate(arguments):
        if word == "--":
            return None
        if word in names and index + 1 < len(arguments):
            return arguments[index + 1]
        name, equals, value = word.partition("=")
        if equals and name in names and name.startswith("--"):
            return value
    return None


def read_memo(memo: Path) -> Memo:
    try:
        raw = json.loads(memo.read_text("utf-8"))
    except (OSError, ValueError):
        return Memo()
    if not isinstance(raw, dict):
        return Memo()
    vaults, commands = raw.get("vaults"), raw.get("commands")
    found = Memo()
    if isinstance(vaults, dict):
        for name, fields in vaults.items():
            how = _decode(fields)
            if how is not None:
                found.vaults[str(name)] = how
    if isinstance(commands, dict):
        found.commands = {str(k): v for k, v in commands.items() if isinstance(v, bool)}
    return found


def _decode(fields: Any) -> Stretch | None:
    try:
        how = Stretch(
            bytes.fromhex(fields["salt"]),
            int(fields["time_cost"]),
            int(fields["memory_kib"]),
            int(fields["parallelism"]),
        )
    except (TypeError, KeyError, ValueError):
        return None
    return how if how.time_cost > 0 and how.memory_kib > 0 and how.parallelism > 0 else None


def _encode(how: Stretch) -> dict[str, Any]:
    return {
        "salt": how.salt.hex(),
        "time_cost": how.time_cost,
        "memory_kib": how.memory_kib,
        "parallelism": how.parallelism,
    }


def _write(memo: Path, content: Memo) -> None:
    document = {
        "vaults": {name: _encode(how) for name, how in content.vaults.items()},
        "commands": content.commands,
    }
    temp = memo.with_name(f".{memo.name}.{os.getpid()}")
    try:
        memo.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
        temp.replace(memo)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
