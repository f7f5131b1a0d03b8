"""Tuning the allocator is cheap: no child process at every start."""

from __future__ import annotations

import os
import subprocess

import pytest

from rsvault.core.memory import release_free_memory, tune_allocator
from rsvault.core.units import KiB, MiB


def test_tuning_the_allocator_starts_no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("tune_allocator started a process")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    tune_allocator()


def test_free_memory_inside_the_heap_goes_back_to_the_system() -> None:
    """Megabyte buffers freed between live objects are resident until released."""

    def resident() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    tune_allocator()  # buffers below the mmap threshold come from the heap
    buffers, pins = [], []
    for _ in range(24):
        buffers.append(b"\1" * (2 * MiB))  # written: resident
        pins.append(b"\2" * (64 * KiB))  # small live objects between them
    buffers.clear()  # holes between the pins: no threshold gives them back
    before = resident()
    release_free_memory()
    assert before - resident() >= 24 * MiB
