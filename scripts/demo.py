"""`make demo`: the main job on the embedded default (SQLite catalog, local vault), end to end.

Creates a vault under .rsvault-demo/ and a policy from the default one, protects a generated
sample tree with it, backs it up now twice (the second time after a change), shows the items,
jobs and recovery points, restores the latest to a new folder and verifies it byte for byte
and metadata for metadata, then shows the vault overview. Every step goes through the CLI.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".rsvault-demo"
RSVAULT = str(Path(sys.executable).parent / "rsvault")
ENV = {
    **os.environ,
    "RSVAULT_HOME": str(DATA / "home"),
    # A demo passphrase. For real vaults use a long one, kept safe: losing it loses the data.
    "RSVAULT_PASSPHRASE": "demo-passphrase-change-me",
}


def rsvault(*args: str) -> str:
    print(f"\n$ rsvault {' '.join(args)}", flush=True)
    done = subprocess.run([RSVAULT, *args], env=ENV, capture_output=True, text=True, check=False)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        sys.exit(f"demo failed: rsvault {args[0]} {args[1]} exited {done.returncode}")
    if "json" not in args:
        print(done.stdout, end="")
    return done.stdout


def build_sample(root: Path) -> None:
    rng = random.Random(2026)
    docs = root / "docs" / "reports"
    docs.mkdir(parents=True)
    for n in range(200):
        line = f"report {n}: quarterly numbers {rng.random():.6f}\n"
        (docs / f"report-{n:03}.txt").write_text(line * rng.randint(10, 400))
    media = root / "media"
    media.mkdir()
    blob = rng.randbytes(24 * 1024 * 1024)
    (media / "video.bin").write_bytes(blob)
    (media / "video-copy.bin").write_bytes(blob)  # deduplicated: stored once
    (media / "photo-ünïcödé 照片.jpg").write_bytes(rng.randbytes(3 * 1024 * 1024))
    with open(root / "disk.img", "wb") as sparse:
        sparse.truncate(256 * 1024 * 1024)  # mostly hole: all-zero chunks are not stored
        sparse.seek(100 * 1024 * 1024)
        sparse.write(rng.randbytes(1024 * 1024))
    (root / "empty").touch()
    (root / "secret.key").write_text("not really secret\n")
    (root / "secret.key").chmod(0o600)
    os.symlink("docs/reports", root / "latest-reports")
    os.link(media / "video.bin", media / "video-hardlink.bin")


def change_sample(root: Path) -> None:
    with open(root / "docs" / "reports" / "report-007.txt", "a") as handle:
        handle.write("an added line\n")
    (root / "docs" / "new-note.md").write_text("# added after the first backup\n")


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    entries: dict[str, tuple[object, ...]] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        mode = stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)
        if path.is_symlink():
            data: object = os.readlink(path)
        elif path.is_file():
            data = path.read_bytes()
        else:
            data = None
        times = st.st_mtime_ns if not path.is_dir() else None
        entries[str(path.relative_to(root))] = (mode, st.st_uid, st.st_gid, times, data)
    return entries


def main() -> None:
    shutil.rmtree(DATA, ignore_errors=True)
    source = DATA / "sample"
    build_sample(source)
    print(f"Sample tree generated in {source}")
    rsvault("vault", "create", "--name", "demo")
    policy = DATA / "policy.json"
    policy.write_text(rsvault("policy", "get-default-for-vm", "--vault-name", "demo", "-o", "json"))
    rsvault("policy", "create", "--vault-name", "demo", "--name", "daily", "--policy", str(policy))
    protect = ["--vault-name", "demo", "--item-name", "sample"]
    rsvault(
        "protection", "enable-for-files", *protect, "--policy-name", "daily", "--path", str(source)
    )
    rsvault("protection", "backup-now", *protect)
    change_sample(source)
    rsvault("protection", "backup-now", *protect)
    rsvault("item", "list", "--vault-name", "demo")
    rsvault("job", "list", "--vault-name", "demo")
    points = json.loads(rsvault("recoverypoint", "list", "--vault-name", "demo", "-o", "json"))
    rsvault("recoverypoint", "list", "--vault-name", "demo")
    target = DATA / "restored"
    rsvault(
        "restore",
        "files",
        "--vault-name",
        "demo",
        "--rp-name",
        points[-1]["name"],
        "--target",
        str(target),
    )
    rsvault("vault", "check", "--name", "demo", "--read-data")
    restored = target / source.relative_to("/")
    if tree(source) != tree(restored):
        sys.exit("demo failed: the restored tree differs from the source")
    print(f"\nVerified: {restored} equals {source}, byte for byte and metadata for metadata.")
    rsvault("vault", "show", "--name", "demo")


if __name__ == "__main__":
    main()
