"""A real Matrix homeserver (Synapse, SQLite; PostgreSQL on request) for the tests, and the people who use it.

`synapse` is a session-scoped fixture: each pytest-xdist worker starts its own Synapse on its own free port
(about 2 s, ~110 MB) rather than sharing one, so that no worker has to wait for, or outlive, another. The
install (a virtualenv under var/servers/synapse/, pinned by scripts/servers/synapse-constraints.txt) is
shared and done once, under a file lock.

Three accounts are registered through the shared-secret admin API: `owner` (a server admin who owns the
community's rooms), `bot` (the account Communa logs in as) and `member` (a community member). Each test
makes its own rooms, so tests never see each other's events, bans or power levels.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.servers.base import (
    ServerProcess,
    ServerUnavailable,
    free_port,
    install_lock,
    random_secret,
    render_template,
    run_install_script,
    unavailable,
)

SERVER_NAME = "communa.test"
START_ATTEMPTS = 3  # a free port can be taken between the probe and Synapse's bind: try another one


@dataclasses.dataclass(frozen=True)
class MatrixAccount:
    user_id: str
    password: str
    access_token: str


class MatrixUser:
    """A person on the test server, speaking the client-server API directly (the platform's side of a test)."""

    _txn = itertools.count()

    def __init__(self, base_url: str, account: MatrixAccount) -> None:
        self.account = account
        self.user_id = account.user_id
        self.http = httpx.Client(
            base_url=f"{base_url}/_matrix/client/v3",
            headers={"Authorization": f"Bearer {account.access_token}"},
            timeout=30,
        )

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == 200, f"{method} {path} as {self.user_id}: {response.text}"
        body: dict[str, Any] = response.json()
        return body

    def create_room(
        self,
        *,
        invite: tuple[str, ...] = (),
        public: bool = False,
        power: dict[str, int] | None = None,
        **options: Any,
    ) -> str:
        """Create a room (`options` are more /createRoom fields: room_alias_name, initial_state, ...)."""
        body: dict[str, Any] = {
            "preset": "public_chat" if public else "private_chat",
            "invite": list(invite),
            **options,
        }
        if power:
            body["power_level_content_override"] = {"users": power}
        return str(self.call("POST", "/createRoom", json=body)["room_id"])

    def join(self, room_id: str) -> None:
        self.call("POST", f"/join/{q(room_id)}", json={})

    def leave(self, room_id: str) -> None:
        self.call("POST", f"/rooms/{q(room_id)}/leave", json={})

    def invite(self, room_id: str, user_id: str) -> None:
        self.call("POST", f"/rooms/{q(room_id)}/invite", json={"user_id": user_id})

    def send(self, room_id: str, content: dict[str, Any], *, event_type: str = "m.room.message") -> str:
        txn = f"test-{os.getpid()}-{next(self._txn)}"
        return str(self.call("PUT", f"/rooms/{q(room_id)}/send/{event_type}/{txn}", json=content)["event_id"])

    def say(self, room_id: str, text: str, **content: Any) -> str:
        return self.send(room_id, {"msgtype": "m.text", "body": text, **content})

    def reply(self, room_id: str, parent: str, text: str) -> str:
        return self.say(room_id, text, **{"m.relates_to": {"m.in_reply_to": {"event_id": parent}}})

    def thread_reply(self, room_id: str, root: str, text: str) -> str:
        relation = {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root},
        }
        return self.say(room_id, text, **{"m.relates_to": relation})

    def edit(self, room_id: str, original: str, text: str) -> str:
        return self.say(
            room_id,
            f"* {text}",
            **{
                "m.new_content": {"msgtype": "m.text", "body": text},
                "m.relates_to": {"rel_type": "m.replace", "event_id": original},
            },
        )

    def react(self, room_id: str, target: str, key: str) -> str:
        relation = {"rel_type": "m.annotation", "event_id": target, "key": key}
        return self.send(room_id, {"m.relates_to": relation}, event_type="m.reaction")

    def redact(self, room_id: str, event_id: str, reason: str = "") -> str:
        txn = f"redact-{os.getpid()}-{next(self._txn)}"
        path = f"/rooms/{q(room_id)}/redact/{q(event_id)}/{txn}"
        return str(self.call("PUT", path, json={"reason": reason} if reason else {})["event_id"])

    def state(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any]:
        return self.call("GET", f"/rooms/{q(room_id)}/state/{event_type}/{q(state_key)}")

    def put_state(self, room_id: str, event_type: str, content: dict[str, Any], state_key: str = "") -> str:
        path = f"/rooms/{q(room_id)}/state/{event_type}/{q(state_key)}"
        return str(self.call("PUT", path, json=content)["event_id"])

    def membership(self, room_id: str, user_id: str) -> str:
        return str(self.state(room_id, "m.room.member", user_id)["membership"])

    def event(self, room_id: str, event_id: str) -> dict[str, Any]:
        return self.call("GET", f"/rooms/{q(room_id)}/event/{q(event_id)}")

    def timeline(self, room_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The room's events, oldest first, as this user sees them."""
        chunk = self.call("GET", f"/rooms/{q(room_id)}/messages", params={"dir": "b", "limit": limit})["chunk"]
        return list(reversed(chunk))

    def close(self) -> None:
        self.http.close()


@dataclasses.dataclass
class SynapseServer:
    base_url: str
    server_name: str
    shared_secret: str
    owner: MatrixUser
    member: MatrixUser
    bot: MatrixAccount

    def register(self, username: str, *, admin: bool = False) -> MatrixAccount:
        return register(self.base_url, self.shared_secret, username, admin=admin)

    def set_message_rate(self, user_id: str, *, per_second: float, burst_count: int) -> None:
        """Override one user's message rate limit (the config raises everyone else's out of the way)."""
        path = f"/_synapse/admin/v1/users/{q(user_id)}/override_ratelimit"
        response = self.owner.http.post(
            f"{self.base_url}{path}", json={"messages_per_second": per_second, "burst_count": burst_count}
        )
        assert response.status_code == 200, response.text


def q(value: str) -> str:
    return quote(value, safe="")


def register(base_url: str, shared_secret: str, username: str, *, admin: bool = False) -> MatrixAccount:
    """Create an account through Synapse's shared-secret registration (HMAC-SHA1 over nonce, name, password)."""
    url = f"{base_url}/_synapse/admin/v1/register"
    password = f"{username}-password"
    nonce = httpx.get(url).json()["nonce"]
    message = b"\x00".join(part.encode() for part in (nonce, username, password, "admin" if admin else "notadmin"))
    mac = hmac.new(shared_secret.encode(), message, hashlib.sha1).hexdigest()
    body = {"nonce": nonce, "username": username, "password": password, "admin": admin, "mac": mac}
    response = httpx.post(url, json=body, timeout=30)
    assert response.status_code == 200, response.text
    data = response.json()
    return MatrixAccount(user_id=data["user_id"], password=password, access_token=data["access_token"])


def install_synapse() -> Path:
    """Install Synapse into var/servers/synapse/venv once (under the lock); return its Python."""
    with install_lock("synapse") as directory:
        run_install_script("install-synapse.sh", directory)
        return directory / "venv" / "bin" / "python"


def _database_section(data_dir: Path, postgres_database: str | None) -> str:
    """SQLite in the data dir (the tests), or a PostgreSQL database on the local server (a benchmark).

    Synapse on SQLite runs every query on one connection, so under load sends and redactions queue behind each
    other; production Synapse runs on PostgreSQL. `allow_unsafe_locale`: the local cluster's default collation
    is C.UTF-8, which Synapse accepts only with this flag (it wants C for its text ordering; nothing here sorts
    by text)."""
    if postgres_database is None:
        return f'database:\n  name: sqlite3\n  args:\n    database: "{data_dir}/homeserver.db"'
    return (
        "database:\n  name: psycopg2\n  allow_unsafe_locale: true\n  args:\n"
        f"    user: postgres\n    host: 127.0.0.1\n    port: 5432\n    database: {postgres_database}\n"
        "    cp_min: 5\n    cp_max: 10"
    )


def _write_config(data_dir: Path, port: int, shared_secret: str, postgres_database: str | None = None) -> Path:
    values = {
        "server_name": SERVER_NAME,
        "port": port,
        "data_dir": data_dir,
        "database": _database_section(data_dir, postgres_database),
        "shared_secret": shared_secret,
        "macaroon_secret": random_secret(),
        "form_secret": random_secret(),
    }
    render_template("synapse-log.yaml", data_dir / "log.config", values)
    # Synapse's signing key format: "ed25519 <key id> <unpadded base64 seed>"; writing it saves a second start.
    seed = base64.b64encode(os.urandom(32)).decode().rstrip("=")
    (data_dir / "signing.key").write_text(f"ed25519 a_test {seed}\n")
    return render_template("synapse.yaml", data_dir / "homeserver.yaml", values)


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=1).text == "OK"
    except httpx.TransportError:
        return False


