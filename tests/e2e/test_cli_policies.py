"""Backup policies through the real CLI: the default document, create/list/show/set/delete,
the items on a policy, and every kind of invalid policy refused with nothing changed."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cli
from tests.e2e.controlplane import WEEKLY, catalog_rows, cli_for, small_tree, write_policy

VAULT = "policies"
BASE = "base"  # created with the vault: a policy that `set` may target

# Every retention at the top of its range, at a half hour, in a real zone: all accepted.
LONGEST: dict[str, Any] = {
    "policyType": "Standard",
    "schedule": {"frequency": "Daily", "time": "23:30", "timeZone": "America/New_York"},
    "instantRpRetentionDays": 5,
    "retention": {
        "daily": {"days": 9999},
        "weekly": {"weeks": 5163, "weekdays": ["Sunday"]},
        "monthly": {"months": 1188, "daysOfMonth": [1, "Last"]},
        "yearly": {"years": 99, "monthsOfYear": ["January"], "daysOfMonth": [1]},
    },
}

ENHANCED_HOURLY: dict[str, Any] = {
    "policyType": "Enhanced",
    "schedule": {
        "frequency": "Hourly",
        "hourly": {"intervalHours": 4, "windowStart": "08:00", "windowHours": 12},
        "timeZone": "UTC",
    },
    "instantRpRetentionDays": 7,
    "retention": {"daily": {"days": 30}},
}


@dataclass
class Env:
    cli: Cli
    work: Path
    default: dict[str, Any]
    default_file: Path

    def policy_file(self, name: str, document: Any) -> Path:
        return write_policy(self.work / f"{name}.json", document)

    def create(self, name: str, document: Any) -> dict[str, Any]:
        path = self.policy_file(name, document)
        view = self.cli.ok(
            "policy", "create", "--vault-name", VAULT, "--name", name, "--policy", path
        )
        assert isinstance(view, dict), view
        return view

    def names(self) -> list[str]:
        return [p["name"] for p in self.cli.ok("policy", "list", "--vault-name", VAULT)]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    """One vault for the module; each test uses policies of its own names."""
    work = tmp_path_factory.mktemp("policies")
    cli = cli_for(work / "home")
    cli.create_vault(VAULT)
    # the contract: get-default-for-vm prints the JSON document itself, in any output mode
    default = cli.ok("policy", "get-default-for-vm", "--vault-name", VAULT, output=None)
    assert isinstance(default, dict), default
    default_file = write_policy(work / "default.json", default)
    env = Env(cli, work, default, default_file)
    env.create(BASE, default)
    return env


def with_changes(document: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> Any:
    changed = copy.deepcopy(document)
    change(changed)
    return changed


# --------------------------------------------------------------------------------------------
# The default policy and the verbs


def test_default_policy_is_daily_30_days_2_day_snapshots(env: Env) -> None:
    default = env.default
    assert default["schedule"]["frequency"] == "Daily"
    assert default["retention"] == {"daily": {"days": 30}}
    assert default["instantRpRetentionDays"] == 2
    # `-o json` gives the same document
    again = env.cli.ok("policy", "get-default-for-vm", "--vault-name", VAULT)
    assert again == default


def test_default_document_round_trips_through_create_show_list(env: Env) -> None:
    view = env.cli.ok(
        "policy",
        "create",
        "--vault-name",
        VAULT,
        "--name",
        "from-default",
        "--policy",
        env.default_file,
    )
    assert view["name"] == "from-default"
    assert view["vaultName"] == VAULT
    assert view["policyType"] == "Standard"
    assert view["items"] == 0
    assert view["document"] == env.default

    shown = env.cli.ok("policy", "show", "--vault-name", VAULT, "--name", "from-default")
    assert shown["document"] == env.default
    assert shown["name"] == "from-default"

    listed = env.cli.ok("policy", "list", "--vault-name", VAULT)
    [entry] = [p for p in listed if p["name"] == "from-default"]
    assert entry["document"] == env.default
    assert entry["items"] == 0
    names = [p["name"] for p in listed]
    assert names == sorted(names), "policy list is sorted by name"

    associated = env.cli.ok(
        "policy", "list-associated-items", "--vault-name", VAULT, "--name", "from-default"
    )
    assert associated == []


@pytest.mark.parametrize(
    ("name", "document"),
    [("weekly", WEEKLY), ("longest", LONGEST), ("enhanced-hourly", ENHANCED_HOURLY)],
)
def test_policies_at_the_limits_are_accepted(env: Env, name: str, document: Any) -> None:
    view = env.create(name, document)
    assert view["document"] == document  # stored as given: nothing dropped or defaulted
    assert view["policyType"] == document["policyType"]


def test_set_changes_the_document(env: Env) -> None:
    env.create("to-change", env.default)

    def change(d: dict[str, Any]) -> None:
        d["schedule"]["time"] = "03:30"
        d["schedule"]["timeZone"] = "Asia/Tokyo"
        d["retention"] = {"daily": {"days": 60}, "weekly": {"weeks": 8, "weekdays": ["Monday"]}}

    changed = with_changes(env.default, change)
    path = env.policy_file("changed", changed)
    view = env.cli.ok(
        "policy", "set", "--vault-name", VAULT, "--name", "to-change", "--policy", path
    )
    assert view["document"] == changed
    shown = env.cli.ok("policy", "show", "--vault-name", VAULT, "--name", "to-change")
    assert shown["document"] == changed
    assert shown["document"] != env.default


def test_delete_an_unused_policy(env: Env) -> None:
    env.create("short-lived", env.default)
    env.cli.ok("policy", "delete", "--vault-name", VAULT, "--name", "short-lived")
    names = env.names()
    assert "short-lived" not in names
    assert BASE in names


def test_duplicate_name_is_refused_and_the_first_policy_kept(env: Env) -> None:
    env.create("taken", env.default)
    before = catalog_rows(env.cli.home)
    path = env.policy_file("taken-again", WEEKLY)
    result = env.cli.fails(
        "UserErrorPolicyAlreadyExists",
        "policy",
        "create",
        "--vault-name",
        VAULT,
        "--name",
        "taken",
        "--policy",
        path,
        rc=1,
    )
    assert result.out == ""
    assert "taken" in result.error["message"]
    assert catalog_rows(env.cli.home) == before  # the first policy's document included


def test_policy_in_use_cannot_be_deleted(env: Env) -> None:
    env.create("in-use", env.default)
    env.create("in-use-next", WEEKLY)
    source = small_tree(env.work / "in-use-src")
    env.cli.ok(
        "protection",
        "enable-for-files",
        "--vault-name",
        VAULT,
        "--policy-name",
        "in-use",
        "--path",
        source,
        "--item-name",
        "in-use-item",
    )
    associated = env.cli.ok(
        "policy", "list-associated-items", "--vault-name", VAULT, "--name", "in-use"
    )
    assert [i["name"] for i in associated] == ["in-use-item"]
    assert associated[0]["policy"] == "in-use"
    listed = {p["name"]: p for p in env.cli.ok("policy", "list", "--vault-name", VAULT)}
    assert listed["in-use"]["items"] == 1

    before = catalog_rows(env.cli.home)
    result = env.cli.fails(
        "UserErrorPolicyInUse", "policy", "delete", "--vault-name", VAULT, "--name", "in-use", rc=1
    )
    assert result.out == ""
    assert catalog_rows(env.cli.home) == before

    # moved to another policy, the item no longer holds the first one
    job = env.cli.ok(
        "item",
        "set-policy",
        "--vault-name",
        VAULT,
        "--name",
        "in-use-item",
        "--policy-name",
        "in-use-next",
    )
    assert job["operation"] == "ConfigureBackup"
    assert job["status"] == "Completed"
    assert (
        env.cli.ok("policy", "list-associated-items", "--vault-name", VAULT, "--name", "in-use")
        == []
    )
    env.cli.ok("policy", "delete", "--vault-name", VAULT, "--name", "in-use")


# --------------------------------------------------------------------------------------------
# Invalid policies: UserErrorPolicyInvalid, exit 1, the field named, nothing changed


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = document
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return change


def _weekly_with(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def replace(document: dict[str, Any]) -> None:
        document.clear()
        document.update(copy.deepcopy(WEEKLY))
        change(document)

    return replace


def _hourly_in_standard(document: dict[str, Any]) -> None:
    document.clear()
    document.update(copy.deepcopy(ENHANCED_HOURLY))
    document["policyType"] = "Standard"
    document["instantRpRetentionDays"] = 2


INVALID: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("daily-3-days", _set("retention.daily.days", 3), "retention.daily.days"),
    (
        "weekly-6000-weeks",
        _set("retention.weekly", {"weeks": 6000, "weekdays": ["Sunday"]}),
        "retention.weekly.weeks",
    ),
    (
        "monthly-2000-months",
        _set("retention.monthly", {"months": 2000, "daysOfMonth": [1]}),
        "retention.monthly.months",
    ),
    (
        "yearly-100-years",
        _set("retention.yearly", {"years": 100, "monthsOfYear": ["March"], "daysOfMonth": [1]}),
        "retention.yearly.years",
    ),
    ("time-02-15", _set("schedule.time", "02:15"), "schedule.time"),
    ("unknown-time-zone", _set("schedule.timeZone", "Mars/Olympus_Mons"), "schedule.timeZone"),
    (
        "daily-retention-on-weekly-schedule",
        _weekly_with(_set("retention.daily", {"days": 30})),
        "retention.daily",
    ),
    (
        "weekly-retention-on-unscheduled-weekday",
        _weekly_with(_set("retention.weekly.weekdays", ["Monday"])),
        "retention.weekly.weekdays",
    ),
    ("hourly-in-standard-policy", _hourly_in_standard, "schedule.frequency"),
    ("misspelt-retention-key", _set("retention.dialy", {"days": 30}), "retention.dialy"),
]


@pytest.mark.parametrize(
    ("case", "change", "field"), INVALID, ids=[case for case, _change, _field in INVALID]
)
def test_invalid_policy_is_refused_and_nothing_changes(
    env: Env, case: str, change: Callable[[dict[str, Any]], None], field: str
) -> None:
    path = env.policy_file(f"invalid-{case}", with_changes(env.default, change))
    before = catalog_rows(env.cli.home)
    result = env.cli.fails(
        "UserErrorPolicyInvalid",
        "policy",
        "create",
        "--vault-name",
        VAULT,
        "--name",
        f"invalid-{case}",
        "--policy",
        path,
        rc=1,
    )
    assert result.out == "", "errors go to stderr only"
    assert f"({field})" in result.error["message"], result.error
    assert result.error["causes"], result.error
    assert result.error["actions"], result.error
    assert catalog_rows(env.cli.home) == before


def test_invalid_policies_leave_policy_list_and_documents_unchanged(env: Env) -> None:
    listed = env.cli.ok("policy", "list", "--vault-name", VAULT)
    _case, change, _field = INVALID[0]
    path = env.policy_file("again-invalid", with_changes(env.default, change))
    create = ["policy", "create", "--vault-name", VAULT, "--name", "again-invalid"]
    env.cli.fails("UserErrorPolicyInvalid", *create, "--policy", path, rc=1)
    # through `set`, the existing policy stays as it was
    set_ = ["policy", "set", "--vault-name", VAULT, "--name", BASE]
    env.cli.fails("UserErrorPolicyInvalid", *set_, "--policy", path, rc=1)
    assert env.cli.ok("policy", "list", "--vault-name", VAULT) == listed
    shown = env.cli.ok("policy", "show", "--vault-name", VAULT, "--name", BASE)
    assert shown["document"] == env.default


def test_invalid_policy_name_is_refused(env: Env) -> None:
    before = catalog_rows(env.cli.home)
    result = env.cli.fails(
        "UserErrorPolicyInvalid",
        "policy",
        "create",
        "--vault-name",
        VAULT,
        "--name",
        "no spaces please",
        "--policy",
        env.default_file,
        rc=1,
    )
    assert "(name)" in result.error["message"], result.error
    assert catalog_rows(env.cli.home) == before


def _not_json(path: Path) -> Path:
    path.write_text("schedule: daily\nretention: 30 days\n", "utf-8")
    return path


def _missing(path: Path) -> Path:
    return path.parent / "no-such-policy-file.json"


# A file that cannot be read is a bad argument; one that reads but is not a JSON object is a
# bad policy.
UNREADABLE = [
    ("not-json", _not_json, "UserErrorPolicyInvalid"),
    ("missing-file", _missing, "UserErrorInvalidArgument"),
]


@pytest.mark.parametrize(("case", "make", "code"), UNREADABLE, ids=[c for c, _, _ in UNREADABLE])
def test_unreadable_policy_file_is_refused_and_nothing_changes(
    env: Env, case: str, make: Callable[[Path], Path], code: str
) -> None:
    path = make(env.work / f"unreadable-{case}.json")
    before = catalog_rows(env.cli.home)
    result = env.cli.run("policy", "set", "--vault-name", VAULT, "--name", BASE, "--policy", path)
    assert result.rc == 1, result.describe()
    assert result.out == ""
    assert result.error_code == code
    assert catalog_rows(env.cli.home) == before


@pytest.mark.parametrize(("case", "make", "code"), UNREADABLE, ids=[c for c, _, _ in UNREADABLE])
def test_unreadable_policy_file_on_create(
    env: Env, case: str, make: Callable[[Path], Path], code: str
) -> None:
    path = make(env.work / f"unreadable-code-{case}.json")
    env.cli.fails(
        code,
        "policy",
        "create",
        "--vault-name",
        VAULT,
        "--name",
        f"unreadable-code-{case}",
        "--policy",
        path,
        rc=1,
    )


# --------------------------------------------------------------------------------------------
# Unknown names


@pytest.mark.parametrize("verb", ["create", "get-default-for-vm"])
def test_unknown_vault(env: Env, verb: str) -> None:
    args: list[Any] = ["policy", verb, "--vault-name", "no-such-vault"]
    if verb != "get-default-for-vm":
        args += ["--name", "from-default"]
    if verb == "create":
        args += ["--policy", env.default_file]
    result = env.cli.fails("UserErrorVaultNotFound", *args, rc=10)
    assert result.out == ""


@pytest.mark.parametrize("verb", ["show", "set"])
def test_unknown_policy(env: Env, verb: str) -> None:
    args: list[Any] = ["policy", verb, "--vault-name", VAULT, "--name", "no-such-policy"]
    if verb == "set":
        args += ["--policy", env.default_file]
    before = catalog_rows(env.cli.home)
    result = env.cli.fails("UserErrorPolicyNotFound", *args, rc=1)
    assert "no-such-policy" in result.error["message"]
    assert catalog_rows(env.cli.home) == before
