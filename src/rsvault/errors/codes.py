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
    # policies
    POLICY_INVALID = "UserErrorPolicyInvalid"
    POLICY_NOT_FOUND = "UserErrorPolicyNotFound"
    POLICY_ALREADY_EXISTS = "UserErrorPolicyAlreadyExists"
    POLICY_IN_USE = "UserErrorPolicyInUse"
    # containers, protected items and protection
    CONTAINER_NOT_FOUND = "UserErrorContainerNotFound"
    ITEM_NOT_FOUND = "UserErrorProtectedItemNotFound"
    ITEM_ALREADY_PROTECTED = "UserErrorItemAlreadyProtected"
    ITEM_NOT_ACTIVELY_PROTECTED = "UserErrorBcmDatasourceNotPresent"
    ITEM_STATE_INVALID = "UserErrorItemStateInvalid"
    ITEM_SOFT_DELETED = "UserErrorItemSoftDeleted"
    ON_DEMAND_LIMIT_REACHED = "UserErrorOnDemandBackupLimitReached"
    VAULT_HAS_ITEMS = "UserErrorVaultHasProtectedItems"
    # jobs
    JOB_NOT_FOUND = "UserErrorJobNotFound"
    JOB_CANCEL_NOT_SUPPORTED = "UserErrorJobCancelNotSupported"
    JOB_NOT_CANCELLABLE = "UserErrorJobNotInCancellableState"
    JOB_NOT_IN_PROGRESS = "UserErrorJobNotInProgress"
    JOB_PROCESS_LOST = "JobProcessLost"
    JOB_WAIT_TIMED_OUT = "JobWaitTimedOut"
    # general
    INVALID_ARGUMENT = "UserErrorInvalidArgument"
    OPERATION_CANCELLED = "OperationCancelled"
    INTERNAL_ERROR = "InternalError"