def start_synapse(
    python: Path, data_dir: Path, *, postgres_database: str | None = None
) -> tuple[ServerProcess, str, str]:
    """Start Synapse on a free port; return the process, its base URL and its registration secret.

    `postgres_database`: an empty database on the local PostgreSQL to use instead of SQLite."""
    secret = random_secret()
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        config = _write_config(data_dir, port, secret, postgres_database)
        args = [str(python), "-m", "synapse.app.homeserver", "--config-path", str(config)]
        process = ServerProcess("Synapse", args, log_path=data_dir / "stdout.log", cwd=data_dir)
        process.start()
        base_url = f"http://127.0.0.1:{port}"
        try:
            process.wait_until(lambda url=base_url: _healthy(url))  # type: ignore[misc]
        except RuntimeError:
            process.stop()
            if attempt == START_ATTEMPTS:
                raise
            continue
        return process, base_url, secret
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    """A running Synapse with an owner, a bot and a member registered; stopped at the end of the session."""
    try:
        python = install_synapse()
    except ServerUnavailable as exc:
        unavailable("Synapse", str(exc))
    process, base_url, secret = start_synapse(python, tmp_path_factory.mktemp("synapse"))
    try:
        owner = MatrixUser(base_url, register(base_url, secret, "olivia", admin=True))
        member = MatrixUser(base_url, register(base_url, secret, "alice"))
        bot = register(base_url, secret, "communa-bot")
        yield SynapseServer(base_url, SERVER_NAME, secret, owner=owner, member=member, bot=bot)
        owner.close()
        member.close()
    finally:
        process.stop()
