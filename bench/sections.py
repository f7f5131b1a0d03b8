"""Named sections of docs/benchmarks.md, so each benchmark rewrites only its own part."""

from __future__ import annotations

import re
from pathlib import Path


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace_section(text: str, name: str, body: str) -> str:
    begin, end = _markers(name)
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(text):
        return pattern.sub(lambda _m: block, text)
    return text.rstrip() + "\n\n" + block


def section(text: str, name: str) -> str | None:
    begin, end = _markers(name)
    found = re.search(re.escape(begin) + r"\n(.*?)\n" + re.escape(end), text, re.S)
    return found.group(1) if found else None


def write_section(path: Path, name: str, body: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    path.write_text(replace_section(text, name, body))


def carry_over(old: str, new: str, name: str) -> str:
    """Keep another benchmark's section when a page is regenerated."""
    kept = section(old, name)
    return new if kept is None else replace_section(new, name, kept)
