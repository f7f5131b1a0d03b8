"""Stretching a passphrase into a key-encryption key with Argon2id, now or ahead of time.

Argon2id is costly by design, in memory above all: a default key slot takes 64 MiB for about
a quarter of a second. A command opens its vault only after it has imported its libraries and
opened the catalog, so those 64 MiB would come on top of everything else and set the peak
memory of a whole backup. `services.unlockahead` therefore starts stretching the passphrase
first thing in the process, for the slot that opened last time, in a thread: Argon2 lets the
interpreter lock go, so the libraries load meanwhile on the other core, and the stretch is
done before much of them is loaded. The key waits here until a slot asks for it. Keys are
kept per passphrase, salt and cost, so a key stretched for the wrong slot or passphrase is
never used: it only costs the time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw

KEK_BYTES = 32


@dataclass(frozen=True)
class Stretch:
    """What a key slot stretches its passphrase with: a salt and the Argon2id cost."""

    salt: bytes
    time_cost: int
    memory_kib: int
    parallelism: int


class _Ahead:
    """A stretch running in a thread of its own; `key` waits for it."""

    def __init__(self, passphrase: str, how: Stretch) -> None:
        self._key: bytes | None = None
        self._done = threading.Event()
        thread = threading.Thread(
            target=self._run, args=(passphrase, how), name="stretch-ahead", daemon=True
        )
        thread.start()

    def _run(self, passphrase: str, how: Stretch) -> None:
        try:
            self._key = _argon2id(passphrase, how)
        except (HashingError, OverflowError):  # a salt or cost Argon2 cannot take
            pass
        finally:
            self._done.set()

    def key(self) -> bytes | None:
        self._done.wait()
        return self._key


_ahead: dict[tuple[str, Stretch], _Ahead] = {}
_noted: list[Stretch] = []


def stretch(passphrase: str, how: Stretch) -> bytes:
    """The key-encryption key: the one stretched ahead for these inputs, if any (waiting for
    it to be done)."""
    ahead = _ahead.get((passphrase, how))
    found = ahead.key() if ahead is not None else None
    return found if found is not None else _argon2id(passphrase, how)


def stretch_ahead(passphrase: str, how: Stretch) -> None:
    """Start stretching in a thread, so that `stretch` with the same inputs later costs little
    or nothing. Inputs Argon2 refuses are then stretched (and refused) where they are used."""
    if (passphrase, how) not in _ahead:
        _ahead[(passphrase, how)] = _Ahead(passphrase, how)


def note(how: Stretch) -> None:
    """Record that a key stretched this way opened or sealed a key slot in this process."""
    if how not in _noted:
        _noted.append(how)


def noted() -> list[Stretch]:
    """The stretches that opened or sealed a key slot in this process, first first."""
    return list(_noted)


def _argon2id(passphrase: str, how: Stretch) -> bytes:
    return hash_secret_raw(
        passphrase.encode("utf-8"),
        how.salt,
        time_cost=how.time_cost,
        memory_cost=how.memory_kib,
        parallelism=how.parallelism,
        hash_len=KEK_BYTES,
        type=Type.ID,
    )
