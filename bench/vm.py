#!/usr/bin/env python3
"""VM benchmark: rsvault backing up a running VM's disk vs restic and borg backing up its image.

One process, one deterministic 4 GiB ext4 disk (``vmdisk.py``) and its day-2 version (about 4%
rewritten in scattered 1 MiB regions). Timed per tool, with the page cache dropped first:

- restic and borg: back up the image file (day 1), rewrite the same regions in the file and back
  up the same path again (day 2), restore the day-2 backup;
- rsvault: a blank libvirt domain (type 'qemu') runs with the day-1 disk as qcow2; `protection
  backup-now` (full), the same regions written into the running VM through QEMU's block layer,
  `backup-now` again (incremental through changed-block tracking), `restore restore-disks
  --format raw` of the day-2 point.

Every restore is checked against day2.raw's SHA-256. Writes the "vm" section of
docs/benchmarks.md and <work>/vm/results.json. Run with ``make bench-vm``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import machine
import sections
import vmdisk
from measure import Command, Measurement, disk_usage, drop_caches, prefetch, run_measured
from results import MIB, PhaseResult
from tools import DEFAULT_RSVAULT, REPO_ROOT, Borg, Restic, Rsvault, Tool, ToolError, query

sys.path.insert(0, str(REPO_ROOT / "tests"))
from support.libvirtd import URI, LibvirtDaemons, LibvirtNotAvailable
from support.vms import (
    DiskSpec,
    blank_domain_xml,
    destroy_vm,
    remove_workdir,
    vm_workdir,
    write_into,
)

BENCH_DIR = Path(__file__).resolve().parent
SECTION = "vm"
WIDTH = 96  # docs/benchmarks.md is wrapped at 96 columns
PHASES = ("full", "day2", "restore")
PEERS = ("restic", "borg")
VM_NAME = "rsvault-bench-vm"
VM_TARGET = "vda"
COLD = "page cache dropped before every timed phase (cold)"
WARM = "page cache could not be dropped; the data each phase reads was read once first (warm)"
# the rsvault commands this benchmark needs, probed with --help before anything runs
RSVAULT_VERBS = (
    ("container", "register"),
    ("policy", "get-default-for-vm"),
    ("protection", "enable-for-vm"),
    ("protection", "backup-now"),
    ("recoverypoint", "list"),
    ("restore", "restore-disks"),
)


def log(message: str) -> None:
    print(message, flush=True)


# --- what a run measured ---------------------------------------------------------------------


@dataclass
class VmRecord:
    tools: list[str]
    machine: dict[str, str]
    disk: dict[str, Any] = field(default_factory=dict)
    rewritten_bytes: int = 0
    versions: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    cache_mode: str = ""
    setup_errors: dict[str, str] = field(default_factory=dict)
    results: dict[str, dict[str, PhaseResult]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # rsvault's job views

    def result(self, tool: str, phase: str) -> PhaseResult:
        return self.results.setdefault(tool, {}).setdefault(phase, PhaseResult())

    def ok(self, tool: str, *phases: str) -> bool:
        return all(self.result(tool, p).ok for p in phases or PHASES)

    def growth(self, tool: str) -> int | None:
        full, day2 = self.result(tool, "full"), self.result(tool, "day2")
        if not (full.ok and day2.ok) or full.repo_bytes is None or day2.repo_bytes is None:
            return None
        return day2.repo_bytes - full.repo_bytes

    def peak_rss(self, tool: str) -> int | None:
        if not self.ok(tool):
            return None
        return max(self.result(tool, p).peak_rss or 0 for p in PHASES)

    def peak_resident(self, tool: str) -> int | None:
        if not self.ok(tool):
            return None
        return max(self.result(tool, p).peak_resident or 0 for p in PHASES)


class Runner:
    """Runs the timed phases of every tool into one record."""

    def __init__(self, record: VmRecord, logs: Path, timeout_s: float, cold: bool) -> None:
        self.record = record
        self.logs = logs
        self.timeout_s = timeout_s
        self.cold = cold
        self.failed: set[str] = set()

    def log_prefix(self, tool: str, phase: str) -> Path:
        return self.logs / f"{tool}-{phase}"

    def timed(self, tool: str, phase: str, make: Callable[[], Command], reads: Path) -> bool:
        """Run one timed phase; False when it failed or was skipped."""
        result = self.record.result(tool, phase)
        if tool in self.failed:
            result.note = "after an earlier failure"
            return False
        try:
            command = make()
        except ToolError as exc:
            return self.fail(tool, phase, str(exc))
        if not (self.cold and drop_caches()):
            prefetch(reads)
        m = run_measured(command, self.log_prefix(tool, phase), self.timeout_s)
        self.store(result, m)
        if not m.ok(command):
            reason = "timed out" if m.timed_out else f"exit {m.returncode}"
            return self.fail(tool, phase, f"{reason}\n{m.stderr_tail}")
        result.status = "ok"
        return True

    @staticmethod
    def store(result: PhaseResult, m: Measurement) -> None:
        result.wall_s, result.cpu_s = m.wall_s, m.cpu_s
        result.peak_rss, result.peak_rss_single = m.peak_rss, m.peak_rss_single
        result.peak_resident = m.peak_resident

    def fail(self, tool: str, phase: str, error: str) -> bool:
        result = self.record.result(tool, phase)
        result.status, result.error = "failed", error
        lines = [line for line in error.splitlines() if line.strip()]
        log(f"[{tool}] {phase} FAILED: {lines[-1] if lines else ''}")
        self.failed.add(tool)
        return False

    def setup_failed(self, tool: str, error: str) -> None:
        log(f"[{tool}] setup failed: {error.splitlines()[0] if error else ''}")
        self.record.setup_errors[tool] = error
        self.failed.add(tool)

    def report(self, tool: str, phase: str) -> None:
        r = self.record.result(tool, phase)
        if r.ok and r.wall_s is not None:
            repo = "" if r.repo_bytes is None else f", repository {r.repo_bytes / MIB:,.1f} MiB"
            rss = (r.peak_rss or 0) / MIB
            log(f"[{tool}] {phase}: {r.wall_s:.2f} s, peak RSS {rss:.1f} MiB{repo}")


def verify_restore(result: PhaseResult, restored: Path | None, disks: vmdisk.DiskSet) -> str:
    """'' when the restored image equals day2.raw, else why not."""
    if restored is None or not restored.is_file():
        return f"no restored image found ({restored})"
    size = restored.stat().st_size
    if size != disks.disk_bytes:
        return f"restored image has {size:,} bytes, day2.raw {disks.disk_bytes:,}"
    if vmdisk.sha256_of(restored) == disks.day2_sha256:
        result.verified = "SHA-256 equals day2.raw"
        return ""
    region = disks.params["region_bytes"]
    differ = vmdisk.differing_windows(restored, disks.day2, region)
    rewritten = differ & {r.offset for r in disks.regions()}
    return (
        f"restored image differs from day2.raw in {len(differ)} windows of {region // 1024} KiB"
        f" ({len(rewritten)} of them rewritten on day 2; first at {min(differ, default=0):,})"
    )


# --- restic and borg: the image file --------------------------------------------------------


def replay_into_file(path: Path, disks: vmdisk.DiskSet) -> None:
    """Rewrite the day-2 regions in place, copying them from day2.raw."""
    with disks.day2.open("rb") as source, path.open("r+b") as target:
        for region in disks.regions():
            source.seek(region.offset)
            target.seek(region.offset)
            target.write(source.read(region.length))


def peer_restore(tool: Tool, target: Path) -> Command:
    command = tool.restore(target)
    if isinstance(tool, Borg):  # holes for all-zero chunks; restic 0.14 has no such option
        return dataclasses.replace(command, argv=[*command.argv, "--sparse"])
    return command


class Peers:
    def __init__(self, runner: Runner, tools: list[Tool], disks: vmdisk.DiskSet, work: Path):
        self.runner = runner
        self.tools = tools
        self.disks = disks
        self.source_dir = work / "source"
        self.image = self.source_dir / "disk.raw"

    def run(self) -> None:
        shutil.rmtree(self.source_dir, ignore_errors=True)
        self.source_dir.mkdir(parents=True)
        try:
            vmdisk.sparse_copy(self.disks.day1, self.image)
            for tool in self.tools:
                self.setup(tool)
            for tool in self.tools:
                self.backup(tool, "full", 1)
            replay_into_file(self.image, self.disks)
            for tool in self.tools:
                self.backup(tool, "day2", 2)
            for tool in self.tools:
                self.restore(tool)
        finally:
            shutil.rmtree(self.source_dir, ignore_errors=True)

    def setup(self, tool: Tool) -> None:
        tool.reset()
        try:
            query(tool.init())
        except ToolError as exc:
            self.runner.setup_failed(tool.name, str(exc))

    def backup(self, tool: Tool, phase: str, number: int) -> None:
        result = self.runner.record.result(tool.name, phase)
        result.dataset_bytes = self.disks.disk_bytes
        make = functools.partial(tool.backup, self.image, number)
        if self.runner.timed(tool.name, phase, make, self.source_dir):
            result.repo_bytes = disk_usage(tool.repo)
            result.state_bytes = disk_usage(tool.state)
        self.runner.report(tool.name, phase)

    def restore(self, tool: Tool) -> None:
        result = self.runner.record.result(tool.name, "restore")
        result.dataset_bytes = self.disks.disk_bytes
        target = tool.restore_dir
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        make = functools.partial(peer_restore, tool, target)
        if self.runner.timed(tool.name, "restore", make, tool.repo):
            restored = target / self.image.relative_to(self.image.anchor)
            problem = verify_restore(result, restored, self.disks)
            if problem:
                self.runner.fail(tool.name, "restore", problem)
        shutil.rmtree(target, ignore_errors=True)
        self.runner.report(tool.name, "restore")


# --- rsvault: a running VM -------------------------------------------------------------------


class RsvaultVm(Rsvault):
    settings = (
        "vault defaults; a blank domain (type 'qemu', TCG, no guest agent; `--no-fsfreeze`, so"
        " crash-consistent)"
        " with the disk as qcow2; `protection backup-now` twice, `restore restore-disks"
        " --format raw`"
    )
    policy = "bench-vm"

    def __init__(self, work: Path, path: Path, vm: str, uri: str) -> None:
        super().__init__(work, path)
        self.vm = vm
        self.uri = uri

    def missing_commands(self) -> list[str]:
        """The VM verbs whose --help fails, each with the last line of its error."""
        if self.executable() is None:
            return [f"{self.path} (not installed)"]
        failures: dict[str, list[str]] = {}
        for verb in RSVAULT_VERBS:
            try:
                query(self.command(*verb, "--help"))
            except ToolError as exc:
                lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                failures.setdefault(lines[-1] if lines else "?", []).append(" ".join(verb))
        return [f"{', '.join(verbs)} ({reason})" for reason, verbs in failures.items()]

    def vault_args(self) -> list[str]:
        return ["--vault-name", self.vault]

    def prepare(self, scratch: Path) -> None:
        """Vault, container, policy and protection: untimed, ToolError on failure."""
        query(self.init())
        register = ["container", "register", *self.vault_args(), "--libvirt-uri", self.uri]
        query(self.command(*register, "--name", "bench-host"))
        policy = scratch / "policy.json"
        policy.write_text(query(self.command("policy", "get-default-for-vm", *self.vault_args())))
        create = ["policy", "create", *self.vault_args(), "--name", self.policy]
        query(self.command(*create, "--policy", str(policy)))
        enable = ["protection", "enable-for-vm", *self.vault_args(), "--vm", self.vm]
        query(self.command(*enable, "--policy-name", self.policy, "--no-fsfreeze"))

    def backup_now(self) -> Command:
        args = ["protection", "backup-now", *self.vault_args(), "--item-name", self.vm]
        command = self.command(*args, "--output", "json")
        return dataclasses.replace(command, ok_codes=frozenset({0, 3}))  # 3: with warnings

    def latest_point(self) -> str:
        args = ["recoverypoint", "list", *self.vault_args(), "--item-name", self.vm]
        try:
            points: list[dict[str, Any]] = json.loads(query(self.command(*args, "-o", "json")))
        except ValueError as exc:
            raise ToolError(f"rsvault recoverypoint list: not JSON: {exc}") from exc
        if not points:
            raise ToolError("rsvault recoverypoint list: no recovery points")
        return str(max(points, key=lambda p: str(p.get("time", "")))["name"])

    def restore_disks(self, point: str, target: Path) -> Command:
        args = ["restore", "restore-disks", *self.vault_args(), "--item-name", self.vm]
        args += ["--rp-name", point, "--target-dir", str(target), "--format", "raw"]
        return self.command(*args, "--output", "json")


def restored_disk(target: Path) -> Path | None:
    """The one restored disk image under ``target`` (the vda one if there are several)."""
    found = sorted(p for p in target.rglob("*") if p.is_file())
    if len(found) > 1:
        found = [p for p in found if VM_TARGET in p.name] or found
    return found[0] if len(found) == 1 else None


class BenchVm:
    """A blank domain running the day-1 disk as qcow2 in a folder under /var/tmp."""

    def __init__(self, disks: vmdisk.DiskSet, uri: str, name: str = VM_NAME) -> None:
        self.disks = disks
        self.uri = uri
        self.name = name
        self.daemons: LibvirtDaemons | None = None
        self.conn: Any = None
        self.domain: Any = None
        self.folder: Path | None = None

    def start(self) -> None:
        import libvirt

        self.daemons = LibvirtDaemons(self.uri).start()
        self.conn = libvirt.open(self.uri)
        destroy_vm(self.conn, self.name)  # a leftover of an interrupted run
        self.folder = vm_workdir("rsvault-bench-vm-")
        disk = self.folder / f"{self.name}-{VM_TARGET}.qcow2"
        convert = ["qemu-img", "convert", "-f", "raw", "-O", "qcow2"]
        subprocess.run([*convert, str(self.disks.day1), str(disk)], check=True)
        spec = DiskSpec(VM_TARGET, self.disks.disk_bytes, "qcow2")
        xml = blank_domain_xml(self.name, [(spec, disk)], agent_channel=False)
        self.domain = self.conn.defineXML(xml)
        self.domain.create()

    def replay(self) -> None:
        """Write the day-2 regions into the running VM's disk, one HMP call per region."""
        assert self.folder is not None
        with self.disks.day2.open("rb") as day2:
            for region in self.disks.regions():
                day2.seek(region.offset)
                data = day2.read(region.length)
                write_into(self.domain, VM_TARGET, region.offset, data, self.folder)

    def stop(self) -> None:
        if self.conn is not None:
            destroy_vm(self.conn, self.name)
            self.conn.close()
        if self.folder is not None:
            remove_workdir(self.folder)
        if self.daemons is not None:
            self.daemons.stop()


