"""A tiny real Linux guest with a real qemu-guest-agent, for freeze/thaw and script tests.

    images = guest_images()                  # built once, cached by the build script's hash
    guest = start_guest(conn, "rsvt-ab12-g", workdir, images)   # returns once guest-ping answers
    guest.shell("echo hi > /data/x")         # guest-exec through /bin/sh, output captured
    agent_down(guest.domain, 8)              # qemu-ga really stops for about 8 s, then respawns

The guest (tests/support/guest/build_guest.sh) runs Debian's cloud kernel and a busybox
initramfs with the host's qemu-ga in a respawn loop. Its disks: vda, a 64 MiB ext4 mounted at
/data (a fresh copy per guest), and vdb, an 8 MiB ext4 at /scratch. Test scripts are in
/usr/local/bin: pre-ok.sh, post-ok.sh, script-fail.sh [CODE], script-slow.sh [SECONDS],
script-flaky.sh [FAILURES], agent-down [SECONDS]. The fsfreeze hook fails a freeze while
/run/hook.fail exists and sleeps first while /run/hook.sleep holds seconds. The hook and the
scripts log to /run/events.log (see `events`), so a test can check their order.

Everything lives under /var/tmp: QEMU runs as libvirt-qemu and cannot read /root or pytest's
mode-700 temporary folders. These helpers talk to the agent with libvirt_qemu directly, not
through rsvault's GuestAgent, so the tests do not check the code with itself. No pytest here.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUILD_SCRIPT = Path(__file__).parent / "guest" / "build_guest.sh"
CACHE_ROOT = Path("/var/tmp/rsvault-guest-cache")
IMAGE_FILES = ("vmlinuz", "initrd.img", "data.qcow2", "scratch.qcow2")
AGENT_CHANNEL = "org.qemu.guest_agent.0"


@dataclass(frozen=True)
class GuestImages:
    kernel: Path
    initrd: Path
    data: Path  # template of the /data disk: copy it, never boot it
    scratch: Path


@dataclass(frozen=True)
class ShellResult:
    exitcode: int
    stdout: str
    stderr: str


def _script_hash() -> str:
    return hashlib.sha256(BUILD_SCRIPT.read_bytes()).hexdigest()[:16]


def guest_images() -> GuestImages:
    """The built guest; the first call builds it (about 5 s), later calls find it in the cache.

    A file lock lets parallel test workers share one build; the build goes to a temporary
    folder that is renamed into place, so a half-built cache is never seen.
    """
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    CACHE_ROOT.chmod(0o755)
    target = CACHE_ROOT / _script_hash()
    with (CACHE_ROOT / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "MANIFEST").exists():
            _build(target)
            _prune(keep=target)
    return GuestImages(*(target / name for name in IMAGE_FILES))


def _prune(keep: Path) -> None:
    """Builds of older versions of the script are of no more use (the .debs are kept)."""
    for old in CACHE_ROOT.iterdir():
        if old.is_dir() and old not in (keep, CACHE_ROOT / "debs"):
            shutil.rmtree(old, ignore_errors=True)


def _build(target: Path) -> None:
    staging = target.with_name(target.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    debs = CACHE_ROOT / "debs"
    done = subprocess.run(
        ["bash", str(BUILD_SCRIPT), str(staging), str(debs)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the test guest failed:\n{done.stdout}\n{done.stderr}")
    staging.chmod(0o755)
    staging.rename(target)


def guest_xml(
    name: str, images: GuestImages, data: Path, scratch: Path | None, console: Path, memory_mib: int
) -> str:
    disks = [(data, "vda")] + ([(scratch, "vdb")] if scratch else [])
    lines = [
        "<domain type='qemu'>",
        f"  <name>{name}</name>",
        f"  <memory unit='MiB'>{memory_mib}</memory>",
        "  <vcpu>1</vcpu>",
        "  <os>",
        "    <type arch='x86_64' machine='pc'>hvm</type>",
        f"    <kernel>{images.kernel}</kernel>",
        f"    <initrd>{images.initrd}</initrd>",
        "    <cmdline>console=ttyS0 panic=-1 quiet</cmdline>",
        "  </os>",
        "  <on_crash>destroy</on_crash>",
        "  <devices>",
    ]
    for path, target in disks:
        lines.append(
            "    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            f"<source file='{path}'/><target dev='{target}' bus='virtio'/></disk>"
        )
    lines += [
        f"    <channel type='unix'><target type='virtio' name='{AGENT_CHANNEL}'/></channel>",
        f"    <serial type='file'><source path='{console}'/><target port='0'/></serial>",
        "    <memballoon model='none'/>",
        "  </devices>",
        "</domain>",
    ]
    return "\n".join(lines)


@dataclass
class Guest:
    name: str
    domain: Any
    workdir: Path
    data_disk: Path
    console: Path
    boot_seconds: float

    def shell(self, command: str, timeout: float = 30.0) -> ShellResult:
        return guest_shell(self.domain, command, timeout)

    def console_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.console.read_text(errors="replace")
        return ""


def start_guest(
    conn: Any,
    name: str,
    workdir: Path,
    images: GuestImages | None = None,
    *,
    memory_mib: int = 128,
    scratch: bool = True,
    boot_timeout: float = 120.0,
) -> Guest:
    """Define and start a guest with fresh disks in `workdir`; return once guest-ping answers."""
    images = images or guest_images()
    data = _copy(images.data, workdir / f"{name}-data.qcow2")
    scratch_disk = _copy(images.scratch, workdir / f"{name}-scratch.qcow2") if scratch else None
    console = workdir / f"{name}-console.log"
    xml = guest_xml(name, images, data, scratch_disk, console, memory_mib)
    domain = conn.defineXML(xml)
    started = time.monotonic()
    domain.create()
    guest = Guest(name, domain, workdir, data, console, 0.0)
    try:
        wait_for_agent(domain, boot_timeout)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}\nconsole:\n{guest.console_text()[-3000:]}") from None
    guest.boot_seconds = time.monotonic() - started
    return guest


def _copy(template: Path, path: Path) -> Path:
    shutil.copyfile(template, path)
    path.chmod(0o644)
    return path


def agent_command(
    domain: Any, execute: str, arguments: dict[str, Any] | None = None, timeout: int = 10
) -> Any:
    import libvirt_qemu

    command: dict[str, Any] = {"execute": execute}
    if arguments is not None:
        command["arguments"] = arguments
    reply = libvirt_qemu.qemuAgentCommand(domain, json.dumps(command), timeout, 0)
    return json.loads(reply)["return"]


def agent_answers(domain: Any, timeout: int = 3) -> bool:
    import libvirt

    try:
        agent_command(domain, "guest-ping", timeout=timeout)
    except libvirt.libvirtError:
        return False
    return True


def wait_for_agent(domain: Any, timeout: float = 60.0) -> float:
    """Seconds until guest-ping answered; TimeoutError after `timeout`."""
    started = time.monotonic()
    while not agent_answers(domain):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"the guest agent did not answer within {timeout} s")
        time.sleep(0.2)
    return time.monotonic() - started


def wait_agent_gone(domain: Any, timeout: float = 15.0) -> float:
    """Seconds until libvirt reports the agent gone (after agent_down)."""
    started = time.monotonic()
    while agent_answers(domain, timeout=1):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"the guest agent still answers after {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - started


def guest_spawn(domain: Any, command: str) -> int:
    """Start `sh -c command` in the guest without waiting; its guest PID."""
    args = {"path": "/bin/sh", "arg": ["-c", command], "capture-output": False}
    return int(agent_command(domain, "guest-exec", args)["pid"])


def guest_shell(domain: Any, command: str, timeout: float = 30.0) -> ShellResult:
    """Run `sh -c command` in the guest and wait for it, with its output."""
    args = {"path": "/bin/sh", "arg": ["-c", command], "capture-output": True}
    pid = int(agent_command(domain, "guest-exec", args)["pid"])
    deadline = time.monotonic() + timeout
    while True:
        status = agent_command(domain, "guest-exec-status", {"pid": pid})
        if status.get("exited"):
            return ShellResult(
                int(status.get("exitcode", -1)),
                _decoded(status.get("out-data")),
                _decoded(status.get("err-data")),
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"guest command did not finish in {timeout} s: {command}")
        time.sleep(0.05)


def _decoded(data: str | None) -> str:
    return base64.b64decode(data).decode(errors="replace") if data else ""


def agent_down(domain: Any, seconds: int) -> None:
    """Stop qemu-ga inside the guest; its respawn loop starts it again after `seconds`."""
    guest_spawn(domain, f"/usr/local/bin/agent-down {int(seconds)}")


def hook_fail(domain: Any, enabled: bool) -> None:
    """Make the guest's fsfreeze hook fail the next freezes (a real failed freeze)."""
    guest_shell(domain, "touch /run/hook.fail" if enabled else "rm -f /run/hook.fail")


