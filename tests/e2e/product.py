"""Communa as a person runs it, in child processes: `communa migrate`, `communa shell -c`, `communa run`,
`communa worker` (`python -m communa.cli ...`), each with the environment a deployment would give it.

A `Deployment` is that environment. Two ways to get one:

- `fresh_deployment()`: a database of its own, the way a new installation starts. On the SQLite leg it is
  an empty data directory (the embedded default); on the PostgreSQL + Redis leg a new PostgreSQL database on
  the test server (dropped afterwards) and the test process's Redis database for the task queues, so
  each leg runs the product in the configuration it tests.
- `deployment_on_test_database()`: the database pytest-django made for this test (a `transaction=True` test),
  so the test can create rows with the services and read what the child processes wrote with the ORM.

Children die with the test process (PR_SET_PDEATHSIG), and are stopped by their own pid only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from tests.servers.base import ServerProcess, _die_with_parent

COMMAND_TIMEOUT = 240  # seconds; `communa migrate` on a loaded 2-core machine takes a while


@dataclasses.dataclass(frozen=True)
class Deployment:
    """The environment of Communa's processes: where the data lives and how they reach it."""

    directory: Path  # COMMUNA_DATA_DIR, and where the processes' logs are written
    env: dict[str, str]

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `communa <args>` to completion; a failure shows its output."""
        done = subprocess.run(
            [sys.executable, "-m", "communa.cli", *args],
            env=self.env,
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, f"communa {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        return done

    def process(self, name: str, *args: str) -> CommunaProcess:
        """A `communa <args>` child, not started yet; its output goes to `<directory>/<name>.log`."""
        argv = [sys.executable, "-m", "communa.cli", *args]
        return CommunaProcess(name, argv, log_path=self.directory / f"{name}.log", cwd=self.directory, env=self.env)


class CommunaProcess(ServerProcess):
    """A Communa child process; besides ServerProcess's graceful stop, it can be killed outright."""

    def __init__(self, name: str, args: list[str], *, log_path: Path, cwd: Path, env: dict[str, str]) -> None:
        super().__init__(name, args, log_path=log_path, cwd=cwd)
        self.env = env

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.args,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )

    def kill(self) -> None:
        """SIGKILL it and its children: no handler runs, no lease is released; as when a machine dies.

        The children go too (on the Redis backend a worker forks RQ's scheduler, which would outlive it).
        """
        process = self._process
        assert process is not None, f"{self.name} was not started"
        assert process.poll() is None, f"{self.name} exited on its own:\n{self.log_tail()}"
        children = self.children()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):  # it ended on its own
                os.kill(pid, signal.SIGKILL)

    def stop(self, *, grace: float = 10.0) -> None:
        """Stop it (SIGTERM), then wait for its children (`communa run`'s worker) to be gone as well.

        `communa run` is ended by the SIGTERM that uvicorn re-raises after its own shutdown, before it can
        wait for its worker: the worker stops on the parent-death signal, on its own time. Nothing that
        comes after (dropping the database) may start while it still runs.
        """
        children = self.children()
        super().stop(grace=grace)
        deadline = time.monotonic() + grace
        while (alive := [pid for pid in children if _running(pid)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):  # it ended just now
                os.kill(pid, signal.SIGKILL)

    def children(self) -> list[int]:
        """Every process below it: `communa run`'s worker, and each worker's background process."""
        process = self._process
        if process is None or process.poll() is not None:
            return []
        found: list[int] = []
        parents = [process.pid]
        while parents:
            try:
                below = [int(pid) for pid in Path(f"/proc/{parents[0]}/task/{parents[0]}/children").read_text().split()]
            except OSError:  # it has just ended
                below = []
            found += below
            parents = parents[1:] + below
        return found

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (our grandchild is reaped by init, not by us)."""
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False


def base_env(directory: Path) -> dict[str, str]:
    """This process's environment without any Communa or Django setting, plus a data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMMUNA_", "DJANGO_", "PYTEST_"))}
    return env | {"COMMUNA_DATA_DIR": str(directory), "PYTHONUNBUFFERED": "1", "COMMUNA_LOG_LEVEL": "INFO"}


def on_postgresql() -> bool:
    return bool(settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql")


def redis_url_of_this_process() -> str:
    """The Redis database of this test process (tests/settings.py gives each xdist worker its own), or ""."""
    if not settings.REDIS_URL:
        return ""
    return str(settings.RQ_QUEUES["default"]["URL"])


def postgres_url(database: str) -> str:
    params = settings.DATABASES["default"]
    user = quote(str(params.get("USER") or ""), safe="")
    password = quote(str(params.get("PASSWORD") or ""), safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{credentials}{params.get('HOST') or '127.0.0.1'}:{params.get('PORT') or 5432}/{database}"


def deployment_on_test_database(directory: Path, **extra_env: str) -> Deployment:
    """Processes on this test's own database (call inside a `django_db(transaction=True)` test).

    They share the test process's secret key, so secrets it encrypted (a source's token) decrypt there.
    """
    name = str(connection.settings_dict["NAME"])
    url = postgres_url(name) if on_postgresql() else f"sqlite:///{name}"
    env = base_env(directory) | {
        "COMMUNA_DATABASE_URL": url,
        "COMMUNA_REDIS_URL": redis_url_of_this_process(),
        "COMMUNA_SECRET_KEY": settings.SECRET_KEY,
    }
    return Deployment(directory=directory, env=env | extra_env)


_fresh_databases = itertools.count()


@contextlib.contextmanager
def fresh_deployment(directory: Path, **extra_env: str) -> Iterator[Deployment]:
    """A new, empty installation (not migrated yet): SQLite in `directory`, or a new PostgreSQL database."""
    env = base_env(directory) | {"COMMUNA_REDIS_URL": redis_url_of_this_process()} | extra_env
    if not on_postgresql():
        yield Deployment(directory=directory, env=env)
        return
    name = f"communa_e2e_{os.getpid()}_{next(_fresh_databases)}_{secrets.token_hex(3)}"
    _postgres_admin(f'CREATE DATABASE "{name}"')
    try:
        yield Deployment(directory=directory, env=env | {"COMMUNA_DATABASE_URL": postgres_url(name)})
    finally:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_admin(statement: str) -> None:
    import psycopg

    params = settings.DATABASES["default"]
    with psycopg.connect(
        host=params.get("HOST") or "127.0.0.1",
        port=int(params.get("PORT") or 5432),
        user=params.get("USER") or None,
        password=params.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(statement)  # type: ignore[arg-type]  # a name we generated, not user input


def flush_test_redis() -> None:
    """Drop jobs the children left in this test process's Redis database (a killed worker leaves some)."""
    if settings.REDIS_URL:
        import django_rq

        django_rq.get_connection("default").flushdb()


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1) -> Any:
    """Poll until `predicate()` is truthy and return it; return the last (falsy) value after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
