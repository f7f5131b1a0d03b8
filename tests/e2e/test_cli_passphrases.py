"""Passphrases through the CLI: add, change, remove; data is never rewritten."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

RSVAULT = str(Path(sys.executable).parent / "rsvault")


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RSVAULT, *args], env=env, capture_output=True, text=True, check=False)


def blobs(root: Path, prefix: str) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in (root / prefix).rglob("*") if p.is_file()
    }


def test_change_add_remove_passphrase(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RSVAULT_HOME": str(tmp_path / "home"),
        "RSVAULT_PASSPHRASE": "first-pass-1",
    }
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("hello\n")
    location = tmp_path / "vault"
    assert run(env, "vault", "create", "--name", "vp", "--location", str(location)).returncode == 0
    assert run(env, "backup", "files", "--vault-name", "vp", "--path", str(source)).returncode == 0
    packs_before = blobs(location, "data")

    changed = run(
        {**env, "RSVAULT_NEW_PASSPHRASE": "second-pass-2"},
        "vault",
        "passphrase",
        "change",
        "--name",
        "vp",
    )
    assert changed.returncode == 0, changed.stderr
    old = run(env, "vault", "check", "--name", "vp", "-o", "json")
    assert old.returncode == 12
    assert json.loads(old.stderr)["error"]["code"] == "UserErrorPassphraseIncorrect"

    env["RSVAULT_PASSPHRASE"] = "second-pass-2"
    assert run(env, "vault", "check", "--name", "vp").returncode == 0
    points = json.loads(
        run(env, "recoverypoint", "list", "--vault-name", "vp", "-o", "json").stdout
    )
    assert len(points) == 1
    assert blobs(location, "data") == packs_before  # no data rewritten

    secret = tmp_path / "third"
    secret.write_text("third-pass-3\n")
    added = run(
        env,
        "vault",
        "passphrase",
        "add",
        "--name",
        "vp",
        "--new-passphrase-file",
        str(secret),
        "-o",
        "json",
    )
    assert added.returncode == 0, added.stderr
    slots = json.loads(run(env, "vault", "passphrase", "list", "--name", "vp", "-o", "json").stdout)
    assert len(slots) == 2
    mine = next(s["name"] for s in slots if s["current"])
    assert run(env, "vault", "passphrase", "remove", "--name", "vp", "--slot", mine).returncode == 0
    opened = run(
        env, "vault", "show", "--name", "vp", "--passphrase-file", str(secret), "-o", "json"
    )
    assert opened.returncode == 0, opened.stderr

    env["RSVAULT_PASSPHRASE"] = "third-pass-3"
    last = json.loads(run(env, "vault", "passphrase", "list", "--name", "vp", "-o", "json").stdout)[
        0
    ]
    refused = run(
        env, "vault", "passphrase", "remove", "--name", "vp", "--slot", last["name"], "-o", "json"
    )
    assert refused.returncode == 1
    assert json.loads(refused.stderr)["error"]["code"] == "UserErrorLastKeySlot"


def test_weak_new_passphrase_is_refused(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RSVAULT_HOME": str(tmp_path / "home"),
        "RSVAULT_PASSPHRASE": "first-pass-1",
    }
    assert run(env, "vault", "create", "--name", "vp").returncode == 0
    weak = run(
        {**env, "RSVAULT_NEW_PASSPHRASE": "short"},
        "vault",
        "passphrase",
        "add",
        "--name",
        "vp",
        "-o",
        "json",
    )
    assert json.loads(weak.stderr)["error"]["code"] == "UserErrorPassphraseTooWeak"
    assert (
        len(
            json.loads(run(env, "vault", "passphrase", "list", "--name", "vp", "-o", "json").stdout)
        )
        == 1
    )
