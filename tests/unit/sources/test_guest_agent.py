"""GuestAgent's handling of libvirt's answers, with qemuAgentCommand replaced by a script.

The real agent is exercised in tests/vm/test_guest_agent.py; these pin down the paths a
guest cannot be made to show on demand: a thaw that never succeeds must give up in time.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import libvirt
import libvirt_qemu
import pytest

from rsvault.core.clock import ManualClock
from rsvault.errors import Code, RsvaultError
from rsvault.sources.libvirt.agent import GuestAgent, GuestCommandError

Responder = Callable[[str, int], str]


class FakeDomain:
    def name(self) -> str:
        return "vm1"

    def XMLDesc(self) -> str:
        return (
            "<domain><devices><disk><target dev='vda'/>"
            "<address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>"
            "</disk></devices></domain>"
        )


class FailingCall(libvirt.libvirtError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.text = message

    def get_error_message(self) -> str:
        return self.text

    def get_error_code(self) -> int:
        return libvirt.VIR_ERR_AGENT_UNRESPONSIVE


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> list[Responder]:
    """Responders used in turn (the last one repeats) for each agent command."""
    queue: list[Responder] = []

    def command(_domain: Any, request: str, timeout: int, _flags: int) -> str:
        responder = queue.pop(0) if len(queue) > 1 else queue[0]
        return responder(json.loads(request)["execute"], timeout)

    monkeypatch.setattr(libvirt_qemu, "qemuAgentCommand", command)
    return queue


def returning(value: Any) -> Responder:
    return lambda _execute, _timeout: json.dumps({"return": value})


def failing(message: str) -> Responder:
    def respond(_execute: str, _timeout: int) -> str:
        raise FailingCall(message)

    return respond


def make_agent(clock: ManualClock | None = None) -> GuestAgent:
    clock = clock or ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    return GuestAgent(FakeDomain(), timeout_s=5, thaw_patience_s=10, clock=clock)


def test_an_agent_command_error_is_a_guest_command_error(answers: list[Responder]) -> None:
    answers.append(
        failing(
            "internal error: unable to execute QEMU agent command 'guest-exec': Guest agent"
            " command failed, error was 'Failed to execute child process “/x” (No such file"
            " or directory)'"
        )
    )
    with pytest.raises(GuestCommandError) as caught:
        make_agent().run("/x")
    assert caught.value.reason.startswith("Failed to execute child process")


def test_not_connected_is_guest_agent_unavailable(answers: list[Responder]) -> None:
    answers.append(failing("Guest agent is not responding: QEMU guest agent is not connected"))
    with pytest.raises(RsvaultError) as caught:
        make_agent().ping()
    assert caught.value.code is Code.GUEST_AGENT_UNAVAILABLE
    assert caught.value.params["vm"] == "vm1"


def test_a_thaw_that_never_works_gives_up_after_the_patience(answers: list[Responder]) -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    answers.append(failing("Guest agent is not responding: Guest agent not available for now"))
    with pytest.raises(RsvaultError) as caught:
        make_agent(clock).ensure_thawed()
    assert caught.value.code is Code.GUEST_AGENT_UNAVAILABLE
    assert "no thaw after 10 s" in str(caught.value.params["reason"])
    assert 10 <= clock.monotonic() <= 11


def test_a_freeze_that_times_out_is_thawed_and_reported(answers: list[Responder]) -> None:
    answers += [
        failing("Guest agent is not responding: Guest agent not available for now"),
        returning(2),  # the thaw
        returning("thawed"),
    ]
    with pytest.raises(RsvaultError) as caught:
        make_agent().freeze(timeout_s=3)
    assert caught.value.code is Code.FS_FREEZE_FAILED
    assert caught.value.params["reason"] == (
        "the freeze did not finish within 3 s; the file systems were thawed again"
    )


def test_exec_output_is_decoded(answers: list[Responder]) -> None:
    out = base64.b64encode("done ✓\n".encode()).decode()
    answers += [
        returning({"pid": 7}),
        returning({"exited": True, "exitcode": 0, "out-data": out}),
    ]
    result = make_agent().run("/bin/true")
    assert result.ok
    assert result.stdout == "done ✓\n"
    assert result.stderr == ""


def test_filesystems_are_matched_to_disk_targets(answers: list[Responder]) -> None:
    pci = {"domain": 0, "bus": 0, "slot": 4, "function": 0}
    answers.append(
        returning(
            [
                {
                    "mountpoint": "/",
                    "type": "xfs",
                    "name": "vda1",
                    "disk": [{"dev": "/dev/vda1", "pci-controller": pci}],
                },
                {
                    "mountpoint": "/srv",
                    "type": "ext4",
                    "name": "sdb",
                    "disk": [{"dev": "/dev/sdb"}],
                },
            ]
        )
    )
    found = {fs.mountpoint: fs.disks for fs in make_agent().filesystems()}
    assert found == {"/": ("vda",), "/srv": ("sdb",)}
