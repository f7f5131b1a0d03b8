"""A check's verdict, and the runner that keeps the documented order.

Checks run in the order the troubleshooting guides ask a person to go through them. A failed
gate (libvirt unreachable, the domain gone) makes the checks after it in the same group
meaningless, so they are reported as skipped, naming the check that stopped them; the
other groups (the vault's store, say) still run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rsvault.errors import RsvaultError


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Finding:
    """What one check saw. A warning or failure carries the error that explains it."""

    check: str
    verdict: Verdict
    facts: str = ""
    error: RsvaultError | None = None
    blocked_by: str | None = None

    @classmethod
    def passed(cls, check: str, facts: str = "") -> Finding:
        return cls(check, Verdict.PASS, facts)

    @classmethod
    def warned(cls, check: str, error: RsvaultError, facts: str = "") -> Finding:
        return cls(check, Verdict.WARN, facts, error)

    @classmethod
    def failed(cls, check: str, error: RsvaultError, facts: str = "") -> Finding:
        return cls(check, Verdict.FAIL, facts, error)


@dataclass(frozen=True)
class Step:
    """One check. `gate`: when it fails, the rest of its group cannot say anything useful."""

    check: str
    run: Callable[[], Finding]
    gate: bool = False


def run_steps(groups: Sequence[Sequence[Step]]) -> list[Finding]:
    """Every step in order; an RsvaultError from a step is that step's failure."""
    findings: list[Finding] = []
    for group in groups:
        blocker: str | None = None
        for step in group:
            if blocker is not None:
                findings.append(Finding(step.check, Verdict.SKIPPED, blocked_by=blocker))
                continue
            finding = _run(step)
            findings.append(finding)
            if step.gate and finding.verdict is Verdict.FAIL:
                blocker = step.check
    return findings


def _run(step: Step) -> Finding:
    try:
        return step.run()
    except RsvaultError as error:
        return Finding.failed(step.check, error)