@contextlib.contextmanager
def running_vm(disks: vmdisk.DiskSet, uri: str) -> Iterator[BenchVm]:
    vm = BenchVm(disks, uri)
    try:
        vm.start()
        yield vm
    finally:
        vm.stop()


class RsvaultRun:
    def __init__(self, runner: Runner, tool: RsvaultVm, disks: vmdisk.DiskSet) -> None:
        self.runner = runner
        self.tool = tool
        self.disks = disks

    def run(self) -> None:
        name = self.tool.name
        try:
            with running_vm(self.disks, self.tool.uri) as vm:
                self.tool.reset()
                self.tool.prepare(self.tool.state)
                log(f"[{name}] VM {vm.name} runs; vault, policy and protection ready")
                self.backup("full", vm)
                vm.replay()
                log(f"[{name}] replayed {len(self.disks.regions())} regions into the VM")
                self.backup("day2", vm)
                self.restore()
        except (ToolError, LibvirtNotAvailable, subprocess.CalledProcessError) as exc:
            self.runner.setup_failed(name, str(exc))
        except Exception as exc:  # libvirt errors: the peers' numbers still get reported
            self.runner.setup_failed(name, f"{type(exc).__name__}: {exc}")

    def backup(self, phase: str, vm: BenchVm) -> None:
        result = self.runner.record.result(self.tool.name, phase)
        result.dataset_bytes = self.disks.disk_bytes
        assert vm.folder is not None
        if self.runner.timed(self.tool.name, phase, self.tool.backup_now, vm.folder):
            result.repo_bytes = disk_usage(self.tool.repo)
            result.state_bytes = disk_usage(self.tool.state)
            self.check_job(phase)
        self.runner.report(self.tool.name, phase)

    def job(self, phase: str) -> dict[str, Any]:
        out = self.runner.log_prefix(self.tool.name, phase).with_suffix(".out")
        try:
            job: dict[str, Any] = json.loads(out.read_text())
        except (OSError, ValueError):
            job = {}
        self.runner.record.jobs[phase] = job
        return job

    def check_job(self, phase: str) -> None:
        job = self.job(phase)
        status = job.get("status", "?")
        if status not in ("Completed", "CompletedWithWarnings"):
            self.runner.fail(self.tool.name, phase, f"job status {status}: {json.dumps(job)}")
        elif status != "Completed":
            self.runner.record.result(self.tool.name, phase).note = status

    def restore_command(self, target: Path) -> Command:
        point = self.runner.record.jobs.get("day2", {}).get("recoveryPoint")
        return self.tool.restore_disks(str(point or self.tool.latest_point()), target)

    def restore(self) -> None:
        result = self.runner.record.result(self.tool.name, "restore")
        result.dataset_bytes = self.disks.disk_bytes
        target = self.tool.restore_dir
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        make = functools.partial(self.restore_command, target)
        if self.runner.timed(self.tool.name, "restore", make, self.tool.repo):
            self.job("restore")
            problem = verify_restore(result, restored_disk(target), self.disks)
            if problem:
                self.runner.fail(self.tool.name, "restore", problem)
        shutil.rmtree(target, ignore_errors=True)
        self.runner.report(self.tool.name, "restore")


