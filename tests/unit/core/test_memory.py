"""Tuning the allocator is cheap: no child process at every start."""

from __future__ import annotations

import subprocess

import pytest

from rsvault.core.memory import tune_allocator


def test_tuning_the_allocator_starts_no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("tune_allocator started a process")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    tune_allocator()
