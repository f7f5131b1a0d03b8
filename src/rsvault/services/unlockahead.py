"""Unlocking ahead: a command that opened a vault last time stretches its passphrase first.

Opening a vault stretches the passphrase with Argon2id, 64 MiB of memory for a default key
slot (see `vault.kdf`). Done where the vault is opened, that comes on top of the libraries
and catalog already loaded, and sets the peak memory of the whole command. So, like the
start-up file lists of `core.readahead`, each command keeps a memo of the key slot that
opened for each vault it was run on: the salt and the cost, both stored in the clear in the
vault's key slot, nothing secret. The next run of that command on that vault stretches the
passphrase before anything else is loaded. If the memo is stale (a passphrase changed), the
key stretched ahead is simply never asked for and the vault is opened as it would have been.

A memo is JSON, `{vault name: {"salt": hex, "time_cost": n, "memory_kib": n,
"parallelism": n}}`, in RSVAULT_HOME/startup/<command>.unlock. It is a hint: a memo that
cannot be read or written is no memo, and never an error.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rsvault.vault.kdf import Stretch, opened, stretch_ahead

MEMO_SUFFIX = ".unlock"
MEMO_VAULTS = 32  # per command: the newest are kept
_VAULT_OPTIONS = ("--vault-name", "-v")
_VAULT_NOUN_OPTIONS = ("--name", "-n")  # `rsvault vault check --name V`


def begin(memo: Path, arguments: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """Stretch the passphrase for the vault `arguments` name, if the memo knows its key slot;
    returns that vault's name (for `record`), or None when the command names no vault."""
    vault = vault_named(arguments)
    if vault is None:
        return None
    how = _read(memo).get(vault)
    passphrase = passphrase_given(arguments, environ) if how is not None else None
    if how is not None and passphrase is not None:
        stretch_ahead(passphrase, how)
    return vault


def record(memo: Path, vault: str) -> None:
    """Remember the key slot that opened in this process for `vault`, or forget the vault if
    none did (the command no longer needs the passphrase); rewritten only when it changed."""
    known = _read(memo)
    found = opened()
    entries = dict(known)
    entries.pop(vault, None)
    if found:
        entries[vault] = found[0]  # newest last, so the oldest go first
    if entries == known:
        return
    newest = dict(list(entries.items())[-MEMO_VAULTS:])
    _write(memo, {name: _encode(how) for name, how in newest.items()})


def vault_named(arguments: Sequence[str]) -> str | None:
    """The vault a command line names: `--vault-name V`, or `--name V` after `vault`."""
    options = _VAULT_OPTIONS + (_VAULT_NOUN_OPTIONS if arguments[:1] == ["vault"] else ())
    return _option(arguments, options)


def passphrase_given(arguments: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """The passphrase the command will use, read as the CLI reads it; None if unreadable."""
    path = _option(arguments, ("--passphrase-file",))
    if path is None:
        return environ.get("RSVAULT_PASSPHRASE")
    try:
        return Path(path).read_text("utf-8").rstrip("\r\n")
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


def _read(memo: Path) -> dict[str, Stretch]:
    try:
        raw = json.loads(memo.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    entries = {}
    for name, fields in raw.items():
        how = _decode(fields)
        if how is not None:
            entries[str(name)] = how
    return entries


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


def _write(memo: Path, content: dict[str, Any]) -> None:
    temp = memo.with_name(f".{memo.name}.{os.getpid()}")
    try:
        memo.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(content, out, indent=1)
        temp.replace(memo)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
