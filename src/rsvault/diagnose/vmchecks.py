"""A VM item: libvirt, the domain, its state, the guest agent, a test freeze, disks, checkpoints.

The order is that of Azure's VM-agent troubleshooting: the host, the VM, its state, the agent
(its channel, then an answer), then what the backup itself refuses (disk sizes, checkpoints).
An agent or freeze problem is judged as the backup would meet it: a warning where the item's
consistency settings let the backup go on crash-consistent (continue-on-failure, or neither a
freeze nor scripts), a failure where the backup would fail.

Each check opens its own libvirt connection: run_steps may end the group after any gate, so
no later step could be relied on to close a shared one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import libvirt

from rsvault.core.clock import Clock
from rsvault.core.units import format_bytes
from rsvault.diagnose.findings import Finding, Step, Verdict
from rsvault.errors import Code, RsvaultError
from rsvault.sources.libvirt.agent import GuestAgent, GuestCommandError
from rsvault.sources.libvirt.consistency import ConsistencySettings, mounts_to_freeze
from rsvault.sources.libvirt.domain import describe
from rsvault.sources.libvirt.domaininfo import (
    AGENT_CHANNEL,
    BACKUP_STATES,
    SHUT_OFF,
    DiskInfo,
    DomainInfo,
)
from rsvault.sources.libvirt.hypervisor import connection, lookup, message_of
from rsvault.sources.libvirt.pullbackup import CHECKPOINT_LIMIT, checkpoint_count, our_checkpoints

# Fewer spare checkpoints than this after the next backup: one more foreign one stops backups.
CHECKPOINT_MARGIN = 2
SHUT_OFF_FACTS = "shut off: its recovery point will be crash-consistent"
_NO_AGENT_WHEN_OFF = "shut off: no guest agent runs to ask; its recovery point is crash-consistent"


@dataclass
class VmProbe:
    """What the VM checks learn, for the checks after them (the domain, whether an agent is)."""

    uri: str
    vm: str
    max_disk_size: int
    consistency: ConsistencySettings
    test_freeze: bool
    clock: Clock
    # the disks its backups include (VmSettings.chosen); None: every disk of the domain
    chosen: Callable[[list[DiskInfo]], list[DiskInfo]] | None = None
    info: DomainInfo | None = field(default=None, init=False)
    no_agent_since: str | None = field(default=None, init=False)  # the check that found none

    def steps(self) -> list[Step]:
        steps = [
            Step("vm.libvirt", self.libvirt, gate=True),
            Step("vm.domain", self.domain_exists, gate=True),
            Step("vm.state", self.state, gate=True),
            Step("vm.agent-channel", self.agent_channel),
            Step("vm.agent", self.agent_answers),
        ]
        if self.test_freeze:  # omitted otherwise: a pass would claim a freeze nobody tried
            steps.append(Step("vm.freeze", self.freeze))
        steps.append(Step("vm.disk-sizes", self.disk_sizes))
        steps.append(Step("vm.checkpoints", self.checkpoints))
        return steps

    # ---------------------------------------------------------------- gates
    def libvirt(self) -> Finding:
        with self._connection() as conn:
            library = _version(conn.getLibVersion())
            hypervisor = f"{conn.getType()} {_version(conn.getVersion())}"
        return Finding.passed("vm.libvirt", f"libvirt {library}, {hypervisor}")

    def domain_exists(self) -> Finding:
        with self._domain() as domain:
            info = self.info = describe(domain)
        return Finding.passed("vm.domain", f"uuid {info.uuid}, {len(info.backup_disks)} disk(s)")

    def state(self) -> Finding:
        state = self._info().state
        if state not in BACKUP_STATES:
            raise RsvaultError(Code.VM_NOT_IN_DESIRABLE_STATE, vm=self.vm, state=state)
        return Finding.passed("vm.state", state)

    # ---------------------------------------------------------------- the guest agent
    def agent_channel(self) -> Finding:
        info = self._info()
        if info.state == SHUT_OFF:
            return Finding.passed("vm.agent-channel", SHUT_OFF_FACTS)
        if info.agent_channel:
            return Finding.passed("vm.agent-channel", f"{AGENT_CHANNEL} is in the domain XML")
        self.no_agent_since = "vm.agent-channel"
        reason = f"the VM has no {AGENT_CHANNEL} channel"
        return self._judged("vm.agent-channel", self._agent_unavailable(reason))

    def agent_answers(self) -> Finding:
        without = self._without_agent("vm.agent")
        if without is not None:
            return without
        with self._domain() as domain:
            agent = GuestAgent(domain, vm=self.vm, clock=self.clock)
            try:
                agent.ping()
                version = agent.info().version
            except RsvaultError as exc:
                self.no_agent_since = "vm.agent"
                return self._judged("vm.agent", exc)
            except GuestCommandError as exc:
                self.no_agent_since = "vm.agent"
                return self._judged("vm.agent", self._agent_unavailable(str(exc)))
        return Finding.passed("vm.agent", f"qemu-guest-agent {version}")

    def freeze(self) -> Finding:
        without = self._without_agent("vm.freeze")
        if without is not None:
            return without
        if not self.consistency.fsfreeze_enabled:
            return Finding.passed("vm.freeze", "not tried: fsfreeze is off, backups never freeze")
        with self._domain() as domain:
            agent = GuestAgent(domain, vm=self.vm, clock=self.clock)
            try:
                count, froze_s, held_s = self._freeze_and_thaw(agent)
            except _StillFrozen as exc:  # worse than any backup outcome: whatever the settings
                facts = f"the file systems may still be frozen: virsh domfsthaw {self.vm}"
                return Finding.failed("vm.freeze", exc.error, facts)
            except GuestCommandError as exc:
                return self._judged("vm.freeze", self._freeze_failed(str(exc)))
            except RsvaultError as exc:
                return self._judged("vm.freeze", exc)
        facts = f"{count} file system(s) froze in {froze_s:.2f} s and thawed {held_s:.2f} s later"
        return Finding.passed("vm.freeze", facts)

    def _freeze_and_thaw(self, agent: GuestAgent) -> tuple[int, float, float]:
        """(file systems frozen, seconds the freeze took, seconds until they were thawed)."""
        if agent.status() == "frozen":  # someone's freeze: a backup now, or one interrupted
            raise self._freeze_failed(
                "the file systems are frozen already (a backup running now, or one that was "
                "interrupted: the next backup thaws them first)"
            )
        started = self.clock.monotonic()
        try:
            count = self._freeze_once(agent)
            frozen = self.clock.monotonic()
        finally:
            _thaw(agent)  # whatever failed, the guest must not stay frozen
        return count, frozen - started, self.clock.monotonic() - frozen

    def _freeze_once(self, agent: GuestAgent) -> int:
        mounts = mounts_to_freeze(agent, self.consistency)
        wait = self.consistency.safe_freeze_wait_s
        # an empty list would freeze everything: the backup freezes nothing then, so do we
        count = agent.freeze(mounts, timeout_s=wait) if mounts != [] else 0
        if count == 0:
            raise self._freeze_failed(
                "no file system was frozen (all are skipped, or none can be frozen)"
            )
        return count

    def _without_agent(self, check: str) -> Finding | None:
        """The finding of a check the agent cannot answer, or None when it may be asked."""
        if self._info().state == SHUT_OFF:
            return Finding.passed(check, _NO_AGENT_WHEN_OFF)
        if self.no_agent_since is not None:
            return Finding(check, Verdict.SKIPPED, blocked_by=self.no_agent_since)
        return None

    def _judged(self, check: str, error: RsvaultError) -> Finding:
        """A warning when the backup would go on crash-consistent, else a failure."""
        settings = self.consistency
        if not settings.needs_agent:
            facts = "recovery points are crash-consistent anyway: no fsfreeze, no scripts"
            return Finding.warned(check, error, facts)
        if settings.continue_on_failure:
            facts = "a backup goes on crash-consistent (continue-on-failure)"
            return Finding.warned(check, error, facts)
        return Finding.failed(check, error, "a backup fails (continue-on-failure is off)")

    def _agent_unavailable(self, reason: str) -> RsvaultError:
        return RsvaultError(Code.GUEST_AGENT_UNAVAILABLE, vm=self.vm, reason=reason)

    def _freeze_failed(self, reason: str) -> RsvaultError:
        return RsvaultError(Code.FS_FREEZE_FAILED, vm=self.vm, reason=reason)

    # ---------------------------------------------------------------- what the backup refuses
    def disk_sizes(self) -> Finding:
        disks = self._info().backup_disks
        disks = self.chosen(disks) if self.chosen is not None else disks
        limit = self.max_disk_size
        for disk in disks:
            if disk.size > limit:
                raise RsvaultError(
                    Code.UNSUPPORTED_DISK_SIZE,
                    vm=self.vm,
                    disk=disk.target,
                    size=format_bytes(disk.size),
                    limit=format_bytes(limit),
                )
        largest = format_bytes(max((d.size for d in disks), default=0))
        facts = f"{len(disks)} disk(s), the largest {largest}; the limit is {format_bytes(limit)}"
        return Finding.passed("vm.disk-sizes", facts)

    def checkpoints(self) -> Finding:
        with self._domain() as domain:
            total = checkpoint_count(domain)
            ours = len(our_checkpoints(domain))
        facts = f"{total} checkpoints ({ours} rsvault's); the limit is {CHECKPOINT_LIMIT}"
        # the backup drops its own but the chain's latest first, then counts, then adds one
        counted = total - ours + min(ours, 1)
        spare = CHECKPOINT_LIMIT - (counted + 1)
        if spare >= CHECKPOINT_MARGIN:
            return Finding.passed("vm.checkpoints", facts)
        error = RsvaultError(
            Code.RP_COLLECTION_LIMIT_REACHED, vm=self.vm, count=counted, limit=CHECKPOINT_LIMIT
        )
        judge = Finding.failed if spare < 0 else Finding.warned
        return judge("vm.checkpoints", error, facts)

    # ---------------------------------------------------------------- libvirt
    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        with connection(self.uri) as conn:
            try:
                yield conn
            except libvirt.libvirtError as exc:  # a check's finding, not a crash of diagnose
                raise RsvaultError(
                    Code.HYPERVISOR_UNREACHABLE, uri=self.uri, reason=message_of(exc)
                ) from exc

    @contextlib.contextmanager
    def _domain(self) -> Iterator[Any]:
        with self._connection() as conn:
            yield lookup(conn, self.vm, self.uri)

    def _info(self) -> DomainInfo:
        assert self.info is not None, "vm.domain runs first and is a gate"
        return self.info


class _StillFrozen(Exception):
    """The thaw after the test freeze failed, even after ensure_thawed's retries."""

    def __init__(self, error: RsvaultError) -> None:
        super().__init__(str(error))
        self.error = error


def _thaw(agent: GuestAgent) -> None:
    try:
        agent.ensure_thawed()
    except RsvaultError as exc:
        raise _StillFrozen(exc) from exc


def _version(number: int) -> str:
    """libvirt's versions are major * 1,000,000 + minor * 1,000 + release."""
    return f"{number // 1_000_000}.{number // 1_000 % 1_000}.{number % 1_000}"
