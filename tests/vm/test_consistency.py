"""consistent_snapshot against a real guest: scripts, freeze, thaw, and the consistency recorded.

`take()` here asks the agent for the freeze status (or reads the disk image from the host):
that is what the backup's checkpoint sees at that instant. The guest's fsfreeze hook and
test scripts log to /run/events.log, so the order pre -> freeze -> thaw -> post is checked
from inside the guest.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest
from tests.support.guest import (
    Guest,
    agent_command,
    agent_down,
    events,
    guest_shell,
    guest_spawn,
    hook_fail,
    hook_sleep,
    needs_recovery,
    wait_agent_gone,
)

from rsvault.errors import Code, RsvaultError
from rsvault.sources.libvirt.agent import GuestAgent
from rsvault.sources.libvirt.consistency import ConsistencySettings, consistent_snapshot

pytest_plugins = ("tests.vm.guestfixtures",)

BIN = "/usr/local/bin"
PRE_OK, POST_OK = f"{BIN}/pre-ok.sh", f"{BIN}/post-ok.sh"
FAIL, SLOW, FLAKY = f"{BIN}/script-fail.sh", f"{BIN}/script-slow.sh", f"{BIN}/script-flaky.sh"
APP, FS, CRASH = "ApplicationConsistent", "FileSystemConsistent", "CrashConsistent"


def settings(**changes: object) -> ConsistencySettings:
    base: dict[str, object] = {"timeout_s": 10, "script_poll_s": 0.1, "safe_freeze_wait_s": 20}
    return ConsistencySettings.from_dict(base | changes)


def status_taker(guest: Guest) -> Callable[[], str]:
    """A take() that reports whether the guest was frozen at the snapshot instant."""
    return lambda: str(agent_command(guest.domain, "guest-fsfreeze-status"))


def codes(outcome_warnings: list[object]) -> list[str]:
    return [str(getattr(w, "code", "")) for w in outcome_warnings]


def test_application_consistent_with_both_scripts(agent: GuestAgent, guest: Guest) -> None:
    chosen = settings(
        pre_script=PRE_OK, pre_params=["a", "b"], post_script=POST_OK, post_params=["c"]
    )
    outcome = consistent_snapshot(agent, guest.name, chosen, status_taker(guest), True)
    assert outcome.result == "frozen"
    assert outcome.consistency == APP
    assert outcome.warnings == []
    assert events(guest.domain) == ["pre-ok a b", "hook freeze", "hook thaw", "post-ok c"]
    assert [s.step for s in outcome.steps] == [
        "Ping guest agent",
        "Run pre-script",
        "Freeze file systems",
        "Take snapshot",
        "Thaw file systems",
        "Run post-script",
        "Consistency",
    ]
    assert agent.status() == "thawed"


def test_a_frozen_snapshot_holds_a_clean_ext4(agent: GuestAgent, guest: Guest) -> None:
    # ext4's freeze writes out its journal and clears needs_recovery: the disk image read at
    # the snapshot instant mounts without a journal replay. Unfrozen, a mounted ext4 needs one.
    def take() -> bool:
        return needs_recovery(guest.data_disk, guest.workdir)

    outcome = consistent_snapshot(agent, guest.name, settings(), take, True)
    assert outcome.consistency == FS
    assert outcome.warnings == []
    assert outcome.result is False
    guest_shell(guest.domain, "echo more >> /data/app.log")
    assert needs_recovery(guest.data_disk, guest.workdir) is True


def test_writes_stall_only_on_frozen_mounts(agent: GuestAgent, guest: Guest) -> None:
    # The writers run until told to stop, not for a fixed count: under load the steps before
    # the freeze can take seconds, and a writer that ended first would see no freeze at all.
    writer = (
        "rm -f {0}/stop {0}/ticks; while [ ! -e {0}/stop ]; do"
        " cut -d' ' -f1 /proc/uptime >> {0}/ticks; usleep 50000; done"
    )
    for mount in ("/data", "/scratch"):
        guest_spawn(guest.domain, writer.format(mount))
    _wait_for_ticks(guest, ("/data/ticks", "/scratch/ticks"))
    chosen = settings(mounts_to_skip=["/scratch/"])
    outcome = consistent_snapshot(agent, guest.name, chosen, lambda: time.sleep(2), True)
    time.sleep(0.5)  # a few ticks after the thaw, so the gap is closed on both sides
    guest_shell(guest.domain, "touch /data/stop /scratch/stop")
    assert outcome.consistency == FS
    assert ("Freeze file systems", "ok: 1 frozen") in [(s.step, s.outcome) for s in outcome.steps]
    deadline = time.monotonic() + 30
    while guest_shell(guest.domain, "pgrep -f 'tick[s]'; true").stdout.strip():
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert _largest_gap(guest, "/data/ticks") > 1.7  # blocked for the whole freeze
    assert _largest_gap(guest, "/scratch/ticks") < 1.0  # skipped: never frozen


def _wait_for_ticks(guest: Guest, paths: tuple[str, ...], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    check = " && ".join(f"[ $(wc -l < {path} 2>/dev/null || echo 0) -ge 2 ]" for path in paths)
    while guest_shell(guest.domain, f"{check} && echo ready; true").stdout.strip() != "ready":
        assert time.monotonic() < deadline, "the writers did not start"
        time.sleep(0.2)


def _largest_gap(guest: Guest, path: str) -> float:
    ticks = [float(t) for t in guest_shell(guest.domain, f"cat {path}").stdout.split()]
    return max(b - a for a, b in itertools.pairwise(ticks))


def test_crash_consistent_when_freeze_is_disabled(agent: GuestAgent, guest: Guest) -> None:
    chosen = settings(fsfreeze_enabled=False)
    outcome = consistent_snapshot(agent, guest.name, chosen, status_taker(guest), True)
    assert outcome.result == "thawed"
    assert outcome.consistency == CRASH
    assert outcome.warnings == []
    assert events(guest.domain) == []


def test_agent_stopped(agent: GuestAgent, guest: Guest) -> None:
    agent_down(guest.domain, 6)
    wait_agent_gone(guest.domain)
    taken: list[bool] = []
    outcome = consistent_snapshot(agent, guest.name, settings(), lambda: taken.append(True), True)
    assert outcome.consistency == CRASH
    assert codes(outcome.warnings) == [Code.GUEST_AGENT_UNAVAILABLE]
    assert "not connected" in str(outcome.warnings[0].params["reason"])
    assert outcome.warnings[0].path == guest.name
    assert taken == [True]
    strict = settings(continue_on_failure=False)
    with pytest.raises(RsvaultError) as caught:
        consistent_snapshot(agent, guest.name, strict, lambda: taken.append(True), True)
    assert caught.value.code is Code.GUEST_AGENT_UNAVAILABLE
    assert taken == [True], "take() ran although the backup failed"


def test_missing_scripts(agent: GuestAgent, guest: Guest) -> None:
    no_pre = settings(pre_script="/no/such/pre.sh", post_script=POST_OK)
    outcome = consistent_snapshot(agent, guest.name, no_pre, status_taker(guest), True)
    assert outcome.consistency == FS
    assert codes(outcome.warnings) == [Code.PRE_SCRIPT_NOT_FOUND]
    assert outcome.warnings[0].params["script"] == "/no/such/pre.sh"
    no_post = settings(pre_script=PRE_OK, post_script="/no/such/post.sh")
    outcome = consistent_snapshot(agent, guest.name, no_post, status_taker(guest), True)
    assert outcome.consistency == FS
    assert codes(outcome.warnings) == [Code.POST_SCRIPT_NOT_FOUND]
    strict = settings(pre_script="/no/such/pre.sh", post_script=POST_OK, continue_on_failure=False)
    with pytest.raises(RsvaultError) as caught:
        consistent_snapshot(agent, guest.name, strict, status_taker(guest), True)
    assert caught.value.code is Code.PRE_SCRIPT_NOT_FOUND
    assert caught.value.params == {"vm": guest.name, "script": "/no/such/pre.sh"}


def test_a_script_that_may_not_be_executed(agent: GuestAgent, guest: Guest) -> None:
    """Azure's InsufficientPermissionfor…-Script: found, but no execute permission."""
    guest_shell(
        guest.domain, "printf '#!/bin/sh\\nexit 0\\n' > /run/noexec.sh; chmod 644 /run/noexec.sh"
    )
    chosen = settings(pre_script="/run/noexec.sh", post_script="/run/noexec.sh", pre_retries=2)
    outcome = consistent_snapshot(agent, guest.name, chosen, status_taker(guest), True)
    assert outcome.consistency == FS
    assert codes(outcome.warnings) == [Code.PRE_SCRIPT_PERMISSION, Code.POST_SCRIPT_PERMISSION]
    assert "Permission denied" in str(outcome.warnings[0].params["reason"])
    strict = settings(pre_script="/run/noexec.sh", continue_on_failure=False)
    with pytest.raises(RsvaultError) as caught:
        consistent_snapshot(agent, guest.name, strict, status_taker(guest), True)
    assert caught.value.code is Code.PRE_SCRIPT_PERMISSION