# --- report ---------------------------------------------------------------------------------


def num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def mib(value: int | None) -> str:
    return "–" if value is None else f"{value / MIB:,.1f}"


def phase_cell(record: VmRecord, tool: str, phase: str, get: Callable[[PhaseResult], str]) -> str:
    r = record.result(tool, phase)
    if r.ok:
        return get(r)
    return "**failed**" if r.status == "failed" else "skipped"


def times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def day2_read(record: VmRecord, tool: str) -> int | None:
    if not record.ok(tool, "day2"):
        return None
    if tool != "rsvault":
        return record.result(tool, "day2").dataset_bytes  # the whole changed file
    read = record.jobs.get("day2", {}).get("bytesRead")
    return read if isinstance(read, int) else None


def day2_kind(record: VmRecord, tool: str) -> str:
    if not record.ok(tool, "day2"):
        return "–"
    if tool != "rsvault":
        return "whole file read again"
    stats = record.jobs.get("day2", {}).get("stats") or {}
    disks = stats.get("disks") or [{}]
    cbt = all(d.get("incremental") for d in disks)
    how = "changed blocks only" if cbt else "**full read** (no usable bitmap)"
    return f"{how}, {stats.get('consistency', '?')}"


def growth_ratio(record: VmRecord, tool: str) -> float | None:
    grown = record.growth(tool)
    return None if grown is None else grown / max(record.rewritten_bytes, 1)


