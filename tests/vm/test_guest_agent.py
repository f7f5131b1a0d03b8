"""GuestAgent against a real qemu-guest-agent in a tiny real guest (one guest for the module)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from tests.support.guest import (
    Guest,
    agent_down,
    events,
    guest_shell,
    guest_spawn,
    hook_fail,
    hook_sleep,
    wait_agent_gone,
    wait_for_agent,
)
from tests.support.vms import DiskSpec, define_blank_vm

from rsvault.errors import Code, RsvaultError
from rsvault.sources.libvirt.agent import GuestAgent, GuestCommandError

pytest_plugins = ("tests.vm.guestfixtures",)
MiB = 1024 * 1024


def test_ping_and_info(agent: GuestAgent) -> None:
    agent.ping()
    info = agent.info()
    assert info.version.startswith("7.")
    for command in ("guest-fsfreeze-freeze-list", "guest-exec", "guest-fsfreeze-thaw"):
        assert info.supports(command)


def test_filesystems_name_their_disk_targets(agent: GuestAgent) -> None:
    found = {fs.mountpoint: fs for fs in agent.filesystems()}
    assert found["/data"].type == "ext4"
    assert found["/data"].disks == ("vda",)
    assert found["/scratch"].disks == ("vdb",)


def test_freeze_status_thaw(agent: GuestAgent, guest: Guest) -> None:
    assert agent.status() == "thawed"
    assert agent.freeze() == 2
    try:
        assert agent.status() == "frozen"
        agent.ping()  # the agent still answers ping and status while frozen...
        with pytest.raises(GuestCommandError, match="frozen state"):
            agent.run("/bin/true")  # ...but refuses guest-exec: scripts run outside
    finally:
        assert agent.thaw() == 2
    assert agent.status() == "thawed"
    assert events(guest.domain) == ["hook freeze", "hook thaw"]


def test_freeze_list_freezes_only_the_given_mounts(agent: GuestAgent) -> None:
    assert agent.freeze(["/data"]) == 1
    assert agent.thaw() == 1


def test_run_captures_exit_code_and_output(agent: GuestAgent) -> None:
    ok = agent.run("/usr/local/bin/pre-ok.sh", ["one", "two"])
    assert ok.ok
    assert ok.exitcode == 0
    assert "pre-ok one two" in ok.stdout
    failed = agent.run("/usr/local/bin/script-fail.sh", ["3"])
    assert failed.exitcode == 3
    assert not failed.ok
    assert failed.stdout.strip() == "about to fail"
    assert failed.stderr.strip() == "database flush failed"


def test_run_of_a_missing_program(agent: GuestAgent) -> None:
    with pytest.raises(GuestCommandError, match="No such file or directory"):
        agent.run("/no/such/script.sh")


def test_run_times_out_and_ends_the_program(agent: GuestAgent, guest: Guest) -> None:
    started = time.monotonic()
    result = agent.run("/usr/local/bin/script-slow.sh", ["30"], timeout_s=1.5, poll_s=0.2)
    assert result.timed_out
    assert result.exitcode is None
    assert 1.4 < time.monotonic() - started < 6
    still = guest_shell(guest.domain, "pgrep -f 'slee[p] 30'; true").stdout.strip()
    assert still == "", "the timed-out script's sleep was left running"


def test_failed_freeze_hook_is_fs_freeze_failed(agent: GuestAgent, guest: Guest) -> None:
    hook_fail(guest.domain, True)
    with pytest.raises(RsvaultError) as caught:
        agent.freeze()
    assert caught.value.code is Code.FS_FREEZE_FAILED
    assert "fsfreeze hook has failed with status 7" in str(caught.value.params["reason"])
    assert agent.status() == "thawed"


def test_a_freeze_that_hangs_is_thawed(agent: GuestAgent, guest: Guest) -> None:
    hook_sleep(guest.domain, 4)  # qemu-ga waits for its hook before it freezes
    started = time.monotonic()
    with pytest.raises(RsvaultError) as caught:
        agent.freeze(timeout_s=1)
    assert caught.value.code is Code.FS_FREEZE_FAILED
    assert "within 1 s" in str(caught.value.params["reason"])
    assert "thawed again" in str(caught.value.params["reason"])
    assert time.monotonic() - started < 20
    assert agent.status() == "thawed"
    assert events(guest.domain)[-2:] == ["hook freeze", "hook thaw"]


def test_agent_not_connected(agent: GuestAgent, guest: Guest) -> None:
    agent_down(guest.domain, 5)
    wait_agent_gone(guest.domain)
    with pytest.raises(RsvaultError) as caught:
        agent.ping()
    assert caught.value.code is Code.GUEST_AGENT_UNAVAILABLE
    assert "not connected" in str(caught.value.params["reason"])
    assert caught.value.params["vm"] == guest.name
    wait_for_agent(guest.domain, 30)  # the guest's respawn loop brings it back
    agent.ping()


def test_agent_that_does_not_answer(agent: GuestAgent, guest: Guest) -> None:
    # qemu-ga stopped by a signal: the channel stays open but nothing answers
    stop = "sleep 0.3; kill -STOP $(pidof qemu-ga); sleep 5; kill -CONT $(pidof qemu-ga)"
    guest_spawn(guest.domain, stop)
    deadline = time.monotonic() + 4
    while True:  # the stop lands a moment later inside the guest
        try:
            agent.ping(timeout_s=1)
        except RsvaultError as exc:
            caught = exc
            break
        assert time.monotonic() < deadline, "the agent kept answering"
        time.sleep(0.2)
    assert caught.code is Code.GUEST_AGENT_UNAVAILABLE
    assert "no answer to guest-ping within 1 s" in str(caught.params["reason"])
    wait_for_agent(guest.domain, 30)


def test_vm_not_running_and_vm_without_channel(
    libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    # one blank domain for both: each define costs seconds (libvirt checks QEMU's capabilities)
    name = f"{vm_prefix}nochannel"
    disks = [DiskSpec("vda", MiB)]
    domain = define_blank_vm(libvirt_conn, name, vm_dir, disks, agent_channel=False, start=False)
    with pytest.raises(RsvaultError) as caught:
        GuestAgent(domain).ping()
    assert caught.value.code is Code.GUEST_AGENT_UNAVAILABLE
    assert "not running" in str(caught.value.params["reason"])
    domain.create()
    with pytest.raises(RsvaultError) as caught:
        GuestAgent(domain).ping()
    assert caught.value.code is Code.GUEST_AGENT_UNAVAILABLE
    assert "no guest agent channel" in str(caught.value.params["reason"])
