"""rsvault policy get-default-for-vm|create|list|show|set|delete|list-associated-items."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rsvault.cli.options import VaultNameOption
from rsvault.cli.render import show_list, show_one
from rsvault.cli.session import OutputFormat, OutputOption, begin
from rsvault.errors import Code, RsvaultError
from rsvault.services import policies

app = typer.Typer(help="Backup policies: when to back up, how long to keep.", no_args_is_help=True)

PolicyNameOption = Annotated[str, typer.Option("--name", "-n", help="Policy name.")]
PolicyFileOption = Annotated[
    Path, typer.Option("--policy", help="The policy as a JSON file (see get-default-for-vm).")
]
_COLUMNS = ["name", "policyType", "schedule", "retention", "items"]
_SKIP = ["document"]  # a table shows the summaries; `-o json` gives the document
_ITEM_COLUMNS = ["name", "kind", "protectionState", "lastBackupStatus", "nextRun"]


def _document(path: Path, name: str) -> dict[str, Any]:
    """The policy file: unreadable is a bad argument; not a JSON object is a bad policy."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RsvaultError(Code.INVALID_ARGUMENT, argument="--policy", reason=reason) from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RsvaultError(
            Code.POLICY_INVALID, name=name, field="$", reason=f"not JSON: {exc}"
        ) from exc
    if not isinstance(document, dict):
        raise RsvaultError(Code.POLICY_INVALID, name=name, field="$", reason="not a JSON object")
    return document


@app.command("get-default-for-vm")
def get_default_for_vm(
    vault_name: VaultNameOption, output: OutputOption = OutputFormat.JSON
) -> None:
    """Print the default policy: JSON that `policy create` accepts, whatever --output says."""
    print(json.dumps(policies.default_policy_for_vm(begin(output), vault_name), indent=2))


@app.command()
def create(
    vault_name: VaultNameOption,
    name: PolicyNameOption,
    policy: PolicyFileOption,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Create a policy from a JSON document."""
    show_one(
        policies.create_policy(begin(output), vault_name, name, _document(policy, name)), _SKIP
    )


@app.command("list")
def list_(vault_name: VaultNameOption, output: OutputOption = OutputFormat.TABLE) -> None:
    """List the policies of a vault."""
    show_list(policies.list_policies(begin(output), vault_name), _COLUMNS)


@app.command()
def show(
    vault_name: VaultNameOption, name: PolicyNameOption, output: OutputOption = OutputFormat.TABLE
) -> None:
    """Show a policy and its document."""
    show_one(policies.show_policy(begin(output), vault_name, name), _SKIP)


@app.command("set")
def set_(
    vault_name: VaultNameOption,
    name: PolicyNameOption,
    policy: PolicyFileOption,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Change a policy; it applies at once to every item on it."""
    show_one(policies.set_policy(begin(output), vault_name, name, _document(policy, name)), _SKIP)


@app.command()
def delete(
    vault_name: VaultNameOption, name: PolicyNameOption, output: OutputOption = OutputFormat.TABLE
) -> None:
    """Delete a policy that no item uses."""
    policies.delete_policy(begin(output), vault_name, name)


@app.command("list-associated-items")
def list_associated_items(
    vault_name: VaultNameOption, name: PolicyNameOption, output: OutputOption = OutputFormat.TABLE
) -> None:
    """List the items a policy protects."""
    show_list(policies.list_associated_items(begin(output), vault_name, name), _ITEM_COLUMNS)
