"""The CLI end to end with its catalog in a real PostgreSQL server (RSVAULT_DATABASE_URL).

The server is the session's private one (tests/support/pgserver.py); each test gets a new
database. The vault data still lives in a directory: only the catalog moves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from tests.conftest import POSTGRES_GROUP
from tests.e2e.conftest import Cli, TreeBuilder, assert_same_tree, restored
from tests.support.pgserver import PostgresServer

pytestmark = pytest.mark.xdist_group(POSTGRES_GROUP)

VAULT = "pgvault"
ITEM = "small-tree"


def build_small_tree(root: Path) -> Path:
    t = TreeBuilder(root, seed=11)
    t.file("hello.txt", b"hello from postgres\n" * 50)
    t.random_file("data/random.bin", 300_000)
    t.file("data/ünïcødé ✓.txt", "ünïcødé".encode())
    t.file("empty")
    t.dir("private", mode=0o700)
    t.file("private/key", b"k", mode=0o400)
    t.symlink("link", "hello.txt")
    return t.finish()


def _rows(server: PostgresServer, url: str, sql: str) -> list[tuple[Any, ...]]:
    database = make_url(url).database
    assert database is not None
    return server.query(sql, database=database)


def test_cli_keeps_its_catalog_in_postgresql(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    cli = Cli.with_home()
    cli.env["RSVAULT_DATABASE_URL"] = postgres_url
    source = build_small_tree(tmp_path / "src")

    view = cli.create_vault(VAULT, location=tmp_path / "vault-data")
    assert view["name"] == VAULT
    listed = cli.ok("vault", "list", output="json")
    assert [v["name"] for v in listed] == [VAULT]
    assert listed[0]["vaultId"] == view["vaultId"]

    backup = cli.backup(VAULT, source, item=ITEM)
    rp = backup["recoveryPoint"]
    assert backup["warnings"] == [], backup
    assert rp in [p["name"] for p in cli.recovery_points(VAULT, item=ITEM)]

    target = tmp_path / "restore"
    restore = cli.restore(VAULT, rp, target)
    assert restore["status"] == "Completed", restore
    assert_same_tree(source, restored(target, source))

    # the catalog rows are in PostgreSQL ...
    vaults = _rows(postgres_server, postgres_url, "SELECT name, vault_id FROM vaults")
    assert vaults == [(VAULT, view["vaultId"])]
    jobs = _rows(
        postgres_server,
        postgres_url,
        "SELECT name, operation, status, recovery_point FROM jobs ORDER BY start_time, name",
    )
    assert (backup["name"], "Backup", "Completed", rp) in jobs, jobs
    assert restore["name"] in [name for name, *_ in jobs], jobs
    assert {operation for _, operation, *_ in jobs} == {"Backup", "Restore"}, jobs

    # ... and nowhere else: no SQLite catalog under RSVAULT_HOME
    assert cli.home.is_dir()
    assert sorted(cli.home.rglob("catalog.sqlite*")) == []
    # the same home without the URL has its own (empty) SQLite catalog, not these rows
    assert cli.ok("vault", "list", env=cli.env_with(RSVAULT_DATABASE_URL=None)) == []
