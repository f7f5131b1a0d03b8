"""ConsistencySettings: defaults, validation, the dict form, and Azure's own files."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rsvault.errors import Code, RsvaultError
from rsvault.sources.libvirt.consistency import ConsistencySettings, from_azure

# Azure's template of /etc/azure/VMSnapshotScriptPluginConfig.json, filled in by a user
AZURE_SCRIPT_CONFIG = """
{
    "pluginName" : "ScriptRunner",
    "preScriptLocation" : "/etc/azure/pre-mysql.sh",
    "postScriptLocation" : "/etc/azure/post-mysql.sh",
    "preScriptParams" : ["--flush", ""],
    "postScriptParams" : ["", ""],
    "preScriptNoOfRetries" : 2,
    "postScriptNoOfRetries" : 0,
    "timeoutInSeconds" : 120,
    "continueBackupOnFailure" : false,
    "fsFreezeEnabled" : true,
    "ScriptsExecutionPollTimeSeconds" : 2
}
"""
VMBACKUP_CONF = """
[SnapshotThread]
fsfreeze: True
MountsToSkip = /mnt/resource, /mnt/scratch
SafeFreezeWaitInSeconds=600
"""


def invalid(call: Any, *args: Any, **kwargs: Any) -> RsvaultError:
    with pytest.raises(RsvaultError) as caught:
        call(*args, **kwargs)
    assert caught.value.code is Code.INVALID_ARGUMENT
    return caught.value


def test_defaults_are_azures() -> None:
    s = ConsistencySettings()
    assert s.fsfreeze_enabled is True
    assert s.mounts_to_skip == ()
    assert s.safe_freeze_wait_s == 66
    assert s.pre_script is None
    assert s.post_script is None
    assert (s.pre_retries, s.post_retries) == (0, 0)
    assert s.timeout_s == 30
    assert s.continue_on_failure is True
    assert not s.scripts_configured
    assert s.needs_agent


def test_dict_round_trip() -> None:
    s = ConsistencySettings(
        mounts_to_skip=("/mnt/resource",),
        pre_script="/opt/pre.sh",
        post_script="/opt/post.sh",
        pre_params=("a", "b c"),
        pre_retries=3,
        timeout_s=1800,
        continue_on_failure=False,
    )
    data = s.to_dict()
    assert data["mounts_to_skip"] == ["/mnt/resource"]
    assert data["pre_params"] == ["a", "b c"]
    assert json.loads(json.dumps(data)) == data
    assert ConsistencySettings.from_dict(data) == s
    assert s.scripts_configured


def test_from_dict_keeps_defaults_for_missing_keys() -> None:
    assert ConsistencySettings.from_dict({}) == ConsistencySettings()
    assert ConsistencySettings.from_dict({"pre_script": ""}).pre_script is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("timeout_s", 0),
        ("timeout_s", 1801),
        ("timeout_s", "30"),
        ("timeout_s", True),
        ("safe_freeze_wait_s", 0),
        ("safe_freeze_wait_s", 3601),
        ("pre_retries", -1),
        ("post_retries", 11),
        ("script_poll_s", 0),
        ("script_poll_s", 6),
        ("fsfreeze_enabled", "yes"),
        ("continue_on_failure", 1),
        ("pre_script", "relative/pre.sh"),
        ("post_script", 5),
        ("pre_params", "not a list"),
        ("post_params", [1, 2]),
        ("mounts_to_skip", ["mnt"]),
    ],
)
def test_bad_values_are_refused(key: str, value: object) -> None:
    error = invalid(ConsistencySettings.from_dict, {key: value})
    assert error.params["argument"] == key
    assert error.params["reason"]


def test_unknown_keys_are_refused() -> None:
    error = invalid(ConsistencySettings.from_dict, {"fsfreeze": True})
    assert error.params["argument"] == "fsfreeze"


def test_the_constructor_validates_too() -> None:
    invalid(ConsistencySettings, timeout_s=5000)
    invalid(ConsistencySettings, post_script="post.sh")


def test_needs_agent_only_for_freeze_or_scripts() -> None:
    assert not ConsistencySettings(fsfreeze_enabled=False).needs_agent
    assert ConsistencySettings(fsfreeze_enabled=False, post_script="/p").needs_agent


def test_azure_script_config() -> None:
    s = from_azure(AZURE_SCRIPT_CONFIG)
    assert s.pre_script == "/etc/azure/pre-mysql.sh"
    assert s.post_script == "/etc/azure/post-mysql.sh"
    assert s.pre_params == ("--flush",)  # the template's "" placeholders are not arguments
    assert s.post_params == ()
    assert (s.pre_retries, s.post_retries) == (2, 0)
    assert s.timeout_s == 120
    assert s.continue_on_failure is False
    assert s.fsfreeze_enabled is True
    assert s.script_poll_s == 2.0
    assert s.safe_freeze_wait_s == 66  # not in this file: the default stays


def test_azure_template_with_empty_locations_means_no_scripts() -> None:
    template = json.loads(AZURE_SCRIPT_CONFIG) | {"preScriptLocation": "", "postScriptLocation": ""}
    s = from_azure(template)
    assert s.pre_script is None
    assert s.post_script is None
    assert not s.scripts_configured


def test_azure_values_written_as_strings_are_accepted() -> None:
    s = from_azure({"timeoutInSeconds": "60", "continueBackupOnFailure": "False"})
    assert s.timeout_s == 60
    assert s.continue_on_failure is False


def test_azure_vmbackup_conf() -> None:
    s = from_azure(vmbackup_conf=VMBACKUP_CONF)
    assert s.fsfreeze_enabled is True
    assert s.mounts_to_skip == ("/mnt/resource", "/mnt/scratch")
    assert s.safe_freeze_wait_s == 600
    both = from_azure(AZURE_SCRIPT_CONFIG, VMBACKUP_CONF)
    assert both.pre_script == "/etc/azure/pre-mysql.sh"
    assert both.safe_freeze_wait_s == 600


def test_azure_files_on_top_of_a_base() -> None:
    base = ConsistencySettings(fsfreeze_enabled=False, timeout_s=99)
    s = from_azure({"postScriptLocation": "/p.sh"}, base=base)
    assert s.fsfreeze_enabled is False
    assert s.timeout_s == 99
    assert s.post_script == "/p.sh"


@pytest.mark.parametrize(
    ("config", "argument"),
    [
        ("{not json", "VMSnapshotScriptPluginConfig.json"),
        ("[1, 2]", "VMSnapshotScriptPluginConfig.json"),
        ('{"pluginName": "Other"}', "pluginName"),
        ('{"preScriptLocaton": "/x"}', "preScriptLocaton"),
        ('{"timeoutInSeconds": 1801}', "timeout_s"),
        ('{"preScriptLocation": "pre.sh"}', "pre_script"),
    ],
)
def test_bad_azure_script_configs(config: str, argument: str) -> None:
    assert invalid(from_azure, config).params["argument"] == argument


@pytest.mark.parametrize(
    ("conf", "argument"),
    [
        ("[SnapshotThread]\nfsfreeze: maybe\n", "fsfreeze"),
        ("[SnapshotThread]\nSafeFreezeWaitInSeconds = soon\n", "SafeFreezeWaitInSeconds"),
        ("no section header", "vmbackup.conf"),
        ("[SnapshotThread]\nMountsToSkip = mnt/resource\n", "mounts_to_skip"),
    ],
)
def test_bad_vmbackup_confs(conf: str, argument: str) -> None:
    assert invalid(from_azure, vmbackup_conf=conf).params["argument"] == argument


def test_vmbackup_conf_without_the_section_changes_nothing() -> None:
    assert from_azure(vmbackup_conf="[Other]\nx = 1\n") == ConsistencySettings()
