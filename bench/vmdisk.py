#!/usr/bin/env python3
"""Deterministic VM disk images for the VM benchmark: a day-1 ext4 disk and its day-2 version.

``build(work)`` makes (or reuses) ``<work>/vm/disk-<key>/`` holding

- ``day1.raw``: a sparse 4 GiB raw image of an ext4 file system made by ``mkfs.ext4 -d STAGE``
  (no mount, no loop device) from about 2 GB of files: a seeded sample of real files from
  /usr/share and /usr/lib, seeded incompressible random files, compressible log/CSV text and
  many small files (the generators of ``dataset.py``); the rest of the disk is empty;
- ``day2.raw``: the same disk after a guest rewrote about 4% of it in scattered 1 MiB regions,
  aligned to 1 MiB, with seeded random data: most inside the data blocks of files, the rest in
  free space (like new files), never over file-system metadata, so both disks pass ``e2fsck``;
- ``regions.json``: those regions, ``[{"offset", "length", "kind"}]`` sorted by offset, so a
  benchmark can replay exactly the same writes into a running VM;
- ``manifest.json``: parameters, SHA-256 of both images, sizes; written last (the cache marker).

``key`` hashes the parameters and the mke2fs version. The image is byte-identical across builds
on one machine: fixed UUID and directory hash seed, ``E2FSPROGS_FAKE_TIME``, ``root_owner``,
every inode's times set to the same instant with ``debugfs`` afterwards (``mkfs -d`` copies
ctime and atime from the staged files), and a fixed umask. The sample of system files depends
on what is installed, so another machine builds another (equally deterministic) disk.

Run ``python bench/vmdisk.py --check`` to build and validate (determinism needs ``--twice``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dataset

FORMAT = 1  # bump whenever the generated images change
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
GB = 1_000_000_000
FS_BLOCK = 4096
FS_UUID = "5a1e7a17-0000-4000-8000-000000000042"
FAKE_TIME = 1_767_225_600  # 2026-01-01 00:00:00 UTC, every timestamp in the image
IO_BLOCK = 4 * MIB
BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_WORK = BENCH_DIR / "work"
EXTENT_LINE = re.compile(r"^\s*\d+/\s*\d+\s+\d+/\s*\d+\s+\d+\s*-\s*\d+\s+(\d+)\s*-\s*(\d+)\s+\d+")
SAFE_NAME = re.compile(r"^[A-Za-z0-9._+/-]+$")


@dataclass(frozen=True)
class DiskParams:
    disk_bytes: int = 4 * GIB
    fill_bytes: int = 2 * GB
    seed: int = 42
    day2_seed: int = 7
    rewrite_fraction: float = 0.04
    region_bytes: int = MIB
    free_share: float = 0.1  # rewritten regions that land in free space (new files)
    shares: tuple[tuple[str, float], ...] = (("system", 0.40), ("random", 0.40), ("text", 0.20))
    small_files: int = 5000

    @property
    def regions(self) -> int:
        return round(self.disk_bytes * self.rewrite_fraction / self.region_bytes)

    def key(self) -> str:
        described = {"format": FORMAT, "mke2fs": mke2fs_version(), **asdict(self)}
        text = json.dumps(described, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Region:
    offset: int
    length: int
    kind: str  # "file" (inside a file's data blocks) or "free" (unallocated space)


@dataclass
class DiskSet:
    """A built pair of images and what is known about them."""

    folder: Path
    params: dict[str, Any]
    day1_sha256: str
    day2_sha256: str
    disk_bytes: int
    day1_allocated: int
    day2_allocated: int
    files: int
    file_bytes: int
    categories: dict[str, dict[str, int]] = field(default_factory=dict)
    build_s: float = 0.0
    reused: bool = False

    @property
    def day1(self) -> Path:
        return self.folder / "day1.raw"

    @property
    def day2(self) -> Path:
        return self.folder / "day2.raw"

    def regions(self) -> list[Region]:
        data = json.loads((self.folder / "regions.json").read_text())
        return [Region(**r) for r in data]

    @property
    def rewritten_bytes(self) -> int:
        return sum(r.length for r in self.regions())


def log(message: str) -> None:
    print(message, flush=True)


def run(*argv: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def mke2fs_version() -> str:
    done = subprocess.run(["mkfs.ext4", "-V"], capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr).splitlines()[0].strip() if done.returncode == 0 else "?"


def fake_time_env() -> dict[str, str]:
    return {**os.environ, "E2FSPROGS_FAKE_TIME": str(FAKE_TIME), "LC_ALL": "C"}


# --- streaming helpers -----------------------------------------------------------------------


def blocks(path: Path, size: int = IO_BLOCK) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(size):
            yield chunk


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    for chunk in blocks(path):
        digest.update(chunk)
    return digest.hexdigest()


def allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


def sparse_copy(source: Path, target: Path) -> None:
    """Copy keeping holes (cp --sparse=always), so a 4 GiB image with 2 GB of data stays small."""
    target.unlink(missing_ok=True)
    run("cp", "--sparse=always", str(source), str(target))


def region_data(seed: int, region: Region) -> bytes:
    return dataset.stream_bytes(dataset.stream_key(seed, "day2", region.offset), 0, region.length)


# --- the staged tree -------------------------------------------------------------------------


def build_stage(stage: Path, params: DiskParams) -> dataset.Summary:
    """The files the disk holds, built with the generators of the files benchmark."""
    shares = dict(params.shares)
    budget = {name: int(params.fill_bytes * share) for name, share in shares.items()}
    small_budget = params.small_files * 2 * KIB
    summary = dataset.Summary()
    old_umask = os.umask(0o022)
    try:
        stage.mkdir(parents=True)
        dataset.build_system(stage, budget["system"], params.seed, summary)
        dataset.build_random(stage, budget["random"] - small_budget, params.seed, summary)
        dataset.build_small(stage, params.small_files, params.seed, summary)
        dataset.build_text(stage, budget["text"], params.seed, summary)
    finally:
        os.umask(old_umask)
    return summary


def region_candidates(stage: Path, region_bytes: int) -> list[str]:
    """Paths (inside the file system) of files big enough to hold a rewritten region."""
    return [
        "/" + str(path.relative_to(stage))
        for path, size in dataset.list_regular_files(stage)
        if size >= 2 * region_bytes and SAFE_NAME.match(str(path.relative_to(stage)))
    ]


# --- the file system -------------------------------------------------------------------------


def make_ext4(image: Path, stage: Path, params: DiskParams) -> None:
    with image.open("wb") as f:
        f.truncate(params.disk_bytes)
    options = f"hash_seed={FS_UUID},root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1"
    run(
        "mkfs.ext4", "-q", "-F", "-b", str(FS_BLOCK), "-U", FS_UUID, "-L", "benchdisk",
        "-E", options, "-d", str(stage), str(image), env=fake_time_env(),
    )  # fmt: skip
    pin_inode_times(image)


def free_ranges(dump: str, label: str) -> list[tuple[int, int]]:
    """Inclusive ranges from dumpe2fs' per-group ``Free blocks:`` / ``Free inodes:`` lines."""
    ranges: list[tuple[int, int]] = []
    for line in dump.splitlines():
        name, _, value = line.strip().partition(": ")
        if name != label:
            continue
        for part in value.split(","):
            low, _, high = part.strip().partition("-")
            if low:
                ranges.append((int(low), int(high or low)))
    return ranges


