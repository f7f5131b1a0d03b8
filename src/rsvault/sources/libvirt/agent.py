"""qemu-guest-agent inside a libvirt domain: ping, info, file systems, freeze and thaw, exec.

Every call goes through virDomainQemuAgentCommand with an explicit timeout. libvirt's own
wrappers (fsFreeze, fsInfo) wait as long as the domain's agent response timeout says, and
that is "forever" unless someone changed it; a backup must never hang on a guest.

Failures come in two kinds:
- the agent cannot be reached (no channel, qemu-ga not connected, no answer in time, domain
  not running): RsvaultError(GUEST_AGENT_UNAVAILABLE, vm, reason);
- the agent answered with an error (a program it could not start, a failed fsfreeze hook, a
  command refused while frozen): GuestCommandError, which callers turn into their own code;
  `freeze` turns it into RsvaultError(FS_FREEZE_FAILED, vm, reason).

While the file systems are frozen the agent refuses guest-exec, guest-exec-status and
file writes; it still answers ping, fsfreeze-status and thaw.
"""

from __future__ import annotations

import base64
import contextlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import libvirt
import libvirt_qemu

from rsvault.core.clock import SYSTEM_CLOCK, Clock
from rsvault.errors import Code, RsvaultError

# libvirt reports a command that got no answer in time with this text (VIR_ERR_AGENT_UNRESPONSIVE)
_NO_ANSWER_IN_TIME = "not available for now"
# ...and a command the agent itself answered with an error with this prefix
_AGENT_REJECTED = "unable to execute QEMU agent command"
_POLL_START_S = 0.05  # first guest-exec-status poll: most scripts finish in a fraction of a second


class GuestCommandError(Exception):
    """The agent answered a command with an error."""

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"{command}: {reason}")
        self.command = command
        self.reason = reason


class _NoAnswer(Exception):
    """A command got no answer within its timeout (the agent may still be working on it)."""


@dataclass(frozen=True)
class AgentInfo:
    version: str
    commands: frozenset[str]  # the enabled ones

    def supports(self, command: str) -> bool:
        return command in self.commands


@dataclass(frozen=True)
class GuestFilesystem:
    mountpoint: str
    type: str  # ext4, xfs...
    name: str  # the guest's device name: vda, dm-0
    disks: tuple[str, ...]  # libvirt disk targets (vda) where they can be matched


@dataclass(frozen=True)
class ExecResult:
    exitcode: int | None  # None when it timed out or was ended by a signal
    stdout: str
    stderr: str
    timed_out: bool = False
    signal: int | None = None

    @property
    def ok(self) -> bool:
        return self.exitcode == 0 and not self.timed_out

    def output(self, limit: int = 2000) -> str:
        """Both streams, for a message: the end of each, where the error usually is."""
        parts = [text.strip()[-limit:] for text in (self.stdout, self.stderr) if text.strip()]
        return "\n".join(parts)


