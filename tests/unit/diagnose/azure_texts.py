"""Azure Backup's own codes and error messages, as users paste them: the test inputs.

AZURE_CODES: every code in the error tables of ../shared/reference/azure-backup.md §3 and
the seeds (with Azure's numeric ids and other spellings). AZURE_MESSAGES: the messages of
the seeds (Azure's Chinese documentation: zh-CN and zh-TW) and their codes. A message that
two Azure codes share in meaning (the VM is gone: 320001 and 400094) names every code it may
rightly resolve to.
"""

from __future__ import annotations

AZURE_CODES = [
    # VM backup
    "UserErrorGuestAgentStatusUnavailable", "GuestAgentSnapshotTaskStatusError",
    "UserErrorVmProvisioningStateFailed", "UserErrorRpCollectionLimitReached",
    "UserErrorKeyvaultPermissionsNotConfigured", "ExtensionSnapshotFailedNoNetwork",
    "ExtensionOperationFailedForManagedDisks", "ExtentionOperationFailed",
    "BackUpOperationFailed", "BackUpOperationFailedV2", "UserErrorUnsupportedDiskSize",
    "UserErrorBackupOperationInProgress", "UserErrorCrpReportedUserError",
    "UserErrorBcmDatasourceNotPresent", "VMRestorePointInternalError",
    "CopyingVHDsFromBackUpVaultTakingLongTime", "UserErrorVmNotInDesirableState",
    "VmNotInDesirableState", "UserErrorFsFreezeFailed", "ExtensionSnapshotFailedCOM",
    "ExtensionInstallationFailedCOM", "ExtensionInstallationFailedMDTC",
    "ExtensionFailedVssWriterInBadState", "ExtensionFailedVssServiceInBadState",
    "ExtensionConfigParsingFailure", "ExtensionStuckInDeletionState",
    "ExtensionFailedSnapshotLimitReachedError", "ExtensionFailedTimeoutVMNetworkUnresponsive",
    "320001", "ResourceNotFound", "400094", "BCMV2VMNotFound", "UserErrorVmNotFoundV2",
    "UserErrorBCMPremiumStorageQuotaError", "380008", "AzureVmOffline",
    "ExtensionSnapshotBitlockerError", "ExtensionSnapshotFailedNoSecureNetwork",
    "ExtensionVCRedistInstallationFailure", "UserErrorRequestDisallowedByPolicy",
    "UserErrorUnableToOpenMount", "UserErrorMigrationFromTrustedLaunchVMToNonTrustedVMNotAllowed",
    # VM restore
    "UserErrorInstantRpNotFound", "UserErrorSkuNotAvailable", "UserErrorMarketPlaceVMNotSupported",
    "UserErrorVmNotShutDown", "VMMarketplaceInvalidInputmessage",
    "UserErrorCrossSubscriptionRestoreNotSuppportedForOLR",
    "UserErrorCrossSubscriptionRestoreNotSuppportedForUnManagedAzureVM",
    "UserErrorCrossSubscriptionRestoreNotSuppportedForCRR",
    "UserErrorCrossSubscriptionRestoreNotSuppportedFromSnapshot",
    "UserErrorCrossSubscriptionRestoreInvalidTenant",
    "UserErrorCrossSubscriptionRestoreInvalidTargetSubscription",
    "UserErrorCrossSubscriptionRestoreNotSuppportedForEncryptedAzureVM",
    "UserErrorCrossSubscriptionRestoreNotSuppportedForTrustedLaunchAzureVM",
    # Linux extension scripts
    "Pre-ScriptExecutionFailed", "Post-ScriptExecutionFailed", "Pre-ScriptNotFound",
    "Post-ScriptNotFound", "IncorrectPluginhostFile", "IncorrectJSONConfigFile",
    "InsufficientPermissionforPre-Script", "InsufficientPermissionforPost-Script",
    "Pre-ScriptTimeout", "Post-ScriptTimeout",
    # MARS agent
    "34513", "403", "100050", "407", "100110", "0x1FC07", "34506", "230006", "0x80070570",
    "0x80070002", "0x80070003", "0x80070005", "0x8007018b", "SalChecksumStoreInitializationFailed",
    "SalVhdInitializationError", "SalLowDiskSpace", "SalBitmapError", "0x29834", "100130",
    "120002",
]  # fmt: skip

