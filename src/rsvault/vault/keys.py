"""The master key, its subkeys, and passphrase-wrapped key slots."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from rsvault.errors import Code, RsvaultError
from rsvault.vault.kdf import Stretch, note, stretch

MASTER_KEY_BYTES = 32
MIN_PASSPHRASE_CHARS = 8
_SLOT_AD = b"rsvault-keyslot-v1"


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost. The defaults cost about a quarter second and 64 MiB on a small machine."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 2


# For tests that open many vaults: same algorithm, trivially cheap. Never a product default.
CHEAP_KDF = KdfParams(time_cost=1, memory_kib=8, parallelism=1)


@dataclass(frozen=True)
class VaultKeys:
    """Subkeys derived from the master key; each has one purpose."""

    chunk_id: bytes
    data: bytes
    meta: bytes
    cdc_seed: int

    @classmethod
    def derive(cls, master: bytes) -> VaultKeys:
        return cls(
            chunk_id=_hkdf(master, b"chunk-id", 32),
            data=_hkdf(master, b"data", 32),
            meta=_hkdf(master, b"meta", 32),
            cdc_seed=int.from_bytes(_hkdf(master, b"cdc-seed", 8), "little") or 1,
        )


def _hkdf(master: bytes, purpose: bytes, length: int) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=b"rsvault/v1/" + purpose)
    return hkdf.derive(master)


def new_master_key() -> bytes:
    return os.urandom(MASTER_KEY_BYTES)


def check_passphrase_strength(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise RsvaultError(Code.PASSPHRASE_TOO_WEAK, minimum=MIN_PASSPHRASE_CHARS)


def _stretch_of(salt: bytes, kdf: KdfParams) -> Stretch:
    return Stretch(salt, kdf.time_cost, kdf.memory_kib, kdf.parallelism)


def wrap_master_key(
    master: bytes, passphrase: str, vault_id: str, kdf: KdfParams, created: str, label: str
) -> bytes:
    """A key slot blob: the master key sealed under a key stretched from the passphrase."""
    salt, nonce = os.urandom(16), os.urandom(12)
    how = _stretch_of(salt, kdf)
    wrapped = AESGCM(stretch(passphrase, how)).encrypt(nonce, master, _SLOT_AD + vault_id.encode())
    note(how)
    slot = {
        "kdf": "argon2id",
        "time_cost": kdf.time_cost,
        "memory_kib": kdf.memory_kib,
        "parallelism": kdf.parallelism,
        "salt": salt.hex(),
        "nonce": nonce.hex(),
        "wrapped": wrapped.hex(),
        "created": created,
        "label": label,
    }
    return json.dumps(slot, indent=2).encode()


def unwrap_master_key(slot_blob: bytes, passphrase: str, vault_id: str) -> bytes | None:
    """The master key if the passphrase opens this slot, else None."""
    slot = json.loads(slot_blob)
    kdf = KdfParams(slot["time_cost"], slot["memory_kib"], slot["parallelism"])
    how = _stretch_of(bytes.fromhex(slot["salt"]), kdf)
    try:
        master = AESGCM(stretch(passphrase, how)).decrypt(
            bytes.fromhex(slot["nonce"]),
            bytes.fromhex(slot["wrapped"]),
            _SLOT_AD + vault_id.encode(),
        )
    except InvalidTag:
        return None
    note(how)
    return master


def slot_label(slot_blob: bytes) -> tuple[str, str]:
    """(label, created) of a slot, readable without the passphrase."""
    slot = json.loads(slot_blob)
    return str(slot.get("label", "")), str(slot.get("created", ""))
