"""IRC connector against a real InspIRCd started by the tests (tests/servers/inspircd.py).

People talk through raw IRC connections of their own (`inspircd.user(...)`); Communa follows the channels
through the connector exactly as the worker's listener does (fetch from the saved cursor, then
ingest_events), and what it stored is checked in the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from communa.accounts.models import Workspace
from communa.connectors.irc import registry
from communa.connectors.irc.connector import IrcConfig, IrcConnector
from communa.connectors.models import Source
from communa.connectors.services import build_connector, create_source
from communa.ingest.services import ingest_events
from communa.members.models import Identity
from communa.stream.models import Message
from tests.servers.inspircd import InspircdServer, IrcUser, channel

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

BOT = "communa"


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    registry.stop_all()


def bot_config(server: InspircdServer, *channels: str, **overrides: Any) -> IrcConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "tls": False,
        "nick": BOT,
        "channels": list(channels),
        "flood_messages": 50,
        "flood_seconds": 1,
    }
    return IrcConfig.model_validate({**values, **overrides})


def irc_source(workspace: Workspace, config: IrcConfig) -> Source:
    return create_source(workspace=workspace, kind="irc", name="IRC", config=config, actor=None)


def connector_for(source: Source) -> IrcConnector:
    """What the listener does before each fetch: a new connector object from the stored source."""
    connector = build_connector(source)
    assert isinstance(connector, IrcConnector)
    connector.fetch_wait = 0.3
    return connector


def poll(source: Source) -> int:
    """One listener round: fetch from the saved cursor, ingest; return how many events came."""
    source.refresh_from_db()
    connector = connector_for(source)
    result = connector.fetch(source.cursor)
    ingest_events(source=source, events=result.items, cursor=result.cursor, connector=connector)
    return len(result.items)


def follow(source: Source, until: Callable[[], bool], *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, f"not reached within {timeout} s"
        poll(source)


def stored(source: Source) -> list[Message]:
    return list(Message.objects.filter(source=source).select_related("identity").order_by("created_at", "id"))


def connect_bot(source: Source, owner: IrcUser, name: str) -> None:
    """Let the bot connect and join; the owner (the channel's creator) makes it a channel operator."""
    poll(source)
    owner.wait_for(lambda line: line.command == "JOIN" and line.nick == BOT and line.param(0) == name)
    owner.mode(name, "+o", BOT)


# --- reading ----------------------------------------------------------------------------------------


def test_a_conversation_becomes_exactly_the_expected_messages(inspircd: InspircdServer, workspace: Workspace) -> None:
    name = channel()
    owner = inspircd.user("olivia")
    owner.join(name)
    source = irc_source(workspace, bot_config(inspircd, name))
    connect_bot(source, owner, name)

    alice = inspircd.user("alice")
    alice.join(name)
    alice.say(name, "Hello \x02everyone\x02!")
    alice.say(name, "\x01ACTION waves\x01")
    owner.sees_message(name, "\x01ACTION waves\x01")  # two people's lines: their order is the server's
    owner.send("NOTICE", name, "Welcome, alice")
    alice.wait_for(lambda line: line.command == "NOTICE" and line.nick == "olivia")
    alice.send("NICK", "alice_away")
    alice.send("PART", name, "lunch")
    follow(source, lambda: len(stored(source)) >= 7)

    rows = [(m.kind, m.identity.handle if m.identity else "", m.text, m.metadata) for m in stored(source)]
    assert rows == [
        ("join", BOT, "", {"channel": name, "nick": BOT}),
        ("join", "alice", "", {"channel": name, "nick": "alice"}),
        ("chat", "alice", "Hello everyone!", {"channel": name, "nick": "alice", "command": "privmsg"}),
        ("chat", "alice", "waves", {"channel": name, "nick": "alice", "command": "privmsg", "action": True}),
        ("chat", "olivia", "Welcome, alice", {"channel": name, "nick": "olivia", "command": "notice"}),
        (
            "other",
            "alice_away",
            "",
            {"channel": name, "nick": "alice_away", "old_nick": "alice", "new_nick": "alice_away", "event": "nick"},
        ),
        ("leave", "alice_away", "", {"channel": name, "nick": "alice_away", "reason": "lunch"}),
    ]
    identities = Identity.objects.filter(workspace=workspace).order_by("external_id")
    assert [(i.platform, i.external_id, i.handle, i.is_bot) for i in identities] == [
        ("irc:127.0.0.1", "alice", "alice", False),
        ("irc:127.0.0.1", "alice_away", "alice_away", False),
        ("irc:127.0.0.1", BOT, BOT, True),
        ("irc:127.0.0.1", "olivia", "olivia", False),
    ]
    # InspIRCd sends msgid and server-time: ids are the server's, times are when the server saw the line.
    hello = stored(source)[2]
    assert hello.external_id.startswith("alice:") and "~" in hello.external_id