# The Linux extension's numeric statuses that are failures (0, 1 and 3 mean success).
EXTENSION_STATUSES = [
    2, 4, 11, 12, 13, 14, 15, 16, 76, 85, 121, 122, 123, 173, 300, 301, 302, 303, 304, 305,
    306, 307, 308, 309, 310, 311, 312, 313, 314, 315, 316, 317, 318, 402, 761,
]  # fmt: skip

_GONE = ("ResourceNotFound", "BCMV2VMNotFound", "UserErrorVmNotFoundV2")
_AGENT = ("UserErrorGuestAgentStatusUnavailable", "GuestAgentSnapshotTaskStatusError")

AZURE_MESSAGES: list[tuple[str, tuple[str, ...]]] = [
    # seed 000 (zh-CN, 2018)
    ("VM 代理无法与 Azure 备份进行通信", _AGENT),
    ("由于虚拟机未建立网络连接，快照操作失败", ("ExtensionSnapshotFailedNoNetwork",)),
    ("VMSnapshot 扩展操作失败", ("ExtensionOperationFailedForManagedDisks",)),
    ("由于 VM 代理无响应，无法执行操作", _AGENT),
    ("备份失败并出现内部错误 - 请在几分钟后重试操作", ("BackUpOperationFailed",)),
    ("不支持指定的磁盘配置", ("UserErrorUnsupportedDiskSize",)),
    # seed 001 (zh-CN, 2021): the messages, without their codes
    ("从保管库复制备份的数据超时", ("CopyingVHDsFromBackUpVaultTakingLongTime",)),
    ("VM 未处于允许备份的状态。", ("UserErrorVmNotInDesirableState",)),
    ("未能冻结一个或多个 VM 装入点来获取文件系统一致快照。", ("UserErrorFsFreezeFailed",)),
    ("由于 COM + 错误导致快照操作失败", ("ExtensionSnapshotFailedCOM",)),
    ("COM+ 错误导致扩展安装/操作失败", ("ExtensionInstallationFailedCOM",)),
    (
        "扩展安装失败，出现错误“COM+ 无法与 Microsoft 分布式事务处理协调器通信”。",
        ("ExtensionInstallationFailedMDTC",),
    ),
    ("快照操作失败，因为 VSS 编写器处于错误状态。", ("ExtensionFailedVssWriterInBadState",)),
    (
        "由于 VSS（卷影复制）服务的状态错误，快照操作失败。",
        ("ExtensionFailedVssServiceInBadState",),
    ),
    ("VM 创建失败，因为所选 VM 大小不可用。", ("UserErrorSkuNotAvailable",)),
    ("由于没有市场购买请求，创建 VM 失败。", ("UserErrorMarketPlaceVMNotSupported",)),
    ("无法分析备份扩展的配置。", ("ExtensionConfigParsingFailure",)),
    ("扩展状态不支持备份操作", ("ExtensionStuckInDeletionState",)),
    (
        "由于某些附加的磁盘已超出快照限制，因此快照操作失败",
        ("ExtensionFailedSnapshotLimitReachedError",),
    ),
    ("快照操作因 VM 资源不足而失败。", ("ExtensionFailedTimeoutVMNetworkUnresponsive",)),
    ("无法执行该操作，因为 VM 已不存在。", _GONE),
    ("虚拟机不存在", _GONE),
    (
        "由于存储帐户中的可用空间不足，无法复制虚拟机的快照",
        ("UserErrorBCMPremiumStorageQuotaError",),
    ),
    ("无法安装 Microsoft 恢复服务扩展，因为虚拟机未运行", ("AzureVmOffline",)),
    (
        "快照操作失败，出现卷影复制服务 (VSS) 操作错误“此驱动器已通过 BitLocker 驱动器加密锁定。"
        "必须通过控制面板解锁此驱动器”。",
        ("ExtensionSnapshotBitlockerError",),
    ),
    (
        "由于无法创建安全的网络通信通道，因此快照操作失败。",
        ("ExtensionSnapshotFailedNoSecureNetwork",),
    ),
    (
        "由于 Visual C++ Redistributable for Visual Studio 2012 安装失败，因此快照操作失败。",
        ("ExtensionVCRedistInstallationFailure",),
    ),
    ("在 VM 上配置了防止快照操作的无效策略。", ("UserErrorRequestDisallowedByPolicy",)),
    (
        "还原失败，因为找不到 VM 的快照。 快照可能已被删除，请检查。",
        ("UserErrorInstantRpNotFound",),
    ),
    # seed 002 (zh-TW, 2017)
    ("無法執行作業，因為 VM 已不存在。", _GONE),
    ("無法與 VM 代理程式通訊來取得快照集狀態。", _AGENT),
    ("復原服務擴充作業失敗。", ("ExtensionOperationFailedForManagedDisks",)),
    ("虛擬機器不存在。", _GONE),
    (
        "命令執行失敗。 另一項作業目前正在此項目上進行。 請等到前一項作業完成，然後重試",
        ("UserErrorBackupOperationInProgress",),
    ),
    (
        "從備份保存庫複製 VHD 已逾時 - 請在幾分鐘內重試此作業。",
        ("CopyingVHDsFromBackUpVaultTakingLongTime",),
    ),
    ("備份因為內部錯誤而失敗 - 請在幾分鐘內重試此作業。", ("BackUpOperationFailed",)),
    (
        "無法在選取的項目上安裝 Azure 復原服務延伸模組 - VM 代理程式是 Azure 復原服務延伸模組的"
        "先決條件。",
        ("AzureVmOffline",),
    ),
    (
        "擴充功能安裝失敗，發生錯誤「COM+ 無法與 Microsoft Distributed Transaction Coordinator "
        "通話」",
        ("ExtensionInstallationFailedMDTC",),
    ),
    (
        "快照集作業失敗，發生 VSS 作業錯誤「這個磁碟機已由 BitLocker 磁碟機加密鎖定」。",
        ("ExtensionSnapshotBitlockerError",),
    ),
    ("VM 目前的狀態不允許備份。", ("UserErrorVmNotInDesirableState",)),
    ("找不到 Azure 虛擬機器。", _GONE),
    ("虛擬機器代理程式不存在於虛擬機器上", (*_AGENT, "AzureVmOffline")),
    ("快照集作業失敗，因為 VSS 寫入器處於不正常狀態", ("ExtensionFailedVssWriterInBadState",)),
    ("快照集作業失敗，因為組態的剖析失敗", ("ExtensionConfigParsingFailure",)),
    (
        "Azure 備份服務沒有足夠的 Key Vault權限可備份加密的虛擬機器。",
        ("UserErrorKeyvaultPermissionsNotConfigured",),
    ),
    ("無法凍結 VM 的一或多個掛接點以取得檔案系統一致快照集", ("UserErrorFsFreezeFailed",)),
    (
        "因為建立安全網路通訊通道時發生失敗，所以快照集作業失敗",
        ("ExtensionSnapshotFailedNoSecureNetwork",),
    ),
    (
        "因為安裝適用於 Visual Studio 2012 的 Visual C++ 可轉散發套件時發生失敗，"
        "所以快照集作業失敗",
        ("ExtensionVCRedistInstallationFailure",),
    ),
    ("不支援取消這種工作類型：請等待工作完成。", ("UserErrorJobCancelNotSupported",)),
    ("作業不是處於可取消的狀態：請等待作業完成。", ("UserErrorJobNotInCancellableState",)),
    (
        "無法取消工作，因為它不在進行中：只支援取消進行中的工作。",
        ("UserErrorJobNotInProgress",),
    ),
    ("選取的子網路不存在：請選取已存在的子網路", ("UserErrorNetworkNotFound",)),
    (
        "所選取的 DNS 名稱已被使用：請指定不同的 DNS 名稱，然後再試一次。",
        ("UserErrorVmNameAlreadyExists",),
    ),
    # seed 003 (MARS agent, zh-CN)
    (
        "提供的保管库凭据无效。 该文件已损坏，或者没有与恢复服务关联的最新凭据。 (ID:34513)",
        ("InvalidVaultCredentials",),
    ),
    (
        "提供的保管库凭据无效。 该文件已损坏，或者没有与恢复服务关联的最新凭据。",
        ("InvalidVaultCredentials",),
    ),
    (
        "Microsoft Azure 恢复服务代理无法连接到 Microsoft Azure 备份。 (ID:100050) "
        "检查网络设置，并确保你能够连接到 internet。",
        ("AgentUnableToConnect",),
    ),
    (
        "未能设置安全备份的加密密钥。 激活未完全成功，但加密密码已保存到以下文件。",
        ("EncryptionKeyNotSet",),
    ),
    ("错误 34506。 未正确配置此计算机上存储的加密密码。", ("EncryptionPassphraseNotConfigured",)),
]
