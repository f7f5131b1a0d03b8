"""Consistency of a VM snapshot: the settings (Azure's Linux knobs) and the freeze window.

`consistent_snapshot` runs the guest side of a backup's "Take Snapshot" step around the
caller's `take()` (create the checkpoint, start the backup job):

    VM not running      -> take(), crash-consistent, no agent calls
    ping the agent      -> unavailable: crash-consistent (or GUEST_AGENT_UNAVAILABLE)
    pre-script          guest-exec, before the freeze: a frozen agent refuses guest-exec
    freeze              all file systems, or all but mounts_to_skip (guest-fsfreeze-freeze-list)
    take()              while frozen; a watchdog thaws at safe_freeze_wait_s (Azure's safe
                        freeze: a guest never stays frozen longer, even if take() hangs)
    thaw                at once, always, in a finally
    post-script         after the thaw; it also runs when take() failed (it undoes the pre)

Application-consistent needs both scripts configured and successful and the freeze; the
freeze alone gives file-system consistent; no freeze gives crash-consistent. With
continue_on_failure (Azure's continueBackupOnFailure, default true) a failure becomes a
JobWarning and lowers the consistency; without it the failure raises with its code.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from configparser import ConfigParser
from configparser import Error as ConfigError
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Generic, Literal, NamedTuple, TypeVar

from rsvault.core.clock import SYSTEM_CLOCK, Clock
from rsvault.errors import Code, JobWarning, RsvaultError
from rsvault.sources.libvirt.agent import ExecResult, GuestAgent, GuestCommandError

T = TypeVar("T")
Consistency = Literal["ApplicationConsistent", "FileSystemConsistent", "CrashConsistent"]
APPLICATION_CONSISTENT: Consistency = "ApplicationConsistent"
FILE_SYSTEM_CONSISTENT: Consistency = "FileSystemConsistent"
CRASH_CONSISTENT: Consistency = "CrashConsistent"

TIMEOUT_MAX_S = 1800  # Azure's timeoutInSeconds limit
SAFE_FREEZE_MAX_S = 3600
RETRIES_MAX = 10
OUTPUT_LIMIT = 1000  # characters of script output kept in a message


# =============================================================================== settings
@dataclass(frozen=True)
class ConsistencySettings:
    """Per-VM consistency knobs, those of Azure's Linux VMSnapshot extension."""

    fsfreeze_enabled: bool = True
    mounts_to_skip: tuple[str, ...] = ()
    safe_freeze_wait_s: int = 66
    pre_script: str | None = None  # a path inside the guest
    post_script: str | None = None
    pre_params: tuple[str, ...] = ()
    post_params: tuple[str, ...] = ()
    pre_retries: int = 0  # extra attempts: 0 = one try
    post_retries: int = 0
    timeout_s: int = 30  # per script run
    continue_on_failure: bool = True
    script_poll_s: float = 1.0

    def __post_init__(self) -> None:
        _check_range("safe_freeze_wait_s", self.safe_freeze_wait_s, 1, SAFE_FREEZE_MAX_S)
        _check_range("timeout_s", self.timeout_s, 1, TIMEOUT_MAX_S)
        _check_range("pre_retries", self.pre_retries, 0, RETRIES_MAX)
        _check_range("post_retries", self.post_retries, 0, RETRIES_MAX)
        _check_range("script_poll_s", self.script_poll_s, 0.05, 5)
        for name in ("pre_script", "post_script"):
            path = getattr(self, name)
            if path is not None and not (path.startswith("/") and "\0" not in path):
                raise _invalid(name, "an absolute path inside the guest")
        for mount in self.mounts_to_skip:
            if not mount.startswith("/"):
                raise _invalid("mounts_to_skip", f"{mount!r} is not an absolute mount point")

    @property
    def scripts_configured(self) -> bool:
        return self.pre_script is not None and self.post_script is not None

    @property
    def needs_agent(self) -> bool:
        return self.fsfreeze_enabled or self.pre_script is not None or self.post_script is not None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("mounts_to_skip", "pre_params", "post_params"):
            out[name] = list(out[name])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConsistencySettings:
        """Settings from their to_dict() form; missing keys keep their defaults."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise _invalid(unknown[0], f"unknown setting; known: {', '.join(sorted(known))}")
        return cls(**{name: _typed(name, value) for name, value in data.items()})


_BOOLS = {"fsfreeze_enabled", "continue_on_failure"}
_INTS = {"safe_freeze_wait_s", "pre_retries", "post_retries", "timeout_s"}
_LISTS = {"mounts_to_skip", "pre_params", "post_params"}
_PATHS = {"pre_script", "post_script"}


def _typed(name: str, value: Any) -> Any:
    """Checks the type of one setting (bool is not an int here, nor a str a list)."""
    if name in _BOOLS and isinstance(value, bool):
        return value
    if name in _INTS and isinstance(value, int) and not isinstance(value, bool):
        return value
    if name == "script_poll_s" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if name in _LISTS and isinstance(value, list | tuple):
        if all(isinstance(item, str) for item in value):
            return tuple(value)
        raise _invalid(name, "a list of strings")
    if name in _PATHS and (value is None or isinstance(value, str)):
        return value or None
    kinds = {**dict.fromkeys(_BOOLS, "true or false"), **dict.fromkeys(_INTS, "a whole number")}
    kinds |= dict.fromkeys(_LISTS, "a list of strings") | dict.fromkeys(_PATHS, "a path or null")
    raise _invalid(name, kinds.get(name, "a number"))


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise _invalid(name, f"{value} is outside {low:g} to {high:g}")


def _invalid(argument: str, reason: str) -> RsvaultError:
    return RsvaultError(Code.INVALID_ARGUMENT, argument=argument, reason=reason)


# =============================================================================== Azure's files
AZURE_PLUGIN_NAME = "ScriptRunner"
_AZURE_KEYS = {
    "preScriptLocation": "pre_script",
    "postScriptLocation": "post_script",
    "preScriptParams": "pre_params",
    "postScriptParams": "post_params",
    "preScriptNoOfRetries": "pre_retries",
    "postScriptNoOfRetries": "post_retries",
    "timeoutInSeconds": "timeout_s",
    "continueBackupOnFailure": "continue_on_failure",
    "fsFreezeEnabled": "fsfreeze_enabled",
    "ScriptsExecutionPollTimeSeconds": "script_poll_s",
}


def from_azure(
    script_config: str | Mapping[str, Any] | None = None,
    vmbackup_conf: str | None = None,
    base: ConsistencySettings | None = None,
) -> ConsistencySettings:
    """Settings from Azure's files, so users can bring theirs.

    `script_config`: the text (or parsed JSON) of /etc/azure/VMSnapshotScriptPluginConfig.json.
    `vmbackup_conf`: the text of vmbackup.conf; its [SnapshotThread] section gives fsfreeze,
    MountsToSkip and SafeFreezeWaitInSeconds. What neither file says comes from `base`.
    """
    values = (base or ConsistencySettings()).to_dict()
    if script_config is not None:
        values |= _from_plugin_config(_json_object(script_config))
    if vmbackup_conf is not None:
        values |= _from_vmbackup_conf(vmbackup_conf)
    return ConsistencySettings.from_dict(values)


def _json_object(config: str | Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(config, str):
        return config
    try:
        data = json.loads(config)
    except ValueError as exc:
        raise _invalid("VMSnapshotScriptPluginConfig.json", f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _invalid("VMSnapshotScriptPluginConfig.json", "not a JSON object")
    return data


def _from_plugin_config(data: Mapping[str, Any]) -> dict[str, Any]:
    plugin = data.get("pluginName", AZURE_PLUGIN_NAME)
    if plugin != AZURE_PLUGIN_NAME:
        raise _invalid("pluginName", f"{plugin!r}: only {AZURE_PLUGIN_NAME!r} is supported")
    unknown = sorted(set(data) - set(_AZURE_KEYS) - {"pluginName"})
    if unknown:
        raise _invalid(unknown[0], "not a key of VMSnapshotScriptPluginConfig.json")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in _AZURE_KEYS:
            out[_AZURE_KEYS[key]] = _azure_value(_AZURE_KEYS[key], value)
    return out


def _azure_value(name: str, value: Any) -> Any:
    """Azure's template writes "" for an unset path and ["", ""] for no parameters."""
    if name in _LISTS and isinstance(value, list):
        return [item for item in value if item != ""]
    if name in _BOOLS and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if name in _INTS | {"script_poll_s"} and isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def _from_vmbackup_conf(text: str) -> dict[str, Any]:
    parser = ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except ConfigError as exc:
        raise _invalid("vmbackup.conf", f"cannot be read: {exc}") from None
    if not parser.has_section("SnapshotThread"):
        return {}
    section = parser["SnapshotThread"]
    out: dict[str, Any] = {}
    if "fsfreeze" in section:
        out["fsfreeze_enabled"] = _conf_bool("fsfreeze", section["fsfreeze"])
    if "MountsToSkip" in section:
        out["mounts_to_skip"] = [m.strip() for m in section["MountsToSkip"].split(",") if m.strip()]
    if "SafeFreezeWaitInSeconds" in section:
        raw = section["SafeFreezeWaitInSeconds"].strip()
        if not raw.isdigit():
            raise _invalid("SafeFreezeWaitInSeconds", f"{raw!r} is not a whole number")
        out["safe_freeze_wait_s"] = int(raw)
    return out


