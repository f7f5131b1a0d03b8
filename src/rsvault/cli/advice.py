"""Rendering for people: a catalog entry (troubleshoot, job show) and diagnose's checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rsvault.cli.render import stdout
from rsvault.cli.session import language

_LABELS: dict[str, tuple[str, str, str]] = {  # key -> (en, zh-CN, zh-TW)
    "causes": ("Possible causes, in order", "可能原因（按顺序）", "可能原因（依順序）"),
    "actions": ("What to do", "建议操作", "建議動作"),
    "raised_in": ("Raised by rsvault in", "rsvault 在以下操作中报告", "rsvault 在以下作業中回報"),
    "lookup_only": ("Not raised by rsvault", "rsvault 不会报告此错误", "rsvault 不會回報此錯誤"),
    "equivalent": ("rsvault's nearest code", "rsvault 中最接近的代码", "rsvault 中最接近的代碼"),
    "related": ("Related", "相关代码", "相關代碼"),
    "azure_id": ("Azure id", "Azure ID", "Azure ID"),
    "aliases": ("Also written", "其他写法", "其他寫法"),
    "match": ("Match", "匹配", "比對"),
    "diagnose": ("Check with", "检查命令", "檢查指令"),
    "blocked": ("skipped: {check} failed", "已跳过：{check} 失败", "已略過：{check} 失敗"),
}
_COLUMN = {"en": 0, "zh-CN": 1, "zh-TW": 2}
_VERDICT_STYLE = {
    "pass": "[green]PASS[/green]",
    "warn": "[yellow]WARN[/yellow]",
    "fail": "[bold red]FAIL[/bold red]",
    "skipped": "[dim]SKIP[/dim]",
}


def label(key: str) -> str:
    return _LABELS[key][_COLUMN.get(language(), 0)]


def _colon() -> str:
    return ":" if language() == "en" else "："


def print_entry(entry: dict[str, Any]) -> None:
    """A catalog entry as `troubleshoot` prints it."""
    heading = f"[bold]{entry['name']}[/bold]  {entry['title']}  [dim]({entry['category']})[/dim]"
    stdout().print(heading, highlight=False)
    stdout().print(f"  {entry['message']}", highlight=False)
    _line(label("azure_id"), entry.get("azureId"))
    _line(label("aliases"), ", ".join(entry.get("aliases") or ()))
    if entry.get("match"):
        match = entry["match"]
        _line(label("match"), f"{match['how']} {match['score']}")
    if entry.get("raised"):
        _line(label("raised_in"), "; ".join(entry.get("raisedIn") or ()))
    else:
        _line(label("lookup_only"), entry.get("lookupOnly"))
        _line(label("equivalent"), entry.get("equivalent"))
    print_numbered(label("causes"), entry["causes"])
    print_numbered(label("actions"), entry["actions"])
    _line(label("related"), ", ".join(entry.get("related") or ()))


def print_checks(checks: Sequence[dict[str, Any]]) -> None:
    """diagnose's checks, one line each; a warning or failure with its code and actions."""
    for check in checks:
        verdict = _VERDICT_STYLE.get(check["verdict"], check["verdict"])
        stdout().print(f"{verdict}  {check['title']}", highlight=False)
        if check.get("blockedBy"):
            stdout().print(f"      {label('blocked').format(check=check['blockedBy'])}")
        if check.get("facts"):
            stdout().print(f"      {check['facts']}", highlight=False)
        if check.get("code"):
            stdout().print(
                f"      [bold]{check['code']}[/bold]: {check['message']}", highlight=False
            )
            if check.get("detail"):
                stdout().print(f"      ({check['detail']})", highlight=False)
            for number, action in enumerate(check.get("actions", ()), 1):
                stdout().print(f"        {number}. {action}", highlight=False)


def print_advice(advice: Sequence[dict[str, Any]]) -> None:
    """A job's or item's codes, each with its causes and actions, after the view's table."""
    for entry in advice:
        stdout().print()
        count = f" (x{entry['occurrences']})" if entry.get("occurrences") else ""
        heading = f"[bold red]{entry['code']}[/bold red]{count}: {entry['message']}"
        stdout().print(heading, highlight=False)
        print_numbered(label("causes"), entry.get("causes", ()))
        print_numbered(label("actions"), entry.get("actions", ()))
        if entry.get("diagnose"):
            _line(label("diagnose"), entry["diagnose"])


def print_numbered(title: str, lines: Sequence[str]) -> None:
    if lines:
        stdout().print(f"[bold]{title}{_colon()}[/bold]")
        for number, line in enumerate(lines, 1):
            stdout().print(f"  {number}. {line}", highlight=False)


def _line(title: str, value: object) -> None:
    if value:
        stdout().print(f"[bold]{title}{_colon()}[/bold] {value}", highlight=False)
