"""A throw-away PostgreSQL cluster for the tests (pytest plugin, registered from tests/conftest.py).

The binaries are Debian's (``/usr/lib/postgresql/<major>/bin``, newest major first), else ``initdb`` on PATH.
One cluster per test session: ``initdb`` into a fresh temp dir, TCP on a free 127.0.0.1 port, the unix socket in
that temp dir (so parallel runs and a system cluster on 5432 never collide), ``pg_ctl start -w``; stopped and
removed at the end of the session, also after a failure, and by a watchdog process if the run is killed. Each
test gets its own database in that cluster, cloned from a template that holds the project's tables.

As root, ``initdb``/``postgres`` refuse to run, so they run as the ``postgres`` OS user (``runuser``) in a temp
dir that user owns. Without the binaries the PostgreSQL tests are skipped locally with the reason, and FAIL
under CI (``CI=true``), where setup is expected to have installed them.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pwd
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

if TYPE_CHECKING:
    from server.storage.db import Database


class Blocker(Protocol):
    def rollback(self) -> None: ...
    def close(self) -> None: ...


SUPERUSER = "xops"
_START_ATTEMPTS = 5


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def find_bindir() -> Path | None:
    """Directory holding initdb/pg_ctl/postgres: Debian's newest major version, else whatever PATH has."""

    def major(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.parent.name)) or (0,)

    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=major, reverse=True)
    for initdb in debian:
        if (initdb.parent / "pg_ctl").exists():
            return initdb.parent
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    bindir: Path
    root: Path = field(init=False)
    port: int = 0
    _running: bool = False
    _template: str = ""
    _reaper_pipe: int | None = None
    _names: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        as_root = os.geteuid() == 0
        # as root, under /tmp: the postgres user must be able to reach the dir (a TMPDIR under /root is not)
        self.root = Path(tempfile.mkdtemp(prefix="xops-pg-", dir="/tmp" if as_root else None))
        self._as: list[str] = []
        if as_root:  # initdb refuses root: hand the dir to the postgres user and run as it
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as, *argv], capture_output=True, text=True, timeout=timeout, cwd=self.root, check=False
        )

    def start(self) -> None:
        init = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        )
        if init.returncode != 0:
            raise RuntimeError(
                f"initdb failed ({init.returncode}): {init.stderr.strip() or init.stdout.strip()}"
            )
        log = self.root / "server.log"
        for _ in range(_START_ATTEMPTS):  # a free port can be taken between probing and binding: retry
            self.port = _free_port()
            opts = " ".join(
                [
                    "-c listen_addresses=127.0.0.1",
                    f"-c port={self.port}",
                    f"-c unix_socket_directories={self.root}",
                    "-c max_connections=100",
                    "-c shared_buffers=32MB",
                    "-c fsync=off",  # a throw-away cluster: durability buys nothing here
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c log_min_messages=warning",
                ]
            )
            res = self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(log),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            )
            if res.returncode == 0:
                self._running = True
                self._start_reaper()
                return
            text = log.read_text(errors="replace") if log.exists() else ""
            if "already in use" not in text and "could not bind" not in text:
                break
        raise RuntimeError(f"pg_ctl start failed: {res.stderr.strip()}\n{text[-2000:]}")

    def _start_reaper(self) -> None:
        """A watchdog that stops the cluster when this process is gone, even killed with SIGKILL (no teardown,
        no atexit): it blocks reading a pipe only we hold open, and the kernel closes it when we die."""
        read_end, self._reaper_pipe = os.pipe()  # both ends close-on-exec: no other child inherits ours
        stop = [*self._as, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]
        code = "import os, shutil, subprocess, sys; os.read(0, 1); subprocess.run(sys.argv[2:]); shutil.rmtree(sys.argv[1], True)"
        subprocess.Popen(
            [sys.executable, "-c", code, str(self.root), *stop],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to the test run's process group does not take it down first
        )
        os.close(read_end)

    def stop(self) -> None:
        if self._running:
            self._running = False
            with contextlib.suppress(Exception):
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        if self._reaper_pipe is not None:
            os.close(self._reaper_pipe)  # the watchdog wakes, finds nothing left to do and exits
            self._reaper_pipe = None

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as c:
            c.execute(sql.encode())

    def create_database(self) -> str:
        """A new database holding the project's tables (cloned from a template built once per session: cloning
        is cheaper than running the DDL for every test)."""
        if not self._template:
            from server.storage.db import Database

            self._admin('CREATE DATABASE "xops_template" TEMPLATE template0')
            db = Database(self.url("xops_template"))
            db.create_all()
            db.dispose()  # a template must have no connections while it is cloned
            self._template = "xops_template"
        name = f"t{next(self._names)}_{uuid.uuid4().hex[:8]}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        return name

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_cluster: PgCluster | None = None
_cluster_error: str | None = None


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"PostgreSQL tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


