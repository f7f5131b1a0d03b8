"""The CLI as the VM tests use it: a vault with this machine's libvirt host registered and a
weekly policy, and the commands every VM test file repeats."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Cli
from tests.e2e.controlplane import WEEKLY, cli_for, write_policy

VAULT = "vms"
POLICY = "weekly"


def host_cli(tmp_path: Path) -> Cli:
    cli = cli_for(tmp_path / "home")
    cli.ok("vault", "create", "--name", VAULT)
    cli.ok("container", "register", "--vault-name", VAULT, "--libvirt-uri", "qemu:///system")
    policy = write_policy(tmp_path / "policy.json", WEEKLY)
    cli.ok("policy", "create", "--vault-name", VAULT, "--name", POLICY, "--policy", policy)
    return cli


def protect(cli: Cli, vm: str, *extra: str) -> None:
    """`protection enable-for-vm`, crash-consistent unless `extra` says otherwise."""
    job = cli.ok(
        "protection", "enable-for-vm", "--vault-name", VAULT, "--vm", vm,
        "--policy-name", POLICY, "--no-fsfreeze", *extra,
    )  # fmt: skip
    assert job["status"] == "Completed", job
