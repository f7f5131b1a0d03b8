"""What a command loads: the libraries it does not need stay out of its start-up.

Start-up is a large part of a short command (an incremental VM backup takes about a second),
and every library loaded adds to the peak memory of the command; so a files backup or restore
must not load libvirt, and output for programs must not load the table renderer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.e2e.conftest import Cli, TreeBuilder

pytestmark = pytest.mark.xdist_group("e2e-startup")

# Runs the CLI in this interpreter and reports, on the last line of stderr, what it loaded.
_REPORTING_CLI = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
from rsvault.cli.app import main
sys.argv[0] = "rsvault"
main()
"""
NEVER_FOR_FILES = {"libvirt", "libvirtmod", "nbd"}
NEVER_FOR_PROGRAMS = {"rich", "pydantic", "alembic"}


def loaded_by(cli: Cli, *args: str) -> set[str]:
    argv = [sys.executable, "-c", _REPORTING_CLI, *args, "--output", "json"]
    done = subprocess.run(argv, env=cli.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return {name.partition(".")[0] for name in json.loads(done.stderr.splitlines()[-1])}


def test_files_commands_load_neither_libvirt_nor_the_table_renderer(tmp_path: Path) -> None:
    cli = Cli.with_home(tmp_path / "home")
    cli.create_vault("startup")
    tree = TreeBuilder(tmp_path / "src", seed=3)
    tree.random_file("a.bin", 100_000)
    source = tree.finish()
    vault = ["--vault-name", "startup"]
    backup = loaded_by(cli, "backup", "files", *vault, "--path", str(source))
    point = cli.ok("recoverypoint", "list", *vault)[0]["name"]
    target = str(tmp_path / "restored")
    restore = loaded_by(cli, "restore", "files", *vault, "--rp-name", point, "--target", target)
    for modules in (backup, restore):
        assert not modules & NEVER_FOR_FILES, modules & NEVER_FOR_FILES
        assert not modules & NEVER_FOR_PROGRAMS, modules & NEVER_FOR_PROGRAMS
        assert {"rsvault", "sqlalchemy", "zstandard"} <= modules  # it did run the command


def test_each_command_records_the_files_it_loads_for_its_next_start(tmp_path: Path) -> None:
    cli = Cli.with_home(tmp_path / "home")
    cli.create_vault("ahead")
    startup = cli.home / "startup"
    assert (startup / "vault.create.list").is_file()
    assert not (startup / "vault.list.list").exists()
    assert [v["name"] for v in cli.ok("vault", "list")] == ["ahead"]
    files = (startup / "vault.list.list").read_text().splitlines()
    assert any("/sqlalchemy/" in name for name in files)
    assert not any("/libvirt" in name for name in files)  # only what this command loaded
    assert [v["name"] for v in cli.ok("vault", "list")] == ["ahead"]  # now read ahead


def test_the_vm_backup_path_leaves_the_files_engine_out() -> None:
    """`protection backup-now` of a VM goes through these modules; the files engine (walker,
    files cache, read workers) is no part of it."""
    code = (
        "import sys, rsvault.services.protection, rsvault.services.vmbackup;"
        "print(sorted(m for m in sys.modules if m.startswith('rsvault.engine.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.replace("'", '"')))
    assert "rsvault.engine.diskbackup" in loaded
    assert not loaded & {"rsvault.engine.backup", "rsvault.engine.readpool"}, loaded


@pytest.mark.parametrize("worker", ["rsvault.engine.readworker", "rsvault.engine.restoreworker"])
def test_workers_leave_openssl_s_libcrypto_unmapped(worker: str) -> None:
    """Every worker process maps what it imports: hashlib alone maps libcrypto, 3 MiB of it
    resident in each worker, for the blake2b of a temp name."""
    code = (
        f"import sys, {worker};"
        "print(sorted(m for m in sys.modules if m in ('hashlib', '_hashlib', 'ssl', 'secrets')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    maps = subprocess.run(
        [sys.executable, "-c", f"import {worker}; print(open('/proc/self/maps').read())"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "libcrypto.so" not in maps.stdout


# Runs the console script's entry in this interpreter; reports the thread of each Argon2id
# stretch ("stretch-ahead": begun before the libraries were loaded).
_STRETCH_REPORTING_CLI = """
import atexit, json, sys, threading
from rsvault.vault import kdf
stretches = []
real = kdf._argon2id
def watched(passphrase, how):
    stretches.append(threading.current_thread().name == "stretch-ahead")
    return real(passphrase, how)
kdf._argon2id = watched
atexit.register(lambda: print(json.dumps(stretches), file=sys.stderr))
from rsvault.cli.entry import main
sys.argv[0] = "rsvault"
main()
"""


def stretches_of(cli: Cli, *args: str) -> list[bool]:
    argv = [sys.executable, "-c", _STRETCH_REPORTING_CLI, *args, "--output", "json"]
    done = subprocess.run(argv, env=cli.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found: list[bool] = json.loads(done.stderr.splitlines()[-1])
    return found


def test_a_command_that_opens_a_vault_stretches_the_passphrase_before_loading_libraries(
    tmp_path: Path,
) -> None:
    """The Argon2id memory is taken before the libraries are loaded, not on top of them."""
    cli = Cli.with_home(tmp_path / "home")
    cli.create_vault("early", tmp_path / "vault")
    memo = cli.home / "startup" / "unlock.json"
    slot = json.loads(next((tmp_path / "vault" / "keys").iterdir()).read_text())
    assert json.loads(memo.read_text())["vaults"]["early"]["salt"] == slot["salt"]
    check = ("vault", "check", "--name", "early")
    assert stretches_of(cli, *check) == [True]  # once, ahead of the libraries
    assert stretches_of(cli, "recoverypoint", "list", "--vault-name", "early") == []
    memo.unlink()
    assert stretches_of(cli, *check) == [False]  # no memo: where the vault opens
    assert stretches_of(cli, *check) == [True]
