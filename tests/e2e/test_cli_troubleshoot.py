"""`rsvault troubleshoot`, and the job and item views that say what to do after a failure."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Cli
from tests.e2e.controlplane import WEEKLY, cli_for, enable, small_tree, write_policy


def test_a_code_in_each_language(cli: Cli) -> None:
    en = cli.ok("troubleshoot", "UserErrorFsFreezeFailed")
    cn = cli.ok("troubleshoot", "UserErrorFsFreezeFailed", "--lang", "zh-CN")
    tw = cli.ok("troubleshoot", "userErrorFsFreezeFailed", env=cli.env_with(RSVAULT_LANG="zh-TW"))
    assert en["name"] == cn["name"] == tw["name"] == "UserErrorFsFreezeFailed"
    assert en["title"] == "File system freeze failed"
    assert cn["title"] == "文件系统冻结失败"
    assert tw["title"] == "檔案系統凍結失敗"
    assert len(en["causes"]) == len(cn["causes"]) == len(tw["causes"]) > 1
    assert en["raised"] is True
    assert en["raisedIn"], en


def test_an_azure_id_finds_a_lookup_only_entry(cli: Cli) -> None:
    entry = cli.ok("troubleshoot", "380008")
    assert entry["name"] == "AzureVmOffline"
    assert entry["raised"] is False
    assert entry["lookupOnly"]
    assert entry["equivalent"] == "UserErrorGuestAgentStatusUnavailable"


def test_the_table_shows_causes_and_actions(cli: Cli) -> None:
    text = cli.run("troubleshoot", "ExtensionFailedVssWriterInBadState", output=None)
    assert text.rc == 0, text.describe()
    for label in ("Possible causes, in order:", "What to do:", "Not raised by rsvault:"):
        assert label in text.out, text.describe()
    text = cli.run("troubleshoot", "Pre-ScriptTimeout", "--lang", "zh-TW", output=None)
    assert "建議動作" in text.out, text.describe()


def test_an_unknown_code_names_the_closest(cli: Cli) -> None:
    result = cli.fails("UserErrorErrorCodeNotFound", "troubleshoot", "UserErrorVmNotFoundV3")
    assert "UserErrorVmNotFoundV2" in result.error["message"]


def test_a_pasted_message(cli: Cli) -> None:
    found = cli.ok("troubleshoot", "--message", "VM 目前的狀態不允許備份。")
    assert found[0]["name"] == "UserErrorVmNotInDesirableState"
    assert found[0]["match"]["how"] == "text"
    found = cli.ok("troubleshoot", "--message", "错误代码：UserErrorFsFreezeFailed 错误消息：…")
    assert found[0]["name"] == "UserErrorFsFreezeFailed"
    assert found[0]["match"] == {"how": "code", "score": 1.0}
    cli.fails("UserErrorTroubleshootNoMatch", "troubleshoot", "--message", "lunch at noon?")


def test_the_list_and_its_categories(cli: Cli) -> None:
    listed = cli.ok("troubleshoot", "list", "--category", "agent")
    assert listed
    assert {entry["category"] for entry in listed} == {"agent"}
    assert all(entry["name"] for entry in listed)
    everything = cli.ok("troubleshoot", "list")
    assert len(everything) > 100
    cli.fails("UserErrorInvalidArgument", "troubleshoot", "list", "--category", "weather")
    cli.fails("UserErrorInvalidArgument", "troubleshoot")


def test_a_failed_job_and_its_item_say_what_to_do(tmp_path: Path) -> None:
    cli = cli_for(tmp_path / "home")
    cli.create_vault("tv")
    write_policy(tmp_path / "policy.json", WEEKLY)
    cli.ok("policy", "create", "--vault-name", "tv", "--name", "p", "--policy",
           tmp_path / "policy.json")  # fmt: skip
    data = small_tree(tmp_path / "data")
    enable(cli, "tv", "p", "docs", data)
    (data / "a.txt").rename(tmp_path / "a.txt")
    data.rename(tmp_path / "data-gone")
    job = cli.run("protection", "backup-now", "--vault-name", "tv", "--item-name", "docs")
    assert job.rc != 0, job.describe()
    [failed] = [j for j in cli.ok("job", "list", "--vault-name", "tv") if j["status"] == "Failed"]
    shown = cli.ok("job", "show", "--vault-name", "tv", "--name", failed["name"], "--lang", "zh-CN")
    [advice] = shown["advice"]
    assert advice["code"] == "UserErrorBackupSourceNotFound"
    assert str(data) in advice["message"]
    assert "不存在" in advice["message"], "worded again in the reader's language"
    assert advice["actions"]
    table = cli.run("job", "show", "--vault-name", "tv", "--name", failed["name"], output=None)
    assert "What to do:" in table.out, table.describe()
    item = cli.ok("item", "show", "--vault-name", "tv", "--name", "docs")
    assert item["protectionState"] == "ProtectionError"
    assert item["advice"]["code"] == "UserErrorBackupSourceNotFound"
    assert item["advice"]["diagnose"] == "rsvault diagnose --vault-name tv --item-name docs"
    table = cli.run("item", "show", "--vault-name", "tv", "--name", "docs", output=None)
    assert "rsvault diagnose --vault-name tv --item-name docs" in table.out, table.describe()