def result_rows(record: VmRecord) -> list[tuple[str, Callable[[str], str]]]:
    def at(phase: str, get: Callable[[PhaseResult], str]) -> Callable[[str], str]:
        return lambda tool: phase_cell(record, tool, phase, get)

    return [
        ("Full backup, wall time (s)", at("full", lambda r: num(r.wall_s, 2))),
        ("Full backup, CPU user+sys (s)", at("full", lambda r: num(r.cpu_s, 2))),
        ("Full backup, peak RSS (MiB)", at("full", lambda r: mib(r.peak_rss))),
        ("… resident, pages counted once (MiB)", at("full", lambda r: mib(r.peak_resident))),
        ("Repository after day 1 (MiB)", at("full", lambda r: mib(r.repo_bytes))),
        ("Day-2 backup, wall time (s)", at("day2", lambda r: num(r.wall_s, 2))),
        ("Day-2 backup, CPU user+sys (s)", at("day2", lambda r: num(r.cpu_s, 2))),
        ("Day-2 backup, peak RSS (MiB)", at("day2", lambda r: mib(r.peak_rss))),
        ("… resident, pages counted once (MiB)", at("day2", lambda r: mib(r.peak_resident))),
        ("Day-2 backup, data read (MiB)", lambda t: mib(day2_read(record, t))),
        ("Day-2 backup, how", lambda t: day2_kind(record, t)),
        ("Repository growth on day 2 (MiB)", lambda t: mib(record.growth(t))),
        ("… / bytes rewritten", lambda t: times(growth_ratio(record, t))),
        ("Restore, wall time (s)", at("restore", lambda r: num(r.wall_s, 2))),
        ("Restore, peak RSS (MiB)", at("restore", lambda r: mib(r.peak_rss))),
        ("… resident, pages counted once (MiB)", at("restore", lambda r: mib(r.peak_resident))),
        ("Restored image", at("restore", lambda r: r.verified or "–")),
        ("Peak RSS over all phases (MiB)", lambda t: mib(record.peak_rss(t))),
        ("Peak resident memory over all phases (MiB)", lambda t: mib(record.peak_resident(t))),
        ("Local cache/state after day 2 (MiB)", at("day2", lambda r: mib(r.state_bytes))),
    ]


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]


