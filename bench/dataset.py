"""Deterministic benchmark dataset: real system files, seeded random data, duplicates and text.

``build(root)`` creates the tree (or reuses it when its marker says it was built with the same
parameters), ``mutate(root)`` changes about 5% of the files and journals how to undo it, and
``revert(root)`` brings the tree back to its pristine state. The marker and the undo journal live
next to the tree (``<root>.marker.json``, ``<root>.undo/``) so they are never part of a backup.

Random content comes from SHAKE-128 in 64 KiB blocks keyed by (seed, stream, block): it is
incompressible, reproducible, fast (several hundred MB/s) and addressable at any offset, which
lets duplicated files share blocks with other files at shifted offsets without reading them back.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import random
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = 1  # bump whenever the generated content changes
GB = 1_000_000_000
KIB = 1024
MIB = 1024 * KIB
BLOCK = 64 * KIB
SHARES = {"system": 0.35, "random": 0.35, "duplicate": 0.20, "text": 0.10}
SYSTEM_SOURCES: tuple[tuple[str, float], ...] = (
    ("/usr/share", 0.55),
    ("/usr/lib/python3*", 0.25),
    ("/usr/lib/x86_64-linux-gnu", 0.20),
)
MAX_SYSTEM_FILE = 64 * MIB
WORD_TEXT = (
    "request accepted rejected backup restore snapshot chunk index vault policy worker retry "
    "timeout connection upload download verify checksum session cache flush commit rollback "
    "client server agent schedule retention prune compact lock unlock open close read write"
)
WORDS = WORD_TEXT.split()
LEVELS = ("INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARN", "ERROR")


@dataclass
class Category:
    files: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.files += 1
        self.bytes += size


@dataclass
class Summary:
    """What ``build`` produced, per category."""

    categories: dict[str, Category] = field(default_factory=dict)
    empty_dirs: int = 0

    def count(self, name: str, size: int) -> None:
        self.categories.setdefault(name, Category()).add(size)


@dataclass(frozen=True)
class TreeStats:
    files: int
    dirs: int
    bytes: int


@dataclass
class Mutation:
    """What ``mutate`` changed."""

    rewritten: int = 0
    appended: int = 0
    created: int = 0
    deleted: int = 0
    bytes_written: int = 0
    files_before: int = 0


# --- seeded content -------------------------------------------------------------------------


def stream_key(seed: int, *parts: object) -> bytes:
    return ":".join(str(p) for p in (seed, *parts)).encode()


def stream_chunks(key: bytes, offset: int, length: int) -> Iterator[bytes]:
    """Bytes ``[offset, offset + length)`` of the pseudo-random stream named ``key``."""
    end = offset + length
    block = offset // BLOCK
    while offset < end:
        data = hashlib.shake_128(key + block.to_bytes(8, "little")).digest(BLOCK)
        start = offset - block * BLOCK
        piece = data[start : start + (end - offset)]
        yield piece
        offset += len(piece)
        block += 1


def stream_bytes(key: bytes, offset: int, length: int) -> bytes:
    return b"".join(stream_chunks(key, offset, length))


def write_chunks(path: Path, chunks: Iterable[bytes]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("wb") as f:
        for chunk in chunks:
            f.write(chunk)
            written += len(chunk)
    return written


def log_uniform(rng: random.Random, low: int, high: int) -> int:
    scale: float = (high / low) ** rng.random()
    return round(low * scale)


def nested_dir(rng: random.Random, base: Path, depth: int = 3, fanout: int = 6) -> Path:
    parts = [f"d{rng.randrange(fanout)}" for _ in range(rng.randint(1, depth))]
    return base.joinpath(*parts)


# --- category builders ----------------------------------------------------------------------


def list_regular_files(top: Path) -> list[tuple[Path, int]]:
    """Regular files under ``top`` (no symlinks), in sorted order, with sizes."""
    found: list[tuple[Path, int]] = []
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError:
        return found
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            found.extend(list_regular_files(Path(entry.path)))
        elif entry.is_file(follow_symlinks=False):
            found.append((Path(entry.path), entry.stat(follow_symlinks=False).st_size))
    return found


def sampled(seed: int, path: Path, probability: float) -> bool:
    digest = hashlib.blake2b(f"{seed}:{path}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64 < probability


def copy_system_source(pattern: str, budget: int, dest: Path, seed: int, summary: Summary) -> int:
    """Copy a deterministic, evenly spread sample of the files matching ``pattern``."""
    candidates: list[tuple[Path, int]] = []
    for top in sorted(glob.glob(pattern)):
        candidates.extend(f for f in list_regular_files(Path(top)) if f[1] <= MAX_SYSTEM_FILE)
    total = sum(size for _, size in candidates)
    probability = min(1.0, 1.2 * budget / total) if total else 0.0
    used = 0
    for path, size in candidates:
        if used + size > budget or not sampled(seed, path, probability):
            continue
        target = dest / path.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(path, target)
        except OSError:
            continue
        used += size
        summary.count("system", size)
    return used


def build_system(root: Path, budget: int, seed: int, summary: Summary) -> None:
    carry = 0
    for pattern, weight in SYSTEM_SOURCES:
        share = int(budget * weight) + carry
        carry = share - copy_system_source(pattern, share, root / "system", seed, summary)


def build_random(root: Path, budget: int, seed: int, summary: Summary) -> list[tuple[Path, int]]:
    """Incompressible files from 1 KiB to 64 MiB; returns (path, size) for stream ``i``."""
    rng = random.Random(f"{seed}:random")
    made: list[tuple[Path, int]] = []
    used = 0
    while budget - used >= KIB:
        size = min(log_uniform(rng, KIB, 64 * MIB), budget - used)
        path = nested_dir(rng, root / "random") / f"r{len(made):05d}.bin"
        write_chunks(path, stream_chunks(stream_key(seed, "random", len(made)), 0, size))
        made.append((path, size))
        used += size
        summary.count("random", size)
    return made


def build_small(root: Path, count: int, seed: int, summary: Summary) -> None:
    """Many small files (half text, half random) and some empty files, deeply nested."""
    rng = random.Random(f"{seed}:small")
    for i in range(count):
        path = nested_dir(rng, root / "small", depth=4, fanout=5) / f"s{i:05d}"
        size = rng.randrange(1, 4 * KIB)
        if i % 2:
            data = " ".join(rng.choices(WORDS, k=size // 7 + 1)).encode()[:size]
        else:
            data = stream_bytes(stream_key(seed, "small", i), 0, size)
        write_chunks(path, [data])
        summary.count("small", size)
    for i in range(max(10, count // 100)):
        path = nested_dir(rng, root / "empty") / f"e{i:04d}"
        write_chunks(path, [])
        summary.count("empty", 0)


def build_empty_dirs(root: Path, count: int, summary: Summary) -> None:
    for i in range(count):
        (root / "empty-dirs" / f"x{i:02d}" / "y" / "z").mkdir(parents=True, exist_ok=True)
        summary.empty_dirs += 1


def build_copies(root: Path, budget: int, seed: int, summary: Summary) -> None:
    """Exact copies of earlier files (random and system), under new names."""
    rng = random.Random(f"{seed}:copies")
    candidates = [(p, s) for p, s in list_regular_files(root) if s > 0]
    rng.shuffle(candidates)
    used = 0
    for n, (source, size) in enumerate(candidates):
        if used + size > budget:
            continue
        target = nested_dir(rng, root / "duplicate" / "copies") / f"c{n:05d}-{source.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        used += size
        summary.count("duplicate-copy", size)


def shifted_segments(
    rng: random.Random, seed: int, index: int, size: int, sources: list[tuple[Path, int]]
) -> Iterator[bytes]:
    """Blocks of other random files at shifted offsets, glued with short fresh random gaps."""
    written = 0
    while written < size:
        gap = min(rng.randrange(0, 64 * KIB), size - written)
        yield from stream_chunks(stream_key(seed, "gap", index, written), 0, gap)
        written += gap
        stream = rng.randrange(len(sources))
        source_size = sources[stream][1]
        length = min(log_uniform(rng, 256 * KIB, 8 * MIB), source_size, size - written)
        offset = rng.randrange(0, source_size - length + 1)
        yield from stream_chunks(stream_key(seed, "random", stream), offset, length)
        written += length


def build_shifted(
    root: Path, budget: int, seed: int, sources: list[tuple[Path, int]], summary: Summary
) -> None:
    rng = random.Random(f"{seed}:shifted")
    if not sources:
        return
    used = 0
    index = 0
    while budget - used >= KIB:
        size = min(log_uniform(rng, 64 * KIB, 16 * MIB), budget - used)
        path = nested_dir(rng, root / "duplicate" / "shifted") / f"s{index:04d}.bin"
        write_chunks(path, shifted_segments(rng, seed, index, size, sources))
        used += size
        index += 1
        summary.count("duplicate-shifted", size)


def log_lines(rng: random.Random, count: int, start: int) -> Iterator[bytes]:
    ts = start
    for _ in range(count // 200 + 1):
        lines = []
        for _ in range(200):
            ts += rng.randrange(1, 2000)
            lines.append(
                f"2024-{ts // 2_592_000_000 % 12 + 1:02d}-{ts // 86_400_000 % 28 + 1:02d}T"
                f"{ts // 3_600_000 % 24:02d}:{ts // 60_000 % 60:02d}:{ts // 1000 % 60:02d}."
                f"{ts % 1000:03d}Z host-{rng.randrange(16):02d} {rng.choice(LEVELS):5} "
                f"[worker-{rng.randrange(8)}] {rng.choice(WORDS)} {rng.choice(WORDS)} "
                f"id={rng.getrandbits(32):08x} status={rng.choice((200, 200, 201, 404, 500))} "
                f"bytes={rng.randrange(100_000)} dur_ms={rng.random() * 500:.1f}\n"
            )
        yield "".join(lines).encode()


def csv_rows(rng: random.Random, count: int) -> Iterator[bytes]:
    yield b"id,sensor,value,unit,quality\n"
    for block in range(count // 500 + 1):
        rows = (
            f"{block * 500 + i},s{rng.randrange(40)},{rng.gauss(20, 5):.3f},C,"
            f"{rng.choice(('good', 'good', 'suspect'))}\n"
            for i in range(500)
        )
        yield "".join(rows).encode()


def truncated(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    left = size
    for chunk in chunks:
        if left <= 0:
            return
        yield chunk[:left]
        left -= len(chunk[:left])


def build_text(root: Path, budget: int, seed: int, summary: Summary) -> None:
    """Compressible log-like and CSV files."""
    rng = random.Random(f"{seed}:text")
    used = 0
    index = 0
    while budget - used >= KIB:
        size = min(log_uniform(rng, 4 * KIB, 16 * MIB), budget - used)
        if index % 4 == 3:
            path = root / "text" / "csv" / f"metrics-{index:04d}.csv"
            chunks = csv_rows(rng, size // 30)
        else:
            path = nested_dir(rng, root / "text" / "logs", depth=2) / f"app-{index:04d}.log"
            chunks = log_lines(rng, size // 120, rng.randrange(10**10))
        written = write_chunks(path, truncated(chunks, size))
        used += written
        index += 1
        summary.count("text", written)


# --- marker, build, stats -------------------------------------------------------------------


def marker_path(root: Path) -> Path:
    return root.with_name(root.name + ".marker.json")


def undo_dir(root: Path) -> Path:
    return root.with_name(root.name + ".undo")


def read_marker(root: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(marker_path(root).read_text())
    except (OSError, ValueError):
        return {}
    return data


def write_marker(root: Path, **fields: Any) -> None:
    marker = read_marker(root) | fields
    tmp = marker_path(root).with_suffix(".tmp")
    tmp.write_text(json.dumps(marker, indent=2, sort_keys=True))
    tmp.replace(marker_path(root))


def generate(root: Path, size_gb: float, seed: int) -> Summary:
    total = int(size_gb * GB)
    budgets = {name: int(total * share) for name, share in SHARES.items()}
    summary = Summary()
    small = int(3000 * size_gb)
    build_system(root, budgets["system"], seed, summary)
    sources = build_random(root, budgets["random"] - small * 2 * KIB, seed, summary)
    build_small(root, small, seed, summary)
    build_empty_dirs(root, 5, summary)
    build_copies(root, budgets["duplicate"] // 2, seed, summary)
    build_shifted(root, budgets["duplicate"] - budgets["duplicate"] // 2, seed, sources, summary)
    build_text(root, budgets["text"], seed, summary)
    return summary


def build(root: Path, size_gb: float = 2.0, seed: int = 42) -> Summary:
    """Build the dataset at ``root``, or reuse it when already built with these parameters."""
    params = {"format": FORMAT, "size_gb": size_gb, "seed": seed}
    if is_built(root, size_gb, seed):
        revert(root)
        if read_marker(root).get("state") == "pristine":
            return summary_from(read_marker(root)["summary"])
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(undo_dir(root), ignore_errors=True)
    marker_path(root).unlink(missing_ok=True)
    root.mkdir(parents=True)
    summary = generate(root, size_gb, seed)
    write_marker(root, **params, state="pristine", summary=asdict(summary))
    return summary


def is_built(root: Path, size_gb: float, seed: int) -> bool:
    """True when ``root`` holds a complete dataset built with these parameters."""
    params = {"format": FORMAT, "size_gb": size_gb, "seed": seed}
    marker = read_marker(root)
    matches = all(marker.get(k) == v for k, v in params.items())
    return root.is_dir() and matches and marker.get("state") in ("pristine", "mutated")


def summary_from(data: dict[str, Any]) -> Summary:
    categories = {k: Category(**v) for k, v in data["categories"].items()}
    return Summary(categories=categories, empty_dirs=data["empty_dirs"])


def scan(root: Path) -> TreeStats:
    files = dirs = size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirs += len(dirnames)
        for name in filenames:
            files += 1
            size += os.lstat(os.path.join(dirpath, name)).st_size
    return TreeStats(files=files, dirs=dirs, bytes=size)


def relative_files(root: Path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, name), root)
        for d, _, names in os.walk(root)
        for name in names
    )


# --- mutate and revert ----------------------------------------------------------------------


class Journal:
    """Undo log of a mutation; blobs hold overwritten regions and deleted files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = undo_dir(root)
        self.entries: list[dict[str, Any]] = []

    def blob(self) -> Path:
        return self.dir / f"blob-{len(self.entries):05d}"

    def record(self, op: str, path: Path, **fields: Any) -> None:
        rel = str(path.relative_to(self.root))
        self.entries.append({"op": op, "path": rel, **fields})

    def save(self) -> None:
        (self.dir / "journal.json").write_text(json.dumps(self.entries, indent=1))


