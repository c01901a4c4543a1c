"""What every real server started by the tests needs, whichever server it is.

The pattern (Synapse today; IRC, Dovecot, a Bluesky PDS can follow it):

1. install once per machine under `var/servers/<name>/` with a script from `scripts/servers/`, holding an
   exclusive file lock so that two pytest-xdist workers never install at the same time; the script is
   idempotent and the result is cached across runs (CI starts from a fresh clone and pays it once);
2. start one process per test session (so one per xdist worker) on a free loopback port, in a temporary
   directory, with a config rendered from the project's own template in `tests/servers/templates/`;
3. wait until it answers, hand the tests a small description of it, stop it at the end of the session.

A server that cannot be installed (no route to the package registry) skips its tests with the reason, except
under `CI=true`, where a silently skipped leg would hide a gap: there it fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from string import Template
from typing import NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# Installs are cached here across runs; a CI may point it at a cached directory of its own.
SERVERS_DIR = Path(os.environ.get("COMMUNA_TEST_SERVERS_DIR") or REPO_ROOT / "var" / "servers")
SCRIPTS_DIR = REPO_ROOT / "scripts" / "servers"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
INSTALL_TIMEOUT = 900  # seconds; a cold pip install of Synapse takes about a minute


class ServerUnavailable(Exception):
    """The server cannot be installed here (no registry, no compiler): its tests skip, or fail under CI."""


def unavailable(what: str, reason: str) -> NoReturn:
    message = f"{what} is unavailable: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: a server test may not be skipped)", pytrace=False)
    pytest.skip(message)


@contextlib.contextmanager
def install_lock(name: str) -> Iterator[Path]:
    """Hold `var/servers/<name>/.lock` exclusively: the other xdist workers wait for the install to finish."""
    directory = SERVERS_DIR / name
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield directory
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_install_script(script: str, dest: Path) -> float:
    """Run `scripts/servers/<script> DEST`, logging to DEST/install.log; return the seconds it took."""
    started = time.monotonic()
    log_path = dest / "install.log"
    with log_path.open("a") as log:
        try:
            completed = subprocess.run(
                [str(SCRIPTS_DIR / script), str(dest)],
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ServerUnavailable(f"{script} did not finish in {INSTALL_TIMEOUT} s (see {log_path})") from exc
    if completed.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise ServerUnavailable(f"{script} exited with {completed.returncode}; end of {log_path}:\n{tail}")
    return time.monotonic() - started


def free_port() -> int:
    """A loopback port nobody listens on right now (the server may still lose a race for it: retry then)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def render_template(name: str, dest: Path, values: Mapping[str, object]) -> Path:
    """Fill `tests/servers/templates/<name>` ($-placeholders) into `dest`; a missing value is an error."""
    text = Template((TEMPLATES_DIR / name).read_text()).substitute({k: str(v) for k, v in values.items()})
    dest.write_text(text)
    return dest


def random_secret() -> str:
    return secrets.token_urlsafe(32)


PR_SET_PDEATHSIG = 1
# Loaded here, not in the forked child: nothing but the prctl call itself runs between fork and exec.
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """Linux: the server is sent SIGTERM if the test process dies without stopping it (killed, crashed)."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ServerProcess:
    """One server child process: started with its output in a log file, stopped by its own pid only."""

    def __init__(self, name: str, args: list[str], *, log_path: Path, cwd: Path) -> None:
        self.name = name
        self.args = args
        self.log_path = log_path
        self.cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.args,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )

    def wait_until(self, ready: Callable[[], bool], *, timeout: float = 60.0) -> float:
        """Poll `ready` until it holds; return the seconds waited. A process that exits first is an error."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during startup:\n{self.log_tail()}")
            if ready():
                return time.monotonic() - started
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} was not ready after {timeout} s:\n{self.log_tail()}")

    def exited(self) -> bool:
        return self._process is None or self._process.poll() is not None

    def stop(self, *, grace: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
