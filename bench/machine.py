"""Describe the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

from tools import REPO_ROOT


def read_field(path: str, key: str, sep: str = ":") -> str:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        name, _, value = line.partition(sep)
        if name.strip() == key:
            return value.strip().strip('"')
    return ""


def memory() -> str:
    kib = read_field("/proc/meminfo", "MemTotal").split()
    return f"{int(kib[0]) / 1024**2:.1f} GiB" if kib else "unknown"


def filesystem(path: Path) -> str:
    best, fs = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        device, mount, kind, *_ = line.split()
        if str(path).startswith(mount) and len(mount) > len(best):
            best, fs = mount, f"{kind} on {device} (mounted at {mount})"
    return fs


def git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "no commit yet"


def describe(work: Path) -> dict[str, str]:
    cpu = read_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown"
    return {
        "Date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "RAM": memory(),
        "OS": read_field("/etc/os-release", "PRETTY_NAME", "=") or platform.platform(),
        "Kernel": platform.release(),
        "Work dir filesystem": filesystem(work),
        "Load average at start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "Python": platform.python_version(),
        "rsvault commit": git_commit(),
    }