@dataclass(frozen=True)
class Target:
    label: str
    requirement: str
    maximum: float
    ours: Callable[[VmRecord], float | None]
    reference: Callable[[VmRecord], float | None]
    unit: str


def wall(phase: str, tool: str) -> Callable[[VmRecord], float | None]:
    return lambda rec: rec.result(tool, phase).wall_s if rec.ok(tool, phase) else None


def rss_mib(tool: str) -> Callable[[VmRecord], float | None]:
    return lambda rec: None if (p := rec.peak_rss(tool)) is None else p / MIB


def resident_mib(tool: str) -> Callable[[VmRecord], float | None]:
    return lambda rec: None if (p := rec.peak_resident(tool)) is None else p / MIB


def growth_mib(rec: VmRecord) -> float | None:
    grown = rec.growth("rsvault")
    return None if grown is None else grown / MIB


TARGETS = [
    Target("Full backup wall time", "<= 0.5x restic", 0.5,
           wall("full", "rsvault"), wall("full", "restic"), "s"),
    Target("Day-2 (incremental) backup wall time", "<= 0.1x restic", 0.1,
           wall("day2", "rsvault"), wall("day2", "restic"), "s"),
    Target("Vault growth on day 2", "<= 1.25x bytes rewritten", 1.25,
           growth_mib, lambda rec: rec.rewritten_bytes / MIB, "MiB"),
    Target("Full restore wall time", "<= 0.6x restic", 0.6,
           wall("restore", "rsvault"), wall("restore", "restic"), "s"),
    Target("Peak RSS over all phases (summed per process)", "<= restic", 1.0,
           rss_mib("rsvault"), rss_mib("restic"), "MiB"),
    Target("Peak resident memory over all phases (pages counted once)", "<= restic", 1.0,
           resident_mib("rsvault"), resident_mib("restic"), "MiB"),
]  # fmt: skip


