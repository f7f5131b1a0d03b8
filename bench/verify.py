"""Check that a restored tree matches its source: same paths, same kinds, same bytes."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 1 << 20
MAX_EXAMPLES = 10


@dataclass
class Differences:
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(message)

    def summary(self) -> str:
        if not self.count:
            return "identical"
        return f"{self.count} differences, e.g. " + "; ".join(self.examples)


def entries(root: Path) -> dict[str, str]:
    """Relative path -> kind ('dir', 'file', 'link', 'other') for everything under ``root``."""
    found: dict[str, str] = {}
    for dirpath, dirnames, names in os.walk(root):
        for name in [*dirnames, *names]:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            kind = "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"
            found[os.path.relpath(path, root)] = "link" if stat.S_ISLNK(mode) else kind
    return found


def same_content(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            block = fa.read(CHUNK)
            if block != fb.read(CHUNK):
                return False
            if not block:
                return True


def compare_trees(expected: Path, actual: Path) -> Differences:
    diffs = Differences()
    if not actual.is_dir():
        diffs.add(f"{actual} does not exist")
        return diffs
    want, got = entries(expected), entries(actual)
    for rel in sorted(want.keys() - got.keys()):
        diffs.add(f"missing {rel}")
    for rel in sorted(got.keys() - want.keys()):
        diffs.add(f"unexpected {rel}")
    for rel in sorted(want.keys() & got.keys()):
        if want[rel] != got[rel]:
            diffs.add(f"{rel}: {want[rel]} restored as {got[rel]}")
        elif want[rel] == "file" and not same_content(expected / rel, actual / rel):
            diffs.add(f"content differs: {rel}")
    return diffs
