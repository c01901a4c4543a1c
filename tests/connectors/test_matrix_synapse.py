"""Matrix connector against a real Synapse started by the tests (tests/servers/synapse.py).

People act through the client-server API as themselves (`synapse.member`, `synapse.owner`); Communa reads
and acts as the bot through the connector, and what it ingests is checked in the database.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from communa.accounts.models import Workspace
from communa.connectors.base import ModerationAction, ModerationTarget, ReplyTarget
from communa.connectors.matrix.client import MatrixError
from communa.connectors.matrix.connector import MatrixConfig, MatrixConnector
from communa.connectors.models import Source
from communa.connectors.services import create_source
from communa.core.http import PermanentError
from communa.ingest.models import RawEvent
from communa.ingest.services import ingest_events
from communa.members.models import Identity
from communa.stream.models import Message
from tests.servers.synapse import MatrixUser, SynapseServer

pytestmark = [pytest.mark.server, pytest.mark.django_db]


def community_room(synapse: SynapseServer, *, bot_level: int = 100, **options: Any) -> str:
    """A room owned by the owner, with the member in it and the bot invited (not yet joined)."""
    room = synapse.owner.create_room(
        invite=(synapse.member.user_id, synapse.bot.user_id), power={synapse.bot.user_id: bot_level}, **options
    )
    synapse.member.join(room)
    return room


def bot_config(synapse: SynapseServer, *rooms: str, **overrides: Any) -> MatrixConfig:
    values: dict[str, Any] = {
        "homeserver": synapse.base_url,
        "user_id": synapse.bot.user_id,
        "access_token": synapse.bot.access_token,
        "rooms": list(rooms),
        "sync_timeout_seconds": 0,
    }
    return MatrixConfig.model_validate({**values, **overrides})


def matrix_source(workspace: Workspace, config: MatrixConfig) -> Source:
    return create_source(workspace=workspace, kind="matrix", name="Community room", config=config, actor=None)


def sync_and_ingest(source: Source, connector: MatrixConnector) -> int:
    """One fetch from the source's saved cursor, ingested; return how many raw events it brought."""
    result = connector.fetch(source.cursor)
    ingest_events(source=source, events=result.items, cursor=result.cursor, connector=connector)
    return len(result.items)


def rows(source: Source) -> dict[str, Message]:
    return {m.external_id: m for m in Message.objects.filter(source=source).select_related("identity", "thread")}


# --- reading ----------------------------------------------------------------------------------------


def test_a_conversation_becomes_exactly_the_expected_messages(synapse: SynapseServer, workspace: Workspace) -> None:
    member, owner = synapse.member, synapse.owner
    room = community_room(synapse)
    connector = MatrixConnector(bot_config(synapse, room))
    source = matrix_source(workspace, connector.config)
    sync_and_ingest(source, connector)  # joins the room; history so far: the joins

    hello = member.say(room, "Hello everyone!")
    welcome = owner.reply(room, hello, "Welcome!")
    question = member.thread_reply(room, hello, "Is there a meetup?")
    member.edit(room, hello, "Hello everyone, I'm new here!")
    thumbs = owner.react(room, hello, "👍")
    spam = member.say(room, "buy followers")
    sync_and_ingest(source, connector)
    owner.redact(room, spam, "spam")
    member.leave(room)
    sync_and_ingest(source, connector)

    messages = rows(source)
    chat = {
        ext: (m.kind, m.identity.handle if m.identity else "", m.text, m.parent_external_id, m.thread.external_id)
        for ext, m in messages.items()
        if m.kind in ("chat", "reaction")
    }
    assert chat == {
        hello: ("chat", member.user_id, "Hello everyone, I'm new here!", "", hello),
        welcome: ("chat", owner.user_id, "Welcome!", hello, hello),
        question: ("chat", member.user_id, "Is there a meetup?", hello, hello),
        thumbs: ("reaction", owner.user_id, "👍", hello, hello),
        spam: ("chat", member.user_id, "", "", spam),
    }
    assert messages[hello].edited_at is not None
    assert messages[hello].created_at < messages[hello].edited_at
    assert messages[spam].deleted_at is not None
    assert [m.deleted_at for m in messages.values() if m.external_id != spam] == [None] * (len(messages) - 1)
    assert messages[hello].url == f"https://matrix.to/#/{room}/{hello}"
    memberships = sorted((m.kind, m.identity.handle) for m in messages.values() if m.kind in ("join", "leave"))
    assert memberships == [
        ("join", member.user_id),
        ("join", synapse.bot.user_id),
        ("join", owner.user_id),
        ("leave", member.user_id),
    ]
    alice = Identity.objects.get(workspace=workspace, external_id=member.user_id)
    assert (alice.platform, alice.handle, alice.display_name, alice.is_bot) == (
        "matrix:communa.test",
        member.user_id,
        "alice",
        False,
    )
    assert Identity.objects.get(workspace=workspace, external_id=synapse.bot.user_id).is_bot is True


