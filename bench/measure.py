"""Run one command and measure it: wall time, CPU time, peak RSS of its process tree.

Peak RSS is the larger of two readings: ``ru_maxrss`` from ``os.wait4`` (the largest single
process of the tree, exact) and the largest sum of resident memory over the whole tree sampled
from /proc every 50 ms (catches tools that spread work over several processes; shared pages are
counted once per process, so this errs on the high side).

Peak resident memory counts each page of the tree once: the anonymous pages of every process
(never shared between processes that were started with exec) plus the distinct physical pages
of the files they map, found through /proc/PID/pagemap. A program's code and libraries mapped
by three processes are in memory once, and the sum of RSS counts them three times. For a
single process the two are the same. Reading the page map costs a few milliseconds, so the
file pages are counted again only when the tree's processes change or every 0.5 s; they
hardly move once a process has started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_INTERVAL = 0.05
FILE_PAGES_INTERVAL = 0.5
_PRESENT = 1 << 63
_PFN_MASK = (1 << 55) - 1
TAIL_CHARS = 2000


@dataclass(frozen=True)
class Command:
    argv: list[str]
    env: dict[str, str]
    cwd: Path | None = None
    ok_codes: frozenset[int] = field(default_factory=lambda: frozenset({0}))


@dataclass(frozen=True)
class Measurement:
    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss: int
    peak_rss_single: int
    peak_resident: int
    timed_out: bool
    stderr_tail: str

    def ok(self, command: Command) -> bool:
        return not self.timed_out and self.returncode in command.ok_codes


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return found


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children(current))
    return found


def tree_rss(pid: int) -> int:
    return sum(rss(p) for p in tree(pid))


def private_bytes(pid: int) -> int:
    """Anonymous pages of one process (from /proc/PID/status). Shared memory is mapped under
    a name (a memfd, /dev/zero, a SysV segment), so `file_pages` counts it."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def file_pages(pid: int, into: set[int]) -> int:
    """Add the physical page numbers of the file pages `pid` has resident to `into`. Without
    CAP_SYS_ADMIN the page map shows no numbers: those pages are returned in bytes instead,
    to be counted once per process."""
    unnumbered = 0
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) < 6 or not fields[5].startswith("/"):
                    continue  # anonymous, heap, stack, vdso: counted as RssAnon
                start, end = (int(x, 16) // PAGE for x in fields[0].split("-"))
                entries = array("Q")
                entries.frombytes(os.pread(pagemap.fileno(), (end - start) * 8, start * 8))
                frames = [e & _PFN_MASK for e in entries if e & _PRESENT]
                unnumbered += frames.count(0)
                into.update(frames)
    except OSError:
        pass  # the process ended meanwhile
    into.discard(0)
    return unnumbered * PAGE


class TreeRssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.peak_resident = 0
        self.done = threading.Event()
        self._files = 0
        self._files_of: tuple[int, ...] = ()
        self._files_at = 0.0

    def run(self) -> None:
        while not self.done.wait(SAMPLE_INTERVAL):
            pids = tree(self.pid)
            self.peak = max(self.peak, sum(rss(p) for p in pids))
            resident = sum(private_bytes(p) for p in pids) + self._file_bytes(pids)
            self.peak_resident = max(self.peak_resident, resident)

    def _file_bytes(self, pids: list[int]) -> int:
        now = time.monotonic()
        if tuple(pids) != self._files_of or now - self._files_at >= FILE_PAGES_INTERVAL:
            frames: set[int] = set()
            unnumbered = sum(file_pages(p, frames) for p in pids)
            self._files = len(frames) * PAGE + unnumbered
            self._files_of, self._files_at = tuple(pids), now
        return self._files

    def stop(self) -> tuple[int, int]:
        self.done.set()
        self.join()
        return self.peak, self.peak_resident


def tail(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - TAIL_CHARS))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


def kill_group(pid: int, flag: threading.Event) -> None:
    flag.set()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def run_measured(command: Command, log_prefix: Path, timeout_s: float) -> Measurement:
    """Run ``command`` with stdout/stderr to ``<log_prefix>.out/.err`` and measure it."""
    log_prefix.parent.mkdir(parents=True, exist_ok=True)
    err_path = log_prefix.with_suffix(".err")
    timed_out = threading.Event()
    with log_prefix.with_suffix(".out").open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            command.argv,
            env=command.env,
            cwd=command.cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        sampler = TreeRssSampler(proc.pid)
        sampler.start()
        timer = threading.Timer(timeout_s, kill_group, (proc.pid, timed_out))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # e.g. Ctrl-C: do not leave the tool running
            kill_group(proc.pid, timed_out)
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampled, resident = sampler.stop()
    return Measurement(
        returncode=proc.returncode,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss=max(usage.ru_maxrss * 1024, sampled),
        peak_rss_single=usage.ru_maxrss * 1024,
        peak_resident=max(resident, usage.ru_maxrss * 1024),
        timed_out=timed_out.is_set(),
        stderr_tail=tail(err_path),
    )


def drop_caches() -> bool:
    """Flush dirty pages and drop the page cache; False when not permitted."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def prefetch(root: Path) -> None:
    """Read every file under ``root`` so that it sits in the page cache."""
    for dirpath, _, names in os.walk(root):
        for name in names:
            try:
                with open(os.path.join(dirpath, name), "rb") as f:
                    while f.read(4 << 20):
                        pass
            except OSError:
                continue


def disk_usage(root: Path) -> int:
    """Bytes allocated on disk under ``root`` (like ``du -s -B1``; hard links counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, names in os.walk(root):
        for name in [*dirnames, *names]:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    if root.exists():
        total += os.lstat(root).st_blocks * 512
    return total
