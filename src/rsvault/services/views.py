"""What services return: plain data that renders as a table row or a JSON object."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC; SQLite hands back naive datetimes that were stored as UTC."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="seconds")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass
class View:
    def as_dict(self) -> dict[str, Any]:
        return {_camel(k): v for k, v in self.__dict__.items()}


@dataclass
class VaultView(View):
    name: str
    location: str
    vault_id: str
    created: str
    store_kind: str = "local"
    recovery_points: int | None = None
    key_slots: int | None = None


@dataclass
class RecoveryPointView(View):
    name: str
    time: str
    item: str
    kind: str
    host: str
    paths: list[str]
    tier: str = "Vault"
    consistency: str = "FileSystemConsistent"
    files: int = 0
    size: int = 0
    stored_new: int = 0
    warnings: int = 0


@dataclass
class JobView(View):
    name: str
    operation: str
    status: str
    vault_name: str
    item: str | None
    start_time: str
    end_time: str | None
    error_code: str | None = None
    error_message: str | None = None
    recovery_point: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CheckView(View):
    name: str
    ok: bool
    read_data: bool
    recovery_points: int
    packs: int
    chunks: int
    bytes_read: int
    reclaimable_packs: int
    affected_recovery_points: list[str]
    problems: list[dict[str, Any]]


@dataclass
class PruneView(View):
    name: str
    packs_deleted: int
    bytes_deleted: int
    packs_condemned: int
    packs_repacked: int
    packs_resurrected: int
    records_waiting: int
    waiting_for: list[str]
    temporaries_removed: int


@dataclass
class KeySlotView(View):
    name: str
    label: str
    created: str
    current: bool = False
