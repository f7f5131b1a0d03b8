"""What services return: plain data that renders as a table row or a JSON object."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def iso_or_none(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC; SQLite hands back naive datetimes that were stored as UTC."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="seconds")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


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
    soft_delete_days: int = 14
    max_concurrent_backups: int = 4
    key_slots: int | None = None
    items_by_state: dict[str, int] = field(default_factory=dict)
    soft_deleted_items: int = 0
    recovery_points: int = 0
    recovery_points_size: int = 0
    recovery_points_stored: int = 0
    jobs_last24h: dict[str, int] = field(default_factory=dict)


@dataclass
class RecoveryPointView(View):
    name: str
    time: str
    item: str
    kind: str
    tier: str
    consistency: str
    expiry: str | None
    retain_until: str | None = None
    kept_for: list[str] = field(default_factory=list)
    files: int = 0
    size: int = 0
    stored_new: int = 0
    job: str | None = None
    host: str = ""
    paths: list[str] = field(default_factory=list)


@dataclass
class JobView(View):
    name: str
    operation: str
    status: str
    vault_name: str
    item: str | None
    start_time: str
    end_time: str | None
    duration: float | None = None
    trigger: str | None = None
    phase: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    recovery_point: str | None = None
    bytes_read: int = 0
    bytes_transferred: int = 0
    bytes_stored: int = 0
    sub_tasks: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    # for a failed or warned job: each code once, with its causes and what to do
    advice: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PolicyView(View):
    name: str
    vault_name: str
    policy_type: str
    schedule: str
    retention: str
    items: int
    modified: str
    document: dict[str, Any] = field(default_factory=dict)


@dataclass
class ContainerView(View):
    name: str
    vault_name: str
    kind: str
    items: int
    max_concurrent_backups: int
    registered: str
    uri: str | None = None


@dataclass
class ItemView(View):
    name: str
    vault_name: str
    kind: str
    container: str
    policy: str | None
    protection_state: str
    delete_state: str
    paths: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    next_run: str | None = None
    last_backup_time: str | None = None
    last_backup_status: str | None = None
    last_error_code: str | None = None
    active_job: str | None = None
    recovery_points: int = 0
    latest_recovery_point: str | None = None
    purge_at: str | None = None
    # in ProtectionError: the last error, what to do, and the diagnose command to run
    advice: dict[str, Any] | None = None


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


@dataclass
class VmDiskView(View):
    target: str
    size: int
    format: str | None
    path: str | None
    changed_block_tracking: bool


@dataclass
class ProtectableItemView(View):
    name: str
    container: str
    state: str
    vcpus: int
    memory_mib: int
    guest_agent_channel: bool
    disks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class VmCheckView(View):
    name: str
    container: str
    protected: bool
    vault_name: str | None
    item_name: str | None
    state: str
    guest_agent_channel: bool
    disks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class DiagnoseView(View):
    """The checks of one `diagnose` run, in the order they ran."""

    name: str
    vault_name: str
    kind: str  # vault | files | vm
    verdict: str  # fail if any check failed, else warn if any warned, else pass
    first_failure: str | None
    checks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TroubleshootView(View):
    """One catalog entry in one language, as `troubleshoot` shows it."""

    name: str  # the code
    title: str
    category: str
    message: str
    causes: list[str]
    actions: list[str]
    raised: bool
    azure_id: str | None = None
    aliases: list[str] = field(default_factory=list)
    raised_in: list[str] = field(default_factory=list)
    lookup_only: str | None = None
    equivalent: str | None = None
    related: list[str] = field(default_factory=list)
    match: dict[str, Any] | None = None  # with --message: how it was found, and how surely


@dataclass
class CatalogEntryView(View):
    """A line of `troubleshoot list`."""

    name: str
    category: str
    title: str
    raised: bool
    azure_id: str | None = None