def _conf_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false"):
        raise _invalid(name, f"{raw!r}: True or False")
    return value == "true"


# =============================================================================== the outcome
class Step(NamedTuple):
    step: str
    outcome: str
    seconds: float


@dataclass
class SnapshotOutcome(Generic[T]):
    result: T
    consistency: Consistency
    warnings: list[JobWarning] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)


def consistent_snapshot(
    agent: GuestAgent | None,
    vm: str,
    settings: ConsistencySettings,
    take: Callable[[], T],
    vm_running: bool,
    *,
    discard: Callable[[T], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> SnapshotOutcome[T]:
    """Run take() inside the guest's consistency steps; see the module docstring.

    `discard(result)` is called when a failure after take() fails the backup (a post-script
    failure without continue_on_failure), so the caller can end its backup job and drop its
    checkpoint. An exception from take() propagates after the thaw and the post-script.
    """
    snapshot = _Snapshot(agent, vm, settings, clock)
    if not vm_running:
        snapshot.log("Check VM state", "not running: crash-consistent", 0.0)
        return snapshot.outcome(snapshot.take(take), CRASH_CONSISTENT)
    reachable = snapshot.reachable_agent()
    if reachable is None:
        return snapshot.outcome(snapshot.take(take), CRASH_CONSISTENT)
    return snapshot.with_agent(reachable, take, discard)


class _Snapshot:
    """One run of the steps: their log, the warnings, and what succeeded."""

    def __init__(
        self, agent: GuestAgent | None, vm: str, settings: ConsistencySettings, clock: Clock
    ) -> None:
        self.agent = agent
        self.vm = vm
        self.settings = settings
        self.clock = clock
        self.warnings: list[JobWarning] = []
        self.steps: list[Step] = []
        self.agent_lost = False  # it stopped answering half-way: skip what needs it

    # ---------------------------------------------------------------- the sequence
    def with_agent(
        self, agent: GuestAgent, take: Callable[[], T], discard: Callable[[T], None] | None
    ) -> SnapshotOutcome[T]:
        pre_ok = self.script(agent, "pre")
        try:
            window = self.freeze(agent)
        except RsvaultError:
            self.script(agent, "post", raising=False)  # undo what the pre-script did
            raise
        try:
            result = self.take(take)
        except BaseException:
            self.close(window, raising=False)
            self.script(agent, "post", raising=False)  # undo what the pre-script did
            raise
        try:
            frozen = self.close(window)
        except RsvaultError:
            self.script(agent, "post", raising=False)
            _discard(discard, result)
            raise
        try:
            post_ok = self.script(agent, "post")
        except RsvaultError:
            _discard(discard, result)
            raise
        return self.outcome(result, self.consistency(frozen, pre_ok and post_ok))

    def consistency(self, frozen: bool, scripts_ok: bool) -> Consistency:
        if not frozen:
            return CRASH_CONSISTENT
        if self.settings.scripts_configured and scripts_ok:
            return APPLICATION_CONSISTENT
        return FILE_SYSTEM_CONSISTENT

    def outcome(self, result: T, consistency: Consistency) -> SnapshotOutcome[T]:
        self.log("Consistency", consistency, 0.0)
        return SnapshotOutcome(result, consistency, self.warnings, self.steps)

    def take(self, take: Callable[[], T]) -> T:
        started = self.clock.monotonic()
        try:
            result = take()
        except BaseException as exc:
            self.log("Take snapshot", f"failed: {exc!r}", self.since(started))
            raise
        self.log("Take snapshot", "ok", self.since(started))
        return result

    # ---------------------------------------------------------------- the agent
    def reachable_agent(self) -> GuestAgent | None:
        """The agent if it is needed and answers; a freeze left behind earlier is undone."""
        if not self.settings.needs_agent:
            self.log("Ping guest agent", "skipped: no freeze and no scripts configured", 0.0)
            return None
        started = self.clock.monotonic()
        reason = "the VM has no guest agent channel"
        if self.agent is not None:
            try:
                self.agent.ping()
                if self.agent.status() == "frozen":  # an earlier backup was interrupted
                    self.agent.ensure_thawed()
                    self.log("Thaw stale freeze", "ok", self.since(started))
            except RsvaultError as exc:
                reason = _reason(exc)
            except GuestCommandError as exc:
                reason = exc.reason
            else:
                self.log("Ping guest agent", "ok", self.since(started))
                return self.agent
        self.log("Ping guest agent", f"failed: {reason}", self.since(started))
        self.failure(Code.GUEST_AGENT_UNAVAILABLE, reason=reason)
        return None

    # ---------------------------------------------------------------- scripts
    def script(
        self, agent: GuestAgent, which: Literal["pre", "post"], *, raising: bool = True
    ) -> bool:
        """Run the pre- or post-script with its retries; whether it succeeded (or is unset).

        With raising=False (cleanup after another failure) a failure is only logged.
        """
        path: str | None = getattr(self.settings, f"{which}_script")
        step = f"Run {which}-script"
        if path is None:
            return True
        if self.agent_lost:
            self.log(step, "skipped: the guest agent stopped answering", 0.0)
            return False
        started = self.clock.monotonic()
        code, params, attempts = self._attempts(agent, which, path)
        if code is None:
            self.log(step, f"ok after {attempts} attempt(s)", self.since(started))
            return True
        self.log(step, f"failed after {attempts} attempt(s): {code.value}", self.since(started))
        if code is Code.GUEST_AGENT_UNAVAILABLE:
            self.agent_lost = True
        else:
            params = {"script": path, **params}
        if raising:
            self.failure(code, **params)
        return False

    def _attempts(
        self, agent: GuestAgent, which: Literal["pre", "post"], path: str
    ) -> tuple[Code | None, dict[str, object], int]:
        tries = 1 + int(getattr(self.settings, f"{which}_retries"))
        code: Code | None = None
        details: dict[str, object] = {}
        for attempt in range(1, tries + 1):
            code, details = self._attempt(agent, which, path)
            if code is None or code in _NOT_WORTH_RETRYING:
                return code, details, attempt
        return code, details, tries

    def _attempt(
        self, agent: GuestAgent, which: Literal["pre", "post"], path: str
    ) -> tuple[Code | None, dict[str, object]]:
        codes = _SCRIPT_CODES[which]
        params: tuple[str, ...] = getattr(self.settings, f"{which}_params")
        timeout_s = self.settings.timeout_s
        try:
            result = agent.run(
                path, params, timeout_s=timeout_s, poll_s=self.settings.script_poll_s
            )
        except GuestCommandError as exc:  # the agent could not start it
            if _missing(exc.reason):
                return codes["missing"], {}
            if _not_permitted(exc.reason):
                return codes["permission"], {"reason": exc.reason[:OUTPUT_LIMIT]}
            # 126: the shell's code for "found but cannot be executed"
            return codes["failed"], {"exitcode": 126, "output": exc.reason[:OUTPUT_LIMIT]}
        except RsvaultError as exc:  # the agent went away while the script ran
            return Code.GUEST_AGENT_UNAVAILABLE, {"reason": _reason(exc)}
        return _judged(result, codes, timeout_s)

    # ---------------------------------------------------------------- freeze and thaw
    def freeze(self, agent: GuestAgent) -> _FreezeWindow | None:
        """Freeze and open the watched window; None when nothing is frozen."""
        step = "Freeze file systems"
        if not self.settings.fsfreeze_enabled or self.agent_lost:
            why = (
                "fsfreeze disabled" if not self.agent_lost else "the guest agent stopped answering"
            )
            self.log(step, f"skipped: {why}", 0.0)
            return None
        started = self.clock.monotonic()
        wait = self.settings.safe_freeze_wait_s
        try:
            mounts = mounts_to_freeze(agent, self.settings)
            count = agent.freeze(mounts, timeout_s=wait) if mounts != [] else 0
        except RsvaultError as exc:
            self.log(step, f"failed: {_reason(exc)}", self.since(started))
            if exc.code is Code.GUEST_AGENT_UNAVAILABLE:
                self._thaw_after_lost_agent(agent)
            self.failure(exc.code, reason=_reason(exc))
            return None
        if count == 0:
            reason = "no file system was frozen (all are skipped, or none can be frozen)"
            self.log(step, f"failed: {reason}", self.since(started))
            self.failure(Code.FS_FREEZE_FAILED, reason=reason)
            return None
        self.log(step, f"ok: {count} frozen", self.since(started))
        return _FreezeWindow(agent, max(0.0, wait - self.since(started)), self.clock).open()

    def _thaw_after_lost_agent(self, agent: GuestAgent) -> None:
        # an agent that died half-way through a freeze leaves it in place; its respawn can thaw
        started = self.clock.monotonic()
        try:
            agent.ensure_thawed()
        except RsvaultError as exc:
            self.log("Thaw file systems", f"failed: {_reason(exc)}", self.since(started))
            self.warn(Code.GUEST_AGENT_UNAVAILABLE, reason=f"thaw failed: {_reason(exc)}")
        else:
            self.log("Thaw file systems", "ok", self.since(started))
        self.agent_lost = True

    def close(self, window: _FreezeWindow | None, *, raising: bool = True) -> bool:
        """Thaw now; whether take() ran wholly inside the freeze."""
        if window is None:
            return False
        closed = window.close()
        if closed.thaw_error is not None:
            self.log("Thaw file systems", f"failed: {closed.thaw_error}", closed.seconds)
            self.warn(Code.GUEST_AGENT_UNAVAILABLE, reason=f"thaw failed: {closed.thaw_error}")
        if closed.expired:
            reason = (
                f"the snapshot took longer than the safe freeze wait of "
                f"{self.settings.safe_freeze_wait_s} s, so the file systems were thawed first"
            )
            self.log("Thaw file systems", f"by the watchdog: {reason}", closed.seconds)
            if raising:
                self.failure(Code.FS_FREEZE_FAILED, reason=reason)
            return False
        if closed.thaw_error is None:
            self.log("Thaw file systems", "ok", closed.seconds)
        return True

    # ---------------------------------------------------------------- bookkeeping
    def failure(self, code: Code, **params: Any) -> None:
        """A warning that lowers the consistency, or, without continue_on_failure, the error."""
        if not self.settings.continue_on_failure:
            raise RsvaultError(code, vm=self.vm, **params)
        self.warn(code, **params)

    def warn(self, code: Code, **params: object) -> None:
        self.warnings.append(JobWarning(code, path=self.vm, params={"vm": self.vm, **params}))

    def log(self, step: str, outcome: str, seconds: float) -> None:
        self.steps.append(Step(step, outcome, round(seconds, 3)))

    def since(self, started: float) -> float:
        return self.clock.monotonic() - started


@dataclass(frozen=True)
class _Closed:
    seconds: float  # how long the file systems stayed frozen (until the thaw returned)
    expired: bool  # the watchdog thawed before take() was done
    thaw_error: str | None


class _FreezeWindow:
    """The frozen interval: a watchdog thaws at the safe freeze wait; close() thaws at once.

    The watchdog is a real timer thread (libvirt calls are thread-safe), because a take()
    that hangs must not keep the guest frozen. If it fired, the snapshot may postdate the
    thaw, so the freeze counts as failed.
    """

    def __init__(self, agent: GuestAgent, limit_s: float, clock: Clock) -> None:
        self.agent = agent
        self.clock = clock
        self.lock = threading.Lock()
        self.closed = False
        self.expired = False
        self.thaw_error: str | None = None
        self.started = 0.0
        self.timer = threading.Timer(limit_s, self._expire)
        self.timer.daemon = True

    def open(self) -> _FreezeWindow:
        self.started = self.clock.monotonic()
        self.timer.start()
        return self

    def _expire(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = self.expired = True
                self._thaw()

    def _thaw(self) -> None:
        try:
            self.agent.ensure_thawed()
        except RsvaultError as exc:  # the watchdog thread must never die with an exception
            self.thaw_error = _reason(exc)

    def close(self) -> _Closed:
        self.timer.cancel()
        with self.lock:
            if not self.closed:
                self.closed = True
                self._thaw()
        return _Closed(self.clock.monotonic() - self.started, self.expired, self.thaw_error)


def _discard(discard: Callable[[T], None] | None, result: T) -> None:
    if discard is not None:
        discard(result)


def _reason(exc: RsvaultError) -> str:
    return str(exc.params.get("reason", exc))


_SCRIPT_CODES: dict[str, dict[str, Code]] = {
    "pre": {
        "missing": Code.PRE_SCRIPT_NOT_FOUND,
        "permission": Code.PRE_SCRIPT_PERMISSION,
        "failed": Code.PRE_SCRIPT_FAILED,
        "timeout": Code.PRE_SCRIPT_TIMEOUT,
    },
    "post": {
        "missing": Code.POST_SCRIPT_NOT_FOUND,
        "permission": Code.POST_SCRIPT_PERMISSION,
        "failed": Code.POST_SCRIPT_FAILED,
        "timeout": Code.POST_SCRIPT_TIMEOUT,
    },
}
_NOT_WORTH_RETRYING = {
    Code.PRE_SCRIPT_NOT_FOUND,
    Code.POST_SCRIPT_NOT_FOUND,
    Code.PRE_SCRIPT_PERMISSION,
    Code.POST_SCRIPT_PERMISSION,
    Code.GUEST_AGENT_UNAVAILABLE,
}


def _judged(
    result: ExecResult, codes: dict[str, Code], timeout_s: int
) -> tuple[Code | None, dict[str, object]]:
    if result.timed_out:
        return codes["timeout"], {"seconds": timeout_s}
    if result.ok:
        return None, {}
    exitcode: object = result.exitcode if result.signal is None else f"signal {result.signal}"
    return codes["failed"], {"exitcode": exitcode, "output": result.output(OUTPUT_LIMIT)}


def _missing(reason: str) -> bool:
    # GLib's words when exec fails with ENOENT (or ENOTDIR for a path through a file)
    return "No such file or directory" in reason or "Not a directory" in reason


def _not_permitted(reason: str) -> bool:
    # GLib's words when exec fails with EACCES: no execute bit, or a noexec mount
    return "Permission denied" in reason


def mounts_to_freeze(agent: GuestAgent, settings: ConsistencySettings) -> list[str] | None:
    """None = every file system; else the mount points left after mounts_to_skip."""
    if not settings.mounts_to_skip:
        return None
    skip = {_normal(m) for m in settings.mounts_to_skip}
    return [fs.mountpoint for fs in agent.filesystems() if _normal(fs.mountpoint) not in skip]


def _normal(mount: str) -> str:
    return mount.rstrip("/") or "/"


__all__ = [
    "APPLICATION_CONSISTENT",
    "CRASH_CONSISTENT",
    "FILE_SYSTEM_CONSISTENT",
    "Consistency",
    "ConsistencySettings",
    "SnapshotOutcome",
    "Step",
    "consistent_snapshot",
    "from_azure",
    "mounts_to_freeze",
]
