"""Shared fixtures: every test gets its own RSVAULT_HOME and never touches the real one."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RSVAULT_HOME", str(tmp_path / "rsvault-home"))
    monkeypatch.delenv("RSVAULT_PASSPHRASE", raising=False)
    return