class GuestAgent:
    """The qemu-guest-agent of one running domain."""

    def __init__(
        self,
        domain: Any,
        *,
        vm: str | None = None,
        timeout_s: int = 10,
        thaw_patience_s: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.domain = domain
        self.vm = vm or str(domain.name())
        self.timeout_s = timeout_s
        # how long thaw keeps trying: a thaw must win over a busy agent (a slow freeze hook)
        self.thaw_patience_s = thaw_patience_s
        self.clock = clock

    # ---------------------------------------------------------------- raw commands
    def command(
        self, execute: str, arguments: dict[str, Any] | None = None, *, timeout_s: int | None = None
    ) -> Any:
        """The `return` of one agent command; see the module docstring for its errors."""
        try:
            return self._call(execute, arguments, timeout_s or self.timeout_s)
        except _NoAnswer as exc:
            raise self._unavailable(str(exc)) from None

    def _call(self, execute: str, arguments: dict[str, Any] | None, timeout_s: int) -> Any:
        request: dict[str, Any] = {"execute": execute}
        if arguments is not None:
            request["arguments"] = arguments
        try:
            reply = libvirt_qemu.qemuAgentCommand(self.domain, json.dumps(request), timeout_s, 0)
        except libvirt.libvirtError as exc:
            raise self._classify(execute, exc, timeout_s) from None
        try:
            return json.loads(reply)["return"]
        except (TypeError, ValueError, KeyError):
            raise GuestCommandError(execute, f"unexpected reply {reply!r}") from None

    def _classify(self, execute: str, exc: libvirt.libvirtError, timeout_s: int) -> Exception:
        message = str(exc.get_error_message() or exc)
        if _NO_ANSWER_IN_TIME in message:
            return _NoAnswer(f"no answer to {execute} within {timeout_s} s")
        if _AGENT_REJECTED in message:
            return GuestCommandError(execute, _agent_reason(message))
        if exc.get_error_code() == libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED:
            message = f"the VM has no guest agent channel ({message})"
        return self._unavailable(message)

    def _unavailable(self, reason: str) -> RsvaultError:
        return RsvaultError(Code.GUEST_AGENT_UNAVAILABLE, vm=self.vm, reason=reason)

    # ---------------------------------------------------------------- questions
    def ping(self, *, timeout_s: int | None = None) -> None:
        self.command("guest-ping", timeout_s=timeout_s)

    def info(self) -> AgentInfo:
        reply = self.command("guest-info")
        enabled = {c["name"] for c in reply.get("supported_commands", []) if c.get("enabled")}
        return AgentInfo(str(reply.get("version", "")), frozenset(enabled))

    def filesystems(self) -> list[GuestFilesystem]:
        reply = self.command("guest-get-fsinfo")
        addresses = _pci_disk_targets(self.domain)
        return [_filesystem(entry, addresses) for entry in reply]

    def status(self) -> str:
        """Either "frozen" or "thawed"."""
        return str(self.command("guest-fsfreeze-status"))

    # ---------------------------------------------------------------- freeze and thaw
    def freeze(self, mountpoints: Sequence[str] | None = None, *, timeout_s: int = 60) -> int:
        """Freeze all file systems, or those mounted at `mountpoints`; how many were frozen.

        A freeze that does not finish within `timeout_s` is undone (thawed, patiently) and
        reported as FS_FREEZE_FAILED: the guest must not stay frozen behind our back.
        """
        if mountpoints is None:
            execute, arguments = "guest-fsfreeze-freeze", None
        else:
            execute, arguments = "guest-fsfreeze-freeze-list", {"mountpoints": list(mountpoints)}
        try:
            return int(self._call(execute, arguments, timeout_s))
        except GuestCommandError as exc:
            raise self._freeze_failed(exc.reason) from None
        except _NoAnswer:
            reason = f"the freeze did not finish within {timeout_s} s"
        try:
            self.ensure_thawed()
        except RsvaultError as exc:
            reason += f", and the thaw after it failed: {exc.params.get('reason', exc)}"
        else:
            reason += "; the file systems were thawed again"
        raise self._freeze_failed(reason)

    def _freeze_failed(self, reason: str) -> RsvaultError:
        return RsvaultError(Code.FS_FREEZE_FAILED, vm=self.vm, reason=reason)

    def thaw(self, *, timeout_s: int | None = None) -> int:
        """Thaw every frozen file system once; how many were thawed (0 when none was frozen)."""
        try:
            return int(self.command("guest-fsfreeze-thaw", timeout_s=timeout_s))
        except GuestCommandError as exc:
            raise self._unavailable(f"the thaw failed: {exc.reason}") from None

    def ensure_thawed(self) -> int:
        """Thaw, retrying for up to `thaw_patience_s` until the agent reports "thawed".

        A freeze that timed out may still be running in the guest (its hook still busy);
        the agent handles one command at a time, so a thaw that waits its turn wins.
        """
        deadline = self.clock.monotonic() + self.thaw_patience_s
        thawed = 0
        problem = "the file systems stay frozen"
        while True:
            try:
                thawed += self.thaw(timeout_s=min(self.timeout_s, 10))
                if self.status() == "thawed":
                    return thawed
            except RsvaultError as exc:
                problem = str(exc.params.get("reason", exc))
            except GuestCommandError as exc:
                problem = exc.reason
            if self.clock.monotonic() >= deadline:
                raise self._unavailable(f"no thaw after {self.thaw_patience_s:g} s: {problem}")
            self.clock.sleep(0.5)

    # ---------------------------------------------------------------- programs
    def run(
        self,
        path: str,
        args: Sequence[str] = (),
        *,
        timeout_s: float = 30.0,
        poll_s: float = 1.0,
    ) -> ExecResult:
        """Run a program in the guest with its output captured; wait at most `timeout_s`.

        Raises GuestCommandError when the agent cannot start it (no such file, not
        executable, agent frozen). A program still running at the timeout is sent SIGTERM.
        """
        started = self.command(
            "guest-exec", {"path": path, "arg": list(args), "capture-output": True}
        )
        pid = int(started["pid"])
        deadline = self.clock.monotonic() + timeout_s
        delay = _POLL_START_S
        while True:
            status = self.command("guest-exec-status", {"pid": pid})
            if status.get("exited"):
                return _exec_result(status)
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                self._terminate(pid)
                return ExecResult(None, "", "", timed_out=True)
            self.clock.sleep(min(delay, poll_s, remaining))
            delay *= 2

    def _terminate(self, pid: int) -> None:
        """Best effort: end a timed-out program and its children (qemu-ga has no kill)."""
        script = f"pkill -TERM -P {pid} 2>/dev/null; kill -TERM {pid} 2>/dev/null; true"
        # the timeout is reported anyway; a stray process is the lesser problem
        with contextlib.suppress(RsvaultError, GuestCommandError):
            self.command("guest-exec", {"path": "/bin/sh", "arg": ["-c", script]})


def _agent_reason(message: str) -> str:
    # "internal error: unable to execute QEMU agent command 'guest-exec': <the agent's words>"
    _head, _sep, reason = message.partition("': ")
    prefix = "Guest agent command failed, error was "
    reason = reason or message
    if reason.startswith(prefix):
        reason = reason[len(prefix) :].strip("'")
    return reason


def _exec_result(status: dict[str, Any]) -> ExecResult:
    signal = status.get("signal")
    exitcode = status.get("exitcode")
    return ExecResult(
        exitcode=int(exitcode) if exitcode is not None and signal is None else None,
        stdout=_decoded(status.get("out-data")),
        stderr=_decoded(status.get("err-data")),
        signal=int(signal) if signal is not None else None,
    )


def _decoded(data: str | None) -> str:
    return base64.b64decode(data).decode("utf-8", errors="replace") if data else ""


def _filesystem(entry: dict[str, Any], targets: dict[tuple[int, ...], str]) -> GuestFilesystem:
    disks: list[str] = []
    for disk in entry.get("disk", []):
        pci = disk.get("pci-controller") or {}
        key = tuple(int(pci.get(k, -1)) for k in ("domain", "bus", "slot", "function"))
        target = targets.get(key)
        if target is None and disk.get("dev"):
            target = str(disk["dev"]).rsplit("/", 1)[-1]  # unmatched: the guest's own name
        if target and target not in disks:
            disks.append(target)
    return GuestFilesystem(
        mountpoint=str(entry.get("mountpoint", "")),
        type=str(entry.get("type", "")),
        name=str(entry.get("name", "")),
        disks=tuple(disks),
    )


def _pci_disk_targets(domain: Any) -> dict[tuple[int, ...], str]:
    """PCI address -> disk target for virtio disks: how libvirt's own fsInfo matches them."""
    try:
        root = ET.fromstring(domain.XMLDesc())
    except (libvirt.libvirtError, ET.ParseError):
        return {}
    targets: dict[tuple[int, ...], str] = {}
    for disk in root.iter("disk"):
        address, target = disk.find("address"), disk.find("target")
        if address is None or target is None or address.get("type") != "pci":
            continue
        key = tuple(int(address.get(k, "0"), 0) for k in ("domain", "bus", "slot", "function"))
        targets[key] = str(target.get("dev"))
    return targets
