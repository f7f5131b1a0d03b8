"""The plaintext `config` blob: format version and chunking parameters. No secrets."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from rsvault.core.units import KiB, MiB
from rsvault.errors import Code, RsvaultError

FORMAT_VERSION = 1
CONFIG_NAME = "config"


@dataclass(frozen=True)
class VaultConfig:
    vault_id: str
    created: str
    version: int = FORMAT_VERSION
    cdc_min: int = 256 * KiB
    cdc_avg: int = 1 * MiB
    cdc_max: int = 4 * MiB
    tree_cdc_avg: int = 64 * KiB
    fixed_chunk_size: int = 1 * MiB
    pack_target: int = 16 * MiB
    compression_level: int = 3
    # Disk images are read at the speed of their NBD export and are mostly binaries and
    # already-compressed data: zstd's fastest level keeps the transfer from waiting on the CPU.
    disk_compression_level: int = 1

    def encode(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def decode(cls, raw: bytes) -> VaultConfig:
        try:
            fields = json.loads(raw)
            version = int(fields.get("version", 0))
        except (ValueError, TypeError, AttributeError) as exc:
            raise RsvaultError(
                Code.VAULT_DATA_CORRUPT, object=CONFIG_NAME, reason="not valid JSON"
            ) from exc
        if version != FORMAT_VERSION:
            raise RsvaultError(Code.VAULT_FORMAT_UNSUPPORTED, version=version)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in fields.items() if k in known})
