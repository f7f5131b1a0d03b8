"""The vault itself: the passphrase opens it, and a structural check finds nothing wrong."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rsvault.core.clock import Clock
from rsvault.diagnose.findings import Finding, Step
from rsvault.diagnose.storechecks import StoreProbe
from rsvault.errors import Code, RsvaultError
from rsvault.vault.check import CheckReport, check_vault
from rsvault.vault.lease import LeaseKind
from rsvault.vault.repository import Vault


@dataclass
class VaultProbe:
    name: str
    store: StoreProbe
    passphrase: Callable[[], str | None]
    clock: Clock
    vault: Vault | None = None

    def steps(self, *, with_check: bool) -> list[Step]:
        steps = [Step("vault.passphrase", self.opens, gate=True)]
        if with_check:
            steps.append(Step("vault.check", self.check))
        return steps

    def opens(self) -> Finding:
        passphrase = self.passphrase()
        if not passphrase:
            raise RsvaultError(Code.PASSPHRASE_MISSING)
        assert self.store.store is not None, "the store checks run first"
        try:
            self.vault = Vault.open(self.store.store, passphrase, self.clock)
        except RsvaultError as exc:
            if exc.code is Code.PASSPHRASE_INCORRECT:
                raise RsvaultError(Code.PASSPHRASE_INCORRECT, name=self.name) from exc
            raise
        return Finding.passed("vault.passphrase", "the passphrase opens a key slot")

    def check(self) -> Finding:
        assert self.vault is not None, "vault.passphrase runs first and is a gate"
        with self.vault.lease(LeaseKind.CHECK, f"diagnose {self.name}"):
            report = check_vault(self.vault)
        facts = _summary(report)
        if report.ok:
            return Finding.passed("vault.check", facts)
        affected = ", ".join(report.affected_recovery_points) or "none"
        error = RsvaultError(
            Code.VAULT_CHECK_FAILED,
            name=self.name,
            problems=f"{len(report.problems)} problems; affected recovery points: {affected}",
        )
        return Finding.failed("vault.check", error, facts)


def _summary(report: CheckReport) -> str:
    return (
        f"{report.recovery_points} recovery points, {report.packs} packs, "
        f"{report.chunks} chunks, {len(report.problems)} problems"
    )
