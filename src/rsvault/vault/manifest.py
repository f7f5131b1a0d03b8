"""Recovery point manifests: the last write of a backup, and the proof that it exists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from rsvault.vault.crypto import Sealer

MANIFEST_PREFIX = "manifests/"


@dataclass
class Manifest:
    name: str
    time: str  # ISO 8601, UTC
    item: str
    kind: str
    host: str
    paths: list[str]
    tree: list[tuple[bytes, int]]
    stats: dict[str, int] = field(default_factory=dict)
    excludes: list[str] = field(default_factory=list)
    parent: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self, sealer: Sealer) -> bytes:
        body = {
            "v": 1,
            "name": self.name,
            "time": self.time,
            "item": self.item,
            "kind": self.kind,
            "host": self.host,
            "paths": self.paths,
            "excludes": self.excludes,
            "tree": [[cid, n] for cid, n in self.tree],
            "stats": self.stats,
            "parent": self.parent,
            "extra": self.extra,
        }
        return sealer.seal_meta(_context(self.name), msgpack.packb(body, use_bin_type=True))

    @classmethod
    def decode(cls, sealer: Sealer, name: str, blob: bytes) -> Manifest:
        raw = sealer.open_meta(_context(name), blob, MANIFEST_PREFIX + name)
        body = msgpack.unpackb(raw, raw=False)
        return cls(
            name=body["name"],
            time=body["time"],
            item=body["item"],
            kind=body["kind"],
            host=body["host"],
            paths=list(body["paths"]),
            tree=[(cid, n) for cid, n in body["tree"]],
            stats=dict(body.get("stats", {})),
            excludes=list(body.get("excludes", [])),
            parent=body.get("parent"),
            extra=dict(body.get("extra", {})),
        )


def _context(name: str) -> bytes:
    return b"manifest" + name.encode()
