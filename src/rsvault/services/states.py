"""The names Azure Backup users know: job operations and statuses, item protection states."""

from __future__ import annotations

from enum import StrEnum


class Operation(StrEnum):
    BACKUP = "Backup"
    RESTORE = "Restore"
    CONFIGURE_BACKUP = "ConfigureBackup"
    DISABLE_BACKUP = "DisableBackup"
    DELETE_BACKUP_DATA = "DeleteBackupData"
    PRUNE = "Prune"


class JobStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    CANCELLING = "Cancelling"
    CANCELLED = "Cancelled"
    COMPLETED = "Completed"
    COMPLETED_WITH_WARNINGS = "CompletedWithWarnings"
    FAILED = "Failed"


RUNNING = (JobStatus.IN_PROGRESS, JobStatus.CANCELLING)


class Trigger(StrEnum):
    SCHEDULED = "Scheduled"
    ON_DEMAND = "OnDemand"
    USER = "User"


class TaskName(StrEnum):
    TAKE_SNAPSHOT = "Take Snapshot"
    TRANSFER = "Transfer data to vault"


class TaskStatus(StrEnum):
    NOT_STARTED = "NotStarted"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    SKIPPED = "Skipped"


class ProtectionState(StrEnum):
    IR_PENDING = "IRPending"
    PROTECTED = "Protected"
    PROTECTION_ERROR = "ProtectionError"
    PROTECTION_STOPPED = "ProtectionStopped"
    BACKUPS_SUSPENDED = "BackupsSuspended"


# States in which the schedule runs and on-demand backups are allowed.
ACTIVE_STATES = (
    ProtectionState.IR_PENDING,
    ProtectionState.PROTECTED,
    ProtectionState.PROTECTION_ERROR,
)


class DeleteState(StrEnum):
    NOT_DELETED = "NotDeleted"
    TO_BE_DELETED = "ToBeDeleted"


class ItemKind(StrEnum):
    FILES = "files"
    VM = "vm"


class PointKind(StrEnum):
    SCHEDULED = "Scheduled"
    ON_DEMAND = "OnDemand"
