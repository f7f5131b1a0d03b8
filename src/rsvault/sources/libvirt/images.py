"""Disk image files: conversion between raw and qcow2 with qemu-img."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rsvault.errors import Code, RsvaultError

FORMATS = ("raw", "qcow2")


def convert_image(source: Path, destination: Path, image_format: str) -> None:
    """Convert a raw image; holes stay holes (qemu-img skips zeros by default)."""
    if image_format not in FORMATS:
        raise RsvaultError(Code.INVALID_ARGUMENT, argument="--format", reason="raw or qcow2")
    if shutil.which("qemu-img") is None:
        raise RsvaultError(
            Code.INVALID_ARGUMENT,
            argument="--format",
            reason="qemu-img is not installed (Debian package qemu-utils); use --format raw",
        )
    argv = ["qemu-img", "convert", "-q", "-f", "raw", "-O", image_format]
    result = subprocess.run(
        [*argv, str(source), str(destination)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        destination.unlink(missing_ok=True)
        raise RsvaultError(
            Code.RESTORE_TARGET_NOT_WRITABLE,
            target=str(destination),
            reason=result.stderr.strip() or f"qemu-img exited {result.returncode}",
        )