def dumpe2fs(image: Path) -> str:
    return run("dumpe2fs", str(image), env=fake_time_env())


def superblock_count(dump: str, field_name: str) -> int:
    for line in dump.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == field_name:
            return int(value.strip())
    raise RuntimeError(f"dumpe2fs: no {field_name!r}")


def used_inodes(dump: str) -> list[int]:
    free: set[int] = set()
    for low, high in free_ranges(dump, "Free inodes"):
        free.update(range(low, high + 1))
    total = superblock_count(dump, "Inode count")
    return [n for n in range(1, total + 1) if n not in free and (n == 2 or n >= 11)]


def pin_inode_times(image: Path) -> None:
    """Set every in-use inode's times to FAKE_TIME (mkfs -d copied them from the stage)."""
    commands = [
        f"sif <{n}> {name} @{FAKE_TIME}"
        for n in used_inodes(dumpe2fs(image))
        for name in ("atime", "mtime", "ctime", "crtime")
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".debugfs") as script:
        script.write("\n".join(commands) + "\n")
        script.flush()
        run("debugfs", "-w", "-f", script.name, str(image), env=fake_time_env())


# --- the day-2 regions -----------------------------------------------------------------------


def file_extents(image: Path, paths: list[str]) -> list[tuple[int, int]]:
    """Byte ranges [start, end) of the data blocks of these files on the disk."""
    with tempfile.NamedTemporaryFile("w", suffix=".debugfs") as script:
        script.write("".join(f'ex -l "{p}"\n' for p in paths))
        script.flush()
        out = run("debugfs", "-f", script.name, str(image), env=fake_time_env())
    extents = []
    for line in out.splitlines():
        found = EXTENT_LINE.match(line)
        if found:
            first, last = int(found.group(1)), int(found.group(2))
            extents.append((first * FS_BLOCK, (last + 1) * FS_BLOCK))
    return extents


