"""The real process tree of `make run`: migrate, demo, `communa run` (web + worker child), on SQLite.

This exercises the console script exactly as a user starts it, in a scratch data directory; it always uses
embedded SQLite (whatever the leg) because that is what `make run` promises.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def communa(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "communa.cli", *args], env=env, capture_output=True, text=True, timeout=180, check=True
    )


@pytest.fixture(scope="module")
def embedded_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("communa-data")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMMUNA_", "DJANGO_"))}
    env |= {"COMMUNA_DATA_DIR": str(data), "COMMUNA_LOG_LEVEL": "WARNING"}
    communa("migrate", "--no-input", env=env)
    demo = communa("demo", "--if-empty", env=env)
    assert "demo / communa-demo" in demo.stdout
    return env


@pytest.fixture(scope="module")
def running(embedded_env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "communa.cli", "run", "--port", str(port)],
        env=embedded_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"communa run did not answer: {process.stdout.read() if process.stdout else ''}")
    yield base, process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(15)


def test_make_run_serves_the_stream_with_the_demo_community(running: tuple[str, subprocess.Popen[str]]) -> None:
    base, _ = running
    with httpx.Client(base_url=base, timeout=10, follow_redirects=True) as client:
        login = client.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
        assert token is not None
        page = client.post(
            "/accounts/login/",
            data={"username": "demo", "password": "communa-demo", "csrfmiddlewaretoken": token.group(1)},
            headers={"Referer": f"{base}/accounts/login/"},
        )
        assert page.status_code == 200
        assert str(page.url).endswith("/w/aurora/stream/")
        assert "Aurora Coffee" in page.text
        assert page.text.count("<article") >= 20  # a page of demo messages


def test_the_worker_runs_as_a_live_and_a_niced_background_process(running: tuple[str, subprocess.Popen[str]]) -> None:
    _, process = running
    [worker] = _children(process.pid)
    deadline = time.monotonic() + 60  # the web server may answer before the worker has started its child
    while time.monotonic() < deadline and not _children(worker):
        time.sleep(0.2)
    [background] = _children(worker)
    # Caught between fork and exec (a slow machine widens the window), the child's command line is still the
    # parent's, or empty while exec swaps it: wait for the new one.
    while time.monotonic() < deadline and "--role background" not in _cmdline(background):
        time.sleep(0.2)
    assert "--role background" in _cmdline(background)
    while time.monotonic() < deadline and _nice(background) == _nice(worker):
        time.sleep(0.2)  # it lowers its priority once Django is set up
    assert _nice(background) == _nice(worker) + 10  # COMMUNA_WORKER_BACKGROUND_NICE


def test_the_worker_stops_with_the_server(running: tuple[str, subprocess.Popen[str]]) -> None:
    _, process = running
    workers = _children(process.pid)
    assert workers, "communa run started no worker"
    workers += [child for worker in workers for child in _children(worker)]  # their background processes
    process.send_signal(signal.SIGTERM)
    process.wait(15)
    deadline = time.monotonic() + 25  # a running task gets a 10 s grace period
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def test_a_worker_whose_background_process_dies_stops_with_an_error(embedded_env: dict[str, str]) -> None:
    """A service manager then restarts the whole worker, instead of a live process whose events nobody
    enriches or triages."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "communa.cli", "worker", "--scheduler-interval", "1"],
        env=embedded_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _children(worker.pid):
            time.sleep(0.2)
        [background] = _children(worker.pid)
        os.kill(background, signal.SIGKILL)
        assert worker.wait(30) == 1
        assert worker.stdout is not None
        assert "background process exited" in worker.stdout.read()
    finally:
        if worker.poll() is None:
            worker.kill()


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


def _nice(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])  # the 19th field of stat, counted after the command name
