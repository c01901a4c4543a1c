"""Matrix sessions (connectors/matrix/sessions.py) against the real Synapse: one per bot account, kept
across the connectors the listener builds for each sync, and dropped when the homeserver refuses its token.

Each test registers a bot account of its own, so that it starts without a session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from communa.connectors.matrix import sessions
from communa.connectors.matrix.client import MatrixError
from communa.connectors.matrix.connector import MatrixConfig, MatrixConnector
from tests.servers.synapse import MatrixAccount, MatrixUser, SynapseServer

pytestmark = pytest.mark.server


@pytest.fixture
def bot(synapse: SynapseServer) -> MatrixAccount:
    return synapse.register(f"sessionbot{time.monotonic_ns()}")


def room_for(synapse: SynapseServer, bot: MatrixAccount) -> str:
    room = synapse.owner.create_room(invite=(synapse.member.user_id, bot.user_id))
    synapse.member.join(room)
    return room


def config(synapse: SynapseServer, bot: MatrixAccount, room: str, **overrides: Any) -> MatrixConfig:
    values: dict[str, Any] = {
        "homeserver": synapse.base_url,
        "user_id": bot.user_id,
        "access_token": bot.access_token,
        "rooms": [room],
        "sync_timeout_seconds": 0,
    }
    return MatrixConfig.model_validate(values | overrides)


def session_of(connector: MatrixConnector) -> sessions.Session:
    with connector._session() as session:
        return session


@pytest.fixture
def requests_seen() -> Iterator[list[str]]:
    """Paths (after /_matrix/client/v3) of every request any Matrix session sends during the test."""
    seen: list[str] = []

    def record(request: httpx.Request) -> None:
        seen.append(request.url.path.removeprefix("/_matrix/client/v3"))

    original = sessions.MatrixClient.__init__

    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.http.event_hooks["request"].append(record)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sessions.MatrixClient, "__init__", recording_init)
        yield seen


def test_each_sync_reuses_the_accounts_session_and_what_it_knows_of_its_rooms(
    synapse: SynapseServer, bot: MatrixAccount, requests_seen: list[str]
) -> None:
    room = room_for(synapse, bot)
    first = MatrixConnector(config(synapse, bot, room))
    cursor = first.fetch({}).cursor
    synapse.member.say(room, "hello")
    second = MatrixConnector(config(synapse, bot, room))  # as the listener builds one for each sync

    assert [item.payload["content"]["body"] for item in second.fetch(cursor).items] == ["hello"]
    assert session_of(first) is session_of(second)
    assert requests_seen == ["/joined_rooms", f"/join/{room}", "/sync", "/sync"]


def test_a_bot_with_a_password_logs_in_once_for_all_its_connectors(
    synapse: SynapseServer, bot: MatrixAccount, requests_seen: list[str]
) -> None:
    room = room_for(synapse, bot)
    settings = config(synapse, bot, room, access_token=None, password=bot.password)
    for _ in range(3):
        MatrixConnector(settings).fetch({})

    assert requests_seen.count("/login") == 1
    assert requests_seen.count("/sync") == 3


def test_a_refused_token_ends_the_session_and_the_next_attempt_starts_a_new_one(
    synapse: SynapseServer, bot: MatrixAccount
) -> None:
    room = room_for(synapse, bot)
    connector = MatrixConnector(config(synapse, bot, room, access_token=None, password=bot.password))
    connector.fetch({})
    refused = session_of(connector)
    # Someone logs the bot's session out (or an administrator revokes it): its token stops working.
    MatrixUser(synapse.base_url, MatrixAccount(bot.user_id, bot.password, refused.token)).call("POST", "/logout")

    with pytest.raises(MatrixError) as caught:
        connector.fetch({})
    assert caught.value.errcode == "M_UNKNOWN_TOKEN"

    again = connector.fetch({})  # logged in again, with a new token
    assert [(item.payload["state_key"], item.payload["content"]["membership"]) for item in again.items] == [
        (synapse.owner.user_id, "join"),
        (synapse.member.user_id, "invite"),
        (bot.user_id, "invite"),
        (synapse.member.user_id, "join"),
        (bot.user_id, "join"),
    ]
    assert session_of(connector) is not refused
    assert session_of(connector).token != refused.token


def test_a_room_the_bot_left_unseen_is_joined_again_once_the_known_rooms_expire(
    synapse: SynapseServer, bot: MatrixAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = room_for(synapse, bot)
    connector = MatrixConnector(config(synapse, bot, room))
    connector.fetch({})
    # The bot leaves while no source syncs the room: no sync tells the session about it.
    MatrixUser(synapse.base_url, bot).leave(room)
    synapse.owner.invite(room, bot.user_id)
    assert synapse.owner.membership(room, bot.user_id) == "invite"

    MatrixConnector(config(synapse, bot, room)).fetch({})
    assert synapse.owner.membership(room, bot.user_id) == "invite"  # the session still believes it is in

    monkeypatch.setattr(sessions, "JOINED_ROOMS_TTL", 0.0)  # as when the rooms were read a while ago
    MatrixConnector(config(synapse, bot, room)).fetch({})

    assert synapse.owner.membership(room, bot.user_id) == "join"
