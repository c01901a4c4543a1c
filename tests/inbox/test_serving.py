"""How the inbox is served under load: `communa run --workers N` and the PostgreSQL connection pool
(COMMUNA_DATABASE_POOL). The benchmark (bench/inbox.py) serves this way; these tests check that it works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection

from tests.test_processes import free_port

SETTINGS_PROBE = (
    "import json, django; django.setup(); from django.conf import settings; d = settings.DATABASES['default'];"
    "print(json.dumps({'age': d['CONN_MAX_AGE'], 'pool': d.get('OPTIONS', {}).get('pool')}))"
)


def _settings_with(**env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNA_")}
    clean |= {"DJANGO_SETTINGS_MODULE": "communa.config.settings", "COMMUNA_SECRET_KEY": "x" * 40, **env}
    out = subprocess.run([sys.executable, "-c", SETTINGS_PROBE], env=clean, capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_pool_is_a_setting_a_served_install_turns_on() -> None:
    url = "postgres://postgres@127.0.0.1:5432/communa"
    assert _settings_with(COMMUNA_DATABASE_URL=url) == {"age": 60, "pool": None}  # the default: no pool
    # With a pool, persistent connections are off (Django refuses both at once): a closed one goes back to it.
    assert _settings_with(COMMUNA_DATABASE_URL=url, COMMUNA_DATABASE_POOL="8") == {
        "age": 0, "pool": {"min_size": 2, "max_size": 8, "timeout": 10},
    }  # fmt: skip
    # SQLite has no pool: the setting is ignored there.
    assert _settings_with(COMMUNA_DATABASE_URL="sqlite:////tmp/x.sqlite3", COMMUNA_DATABASE_POOL="8")["pool"] is None


def test_a_number_setting_that_is_not_one_says_which_and_why() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNA_")}
    clean |= {"DJANGO_SETTINGS_MODULE": "communa.config.settings", "COMMUNA_SECRET_KEY": "x" * 40}
    clean |= {"COMMUNA_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/communa"}
    for name, value in [("COMMUNA_DATABASE_PREPARE", "sometimes"), ("COMMUNA_DATABASE_POOL", "-3")]:
        out = subprocess.run(
            [sys.executable, "-c", SETTINGS_PROBE], env=clean | {name: value}, capture_output=True, text=True
        )
        assert out.returncode != 0
        assert f"ImproperlyConfigured: {name} must be a whole number of at least 0, not '{value}'" in out.stderr
    # "off" turns prepared statements off (behind a transaction pooler); a number is the threshold.
    probe = SETTINGS_PROBE.replace(
        "'pool': d.get('OPTIONS', {}).get('pool')", "'prepare': d['OPTIONS']['prepare_threshold']"
    )
    for value, expected in [("off", None), ("0", 0), ("", 2), ("5", 5)]:
        env = clean | {"COMMUNA_DATABASE_PREPARE": value}
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
        assert json.loads(out.stdout.strip().splitlines()[-1])["prepare"] == expected


@pytest.fixture
def served(transactional_db: None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`communa run --no-worker --workers 2` with a pool of 2 per process, on the test database."""
    port = free_port()
    settings = connection.settings_dict
    env = {**os.environ, "COMMUNA_WEB_WORKERS": "2", "COMMUNA_DATABASE_POOL": "2", "COMMUNA_LOG_LEVEL": "WARNING"}
    if settings["ENGINE"].endswith("postgresql"):
        env["COMMUNA_DATABASE_URL"] = (
            f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"
        )
    else:  # the test database of the SQLite leg lives in memory: the server gets a file of its own
        env["COMMUNA_DATABASE_URL"] = f"sqlite:///{os.environ.get('TMPDIR', '/tmp')}/communa-serving-{port}.sqlite3"
    _wait_for_strangers_to_leave()
    server = subprocess.Popen([sys.executable, "-m", "communa.cli", "run", "--no-worker", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        server.kill()
        pytest.fail("communa run --workers 2 did not start")
    yield base, server
    server.terminate()
    server.wait(timeout=15)


def _other_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        (opened,) = cursor.fetchone()
    return int(opened)


def _wait_for_strangers_to_leave(timeout: float = 30.0) -> None:
    """PostgreSQL: a worker an earlier test on this database stopped may still be closing (a background process
    finishes its running task first); its connections are not the server's to count."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    while _other_connections() and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.mark.slow
def test_several_server_processes_share_a_bounded_number_of_connections(
    served: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, server = served
    children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) >= 2  # uvicorn's supervisor and its two server processes (one may be its spawn helper)
    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(lambda _: httpx.get(f"{base}/healthz", timeout=30).status_code, range(100)))
    assert statuses == [200] * 100
    if connection.vendor == "postgresql":
        opened = _other_connections()
        assert opened <= 4  # two processes × a pool of two, whatever the number of concurrent requests


def test_connections_are_served_without_nagles_delay() -> None:
    """uvicorn binds the socket it shares between `--workers` processes with proto 0, and asyncio turns
    TCP_NODELAY on only for IPPROTO_TCP sockets: each response then waited ~40 ms for the client's delayed ACK."""
    import socket

    from communa.server.http import no_delay

    class Transport:
        def __init__(self, sock: socket.socket) -> None:
            self.sock = sock

        def get_extra_info(self, name: str) -> object:
            return self.sock if name == "socket" else None

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:  # proto 0, as uvicorn binds it
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
                no_delay(Transport(accepted))  # type: ignore[arg-type]
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