def rewrite_middle(journal: Journal, path: Path, key: bytes) -> int:
    size = path.stat().st_size
    length = max(1, min(size // 16, 256 * KIB))
    offset = (size - length) // 2
    mtime = path.stat().st_mtime_ns
    with path.open("r+b") as f:
        f.seek(offset)
        journal.blob().write_bytes(f.read(length))
        journal.record("rewrite", path, offset=offset, blob=journal.blob().name, mtime_ns=mtime)
        f.seek(offset)
        f.write(stream_bytes(key, 0, length))
    return length


def append(journal: Journal, path: Path, key: bytes, length: int) -> int:
    stat = path.stat()
    journal.record("append", path, size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    with path.open("ab") as f:
        f.write(stream_bytes(key, 0, length))
    return length


def delete(journal: Journal, path: Path) -> None:
    blob = journal.blob()
    journal.record("delete", path, blob=blob.name, mtime_ns=path.stat().st_mtime_ns)
    os.replace(path, blob)


def create(journal: Journal, path: Path, key: bytes, length: int) -> int:
    journal.record("create", path)
    return write_chunks(path, stream_chunks(key, 0, length))


def mutate(root: Path, fraction: float = 0.05, seed: int = 7) -> Mutation:
    """Change about ``fraction`` of the files: rewrites, appends, a few new and deleted files."""
    if read_marker(root).get("state") != "pristine":
        raise RuntimeError(f"{root} is not a pristine dataset; build() it first")
    files = relative_files(root)
    rng = random.Random(f"{seed}:mutate")
    changed = max(4, round(len(files) * fraction))
    few = max(1, changed // 20)
    chosen = [root / p for p in rng.sample(files, min(changed - few, len(files)))]
    result = Mutation(files_before=len(files))
    write_marker(root, state="dirty")
    shutil.rmtree(undo_dir(root), ignore_errors=True)
    undo_dir(root).mkdir()
    journal = Journal(root)
    for i, path in enumerate(chosen):
        key = stream_key(seed, "mutate", i)
        if i < few:
            delete(journal, path)
            result.deleted += 1
        elif i % 5 < 2 or path.stat().st_size == 0:
            result.bytes_written += append(journal, path, key, rng.randrange(1, 64 * KIB))
            result.appended += 1
        else:
            result.bytes_written += rewrite_middle(journal, path, key)
            result.rewritten += 1
    for i in range(few):
        target = chosen[-1 - i].parent / f"new-{seed}-{i:03d}.bin"
        key = stream_key(seed, "new", i)
        result.bytes_written += create(journal, target, key, log_uniform(rng, KIB, MIB))
        result.created += 1
    journal.save()
    write_marker(root, state="mutated", mutation=asdict(result))
    return result


def undo(root: Path, blobs: Path, entry: dict[str, Any]) -> None:
    path = root / entry["path"]
    op = entry["op"]
    if op == "create":
        path.unlink(missing_ok=True)
        return
    if op == "delete":
        os.replace(blobs / entry["blob"], path)
    elif op == "append":
        os.truncate(path, entry["size"])
    elif op == "rewrite":
        with path.open("r+b") as f:
            f.seek(entry["offset"])
            f.write((blobs / entry["blob"]).read_bytes())
    os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]))


def revert(root: Path) -> None:
    """Undo ``mutate``; a tree that cannot be reverted is marked dirty so ``build`` redoes it."""
    if read_marker(root).get("state") != "mutated":
        return
    blobs = undo_dir(root)
    entries: list[dict[str, Any]] = json.loads((blobs / "journal.json").read_text())
    write_marker(root, state="dirty")
    for entry in reversed(entries):
        undo(root, blobs, entry)
    shutil.rmtree(blobs)
    write_marker(root, state="pristine", mutation=None)
