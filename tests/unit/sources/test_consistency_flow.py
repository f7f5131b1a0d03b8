"""consistent_snapshot's decisions without a VM, against a scripted stand-in for GuestAgent.

The real agent is exercised in tests/vm/test_consistency.py; here only the paths that need no
guest, or that a guest cannot be made to show on demand, are pinned down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest

from rsvault.errors import Code, RsvaultError
from rsvault.sources.libvirt.agent import ExecResult, GuestAgent, GuestFilesystem
from rsvault.sources.libvirt.consistency import ConsistencySettings, consistent_snapshot

VM = "vm1"


class FakeAgent:
    """Records calls; answers like a healthy agent unless told otherwise."""

    def __init__(self, *, freeze_count: int = 2, mounts: Sequence[str] = ("/", "/data")) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.freeze_count = freeze_count
        self.mounts = mounts
        self.frozen = False

    def ping(self) -> None:
        self.calls.append(("ping", None))

    def status(self) -> str:
        return "frozen" if self.frozen else "thawed"

    def filesystems(self) -> list[GuestFilesystem]:
        return [GuestFilesystem(m, "ext4", "vda", ("vda",)) for m in self.mounts]

    def freeze(self, mountpoints: Sequence[str] | None = None, *, timeout_s: int = 60) -> int:
        self.calls.append(("freeze", None if mountpoints is None else list(mountpoints)))
        self.frozen = self.freeze_count > 0
        return self.freeze_count

    def ensure_thawed(self) -> int:
        self.calls.append(("thaw", None))
        self.frozen = False
        return 1

    def run(self, path: str, args: Sequence[str] = (), **_: Any) -> ExecResult:
        self.calls.append(("run", path))
        return ExecResult(0, "", "")


def snapshot(agent: FakeAgent | None, settings: ConsistencySettings, running: bool = True) -> Any:
    return consistent_snapshot(cast(GuestAgent | None, agent), VM, settings, lambda: "cp", running)


def test_vm_not_running_is_crash_consistent_without_agent_calls() -> None:
    agent = FakeAgent()
    outcome = snapshot(agent, ConsistencySettings(pre_script="/a", post_script="/b"), False)
    assert outcome.result == "cp"
    assert outcome.consistency == "CrashConsistent"
    assert outcome.warnings == []
    assert agent.calls == []


def test_no_agent_channel() -> None:
    outcome = snapshot(None, ConsistencySettings())
    assert outcome.consistency == "CrashConsistent"
    [warning] = outcome.warnings
    assert warning.code is Code.GUEST_AGENT_UNAVAILABLE
    assert warning.params == {"vm": VM, "reason": "the VM has no guest agent channel"}
    with pytest.raises(RsvaultError) as caught:
        snapshot(None, ConsistencySettings(continue_on_failure=False))
    assert caught.value.code is Code.GUEST_AGENT_UNAVAILABLE


def test_nothing_asks_for_the_agent_when_nothing_needs_it() -> None:
    agent = FakeAgent()
    outcome = snapshot(agent, ConsistencySettings(fsfreeze_enabled=False))
    assert outcome.consistency == "CrashConsistent"
    assert outcome.warnings == []
    assert agent.calls == []


def test_mounts_to_skip_become_a_freeze_list() -> None:
    agent = FakeAgent(freeze_count=1)
    outcome = snapshot(agent, ConsistencySettings(mounts_to_skip=("/data/",)))
    assert outcome.consistency == "FileSystemConsistent"
    assert ("freeze", ["/"]) in agent.calls


def test_all_mounts_skipped_is_a_failed_freeze() -> None:
    agent = FakeAgent(mounts=("/data",))
    outcome = snapshot(agent, ConsistencySettings(mounts_to_skip=("/data",)))
    assert outcome.consistency == "CrashConsistent"
    assert [w.code for w in outcome.warnings] == [Code.FS_FREEZE_FAILED]
    assert not any(name == "freeze" for name, _ in agent.calls)


def test_a_freeze_of_nothing_is_a_failed_freeze() -> None:
    outcome = snapshot(FakeAgent(freeze_count=0), ConsistencySettings())
    assert outcome.consistency == "CrashConsistent"
    assert [w.code for w in outcome.warnings] == [Code.FS_FREEZE_FAILED]


def test_one_script_alone_gives_file_system_consistency() -> None:
    outcome = snapshot(FakeAgent(), ConsistencySettings(pre_script="/pre.sh"))
    assert outcome.consistency == "FileSystemConsistent"
    assert outcome.warnings == []


def test_order_of_calls() -> None:
    agent = FakeAgent()
    outcome = snapshot(agent, ConsistencySettings(pre_script="/pre", post_script="/post"))
    assert outcome.consistency == "ApplicationConsistent"
    assert agent.calls == [
        ("ping", None),
        ("run", "/pre"),
        ("freeze", None),
        ("thaw", None),
        ("run", "/post"),
    ]
    assert all(seconds >= 0 for _step, _outcome, seconds in outcome.steps)
