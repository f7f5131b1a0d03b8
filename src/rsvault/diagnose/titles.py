"""What each check looks at, in the three languages, as `diagnose` prints it."""

from __future__ import annotations

from rsvault.errors.catalog import DEFAULT_LANGUAGE

TITLES: dict[str, tuple[str, str, str]] = {  # check -> (en, zh-CN, zh-TW)
    "vm.libvirt": ("libvirt reachable", "可以连接 libvirt", "可以連線到 libvirt"),
    "vm.domain": ("Domain exists", "域存在", "網域存在"),
    "vm.state": ("VM state allows a backup", "虚拟机状态允许备份", "虛擬機器狀態允許備份"),
    "vm.agent-channel": (
        "Guest agent channel present",
        "存在来宾代理通道",
        "有來賓代理程式通道",
    ),
    "vm.agent": (
        "Guest agent answers (and its version)",
        "来宾代理有响应（及其版本）",
        "來賓代理程式有回應（及其版本）",
    ),
    "vm.freeze": (
        "File systems freeze and thaw",
        "文件系统可以冻结和解冻",
        "檔案系統可以凍結和解除凍結",
    ),
    "vm.disk-sizes": ("Disk sizes within the limit", "磁盘大小未超出限制", "磁碟大小未超出限制"),
    "vm.checkpoints": (
        "Checkpoint count within the limit",
        "检查点数量未超出限制",
        "檢查點數量未超出限制",
    ),
    "files.paths": ("Paths exist and can be read", "路径存在且可读取", "路徑存在且可讀取"),
    "files.cache-space": (
        "Cache folder has free space (5-10% of the data)",
        "缓存文件夹有足够的可用空间（数据的 5-10%）",
        "快取資料夾有足夠的可用空間（資料的 5-10%）",
    ),
    "store.reachable": (
        "Vault store reachable (no proxy for a local folder)",
        "可以访问保管库存储（本地文件夹不经过代理）",
        "可以存取保存庫存放區（本機資料夾不經過 Proxy）",
    ),
    "store.writable": ("Vault store writable", "保管库存储可写入", "保存庫存放區可寫入"),
    "store.free-space": (
        "Vault store has free space",
        "保管库存储有可用空间",
        "保存庫存放區有可用空間",
    ),
    "store.leases": ("Locks held, and by whom", "持有的锁及其持有者", "持有的鎖定及其持有者"),
    "vault.passphrase": (
        "Passphrase set and opens the vault",
        "已设置密码且能打开保管库",
        "已設定複雜密碼且能開啟保存庫",
    ),
    "vault.check": (
        "Vault check (structure)",
        "保管库检查（结构）",
        "保存庫檢查（結構）",
    ),
    "clock": ("System clock is sane", "系统时钟正常", "系統時鐘正常"),
}

_COLUMN = {"en": 0, "zh-CN": 1, "zh-TW": 2}


def title(check: str, language: str = DEFAULT_LANGUAGE) -> str:
    names = TITLES.get(check)
    return names[_COLUMN.get(language, 0)] if names else check