def test_fetching_again_brings_nothing_twice(synapse: SynapseServer, workspace: Workspace) -> None:
    room = community_room(synapse)
    connector = MatrixConnector(bot_config(synapse, room))
    source = matrix_source(workspace, connector.config)
    sync_and_ingest(source, connector)
    synapse.member.say(room, "one")
    synapse.member.say(room, "two")
    assert sync_and_ingest(source, connector) == 2
    assert sync_and_ingest(source, connector) == 0
    assert sorted(m.text for m in Message.objects.filter(source=source, kind="chat")) == ["one", "two"]
    assert Message.objects.filter(source=source).count() == 5  # and three joins: the owner's, the member's, the bot's
    raw = RawEvent.objects.filter(source=source)
    assert raw.count() == 7  # the two invites are stored too, and normalize to nothing
    assert not raw.filter(processed_at=None).exists()


def test_crash_before_the_cursor_is_saved_loses_nothing_and_duplicates_nothing(
    synapse: SynapseServer, workspace: Workspace
) -> None:
    room = community_room(synapse)
    connector = MatrixConnector(bot_config(synapse, room))
    source = matrix_source(workspace, connector.config)
    sync_and_ingest(source, connector)
    saved = dict(source.cursor)
    before = [synapse.member.say(room, "before the crash 1"), synapse.member.say(room, "before the crash 2")]
    batch = connector.fetch(saved)
    assert [item.external_id for item in batch.items] == before
    # The batch is stored and ingested, then the worker dies before moving the cursor.
    ingest_events(source=source, events=batch.items, cursor=saved, connector=connector)
    assert Source.objects.get(pk=source.pk).cursor == saved
    after = synapse.member.say(room, "after the restart")

    restarted = MatrixConnector(bot_config(synapse, room))
    replayed: list[str] = []
    for _sync in range(3):  # Synapse may answer a repeated sync from its cache first: drain to the end
        result = restarted.fetch(Source.objects.get(pk=source.pk).cursor)
        replayed += [item.external_id for item in result.items]
        ingest_events(source=source, events=result.items, cursor=result.cursor, connector=restarted)
    assert set(replayed) == {*before, after}
    chat = Message.objects.filter(source=source, kind="chat").order_by("created_at")
    assert list(chat.values_list("external_id", "text")) == [
        (before[0], "before the crash 1"),
        (before[1], "before the crash 2"),
        (after, "after the restart"),
    ]


def test_a_gap_longer_than_one_sync_is_filled_from_history(synapse: SynapseServer, workspace: Workspace) -> None:
    room = community_room(synapse)
    connector = MatrixConnector(bot_config(synapse, room))
    connector.timeline_limit = 3  # so that eight messages overflow one sync and two /messages pages
    cursor = connector.fetch({}).cursor
    sent = [synapse.member.say(room, f"message {n}") for n in range(8)]
    result = connector.fetch(cursor)
    assert [item.external_id for item in result.items] == sent
    assert [item.payload["sender_display_name"] for item in result.items] == ["alice"] * 8


