#!/usr/bin/env python3
"""Benchmark rsvault against restic and borg on one deterministic dataset.

Phases, each timed per tool: full backup, unchanged second backup, backup after changing ~5% of
the files, full restore of the latest backup, twice per tool in mirrored order (each verified
against the source; the restored trees are deleted once every tool has restored).
Writes docs/benchmarks.md and <work>/results.json. Run with ``make bench``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dataset
import machine
import report
import sections
from measure import Command, disk_usage, drop_caches, prefetch, run_measured
from results import Run, RunRecord
from tools import DEFAULT_RSVAULT, REPO_ROOT, TOOLS, Rsvault, Tool, ToolError, restored_root
from verify import compare_trees

BENCH_DIR = Path(__file__).resolve().parent
MUTATE_SEED = 7
MUTATE_FRACTION = 0.05
BACKUP_NUMBER = {"full": 1, "unchanged": 2, "incremental": 3}
# On ext4 without a journal, creating a file skips every inode freed in the last 60 s, or
# 360 s while the freed inode's table block is not written back (RECENTCY_MIN and
# RECENTCY_DIRTY in fs/ext4/ialloc.c), reading that block for each one it skips. Started
# about five minutes after the last run's restored trees were deleted, the first restore of
# the dataset took 20.6 s of CPU time instead of 13.2 s: the first tool to restore paid.
FREED_INODES_SETTLE_S = 360.0
DELETED_AT = ".restored-trees-deleted-at"  # in the work directory: when, in seconds since 1970
COLD = "page cache dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`) before every timed phase,"
COLD += " so every tool was measured cold."
WARM = "the page cache could not be dropped (not permitted), so before every timed phase the data"
WARM += " it reads (dataset or repository) was read once: every tool was measured warm."


def tool_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in TOOLS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {','.join(TOOLS)}; got {text!r}")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-gb", type=float, default=2.0, help="dataset size (default 2.0)")
    parser.add_argument("--work", type=Path, default=BENCH_DIR / "work", help="scratch dir")
    parser.add_argument("--tools", type=tool_list, default=list(TOOLS), help="rsvault,restic,borg")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--seed", type=int, default=42, help="dataset seed (default 42)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per phase")
    parser.add_argument("--rsvault", type=Path, default=DEFAULT_RSVAULT, help="rsvault executable")
    parser.add_argument("--keep-repos", action="store_true", help="keep repositories afterwards")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, flush=True)


class Bench:
    def __init__(self, record: RunRecord, tools: list[Tool], source: Path, work: Path) -> None:
        self.record = record
        self.tools = tools
        self.source = source
        self.logs = work / "logs"
        self.deleted_at = work / DELETED_AT
        self.timeout_s = 3600.0
        self.cold = False
        self.failed: set[str] = set()

    def prepare_cache(self, reads: Path) -> None:
        if not (self.cold and drop_caches()):
            prefetch(reads)

    def setup(self, tool: Tool) -> None:
        tool.reset()
        try:
            command = tool.init()
        except ToolError as exc:
            self.fail_setup(tool, str(exc))
            return
        m = run_measured(command, self.logs / f"{tool.name}-init", self.timeout_s)
        if not m.ok(command):
            self.fail_setup(tool, f"exit {m.returncode}\n{m.stderr_tail}")

    def fail_setup(self, tool: Tool, error: str) -> None:
        log(f"[{tool.name}] repository creation failed: {error.splitlines()[0]}")
        self.record.setup_errors[tool.name] = error
        self.failed.add(tool.name)

    def timed(self, tool: Tool, phase: str, make: Callable[[], Command], reads: Path) -> bool:
        """Run one timed phase; False when it failed or was skipped."""
        result = self.record.result(tool.name, phase)
        if tool.name in self.failed:
            result.note = "after an earlier failure"
            return False
        try:
            command = make()
        except ToolError as exc:
            return self.fail(tool, phase, str(exc))
        self.prepare_cache(reads)
        m = run_measured(command, self.logs / f"{tool.name}-{phase}", self.timeout_s)
        result.add_run(Run(m.wall_s, m.cpu_s, m.peak_rss, m.peak_rss_single, m.peak_resident))
        if not m.ok(command):
            reason = "timed out" if m.timed_out else f"exit {m.returncode}"
            return self.fail(tool, phase, f"{reason}\n{m.stderr_tail}")
        result.status = "ok"
        if m.returncode:
            result.note = f"exit {m.returncode}: warnings"
        return True

    def fail(self, tool: Tool, phase: str, error: str) -> bool:
        result = self.record.result(tool.name, phase)
        result.status, result.error = "failed", error
        lines = [line for line in error.splitlines() if line.strip()]
        log(f"[{tool.name}] {phase} FAILED: {lines[-1] if lines else ''}")
        self.failed.add(tool.name)
        return False

    def backup(self, tool: Tool, phase: str, stats: dataset.TreeStats) -> None:
        result = self.record.result(tool.name, phase)
        result.dataset_bytes = stats.bytes
        number = BACKUP_NUMBER[phase]
        if self.timed(tool, phase, lambda: tool.backup(self.source, number), self.source):
            result.repo_bytes = disk_usage(tool.repo)
            result.state_bytes = disk_usage(tool.state)
        self.report_phase(tool, phase)

    def restore(self, tool: Tool, stats: dataset.TreeStats) -> None:
        """One restore run of `tool`, into a new directory; the phase's result is the mean of
        its runs (see `restore_order`)."""
        result = self.record.result(tool.name, "restore")
        result.dataset_bytes = stats.bytes
        target = tool.restore_dir / f"run-{len(result.runs) + 1}"
        target.mkdir(parents=True)
        if self.timed(tool, "restore", lambda: tool.restore(target), tool.repo):
            diffs = compare_trees(self.source, restored_root(target, self.source))
            result.verified = diffs.summary()
            if diffs.count:
                self.fail(tool, "restore", f"restored tree differs: {diffs.summary()}")
        self.report_phase(tool, "restore")

    def remove_restored(self) -> None:
        """Restored trees go only before the first backup and after the last restore, and
        when they went is noted: creating files soon after many were deleted is slow on this
        machine's file system (see FREED_INODES_SETTLE_S)."""
        present = [tool.restore_dir for tool in self.tools if tool.restore_dir.exists()]
        for tree in present:
            shutil.rmtree(tree, ignore_errors=True)
        if present:
            self.deleted_at.write_text(f"{time.time():.0f}\n")

    def settle_freed_inodes(self) -> None:
        """Wait until the inodes of restored trees this bench deleted (in this run or the one
        before) no longer count as recently freed (see FREED_INODES_SETTLE_S)."""
        try:
            deleted = float(self.deleted_at.read_text())
        except (OSError, ValueError):
            return
        wait = FREED_INODES_SETTLE_S - (time.time() - deleted)
        if wait > 0:
            log(f"waiting {wait:.0f} s for the inodes of deleted restored trees to settle")
            time.sleep(wait)
            self.record.settle_s = wait

    def report_phase(self, tool: Tool, phase: str) -> None:
        r = self.record.result(tool.name, phase)
        if not r.ok or r.wall_s is None:
            return
        rss = (r.peak_rss or 0) / 2**20
        repo = f", repo {r.repo_bytes / 2**20:.1f} MiB" if r.repo_bytes is not None else ""
        log(
            f"[{tool.name}] {phase}: {r.status}, {r.wall_s:.2f} s, {r.mb_per_s or 0:.1f} MB/s, "
            f"peak RSS {rss:.1f} MiB{repo}"
        )

    def run(self, mutate: Callable[[], dataset.TreeStats]) -> None:
        pristine = dataset.scan(self.source)
        self.remove_restored()
        for tool in self.tools:
            self.setup(tool)
        for phase in ("full", "unchanged"):
            for tool in self.tools:
                self.backup(tool, phase, pristine)
        mutated = mutate()
        for tool in self.tools:
            self.backup(tool, "incremental", mutated)
        self.settle_freed_inodes()
        for tool in restore_order(self.tools):
            self.restore(tool, mutated)
        self.remove_restored()


