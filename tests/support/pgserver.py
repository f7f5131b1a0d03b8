"""A private PostgreSQL server for tests and benchmarks: `initdb` on a temp dir, then `postgres`.

    server = PostgresServer().start()
    try:
        url = server.create_database("t_demo")  # postgresql+psycopg://postgres@127.0.0.1:PORT/t_demo
        ...
    finally:
        server.stop()

or `with PostgresServer() as server: ...`. The binaries come from the Debian package
`postgresql` (/usr/lib/postgresql/<version>/bin, the newest version wins); nothing is started
through systemd or a service script. PostgreSQL refuses to run as root, so as root the cluster
belongs to the `postgres` system user (created by the package) and every server program runs as
that user through `setpriv`. The server listens only on 127.0.0.1, on a port that was free when
it started (so several pytest-xdist workers each run their own), with its unix socket and log in
the temp dir, trust authentication, and durability switched off for speed: never keep data here.

The postmaster runs as a child of this process (so it is reaped even where PID 1 reaps
nothing); `stop()` stops it by its PID (`pg_ctl stop -m immediate`, then SIGKILL to the
postmaster if it is still there) and removes the temp dir; it is also registered with `atexit`,
so a script that forgets to stop leaves nothing running. No pytest in this module.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

INSTALL_HINT = "run `bash scripts/bootstrap` (it installs the Debian package `postgresql`)"
BINARIES_ROOT = Path("/usr/lib/postgresql")
SYSTEM_USER = "postgres"  # owns the cluster when we run as root
SUPERUSER = "postgres"  # the database role tests connect as
HOST = "127.0.0.1"

# Test speed over durability; the port is given on the command line (it may change on retry).
DEFAULT_SETTINGS: Mapping[str, str] = {
    "listen_addresses": f"'{HOST}'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "logging_collector": "off",
    "log_line_prefix": "'%m [%p] %q%u@%d '",
}

_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_BIND_FAILED = ("could not bind", "could not create any TCP/IP sockets", "already in use")
_START_ATTEMPTS = 3


class PostgresNotInstalled(RuntimeError):
    """The PostgreSQL server programs (or the `postgres` user) are missing."""


class PostgresStartError(RuntimeError):
    """The server did not start or does not accept connections; the message has the log tail."""


def find_bin_dir(root: Path = BINARIES_ROOT) -> Path:
    """The newest <root>/<version>/bin that has initdb and pg_ctl."""
    found = [d for d in root.glob("*/bin") if (d / "initdb").is_file() and (d / "pg_ctl").is_file()]
    if not found:
        raise PostgresNotInstalled(
            f"PostgreSQL server programs (initdb, pg_ctl) not found under {root}/*/bin: "
            + INSTALL_HINT
        )
    return max(found, key=lambda d: _version_key(d.parent.name))


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """One PostgreSQL cluster in a temp dir, for the life of a test session or a benchmark."""

    def __init__(
        self,
        *,
        bin_dir: Path | None = None,
        base_dir: Path | None = None,
        start_timeout: float = 60.0,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.bin_dir = bin_dir if bin_dir is not None else find_bin_dir()
        self.base_dir = base_dir
        self.start_timeout = start_timeout
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.owner = self._owner()
        self.root: Path | None = None
        self.port: int | None = None
        self.pid: int | None = None  # the postmaster's
        self._process: subprocess.Popen[bytes] | None = None

    # ----------------------------------------------------------------------------------------
    # where things are

    def _dir(self) -> Path:
        if self.root is None:
            raise RuntimeError("the PostgreSQL server is not started")
        return self.root

    @property
    def data_dir(self) -> Path:
        return self._dir() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._dir() / "socket"

    @property
    def log_file(self) -> Path:
        return self._dir() / "postgresql.log"

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of `database` on this server (psycopg 3 driver, TCP)."""
        if self.port is None:
            raise RuntimeError("the PostgreSQL server is not started")
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except (FileNotFoundError, RuntimeError):
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    # ----------------------------------------------------------------------------------------
    # starting

    def start(self) -> PostgresServer:
        """Create the cluster and start it; returns once it accepts connections on 127.0.0.1."""
        if self.root is not None:
            raise RuntimeError("the PostgreSQL server is already started")
        self.root = Path(tempfile.mkdtemp(prefix="rsvault-pg-", dir=self.base_dir))
        atexit.register(self.stop)
        try:
            self.socket_dir.mkdir()
            if self.owner is not None:
                for path in (self.root, self.socket_dir):
                    os.chown(path, *self.owner)
            self._initdb()
            self._configure()
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def _owner(self) -> tuple[int, int] | None:
        """(uid, gid) to run the server programs as, or None to run them as ourselves."""
        if os.geteuid() != 0:
            return None
        try:
            user = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise PostgresNotInstalled(
                f"PostgreSQL will not run as root and there is no `{SYSTEM_USER}` user: "
                + INSTALL_HINT
            ) from None
        return user.pw_uid, user.pw_gid

    def _command(self, program: str, *args: str) -> list[str]:
        argv = [str(self.bin_dir / program), *args]
        if self.owner is None:
            return argv
        uid, gid = self.owner
        return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--", *argv]

    def _environment(self) -> dict[str, str]:
        """Ours without PG* variables (they would redirect the tools), messages in English."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        if self.owner is not None:
            env["HOME"] = str(self._dir())
        return env

    def _run(self, program: str, *args: str, timeout: float = 120.0) -> str:
        """Run a server program as the cluster owner; its output, or PostgresStartError."""
        argv = self._command(program, *args)
        try:
            done = subprocess.run(
                argv,
                cwd=self._dir(),
                env=self._environment(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresStartError(
                f"{program} did not finish in {timeout:.0f}s\n"
                f"--- postgresql.log, last lines ---\n{self.log_tail()}"
            ) from exc
        output = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            raise PostgresStartError(
                f"{' '.join(argv)} failed (exit {done.returncode}):\n{output}\n"
                f"--- postgresql.log, last lines ---\n{self.log_tail()}"
            )
        return output

    def _initdb(self) -> None:
        try:
            self._run(
                "initdb",
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            )
        except PostgresStartError as exc:
            raise PostgresStartError(
                f"{exc}\n(as root the `{SYSTEM_USER}` user must be able to reach {self.root}; "
                "pass base_dir= or set TMPDIR to a directory it can)"
            ) from exc

    def _configure(self) -> None:
        settings = {**self.settings, "unix_socket_directories": f"'{self.socket_dir}'"}
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# rsvault tests\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        # only the local socket and 127.0.0.1, both trusted: a throwaway test server
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        )

    def _launch(self) -> None:
        """Start the postmaster on a free port (another one if that port was taken meanwhile).

        The postmaster is our own child (setpriv execs it), not daemonized by `pg_ctl start`:
        its PID is known exactly and we reap it, which matters where PID 1 reaps nothing.
        """
        for attempt in range(1, _START_ATTEMPTS + 1):
            self.port = free_port()
            with open(self.log_file, "ab") as log:
                self._process = subprocess.Popen(
                    self._command("postgres", "-D", str(self.data_dir), "-p", str(self.port)),
                    cwd=self._dir(),
                    env=self._environment(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.pid = self._process.pid
            try:
                self._wait_until_ready(self._process)
                return
            except PostgresStartError:
                bind_failed = any(s in self.log_tail(10) for s in _BIND_FAILED)
                self._stop_postmaster()
                if not (bind_failed and attempt < _START_ATTEMPTS):
                    raise

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        """Until pg_isready says the TCP port accepts connections, or the timeout."""
        deadline = time.monotonic() + self.start_timeout
        argv = [str(self.bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(self.port)]
        argv += ["-U", SUPERUSER, "-d", "postgres", "-t", "2"]
        while True:
            done = subprocess.run(argv, env=self._environment(), capture_output=True, check=False)
            if done.returncode == 0:
                return
            if process.poll() is not None:
                raise PostgresStartError(
                    f"the PostgreSQL server (pid {process.pid}) exited with "
                    f"{process.returncode} while starting\n"
                    f"--- postgresql.log, last lines ---\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise PostgresStartError(
                    f"PostgreSQL on {HOST}:{self.port} did not accept connections in "
                    f"{self.start_timeout:.0f}s (pg_isready exit {done.returncode})\n"
                    f"--- postgresql.log, last lines ---\n{self.log_tail()}"
                )
            time.sleep(0.1)

    # ----------------------------------------------------------------------------------------
    # using

    def connect(self, database: str = "postgres") -> psycopg.Connection[tuple[Any, ...]]:
        """A psycopg connection in autocommit mode (close it, or use it in `with`)."""
        try:
            import psycopg
        except ImportError as exc:
            raise PostgresNotInstalled(f"psycopg is not installed: {INSTALL_HINT}") from exc
        if self.port is None:
            raise RuntimeError("the PostgreSQL server is not started")
        return psycopg.connect(
            host=HOST, port=self.port, user=SUPERUSER, dbname=database, autocommit=True
        )

    def execute(self, sql: str, params: Sequence[Any] = (), database: str = "postgres") -> None:
        with self.connect(database) as connection:
            connection.execute(sql.encode(), params)  # bytes: a str must be a LiteralString

    def query(
        self, sql: str, params: Sequence[Any] = (), database: str = "postgres"
    ) -> list[tuple[Any, ...]]:
        with self.connect(database) as connection:
            return connection.execute(sql.encode(), params).fetchall()

    def create_database(self, name: str) -> str:
        """CREATE DATABASE `name` (lower-case letters, digits, _); returns its URL."""
        self._check_name(name)
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE `name`, closing any connection still open to it."""
        self._check_name(name)
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @staticmethod
    def _check_name(name: str) -> None:
        if not _DATABASE_NAME.fullmatch(name):
            raise ValueError(f"not a plain database name: {name!r}")

    # ----------------------------------------------------------------------------------------
    # stopping

    def stop(self) -> None:
        """Stop the server by its PID and remove the temp dir. Safe to call more than once."""
        if self.root is None:
            return
        try:
            self._stop_postmaster()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
            self.port = self.pid = None
            atexit.unregister(self.stop)

    def _stop_postmaster(self) -> None:
        """pg_ctl stop -m immediate, then SIGKILL to the postmaster's PID if it is still there."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(PostgresStartError):
            self._run(
                "pg_ctl",
                "stop",
                "--pgdata",
                str(self.data_dir),
                "--mode",
                "immediate",
                "--wait",
                "--timeout",
                "15",
                timeout=30,
            )
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)  # by its PID: never by name
            process.wait(timeout=30)

    def __enter__(self) -> PostgresServer:
        return self.start() if self.root is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{HOST}:{self.port} pid {self.pid}" if self.port else "stopped"
        return f"PostgresServer({self.bin_dir}, {where})"