def target_row(target: Target, record: VmRecord) -> list[str]:
    ours, reference = target.ours(record), target.reference(record)
    if ours is None or reference is None or reference <= 0:
        ratio, verdict = "–", "not measured"
    else:
        ratio = f"{ours / reference:.3f}x"
        verdict = "met" if ours / reference <= target.maximum else "**not met**"
    unit = target.unit
    return [target.label, target.requirement, f"{num(ours, 2)} {unit}",
            f"{num(reference, 2)} {unit}", ratio, verdict]  # fmt: skip


def disk_text(record: VmRecord) -> str:
    d = record.disk
    if not d:
        return "The disk images were not built."
    cats = ", ".join(
        f"{name} {c['bytes'] / 1e6:,.0f} MB in {c['files']:,} files"
        for name, c in d["categories"].items()
    )
    p = d["params"]
    text = (
        f"The disk: {d['disk_bytes'] / 2**30:.0f} GiB, raw, holding ext4 (`mkfs.ext4 -d`, no"
        f" mount) with {d['file_bytes'] / 1e9:.2f} GB of files ({cats}); the image allocates"
        f" {d['day1_allocated'] / 1e9:.2f} GB, the rest is empty. Day 2 rewrites"
        f" {record.rewritten_bytes / MIB:.0f} MiB with random data: {d['regions']} scattered"
        f" {size_text(p['region_bytes'])} regions, aligned to their size,"
        f" {1 - p['free_share']:.0%} inside files' data blocks and {p['free_share']:.0%} in free"
        f" space. Seeds {p['seed']} and {p['day2_seed']}, built by `bench/vmdisk.py`"
        f" ({'reused from its cache' if d.get('reused') else 'built for this run'})."
    )
    return text


