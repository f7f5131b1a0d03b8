"""Every code rsvault raises. Each one has an entry in catalog.json (a test checks both ways)."""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    # vault and its store
    VAULT_NOT_FOUND = "UserErrorVaultNotFound"
    VAULT_ALREADY_EXISTS = "UserErrorVaultAlreadyExists"
    VAULT_NAME_INVALID = "UserErrorVaultNameInvalid"
    VAULT_LOCATION_UNUSABLE = "UserErrorVaultLocationUnusable"
    VAULT_FORMAT_UNSUPPORTED = "VaultFormatUnsupported"
    VAULT_LOCKED = "UserErrorVaultLocked"
    VAULT_LEASE_LOST = "VaultLeaseLost"
    VAULT_NOT_EMPTY = "UserErrorVaultNotEmpty"
    VAULT_DATA_CORRUPT = "VaultDataCorrupt"
    VAULT_CHECK_FAILED = "VaultCheckFailed"
    STORE_UNAVAILABLE = "StoreUnavailable"
    STORE_OBJECT_MISSING = "StoreObjectMissing"
    NOT_ENOUGH_SPACE = "UserErrorNotEnoughSpace"
    # keys and passphrases
    PASSPHRASE_MISSING = "UserErrorPassphraseMissing"
    PASSPHRASE_INCORRECT = "UserErrorPassphraseIncorrect"
    PASSPHRASE_TOO_WEAK = "UserErrorPassphraseTooWeak"
    KEY_SLOT_NOT_FOUND = "UserErrorKeySlotNotFound"
    KEY_SLOT_LAST = "UserErrorLastKeySlot"
    # backup
    BACKUP_SOURCE_NOT_FOUND = "UserErrorBackupSourceNotFound"
    BACKUP_OPERATION_IN_PROGRESS = "UserErrorBackupOperationInProgress"
    FILE_ACCESS_DENIED = "FileSkippedAccessDenied"
    FILE_VANISHED = "FileSkippedNotFound"
    FILE_READ_ERROR = "FileSkippedReadError"
    METADATA_NOT_RESTORED = "MetadataNotRestored"
    # recovery points and restore
    RECOVERY_POINT_NOT_FOUND = "UserErrorRecoveryPointNotFound"
    RESTORE_TARGET_NOT_WRITABLE = "UserErrorRestoreTargetNotWritable"
    RESTORE_PATH_NOT_IN_RP = "UserErrorRestorePathNotInRecoveryPoint"
    RESTORE_UNSAFE_PATH = "RestoreUnsafePath"
    # general
    INVALID_ARGUMENT = "UserErrorInvalidArgument"
    OPERATION_CANCELLED = "OperationCancelled"
    INTERNAL_ERROR = "InternalError"