def test_long_poll_returns_as_soon_as_something_is_posted(synapse: SynapseServer) -> None:
    room = community_room(synapse)
    connector = MatrixConnector(bot_config(synapse, room, sync_timeout_seconds=20))
    cursor = connector.fetch({}).cursor
    timer = threading.Timer(0.5, synapse.member.say, args=(room, "are you there?"))
    started = time.monotonic()
    timer.start()
    result = connector.fetch(cursor)
    timer.join()
    assert [item.payload["content"]["body"] for item in result.items] == ["are you there?"]
    assert time.monotonic() - started < 10


def test_a_room_alias_is_resolved_and_joined(synapse: SynapseServer) -> None:
    alias_name = f"community-{time.monotonic_ns()}"
    room = community_room(synapse, room_alias_name=alias_name)
    synapse.member.say(room, "hi via alias")
    connector = MatrixConnector(bot_config(synapse, f"#{alias_name}:{synapse.server_name}"))
    result = connector.fetch({})
    assert "hi via alias" in [item.payload["content"].get("body") for item in result.items]
    assert {item.payload["room_id"] for item in result.items} == {room}


def test_logging_in_with_a_password_uses_one_stable_device(synapse: SynapseServer) -> None:
    account = synapse.register(f"pwbot{time.monotonic_ns()}")
    room = synapse.owner.create_room(invite=(account.user_id,))
    config = bot_config(synapse, room, user_id=account.user_id, access_token=None, password=account.password)
    first, second = MatrixConnector(config), MatrixConnector(config)  # two workers, each logging in
    assert first.fetch({}).items[-1].payload["state_key"] == account.user_id  # the bot's own join
    question = synapse.owner.say(room, "anyone?")
    target = ReplyTarget(channel=room, message_external_id=question)
    # A retry after a new login is still recognised: transaction ids are scoped to the (shared) device.
    sent = first.reply(target=target, text="here", idempotency_key="outbox-9")
    assert second.reply(target=target, text="here", idempotency_key="outbox-9") == sent
    device_ids = [d["device_id"] for d in MatrixUser(synapse.base_url, account).call("GET", "/devices")["devices"]]
    assert device_ids.count(first.device_id) == 1
    assert len(device_ids) == 2  # the one registration made, and Communa's


# --- refusals --------------------------------------------------------------------------------------


def test_a_revoked_token_is_a_permanent_error(synapse: SynapseServer) -> None:
    room = community_room(synapse)
    connector = MatrixConnector(bot_config(synapse, room, access_token="syt_not_a_token"))
    with pytest.raises(MatrixError, match="does not accept the access token") as caught:
        connector.fetch({})
    assert caught.value.errcode == "M_UNKNOWN_TOKEN"


def test_a_room_the_bot_may_not_join_is_a_permanent_error(synapse: SynapseServer) -> None:
    private = synapse.owner.create_room()
    with pytest.raises(MatrixError, match=f"could not join {private}.*You are not invited") as caught:
        MatrixConnector(bot_config(synapse, private)).fetch({})
    assert caught.value.errcode == "M_FORBIDDEN"


def test_an_encrypted_room_is_refused_rather_than_read_as_silence(synapse: SynapseServer) -> None:
    encryption = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
    room = community_room(synapse, initial_state=[encryption])
    with pytest.raises(PermanentError, match="end-to-end encrypted"):
        MatrixConnector(bot_config(synapse, room)).fetch({})


# --- writing: replies ------------------------------------------------------------------------------