def size_text(size: int) -> str:
    return f"{size // MIB} MiB" if size % MIB == 0 else f"{size // 1024} KiB"


def wrap(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, break_long_words=False, break_on_hyphens=False)


def method_lines(record: VmRecord) -> list[str]:
    settings = [f"- {tool}: {record.settings.get(tool, '–')}" for tool in record.tools]
    versions = "; ".join(record.versions.get(t, f"{t} –") for t in record.tools)
    m = record.machine
    run = (
        f"Run {m.get('Date')} on {m.get('CPU')}, {m.get('RAM')} RAM, rsvault commit"
        f" {m.get('rsvault commit')}; {versions}. Caches: {record.cache_mode}."
    )
    method = (
        "restic and borg back up the image file, then the same regions are rewritten in the file"
        " and the same path is backed up again; rsvault backs up the running VM's disk: a full"
        " backup, then an incremental through changed-block tracking after the same regions were"
        " written into the VM through QEMU. Each restores the day-2 backup, and the image is"
        " compared with day2.raw by SHA-256. Peak RSS is that of the timed command's process tree"
        " (for rsvault the CLI and its workers, not libvirtd or QEMU), summed per process;"
        " peak resident memory counts each page of that tree once (code and libraries that"
        " several processes map are in memory once; see the files benchmark's method)."
        " Repository growth is the change in the space allocated under the repository between"
        " the two backups. Data read is what the"
        " day-2 backup read: the whole image for restic and borg (its mtime changed), the"
        " job's `bytesRead` for rsvault."
    )
    return [*wrap(run), "", *wrap(method), "", *settings]


def failure_lines(record: VmRecord) -> list[str]:
    lines: list[str] = []
    for tool, error in record.setup_errors.items():
        lines += [f"{tool}, setup:", "", "```", error.strip(), "```", ""]
    for tool in record.tools:
        for phase in PHASES:
            r = record.result(tool, phase)
            if r.status == "failed" and r.error:
                lines += [f"{tool}, {phase}:", "", "```", r.error.strip(), "```", ""]
    return ["### Failures", "", *lines] if lines else []