def hook_sleep(domain: Any, seconds: float) -> None:
    """Make the fsfreeze hook sleep before each freeze (a freeze that hangs); 0 clears it."""
    command = f"echo {seconds} > /run/hook.sleep" if seconds else "rm -f /run/hook.sleep"
    guest_shell(domain, command)


def events(domain: Any) -> list[str]:
    """What the fsfreeze hook ("hook freeze", "hook thaw") and the test scripts did, in order."""
    return guest_shell(domain, "cat /run/events.log 2>/dev/null; true").stdout.splitlines()


def reset_guest(domain: Any, timeout: float = 60.0) -> None:
    """Undo what a test may have left: agent back, thawed, hook flags and logs cleared."""
    wait_for_agent(domain, timeout)
    if agent_command(domain, "guest-fsfreeze-status") == "frozen":
        agent_command(domain, "guest-fsfreeze-thaw")
    guest_shell(
        domain,
        "rm -f /run/hook.fail /run/hook.sleep /run/events.log /run/flaky.count;"
        " pkill -f 'script-slo[w]'; pkill -f 'tick[s]'; true",  # [w]: not this shell itself
    )


def needs_recovery(image: Path, scratch: Path) -> bool:
    """Whether the ext4 in a qcow2 image (read while QEMU runs) shows a journal to replay."""
    raw = scratch / f"{image.stem}-{os.getpid()}-{time.monotonic_ns()}.raw"
    try:
        subprocess.run(
            ["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", str(image), str(raw)],
            check=True,
            capture_output=True,
        )
        header = subprocess.run(
            ["dumpe2fs", "-h", str(raw)], check=True, capture_output=True, text=True
        ).stdout
    finally:
        raw.unlink(missing_ok=True)
    features = next(line for line in header.splitlines() if line.startswith("Filesystem features"))
    return "needs_recovery" in features