def test_reply_goes_into_the_thread_and_is_sent_once_per_key(synapse: SynapseServer) -> None:
    room = community_room(synapse)
    connector = MatrixConnector(bot_config(synapse, room))
    connector.fetch({})  # joins
    question = synapse.member.say(room, "How do I join the meetup?")
    target = ReplyTarget(channel=room, message_external_id=question)

    first = connector.reply(target=target, text="Sign up on the wiki.", idempotency_key="outbox-41")
    again = connector.reply(target=target, text="Sign up on the wiki.", idempotency_key="outbox-41")
    other = connector.reply(target=target, text="Sign up on the wiki.", idempotency_key="outbox-42")

    assert first == again
    assert other.external_id != first.external_id
    assert first.url == f"https://matrix.to/#/{room}/{first.external_id}"
    replies = [e for e in synapse.member.timeline(room) if e["content"].get("body") == "Sign up on the wiki."]
    assert [e["event_id"] for e in replies] == [first.external_id, other.external_id]
    assert replies[0]["sender"] == synapse.bot.user_id
    assert replies[0]["content"]["m.relates_to"] == {
        "rel_type": "m.thread",
        "event_id": question,
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": question},
    }


def test_reply_to_a_message_inside_a_thread_stays_in_that_thread(synapse: SynapseServer) -> None:
    room = community_room(synapse)
    connector = MatrixConnector(bot_config(synapse, room))
    connector.fetch({})
    root = synapse.member.say(room, "Ideas for the next meetup?")
    idea = synapse.member.thread_reply(room, root, "A picnic")
    target = ReplyTarget(channel=room, message_external_id=idea, thread_external_id=root)
    sent = connector.reply(target=target, text="Good idea!", idempotency_key="outbox-7")
    assert synapse.member.event(room, sent.external_id)["content"]["m.relates_to"] == {
        "rel_type": "m.thread",
        "event_id": root,
        "is_falling_back": False,
        "m.in_reply_to": {"event_id": idea},
    }


def test_a_rate_limited_reply_waits_as_the_server_asks_and_then_goes_through(synapse: SynapseServer) -> None:
    account = synapse.register(f"slowbot{time.monotonic_ns()}")
    room = synapse.owner.create_room(invite=(account.user_id,))
    config = bot_config(synapse, room, user_id=account.user_id, access_token=account.access_token)
    connector = MatrixConnector(config)
    connector.fetch({})
    synapse.set_message_rate(account.user_id, per_second=1, burst_count=1)
    target = ReplyTarget(channel=room, message_external_id=synapse.owner.say(room, "ping"))
    started = time.monotonic()
    sent = [connector.reply(target=target, text=f"pong {n}", idempotency_key=f"rl-{n}") for n in range(3)]
    assert time.monotonic() - started >= 1.0  # one message a second: the later sends were refused, then retried
    timeline = synapse.owner.timeline(room)
    bodies = [
        e["content"]["body"] for e in timeline if e["sender"] == account.user_id and e["type"] == "m.room.message"
    ]
    assert bodies == ["pong 0", "pong 1", "pong 2"]
    assert len({s.external_id for s in sent}) == 3


# --- writing: moderation ---------------------------------------------------------------------------


@pytest.fixture
def moderated(synapse: SynapseServer) -> tuple[MatrixConnector, str]:
    room = community_room(synapse)
    connector = MatrixConnector(bot_config(synapse, room))
    connector.fetch({})  # joins, with power level 100 given by the owner
    return connector, room


def moderate(connector: MatrixConnector, action: ModerationAction, target: ModerationTarget, key: str) -> str:
    return connector.moderate(action=action, target=target, reason="rule 3", idempotency_key=key).external_id


def test_remove_message_redacts_it_once(synapse: SynapseServer, moderated: tuple[MatrixConnector, str]) -> None:
    connector, room = moderated
    spam = synapse.member.say(room, "buy followers")
    target = ModerationTarget(channel=room, message_external_id=spam)
    redaction = moderate(connector, ModerationAction.REMOVE_MESSAGE, target, "mod-1")
    assert moderate(connector, ModerationAction.REMOVE_MESSAGE, target, "mod-1") == redaction
    event = synapse.member.event(room, spam)
    assert event["content"] == {}
    assert event["unsigned"]["redacted_because"]["event_id"] == redaction
    assert event["unsigned"]["redacted_because"]["content"]["reason"] == "rule 3"