def test_failing_pre_script(agent: GuestAgent, guest: Guest) -> None:
    chosen = settings(pre_script=FAIL, pre_params=["5"], post_script=POST_OK)
    outcome = consistent_snapshot(agent, guest.name, chosen, status_taker(guest), True)
    assert outcome.result == "frozen"
    assert outcome.consistency == FS
    [warning] = outcome.warnings
    assert warning.code is Code.PRE_SCRIPT_FAILED
    assert warning.params["exitcode"] == 5
    assert "database flush failed" in str(warning.params["output"])
    assert events(guest.domain) == ["script-fail 5", "hook freeze", "hook thaw", "post-ok "]
    strict = settings(pre_script=FAIL, pre_params=["5"], continue_on_failure=False)
    with pytest.raises(RsvaultError) as caught:
        consistent_snapshot(agent, guest.name, strict, status_taker(guest), True)
    assert caught.value.code is Code.PRE_SCRIPT_FAILED


def test_pre_script_timeout(agent: GuestAgent, guest: Guest) -> None:
    chosen = settings(pre_script=SLOW, pre_params=["30"], post_script=POST_OK, timeout_s=1)
    started = time.monotonic()
    outcome = consistent_snapshot(agent, guest.name, chosen, status_taker(guest), True)
    assert time.monotonic() - started < 10
    assert outcome.consistency == FS
    [warning] = outcome.warnings
    assert warning.code is Code.PRE_SCRIPT_TIMEOUT
    assert warning.params["seconds"] == 1
    assert guest_shell(guest.domain, "pgrep -f 'slee[p] 30'; true").stdout.strip() == ""


