"""Stretching a passphrase into a key-encryption key with Argon2id, now or ahead of time.

Argon2id is costly by design, in memory above all: a default key slot takes 64 MiB for about
a quarter of a second. A command opens its vault only after it has imported its libraries and
opened the catalog, so those 64 MiB would come on top of everything else and set the peak
memory of a whole backup. `services.unlockahead` therefore stretches the passphrase first
thing in the process, while the process is still small, for the slot that opened last time;
the key waits here until a slot asks for it. Keys are kept per passphrase, salt and cost, so
a key stretched for the wrong slot or passphrase is never used: it only costs the time.
"""

from __future__ import annotations

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


_ahead: dict[tuple[str, Stretch], bytes] = {}
_noted: list[Stretch] = []


def stretch(passphrase: str, how: Stretch) -> bytes:
    """The key-encryption key: the one stretched ahead for these inputs, if any."""
    found = _ahead.get((passphrase, how))
    return found if found is not None else _argon2id(passphrase, how)


def stretch_ahead(passphrase: str, how: Stretch) -> bool:
    """Stretch now, so that `stretch` with the same inputs later costs nothing; False if
    Argon2 refused the inputs (then `stretch` will raise, where it is handled)."""
    try:
        _ahead[(passphrase, how)] = _argon2id(passphrase, how)
    except (HashingError, OverflowError):  # a salt or cost Argon2 cannot take
        return False
    return True


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
