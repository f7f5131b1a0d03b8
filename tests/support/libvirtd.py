"""libvirt's daemons for tests and benchmarks: `virtlogd -d` and `libvirtd -d`, stopped by PID.

    daemons = LibvirtDaemons().start()
    try:
        conn = libvirt.open(daemons.uri)  # qemu:///system
        ...
    finally:
        daemons.stop()

There is no systemd here, so the daemons are started by hand as root (the Debian packages
`libvirt-daemon-system` and `qemu-system-x86`, installed by scripts/bootstrap). A libvirtd that
already runs (started by someone else) is used as it is and left running; `stop()` ends only
the daemons this object started, by the PIDs in their pidfiles, and it is registered with
`atexit` so a script that forgets leaves nothing behind. QEMU runs without KVM here: domains
must have type 'qemu'. No pytest in this module.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

URI = "qemu:///system"
LIBVIRTD_PIDFILE = Path("/run/libvirtd.pid")
VIRTLOGD_PIDFILE = Path("/run/virtlogd.pid")
INSTALL_HINT = "run `bash scripts/bootstrap` (it installs libvirt-daemon-system and qemu)"


class LibvirtNotAvailable(RuntimeError):
    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


def _pid_from(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _answers(uri: str) -> bool:
    import libvirt

    try:
        libvirt.open(uri).close()
    except libvirt.libvirtError:
        return False
    return True


class LibvirtDaemons:
    def __init__(self, uri: str = URI) -> None:
        self.uri = uri
        self.started: list[int] = []

    def start(self, timeout: float = 60.0) -> LibvirtDaemons:
        if os.geteuid() != 0:
            raise LibvirtNotAvailable("libvirt's system daemons need root")
        for program in ("libvirtd", "virtlogd", "qemu-system-x86_64"):
            if shutil.which(program) is None:
                raise LibvirtNotAvailable(f"{program} not found: {INSTALL_HINT}")
        _silence_libvirt_errors()
        _kvm_node_as_debian_sets_it()
        if _answers(self.uri):
            return self
        atexit.register(self.stop)
        if _pid_from(VIRTLOGD_PIDFILE) is None:
            self._daemon(["virtlogd", "-d"], VIRTLOGD_PIDFILE)
        if _pid_from(LIBVIRTD_PIDFILE) is None:
            self._daemon(["libvirtd", "-d"], LIBVIRTD_PIDFILE)
        deadline = time.monotonic() + timeout  # the first start probes QEMU: about 10 s
        while not _answers(self.uri):
            if time.monotonic() > deadline:
                self.stop()
                raise LibvirtNotAvailable(f"libvirtd did not answer on {self.uri} in {timeout} s")
            time.sleep(0.2)
        return self

    def _daemon(self, argv: list[str], pidfile: Path) -> None:
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
        deadline = time.monotonic() + 10
        while (pid := _pid_from(pidfile)) is None:
            if time.monotonic() > deadline:
                raise LibvirtNotAvailable(f"{argv[0]} wrote no pidfile {pidfile}")
            time.sleep(0.05)
        self.started.append(pid)

    def stop(self) -> None:
        for pid in reversed(self.started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.started.clear()


def _kvm_node_as_debian_sets_it() -> None:
    """/dev/kvm as udev leaves it on Debian: root:kvm 0660 (QEMU's user is in group kvm).

    This machine has no udev, and its /dev/kvm is root:root 0600. QEMU's capability probe
    then sees KVM while QEMU's user cannot open it, so libvirt judges its capability cache
    stale on every call and probes QEMU again: defining one domain took minutes. The domains
    here still run under TCG (type 'qemu'); this only makes libvirt's view consistent.
    """
    kvm = Path("/dev/kvm")
    if not kvm.exists():
        return
    import grp

    with contextlib.suppress(KeyError, OSError):
        gid = grp.getgrnam("kvm").gr_gid
        if kvm.stat().st_gid != gid or kvm.stat().st_mode & 0o060 != 0o060:
            os.chown(kvm, 0, gid)
            kvm.chmod(0o660)


def _silence_libvirt_errors() -> None:
    """libvirt prints every error to stderr by default; the tests read them from exceptions."""
    import libvirt

    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