def get_cluster() -> PgCluster:
    """The session's cluster, started on first use (tests that never ask for PostgreSQL never start one)."""
    global _cluster, _cluster_error
    if _cluster is not None:
        return _cluster
    if _cluster_error is not None:
        pytest.fail(_cluster_error, pytrace=False)
    bindir = find_bindir()
    if bindir is None:
        _unavailable("no initdb/pg_ctl in /usr/lib/postgresql/*/bin or on PATH (apt-get install postgresql)")
        raise AssertionError("unreachable")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the psycopg driver is not installed (pip install 'psycopg[binary]')")
    cluster = PgCluster(bindir)
    atexit.register(cluster.stop)  # also when pytest dies before its session teardown
    try:
        cluster.start()
    except Exception as exc:
        cluster.stop()
        _cluster_error = f"could not start a throw-away PostgreSQL from {bindir}: {exc}"
        pytest.fail(_cluster_error, pytrace=False)
    _cluster = cluster
    return cluster


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: runs against a throw-away PostgreSQL cluster (tests/pg.py)"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None


@pytest.fixture(scope="session")
def pg_cluster() -> PgCluster:
    return get_cluster()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_backend(request: pytest.FixtureRequest) -> Iterator[DbBackend]:
    """Run the test once on SQLite and once on a real PostgreSQL: ``db_backend.open(tmp_path / "x.sqlite3")``."""
    backend = DbBackend(request.param, get_cluster() if request.param == "postgresql" else None)
    try:
        yield backend
    finally:
        backend.close()


@dataclass
class DbBackend:
    """One test's databases on one backend, keyed by path so the same path reopens the same database (as a second
    process would). ``sqlite``: the file at that path. ``postgresql``: a fresh database in the session's cluster."""

    name: str  # "sqlite" | "postgresql"
    cluster: PgCluster | None = None
    _dbs: dict[Path, str] = field(default_factory=dict)
    _opened: list[Database] = field(default_factory=list)

    def url_for(self, path: Path) -> str:
        if self.cluster is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{path}"
        if path not in self._dbs:
            self._dbs[path] = self.cluster.create_database()
        return self.cluster.url(self._dbs[path])

    def open(self, path: Path) -> Database:
        """A new ``Database`` (engine) on the database behind ``path``, every table created."""
        from server.storage.db import Database

        db = Database(self.url_for(path))
        self._opened.append(db)
        db.create_all()  # tables declared after the template was built (a no-op otherwise)
        return db

    def write_blocker(self, path: Path) -> Blocker:
        """Another writer holding the database behind ``path`` until ``.rollback()``: SQLite's write lock
        (``BEGIN IMMEDIATE``), or on PostgreSQL an EXCLUSIVE lock on every table (reads go on, writes wait)."""
        if self.cluster is None:
            blocker = sqlite3.connect(path, timeout=5)
            blocker.execute("BEGIN IMMEDIATE")
            return blocker
        import psycopg

        from server.storage.db import metadata

        pg = psycopg.connect(self.url_for(path).replace("postgresql+psycopg://", "postgresql://"))
        tables = ", ".join(f'"{t}"' for t in metadata.tables)
        pg.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE".encode())
        return pg

    def close(self) -> None:
        for db in self._opened:
            db.dispose()
        if self.cluster is not None:
            for name in self._dbs.values():
                self.cluster.drop_database(name)
        self._dbs.clear()
        self._opened.clear()