def test_post_script_failure(agent: GuestAgent, guest: Guest) -> None:
    chosen = settings(pre_script=PRE_OK, post_script=FAIL, post_params=["3"])
    outcome = consistent_snapshot(agent, guest.name, chosen, status_taker(guest), True)
    assert outcome.consistency == FS  # the pre-script and the freeze held: file-system level
    assert codes(outcome.warnings) == [Code.POST_SCRIPT_FAILED]
    assert outcome.warnings[0].params["exitcode"] == 3
    discarded: list[str] = []
    strict = settings(pre_script=PRE_OK, post_script=FAIL, continue_on_failure=False)
    with pytest.raises(RsvaultError) as caught:
        consistent_snapshot(
            agent, guest.name, strict, status_taker(guest), True, discard=discarded.append
        )
    assert caught.value.code is Code.POST_SCRIPT_FAILED
    assert discarded == ["frozen"], "the caller was not told to drop its snapshot"


def test_pre_script_retries(agent: GuestAgent, guest: Guest) -> None:
    chosen = settings(pre_script=FLAKY, pre_params=["2"], post_script=POST_OK, pre_retries=2)
    outcome = consistent_snapshot(agent, guest.name, chosen, status_taker(guest), True)
    assert outcome.consistency == APP
    assert events(guest.domain)[:3] == [f"script-flaky try {n}" for n in (1, 2, 3)]
    guest_shell(guest.domain, "rm -f /run/flaky.count")
    fewer = settings(pre_script=FLAKY, pre_params=["2"], post_script=POST_OK, pre_retries=1)
    outcome = consistent_snapshot(agent, guest.name, fewer, status_taker(guest), True)
    assert outcome.consistency == FS
    assert codes(outcome.warnings) == [Code.PRE_SCRIPT_FAILED]
    assert outcome.warnings[0].params["exitcode"] == 9


