"""`rsvault diagnose` for a vault and a files item, against the real conditions it reports.

Each test makes the condition for real (the vault's folder gone, a wrong passphrase, the
state folder's volume full, a lease held by a live process, a clock behind the vault's own
records) and checks that the first failing check is the right one, with its code.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cli, TreeBuilder, tmpfs
from tests.e2e.controlplane import WEEKLY, catalog, cli_for, enable, write_policy

VAULT, POLICY, ITEM = "diag", "weekly", "docs"
FILES_CHECKS = [
    "files.paths",
    "files.cache-space",
    "store.reachable",
    "store.writable",
    "store.free-space",
    "store.leases",
    "vault.passphrase",
    "clock",
]
VAULT_CHECKS = [
    "store.reachable",
    "store.writable",
    "store.free-space",
    "store.leases",
    "vault.passphrase",
    "vault.check",
]


def protected_item(cli: Cli, root: Path, data: Path) -> None:
    """A vault outside RSVAULT_HOME, a files item, and one recovery point of it."""
    cli.create_vault(VAULT, root / "vault")
    policy = write_policy(root / "policy.json", WEEKLY)
    cli.ok("policy", "create", "--vault-name", VAULT, "--name", POLICY, "--policy", policy)
    enable(cli, VAULT, POLICY, ITEM, data)
    job = cli.ok("protection", "backup-now", "--vault-name", VAULT, "--item-name", ITEM)
    assert job["status"] == "Completed", job


def tree(root: Path, size: int = 300_000) -> Path:
    t = TreeBuilder(root, 7)
    t.random_file("data.bin", size)
    t.file("notes.txt", b"notes\n")
    return t.finish()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = cli_for(tmp_path / "home")
    protected_item(cli, tmp_path, tree(tmp_path / "data"))
    return cli


def diagnose(cli: Cli, *args: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    result = cli.run("diagnose", "--vault-name", VAULT, *args, **kwargs)
    assert isinstance(result.out, dict), result.describe()
    return result.rc, result.out


def verdicts(view: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["verdict"] for check in view["checks"]}


def check(view: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in view["checks"] if c["name"] == name)


def test_a_healthy_files_item_passes_every_check_in_order(cli: Cli) -> None:
    rc, view = diagnose(cli, "--item-name", ITEM)
    assert rc == 0, view
    assert [c["name"] for c in view["checks"]] == FILES_CHECKS
    assert set(verdicts(view).values()) == {"pass"}, view
    assert view["verdict"] == "pass"
    assert view["firstFailure"] is None
    assert view["kind"] == "files"
    assert "no lease is held" in check(view, "store.leases")["facts"]
    assert not list((Path(cli.home).parent / "vault" / "diagnose").glob("*")), "probe left"


def test_a_vault_diagnose_ends_with_its_check_summary(cli: Cli) -> None:
    rc, view = diagnose(cli)
    assert rc == 0, view
    assert [c["name"] for c in view["checks"]] == VAULT_CHECKS
    assert check(view, "vault.check")["facts"].startswith("1 recovery points"), view
    assert view["kind"] == "vault"


def test_an_unreachable_store_fails_first_and_skips_what_needs_it(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "vault").rename(tmp_path / "vault-unmounted")
    rc, view = diagnose(cli, "--item-name", ITEM)
    assert rc == 1, view
    assert view["firstFailure"] == "store.reachable"
    failed = check(view, "store.reachable")
    assert failed["code"] == "UserErrorVaultLocationUnusable"
    assert failed["actions"], failed
    assert verdicts(view)["files.paths"] == "pass"
    for name in ("store.writable", "store.free-space", "store.leases", "vault.passphrase"):
        assert check(view, name)["verdict"] == "skipped"
        assert check(view, name)["blockedBy"] == "store.reachable"


def test_a_wrong_passphrase_is_the_failing_check(cli: Cli) -> None:
    env = cli.env_with(RSVAULT_PASSPHRASE="not the passphrase")
    rc, view = diagnose(cli, "--item-name", ITEM, env=env)
    assert rc == 1
    assert view["firstFailure"] == "vault.passphrase"
    assert check(view, "vault.passphrase")["code"] == "UserErrorPassphraseIncorrect"
    rc, view = diagnose(cli, env=cli.env_with(RSVAULT_PASSPHRASE=None))
    assert rc == 1
    assert check(view, "vault.passphrase")["code"] == "UserErrorPassphraseMissing"
    assert verdicts(view)["vault.check"] == "skipped"


def test_a_missing_path_fails_the_paths_check(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "data" / "notes.txt").unlink()
    (tmp_path / "data").rename(tmp_path / "data-moved")
    rc, view = diagnose(cli, "--item-name", ITEM)
    assert rc == 1
    assert view["firstFailure"] == "files.paths"
    assert check(view, "files.paths")["code"] == "UserErrorBackupSourceNotFound"
    assert verdicts(view)["store.reachable"] == "pass", "other groups still run"


def test_a_lease_held_by_a_live_process_is_named(cli: Cli, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    lease = {
        "kind": "exclusive",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "purpose": "delete vault diag",
        "created": now.isoformat(),
        "expires": (now + timedelta(minutes=2)).isoformat(),
    }
    (tmp_path / "vault" / "locks" / "held-by-test").write_text(json.dumps(lease))
    rc, view = diagnose(cli)
    leases = check(view, "store.leases")
    assert leases["verdict"] == "warn", "a lease is a warning: it ends with its holder"
    assert leases["code"] == "UserErrorVaultLocked"
    assert f"pid {os.getpid()}" in leases["facts"]
    assert rc == 1, "but the exclusive lease keeps the check out"
    assert view["firstFailure"] == "vault.check"
    assert check(view, "vault.check")["code"] == "UserErrorVaultLocked"


def test_a_clock_behind_the_vaults_records_fails(cli: Cli) -> None:
    with contextlib.closing(catalog(cli.home)) as db:
        (stored,) = db.execute("SELECT max(start_time) FROM jobs").fetchone()
        later = datetime.fromisoformat(stored) + timedelta(days=1)
        db.execute("UPDATE jobs SET start_time = ? WHERE start_time = ?", (str(later), stored))
        db.commit()
    rc, view = diagnose(cli, "--item-name", ITEM)
    assert rc == 1
    assert view["firstFailure"] == "clock"
    assert check(view, "clock")["code"] == "UserErrorSystemClockWrong"


def test_test_freeze_is_for_vms_only(cli: Cli) -> None:
    result = cli.fails("UserErrorInvalidArgument", "diagnose", "--vault-name", VAULT,
                       "--item-name", ITEM, "--test-freeze")  # fmt: skip
    assert "--test-freeze" in result.error["message"]


def test_in_chinese(cli: Cli) -> None:
    rc, view = diagnose(cli, "--item-name", ITEM, "--lang", "zh-TW",
                        env=cli.env_with(RSVAULT_PASSPHRASE="wrong"))  # fmt: skip
    assert rc == 1
    failed = check(view, "vault.passphrase")
    assert failed["title"] == "已設定複雜密碼且能開啟保存庫"
    assert "保存庫" in failed["message"]
    text = cli.run("diagnose", "--vault-name", VAULT, "--lang", "zh-CN", output=None)
    assert "保管库" in text.out, text.describe()
    assert "PASS" in text.out, text.describe()


# --------------------------------------------------------------------------------------------
# The state folder on a volume of its own, nearly full


def test_a_full_cache_folder_fails_before_anything_else(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "home", "16m") as home:
        cli = cli_for(home)
        protected_item(cli, tmp_path, tree(tmp_path / "data", size=8 << 20))
        filler = home / "filler"
        free = os.statvfs(home).f_bavail * os.statvfs(home).f_frsize
        filler.write_bytes(b"\0" * max(free - (96 << 10), 0))
        rc, view = diagnose(cli, "--item-name", ITEM)
    assert rc == 1, view
    assert view["firstFailure"] == "files.cache-space"
    failed = check(view, "files.cache-space")
    assert failed["code"] == "SalLowDiskSpace"
    assert str(home) in failed["message"]
    assert verdicts(view)["vault.passphrase"] == "pass"