def render(record: VmRecord) -> str:
    results = [[label, *(cell(t) for t in record.tools)] for label, cell in result_rows(record)]
    targets = [target_row(t, record) for t in TARGETS]
    lines = [
        "## Virtual machine disk",
        "",
        *wrap(f"Generated by `make bench-vm` (`bench/vm.py`). {disk_text(record)}"),
        "",
        *method_lines(record),
        "",
        *table(["", *record.tools], results),
        "",
        "Targets (ratio is rsvault over the reference):",
        "",
        *table(["Target", "Requirement", "rsvault", "Reference", "Ratio", "Result"], targets),
        "",
        *failure_lines(record),
    ]
    return "\n".join(lines).rstrip() + "\n"


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--work", type=Path, default=BENCH_DIR / "work", help="scratch dir")
    parser.add_argument("--peers-only", action="store_true", help="restic and borg only")
    parser.add_argument("--tools", default="rsvault,restic,borg", help="comma-separated subset")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--seed", type=int, default=vmdisk.DiskParams.seed, help="disk seed")
    parser.add_argument("--day2-seed", type=int, default=vmdisk.DiskParams.day2_seed)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per phase")
    parser.add_argument("--rsvault", type=Path, default=DEFAULT_RSVAULT, help="rsvault executable")
    parser.add_argument("--libvirt-uri", default=URI)
    parser.add_argument("--keep-repos", action="store_true", help="keep repositories afterwards")
    args = parser.parse_args(argv)
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if args.peers_only:
        args.tools = [t for t in args.tools if t != "rsvault"]
    unknown = set(args.tools) - {"rsvault", *PEERS}
    if unknown or not args.tools:
        parser.error(f"--tools: choose from rsvault,restic,borg; got {','.join(args.tools)}")
    return args


def make_tools(args: argparse.Namespace, work: Path) -> list[Tool]:
    made: dict[str, Tool] = {"restic": Restic(work), "borg": Borg(work)}
    made["rsvault"] = RsvaultVm(work, args.rsvault.absolute(), VM_NAME, args.libvirt_uri)
    return [made[name] for name in args.tools]


def describe_tools(record: VmRecord, tools: list[Tool]) -> None:
    for tool in tools:
        record.settings[tool.name] = tool.settings
        try:
            record.versions[tool.name] = tool.version() if tool.executable() else "not installed"
        except ToolError as exc:
            record.versions[tool.name] = f"unknown ({exc})"
        log(f"{tool.name}: {record.versions[tool.name]}")
    for tool in tools:
        if isinstance(tool, Borg):
            record.settings[tool.name] += "; `extract --sparse`"


def check_rsvault(runner: Runner, tools: list[Tool]) -> RsvaultVm | None:
    tool = next((t for t in tools if isinstance(t, RsvaultVm)), None)
    missing = tool.missing_commands() if tool else []
    if tool and missing:
        runner.setup_failed(
            tool.name,
            f"rsvault lacks VM commands: {'; '.join(missing)}. Its half is skipped;"
            " run with --peers-only to leave it out.",
        )
        return None
    return tool


def record_disk(record: VmRecord, disks: vmdisk.DiskSet) -> None:
    record.disk = {k: v for k, v in dataclasses.asdict(disks).items() if k != "folder"}
    record.disk["regions"] = len(disks.regions())
    record.rewritten_bytes = disks.rewritten_bytes


def write_outputs(record: VmRecord, out: Path, work: Path) -> None:
    body = render(record)
    print(body, flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    sections.write_section(out, SECTION, body)
    (work / "results.json").write_text(json.dumps(dataclasses.asdict(record), indent=2))
    log(f"report: {out} (section {SECTION!r}), {work / 'results.json'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = args.work.resolve()
    work = root / "vm"
    tools = make_tools(args, work)
    record = VmRecord(args.tools, machine.describe(root))
    describe_tools(record, tools)
    runner = Runner(record, work / "logs", args.timeout, drop_caches())
    record.cache_mode = COLD if runner.cold else WARM
    rsvault = check_rsvault(runner, tools)
    params = vmdisk.DiskParams(seed=args.seed, day2_seed=args.day2_seed)
    disks = vmdisk.build(root, params)
    log(vmdisk.describe(disks))
    record_disk(record, disks)
    try:
        Peers(runner, [t for t in tools if t.name in PEERS], disks, work).run()
        if rsvault is not None:
            RsvaultRun(runner, rsvault, disks).run()
    finally:
        if not args.keep_repos:
            for tool in tools:
                tool.cleanup()
    write_outputs(record, args.out.resolve(), work)
    return 0 if all(record.ok(t) for t in args.tools) else 1


if __name__ == "__main__":
    sys.exit(main())
