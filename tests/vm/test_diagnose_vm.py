"""`rsvault diagnose` of a VM item through the CLI, against a real libvirt and a real guest agent.

Each problem is made for real (the agent stopped inside the guest, the VM paused, the domain
undefined, another tool's checkpoints) and the first failing check must name it with the code
the backup would fail with; the checks after a failed gate are skipped and say which stopped
them. A test freeze must leave the guest thawed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import libvirt
import pytest
from tests.e2e.conftest import Cli, CliResult
from tests.support.guest import (
    Guest,
    agent_command,
    agent_down,
    events,
    hook_fail,
    wait_agent_gone,
    wait_for_agent,
)
from tests.support.vms import DiskSpec, MiB, define_blank_vm
from tests.vm.vmcli import POLICY, VAULT, host_cli, protect

from rsvault.core.clock import SYSTEM_CLOCK
from rsvault.diagnose.findings import Verdict, run_steps
from rsvault.diagnose.vmchecks import VmProbe
from rsvault.errors import Code
from rsvault.sources.libvirt.consistency import ConsistencySettings

pytest_plugins = ("tests.vm.guestfixtures",)

VM_CHECKS = [
    "vm.libvirt",
    "vm.domain",
    "vm.state",
    "vm.agent-channel",
    "vm.agent",
    "vm.freeze",
    "vm.disk-sizes",
    "vm.checkpoints",
]
AGENT_UNAVAILABLE = "UserErrorGuestAgentStatusUnavailable"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return host_cli(tmp_path)


def _diagnose(cli: Cli, vm: str, *extra: str) -> CliResult:
    result = cli.run("diagnose", "--vault-name", VAULT, "--item-name", vm, *extra)
    assert result.rc in (0, 1), result.describe()
    assert isinstance(result.out, dict), result.describe()
    return result


def _checks(result: CliResult) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in result.out["checks"]}


def _judged(check: dict[str, Any]) -> tuple[str, str | None]:
    return check["verdict"], check.get("code")


def _vm_names(result: CliResult) -> list[str]:
    return [check["name"] for check in result.out["checks"] if check["name"].startswith("vm.")]


def _protect_with_freeze(cli: Cli, vm: str, *extra: str) -> None:
    job = cli.ok(
        "protection", "enable-for-vm", "--vault-name", VAULT, "--vm", vm,
        "--policy-name", POLICY, *extra,
    )  # fmt: skip
    assert job["status"] == "Completed", job


def _blank_vm(conn: Any, name: str, vm_dir: Path, *, start: bool = True) -> Any:
    disks = [DiskSpec("vda", 16 * MiB, "qcow2")]
    return define_blank_vm(conn, name, vm_dir, disks, agent_channel=False, start=start)


# ------------------------------------------------------------------------------ a real guest
def test_a_healthy_guest_passes_every_check_and_is_thawed_after_the_test_freeze(
    cli: Cli, guest: Guest
) -> None:
    _protect_with_freeze(cli, guest.name)
    result = _diagnose(cli, guest.name, "--test-freeze")
    assert result.rc == 0, result.describe()
    assert result.out["verdict"] == "pass", result.describe()
    assert result.out["firstFailure"] is None
    assert _vm_names(result) == VM_CHECKS
    assert {c["name"]: c["verdict"] for c in result.out["checks"] if c["verdict"] != "pass"} == {}
    checks = _checks(result)
    version = agent_command(guest.domain, "guest-info")["version"]
    assert checks["vm.agent"]["facts"] == f"qemu-guest-agent {version}"
    assert "2 file system(s) froze" in checks["vm.freeze"]["facts"], checks["vm.freeze"]
    assert checks["vm.checkpoints"]["facts"].startswith("0 checkpoints (0 rsvault's)")
    assert agent_command(guest.domain, "guest-fsfreeze-status") == "thawed"
    assert events(guest.domain) == ["hook freeze", "hook thaw"]  # a real freeze, then a thaw


def test_a_failing_freeze_warns_and_still_leaves_the_guest_thawed(cli: Cli, guest: Guest) -> None:
    _protect_with_freeze(cli, guest.name, "--mount-to-skip", "/scratch")
    hook_fail(guest.domain, True)  # the guest's fsfreeze hook refuses: qemu-ga fails the freeze
    result = _diagnose(cli, guest.name, "--test-freeze")
    assert result.rc == 0, result.describe()  # continue-on-failure: crash-consistent, not failed
    freeze = _checks(result)["vm.freeze"]
    assert _judged(freeze) == ("warn", "UserErrorFsFreezeFailed"), freeze
    assert "crash-consistent" in freeze["facts"]
    assert agent_command(guest.domain, "guest-fsfreeze-status") == "thawed"
    hook_fail(guest.domain, False)
    again = _checks(_diagnose(cli, guest.name, "--test-freeze"))["vm.freeze"]
    assert again["facts"].startswith("1 file system(s) froze"), again  # /scratch was skipped


def test_a_stopped_agent_fails_without_continue_on_failure_and_warns_with_it(
    cli: Cli, guest: Guest, tmp_path: Path
) -> None:
    _protect_with_freeze(cli, guest.name, "--no-continue-on-failure")
    (tmp_path / "lenient").mkdir()
    lenient = host_cli(tmp_path / "lenient")  # a home of its own: one vault per VM in a catalog
    _protect_with_freeze(lenient, guest.name)
    agent_down(guest.domain, 8)
    try:
        wait_agent_gone(guest.domain)
        failed = _diagnose(cli, guest.name, "--test-freeze")
        warned = _diagnose(lenient, guest.name, "--test-freeze")
    finally:
        wait_for_agent(guest.domain)  # the guest's respawn loop starts qemu-ga again
    assert failed.rc == 1, failed.describe()
    assert failed.out["firstFailure"] == "vm.agent"
    checks = _checks(failed)
    assert checks["vm.agent-channel"]["verdict"] == "pass"
    assert _judged(checks["vm.agent"]) == ("fail", AGENT_UNAVAILABLE)
    assert "not connected" in checks["vm.agent"]["message"], checks["vm.agent"]
    assert (checks["vm.freeze"]["verdict"], checks["vm.freeze"]["blockedBy"]) == (
        "skipped",
        "vm.agent",
    )
    assert checks["vm.checkpoints"]["verdict"] == "pass"  # not a gate: the rest still ran
    assert warned.rc == 0, warned.describe()
    assert warned.out["verdict"] == "warn"
    assert _judged(_checks(warned)["vm.agent"]) == ("warn", AGENT_UNAVAILABLE)


# ------------------------------------------------------------------------------ blank VMs
def test_a_paused_vm_fails_at_its_state_and_the_later_vm_checks_are_skipped(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    vm = f"{vm_prefix}paused"
    domain = _blank_vm(libvirt_conn, vm, vm_dir)
    protect(cli, vm)
    domain.suspend()
    result = _diagnose(cli, vm)
    assert result.rc == 1, result.describe()
    assert result.out["firstFailure"] == "vm.state"
    checks = _checks(result)
    assert checks["vm.state"]["code"] == "UserErrorVmNotInDesirableState"
    assert "paused" in checks["vm.state"]["message"]
    later = ["vm.agent-channel", "vm.agent", "vm.disk-sizes", "vm.checkpoints"]
    assert [(checks[n]["verdict"], checks[n]["blockedBy"]) for n in later] == [
        ("skipped", "vm.state")
    ] * len(later)
    assert checks["store.writable"]["verdict"] == "pass"  # another group: it still ran
    assert domain.state()[0] == libvirt.VIR_DOMAIN_PAUSED  # diagnose changes nothing


def test_an_undefined_domain_fails_at_vm_domain(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    vm = f"{vm_prefix}gone"
    domain = _blank_vm(libvirt_conn, vm, vm_dir)
    protect(cli, vm)
    domain.destroy()
    domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)
    result = _diagnose(cli, vm)
    assert result.rc == 1, result.describe()
    assert result.out["firstFailure"] == "vm.domain"
    checks = _checks(result)
    assert checks["vm.libvirt"]["verdict"] == "pass"
    assert checks["vm.domain"]["code"] == "UserErrorVmNotFoundV2"
    assert checks["vm.state"]["blockedBy"] == "vm.domain"


def test_foreign_checkpoints_at_the_limit_fail_and_near_it_warn(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    vm = f"{vm_prefix}cps"
    domain = _blank_vm(libvirt_conn, vm, vm_dir)
    protect(cli, vm)
    for n in range(18):  # another tool's checkpoints: rsvault never deletes them
        domain.checkpointCreateXML(f"<domaincheckpoint><name>other-{n}</name></domaincheckpoint>")
    result = _diagnose(cli, vm)
    assert result.rc == 1, result.describe()
    assert result.out["firstFailure"] == "vm.checkpoints"
    checkpoints = _checks(result)["vm.checkpoints"]
    assert checkpoints["code"] == "UserErrorRpCollectionLimitReached"
    assert checkpoints["facts"].startswith("18 checkpoints (0 rsvault's)")
    for n in range(2):
        domain.checkpointLookupByName(f"other-{n}").delete(0)
    near = _diagnose(cli, vm)
    assert near.rc == 0, near.describe()
    near_limit = _judged(_checks(near)["vm.checkpoints"])
    assert near_limit == ("warn", "UserErrorRpCollectionLimitReached"), near.describe()


def test_a_shut_off_vm_without_an_agent_channel_passes_crash_consistent(
    cli: Cli, libvirt_conn: Any, vm_prefix: str, vm_dir: Path
) -> None:
    vm = f"{vm_prefix}off"
    domain = _blank_vm(libvirt_conn, vm, vm_dir, start=False)
    _protect_with_freeze(cli, vm, "--no-continue-on-failure")  # the agent is never asked
    result = _diagnose(cli, vm, "--test-freeze")
    assert result.rc == 0, result.describe()
    checks = _checks(result)
    assert [checks[n]["verdict"] for n in VM_CHECKS] == ["pass"] * len(VM_CHECKS)
    assert checks["vm.state"]["facts"] == "shut off"
    assert "crash-consistent" in checks["vm.agent-channel"]["facts"]
    assert "crash-consistent" in checks["vm.freeze"]["facts"]
    assert not domain.isActive()


def test_an_unreachable_libvirt_fails_the_first_gate_and_skips_every_other_vm_check() -> None:
    # no host with a dead URI can be registered, so the probe is asked directly
    probe = VmProbe(
        uri="qemu+unix:///system?socket=/nonexistent/libvirt-sock",
        vm="any",
        max_disk_size=MiB,
        consistency=ConsistencySettings(),
        test_freeze=True,
        clock=SYSTEM_CLOCK,
    )
    first, *rest = run_steps([probe.steps()])
    assert (first.check, first.verdict) == ("vm.libvirt", Verdict.FAIL)
    assert first.error is not None
    assert first.error.code is Code.HYPERVISOR_UNREACHABLE
    assert [(f.check, f.verdict, f.blocked_by) for f in rest] == [
        (name, Verdict.SKIPPED, "vm.libvirt") for name in VM_CHECKS[1:]
    ]