def test_mute_and_unmute_through_power_levels(synapse: SynapseServer, moderated: tuple[MatrixConnector, str]) -> None:
    connector, room = moderated
    member = synapse.member
    target = ModerationTarget(channel=room, user_external_id=member.user_id)

    assert moderate(connector, ModerationAction.MUTE, target, "mute-1").startswith("$")
    levels = synapse.owner.state(room, "m.room.power_levels")
    assert levels["users"] == {synapse.bot.user_id: 100, member.user_id: -1}
    refused = member.http.put(f"/rooms/{room}/send/m.room.message/muted-1", json={"msgtype": "m.text", "body": "hey"})
    assert (refused.status_code, refused.json()["errcode"]) == (403, "M_FORBIDDEN")
    assert moderate(connector, ModerationAction.MUTE, target, "mute-2") == ""  # already muted: nothing sent

    assert moderate(connector, ModerationAction.UNMUTE, target, "unmute-1").startswith("$")
    assert synapse.owner.state(room, "m.room.power_levels")["users"] == {synapse.bot.user_id: 100}
    assert member.say(room, "I can talk again").startswith("$")
    assert moderate(connector, ModerationAction.UNMUTE, target, "unmute-2") == ""


def test_kick(synapse: SynapseServer, moderated: tuple[MatrixConnector, str]) -> None:
    connector, room = moderated
    target = ModerationTarget(channel=room, user_external_id=synapse.member.user_id)
    moderate(connector, ModerationAction.KICK, target, "kick-1")
    member_state = synapse.owner.state(room, "m.room.member", synapse.member.user_id)
    assert (member_state["membership"], member_state["reason"]) == ("leave", "rule 3")
    moderate(connector, ModerationAction.KICK, target, "kick-2")  # gone already: no error, nothing changes
    assert synapse.owner.membership(room, synapse.member.user_id) == "leave"
    synapse.owner.invite(room, synapse.member.user_id)
    synapse.member.join(room)  # a kick is not a ban


def test_ban_and_unban(synapse: SynapseServer, moderated: tuple[MatrixConnector, str]) -> None:
    connector, room = moderated
    target = ModerationTarget(channel=room, user_external_id=synapse.member.user_id)
    moderate(connector, ModerationAction.BAN, target, "ban-1")
    moderate(connector, ModerationAction.BAN, target, "ban-2")
    assert synapse.owner.membership(room, synapse.member.user_id) == "ban"
    refused = synapse.member.http.post(f"/join/{room}", json={})
    assert refused.status_code == 403

    moderate(connector, ModerationAction.UNBAN, target, "unban-1")
    moderate(connector, ModerationAction.UNBAN, target, "unban-2")  # not banned any more: nothing to do
    assert synapse.owner.membership(room, synapse.member.user_id) == "leave"
    synapse.owner.invite(room, synapse.member.user_id)
    synapse.member.join(room)
    assert synapse.owner.membership(room, synapse.member.user_id) == "join"


def test_moderation_without_the_power_is_refused_and_changes_nothing(synapse: SynapseServer) -> None:
    room = community_room(synapse, bot_level=0)
    connector = MatrixConnector(bot_config(synapse, room))
    connector.fetch({})
    target = ModerationTarget(channel=room, user_external_id=synapse.member.user_id)
    with pytest.raises(MatrixError, match=f"could not kick {synapse.member.user_id}") as caught:
        moderate(connector, ModerationAction.KICK, target, "weak-1")
    assert caught.value.errcode == "M_FORBIDDEN"
    with pytest.raises(MatrixError, match=r"could not change m\.room\.power_levels"):
        moderate(connector, ModerationAction.MUTE, target, "weak-2")
    assert synapse.owner.membership(room, synapse.member.user_id) == "join"
    assert synapse.member.user_id not in synapse.owner.state(room, "m.room.power_levels")["users"]