def aligned_windows(ranges: list[tuple[int, int]], size: int) -> set[int]:
    """Offsets of the ``size``-aligned windows lying wholly inside one of the ranges."""
    windows: set[int] = set()
    for start, end in ranges:
        first = -(-start // size) * size
        windows.update(range(first, end - size + 1, size))
    return windows


def choose_regions(image: Path, candidates: list[str], params: DiskParams) -> list[Region]:
    size = params.region_bytes
    in_files = aligned_windows(file_extents(image, candidates), size)
    free_blocks = free_ranges(dumpe2fs(image), "Free blocks")
    free = aligned_windows([(a * FS_BLOCK, (b + 1) * FS_BLOCK) for a, b in free_blocks], size)
    free -= in_files
    wanted_free = round(params.regions * params.free_share)
    wanted_file = params.regions - wanted_free
    if len(in_files) < wanted_file or len(free) < wanted_free:
        raise RuntimeError(f"not enough room: {len(in_files)} file and {len(free)} free windows")
    rng = random.Random(f"{params.day2_seed}:regions")
    chosen = [Region(o, size, "file") for o in rng.sample(sorted(in_files), wanted_file)]
    chosen += [Region(o, size, "free") for o in rng.sample(sorted(free), wanted_free)]
    return sorted(chosen, key=lambda r: r.offset)


def apply_regions(image: Path, regions: list[Region], seed: int) -> None:
    with image.open("r+b") as f:
        for region in regions:
            f.seek(region.offset)
            f.write(region_data(seed, region))


# --- build, cache, checks --------------------------------------------------------------------


def folder_for(work: Path, params: DiskParams) -> Path:
    return work / "vm" / f"disk-{params.key()}"


def load(folder: Path) -> DiskSet | None:
    try:
        data = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    disks = DiskSet(folder=folder, **data)
    ok = disks.day1.is_file() and disks.day2.is_file() and (folder / "regions.json").is_file()
    return disks if ok else None


def build(work: Path = DEFAULT_WORK, params: DiskParams | None = None) -> DiskSet:
    """The images for ``params``, from the cache when built before."""
    params = params or DiskParams()
    folder = folder_for(work, params)
    cached = load(folder)
    if cached is not None:
        cached.reused = True
        return cached
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    disks = generate(partial, params)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    disks.folder = folder
    return disks


def generate(folder: Path, params: DiskParams) -> DiskSet:
    started = time.perf_counter()
    stage = folder / "stage"
    log(f"vmdisk: staging {params.fill_bytes / GB:.1f} GB of files")
    summary = build_stage(stage, params)
    candidates = region_candidates(stage, params.region_bytes)
    day1, day2 = folder / "day1.raw", folder / "day2.raw"
    log(f"vmdisk: mkfs.ext4 -d into a {params.disk_bytes / GIB:.0f} GiB image")
    make_ext4(day1, stage, params)
    shutil.rmtree(stage)
    regions = choose_regions(day1, candidates, params)
    log(f"vmdisk: day 2 rewrites {len(regions)} regions of {params.region_bytes // KIB} KiB")
    sparse_copy(day1, day2)
    apply_regions(day2, regions, params.day2_seed)
    (folder / "regions.json").write_text(json.dumps([asdict(r) for r in regions], indent=1))
    cats = {name: asdict(c) for name, c in summary.categories.items()}
    disks = DiskSet(
        folder=folder,
        params=asdict(params),
        day1_sha256=sha256_of(day1),
        day2_sha256=sha256_of(day2),
        disk_bytes=params.disk_bytes,
        day1_allocated=allocated(day1),
        day2_allocated=allocated(day2),
        files=sum(c.files for c in summary.categories.values()),
        file_bytes=sum(c.bytes for c in summary.categories.values()),
        categories=cats,
        build_s=time.perf_counter() - started,
    )
    manifest = {k: v for k, v in asdict(disks).items() if k not in ("folder", "reused")}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return disks


def differing_windows(a: Path, b: Path, size: int) -> set[int]:
    """Offsets of the ``size``-aligned windows where two equally long files differ."""
    found: set[int] = set()
    offset = 0
    for left, right in zip(blocks(a, size), blocks(b, size), strict=True):
        if left != right:
            found.add(offset)
        offset += size
    return found


def fsck(image: Path) -> str:
    """``e2fsck -fn`` on a sparse copy (-n never writes, the copy makes sure of it)."""
    with tempfile.TemporaryDirectory(dir=image.parent) as scratch:
        copy = Path(scratch) / image.name
        sparse_copy(image, copy)
        done = subprocess.run(
            ["e2fsck", "-fn", str(copy)], capture_output=True, text=True, check=False
        )
    if done.returncode:
        raise RuntimeError(f"e2fsck -fn {image.name} exited {done.returncode}:\n{done.stdout}")
    return done.stdout.strip().splitlines()[-1]


def check(disks: DiskSet) -> list[str]:
    """Validate a built pair; returns what was checked, raises on the first problem."""
    notes = []
    for image in (disks.day1, disks.day2):
        notes.append(f"{image.name}: {fsck(image)}")
    listing = run("debugfs", "-R", "ls /", str(disks.day1), env=fake_time_env())
    if "system" not in listing or "random" not in listing:
        raise RuntimeError(f"debugfs ls / lacks the staged folders:\n{listing}")
    notes.append("debugfs ls / shows " + " ".join(listing.split()[2::3][:8]))
    regions = disks.regions()
    differ = differing_windows(disks.day1, disks.day2, disks.params["region_bytes"])
    if differ != {r.offset for r in regions}:
        raise RuntimeError(f"day 2 differs in {len(differ)} windows, {len(regions)} listed")
    notes.append(f"day2.raw differs from day1.raw in exactly the {len(regions)} listed regions")
    for image, wanted in ((disks.day1, disks.day1_sha256), (disks.day2, disks.day2_sha256)):
        if sha256_of(image) != wanted:
            raise RuntimeError(f"{image.name}: SHA-256 differs from the manifest")
    notes.append("both SHA-256 match the manifest")
    return notes


def determinism(work: Path, params: DiskParams, disks: DiskSet) -> str:
    """Build the images a second time in a scratch folder and compare the hashes."""
    scratch = Path(tempfile.mkdtemp(prefix="vmdisk-again-", dir=work))
    try:
        again = generate(scratch, params)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(scratch)
    same = (again.day1_sha256, again.day2_sha256) == (disks.day1_sha256, disks.day2_sha256)
    if not same:
        raise RuntimeError(f"second build differs: {again.day1_sha256} vs {disks.day1_sha256}")
    return f"a second build is byte-identical (day1 {disks.day1_sha256[:16]}…)"


def describe(disks: DiskSet) -> str:
    how = "reused" if disks.reused else f"built in {disks.build_s:.0f} s"
    return (
        f"{disks.folder} ({how}): {disks.disk_bytes / GIB:.0f} GiB disk, {disks.files:,} files,"
        f" {disks.file_bytes / GB:.2f} GB of file data, day1 allocates"
        f" {disks.day1_allocated / GB:.2f} GB; day 2 rewrites {disks.rewritten_bytes / MIB:.0f} MiB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="scratch dir")
    parser.add_argument("--seed", type=int, default=DiskParams.seed)
    parser.add_argument("--day2-seed", type=int, default=DiskParams.day2_seed)
    parser.add_argument("--check", action="store_true", help="e2fsck, debugfs, regions, hashes")
    parser.add_argument("--twice", action="store_true", help="build again and compare hashes")
    args = parser.parse_args(argv)
    params = DiskParams(seed=args.seed, day2_seed=args.day2_seed)
    disks = build(args.work.resolve(), params)
    log(describe(disks))
    if args.check:
        for note in check(disks):
            log(f"check: {note}")
    if args.twice:
        log(f"check: {determinism(args.work.resolve(), params, disks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