def test_freeze_failure(agent: GuestAgent, guest: Guest) -> None:
    hook_fail(guest.domain, True)  # the guest's fsfreeze hook fails: qemu-ga refuses to freeze
    both = {"pre_script": PRE_OK, "post_script": POST_OK}
    outcome = consistent_snapshot(agent, guest.name, settings(**both), status_taker(guest), True)
    assert outcome.result == "thawed"
    assert outcome.consistency == CRASH
    assert codes(outcome.warnings) == [Code.FS_FREEZE_FAILED]
    assert "hook has failed" in str(outcome.warnings[0].params["reason"])
    guest_shell(guest.domain, "rm -f /run/events.log")
    taken: list[bool] = []
    strict = settings(continue_on_failure=False, **both)
    with pytest.raises(RsvaultError) as caught:
        consistent_snapshot(agent, guest.name, strict, lambda: taken.append(True), True)
    assert caught.value.code is Code.FS_FREEZE_FAILED
    assert taken == []
    assert events(guest.domain) == ["pre-ok ", "hook freeze", "post-ok "]  # post undid pre


def test_a_freeze_that_hangs_past_the_safe_wait(agent: GuestAgent, guest: Guest) -> None:
    hook_sleep(guest.domain, 4)
    chosen = settings(safe_freeze_wait_s=1)
    outcome = consistent_snapshot(agent, guest.name, chosen, status_taker(guest), True)
    assert outcome.consistency == CRASH
    assert codes(outcome.warnings) == [Code.FS_FREEZE_FAILED]
    assert "within 1 s" in str(outcome.warnings[0].params["reason"])
    assert agent.status() == "thawed"


def test_take_that_raises_still_thaws_and_runs_the_post_script(
    agent: GuestAgent, guest: Guest
) -> None:
    def take() -> None:
        raise RuntimeError("checkpoint failed")

    chosen = settings(pre_script=PRE_OK, post_script=POST_OK)
    with pytest.raises(RuntimeError, match="checkpoint failed"):
        consistent_snapshot(agent, guest.name, chosen, take, True)
    assert agent.status() == "thawed"
    assert events(guest.domain) == ["pre-ok ", "hook freeze", "hook thaw", "post-ok "]


def test_watchdog_thaws_a_take_that_runs_past_the_safe_wait(
    agent: GuestAgent, guest: Guest
) -> None:
    def slow_take() -> str:
        time.sleep(2.5)  # the watchdog thaws at 1 s
        return str(agent_command(guest.domain, "guest-fsfreeze-status"))

    outcome = consistent_snapshot(
        agent, guest.name, settings(safe_freeze_wait_s=1), slow_take, True
    )
    assert outcome.result == "thawed"
    assert outcome.consistency == CRASH
    assert codes(outcome.warnings) == [Code.FS_FREEZE_FAILED]
    assert "safe freeze wait" in str(outcome.warnings[0].params["reason"])


def test_a_freeze_left_behind_is_thawed_first(agent: GuestAgent, guest: Guest) -> None:
    agent_command(guest.domain, "guest-fsfreeze-freeze")  # as if an earlier backup died frozen
    chosen = settings(pre_script=PRE_OK, post_script=POST_OK)
    outcome = consistent_snapshot(agent, guest.name, chosen, status_taker(guest), True)
    assert outcome.consistency == APP
    assert "Thaw stale freeze" in [s.step for s in outcome.steps]