def restore_order(tools: list[Tool]) -> list[Tool]:
    """Each tool restores twice, in mirrored order (a b c c b a). On this machine's file
    system, creating files costs more while inodes freed in the last minutes remain (see
    FREED_INODES_SETTLE_S); the bench waits out its own deletions, but whatever else changes
    over the phase (the file system filling, the host's load) could weigh on the tools' times
    in a single pass. Mirrored, every tool's mean run sits at the same point."""
    return [*tools, *reversed(tools)]


def prepare_dataset(record: RunRecord, source: Path) -> None:
    record.reused = dataset.is_built(source, record.size_gb, record.seed)
    log(f"dataset: {'reusing' if record.reused else 'building'} {source} ({record.size_gb} GB)")
    start = time.perf_counter()
    record.dataset = dataset.build(source, record.size_gb, record.seed)
    record.build_s = time.perf_counter() - start
    record.pristine = dataset.scan(source)
    p = record.pristine
    log(f"dataset: {p.bytes / 1e6:,.1f} MB, {p.files:,} files, ready in {record.build_s:.1f} s")


def make_mutator(record: RunRecord, source: Path) -> Callable[[], dataset.TreeStats]:
    def mutate() -> dataset.TreeStats:
        record.mutation = dataset.mutate(source, MUTATE_FRACTION, MUTATE_SEED)
        record.mutated = dataset.scan(source)
        log(f"dataset: mutated {record.mutation}")
        return record.mutated

    return mutate


def make_tool(name: str, work: Path, rsvault: Path) -> Tool:
    return Rsvault(work, rsvault.absolute()) if name == Rsvault.name else TOOLS[name](work)


def describe_tools(record: RunRecord, tools: list[Tool]) -> None:
    for tool in tools:
        record.settings[tool.name] = tool.settings
        if tool.executable() is None:
            record.versions[tool.name] = "not installed"
            continue
        try:
            record.versions[tool.name] = tool.version()
        except ToolError as exc:
            record.versions[tool.name] = f"unknown ({exc})"
        log(f"{tool.name}: {record.versions[tool.name]}")


def write_outputs(record: RunRecord, out: Path, work: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    old = out.read_text() if out.exists() else ""
    page = report.render(record)
    for name in ("control-plane", "vm"):  # sections other benchmarks write
        page = sections.carry_over(old, page, name)
    out.write_text(page)
    (work / "results.json").write_text(json.dumps(dataclasses.asdict(record), indent=2))
    log(f"report: {out}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    source = work / "dataset"
    tools = [make_tool(name, work, args.rsvault) for name in args.tools]
    record = RunRecord(args.size_gb, args.seed, MUTATE_SEED, args.tools, machine.describe(work))
    describe_tools(record, tools)
    prepare_dataset(record, source)
    bench = Bench(record, tools, source, work)
    bench.timeout_s = args.timeout
    bench.cold = drop_caches()
    record.cache_mode = COLD if bench.cold else WARM
    try:
        bench.run(make_mutator(record, source))
    finally:
        dataset.revert(source)
        if not args.keep_repos:
            for tool in tools:
                tool.cleanup()
    write_outputs(record, args.out.resolve(), work)
    ok = [t.name for t in tools if record.all_ok(t.name)]
    log(f"done: all phases ok for {', '.join(ok) or 'no tool'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
