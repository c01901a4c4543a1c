"""IRC connector against a real InspIRCd started by the tests (tests/servers/inspircd.py).

People talk through raw IRC connections of their own (`inspircd.user(...)`); Communa follows the channels
through the connector exactly as the worker's listener does (fetch from the saved cursor, then
ingest_events), and what it stored is checked in the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from communa.accounts.models import Workspace
from communa.connectors.base import ModerationAction, ModerationTarget, ReplyTarget
from communa.connectors.irc import client as irc_client
from communa.connectors.irc import registry
from communa.connectors.irc.connector import IrcConfig, IrcConnector
from communa.connectors.irc.protocol import Line
from communa.connectors.models import Source
from communa.connectors.services import build_connector, create_source
from communa.core.http import PermanentError, TransientError
from communa.ingest.services import ingest_events
from communa.members.models import Identity
from communa.stream.models import Message
from tests.servers.inspircd import InspircdServer, IrcUser, channel, start_inspircd

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
    assert hello.external_id.startswith("alice:")
    assert "~" in hello.external_id


def test_people_logged_in_keep_one_identity_and_a_quit_leaves_every_channel(
    inspircd: InspircdServer, workspace: Workspace
) -> None:
    first, second = channel(), channel()
    owner = inspircd.user("olivia")
    owner.join(first)
    owner.join(second)
    source = irc_source(workspace, bot_config(inspircd, first, second))
    poll(source)
    owner.wait_for(lambda line: line.command == "JOIN" and line.nick == BOT and line.param(0) == second)
    bob = inspircd.user("bob")
    bob.join(first)
    bob.join(second)
    bob.send("QUIT", "gone fishing")
    follow(source, lambda: Message.objects.filter(source=source, kind="leave").count() == 2)

    leaves = Message.objects.filter(source=source, kind="leave").order_by("metadata__channel")
    assert sorted((m.metadata["channel"], m.metadata["reason"], m.metadata["quit"]) for m in leaves) == [
        (first, "Quit: gone fishing", True),
        (second, "Quit: gone fishing", True),
    ]
    assert len({m.external_id for m in leaves}) == 2
    assert {m.identity.external_id for m in leaves if m.identity} == {"bob"}


def test_invalid_utf8_and_formatting_are_read_as_people_see_them(
    inspircd: InspircdServer, workspace: Workspace
) -> None:
    name = channel()
    owner = inspircd.user("olivia")
    owner.join(name)
    source = irc_source(workspace, bot_config(inspircd, name))
    connect_bot(source, owner, name)
    legacy = inspircd.user("legacy")
    legacy.join(name)
    legacy.send_raw(f"PRIVMSG {name} :caf\xe9 \x93cr\xe8me\x94 \x0304,01red\x03 \x1ditalic\x1d\r\n".encode("latin-1"))
    legacy.send_raw(f"PRIVMSG {name} :na\xc3\xafve cut \xe2\x82\r\n".encode("latin-1"))
    follow(source, lambda: Message.objects.filter(source=source, kind="chat").count() == 2)

    texts = [m.text for m in Message.objects.filter(source=source, kind="chat").order_by("created_at", "id")]
    assert texts == ["café “crème” red italic", "naïve cut \ufffd"]


def test_events_are_acknowledged_only_after_they_were_stored(inspircd: InspircdServer, workspace: Workspace) -> None:
    """A fetch whose batch was never stored (a crash before commit) gets the same events again."""
    name = channel()
    owner = inspircd.user("olivia")
    owner.join(name)
    source = irc_source(workspace, bot_config(inspircd, name))
    connect_bot(source, owner, name)
    owner.say(name, "first")
    owner.say(name, "second")

    connector = connector_for(source)
    deadline = time.monotonic() + 10
    lost: list[str] = []
    while len(lost) < 2 and time.monotonic() < deadline:
        lost = [i.payload["line"] for i in connector.fetch(source.cursor).items if " PRIVMSG " in i.payload["line"]]
    assert [line.rsplit(":", 1)[1] for line in lost] == ["first", "second"]  # ... and never ingested
    follow(source, lambda: Message.objects.filter(source=source, kind="chat").count() == 2)
    assert sorted(Message.objects.filter(source=source, kind="chat").values_list("text", flat=True)) == [
        "first",
        "second",
    ]
    assert poll(source) == 0  # acknowledged now: nothing comes twice


# --- writing ----------------------------------------------------------------------------------------


def question_from(source: Source, member: IrcUser, name: str, text: str) -> Message:
    member.say(name, text)
    follow(source, lambda: Message.objects.filter(source=source, text=text).exists())
    return Message.objects.get(source=source, text=text)


def test_a_reply_is_addressed_split_to_fit_and_posted_once_per_key(
    inspircd: InspircdServer, workspace: Workspace
) -> None:
    name = channel()
    owner = inspircd.user("olivia")
    owner.join(name)
    source = irc_source(workspace, bot_config(inspircd, name))
    connect_bot(source, owner, name)
    alice = inspircd.user("alice")
    alice.join(name)
    question = question_from(source, alice, name, "Is there a meetup?")
    target = ReplyTarget(channel=name, message_external_id=question.external_id)
    answer = "Yes, on Friday. " + " ".join(["details"] * 80) + "\nSee you there!"

    first = connector_for(source).reply(target=target, text=answer, idempotency_key="outbox-1")
    again = connector_for(source).reply(target=target, text=answer, idempotency_key="outbox-1")

    assert first == again
    owner.say(name, "end of test")  # the reply was confirmed, so everything the bot said arrived before this
    alice.sees_message(name, "end of test")
    heard = [line for line in alice.seen if line.command == "PRIVMSG" and line.nick == BOT]
    texts = [line.params[-1] for line in heard]
    assert len(texts) == 3  # 80 words do not fit one line; the line break starts a message of its own
    assert texts[0].startswith("alice: Yes, on Friday. details details")
    assert " ".join(texts[:2]) == "alice: Yes, on Friday. " + " ".join(["details"] * 80)
    assert texts[2] == "See you there!"
    assert all(len(f":{line.source} PRIVMSG {name} :{line.params[-1]}\r\n".encode()) <= 512 for line in heard)
    # The bot's reply is in the stream too (echo-message), under the id the reply returned.
    follow(source, lambda: Message.objects.filter(source=source, external_id=first.external_id).exists())
    reply = Message.objects.get(source=source, external_id=first.external_id)
    assert (reply.identity.is_bot if reply.identity else None, reply.text) == (True, texts[0])


def test_a_reply_where_the_bot_may_not_speak_is_refused_with_the_reason(
    inspircd: InspircdServer, workspace: Workspace
) -> None:
    name = channel()
    owner = inspircd.user("olivia")
    owner.join(name)
    source = irc_source(workspace, bot_config(inspircd, name))
    poll(source)
    owner.wait_for(lambda line: line.command == "JOIN" and line.nick == BOT)
    owner.mode(name, "+m")  # moderated, and the bot has no voice

    with pytest.raises(PermanentError, match=rf"does not let the bot post in {name}: .*\(404\)"):
        connector_for(source).reply(
            target=ReplyTarget(channel=name, message_external_id="olivia:x"), text="hi", idempotency_key="k"
        )


# --- moderation -------------------------------------------------------------------------------------


def moderate(source: Source, action: ModerationAction, name: str, member: str, key: str, reason: str = "") -> None:
    target = ModerationTarget(channel=name, user_external_id=member)
    connector_for(source).moderate(action=action, target=target, reason=reason, idempotency_key=key)


def test_kick_ban_and_unban_as_the_member_lives_them(inspircd: InspircdServer, workspace: Workspace) -> None:
    name = channel()
    owner = inspircd.user("olivia")
    owner.join(name)
    source = irc_source(workspace, bot_config(inspircd, name))
    connect_bot(source, owner, name)
    troll = inspircd.user("troll")
    troll.join(name)
    question_from(source, troll, name, "buy spam now")

    moderate(source, ModerationAction.KICK, name, "troll", "kick-1", reason="no spam")
    kick = troll.wait_for(lambda line: line.command == "KICK")
    assert (kick.nick, kick.params) == (BOT, (name, "troll", "no spam"))
    troll.join(name)  # a kick is not a ban

    moderate(source, ModerationAction.BAN, name, "troll", "ban-1", reason="still spamming")
    ban = troll.wait_for(lambda line: line.command == "MODE")
    assert ban.params == (name, "+b", "troll!*@*")
    assert troll.wait_for(lambda line: line.command == "KICK").params == (name, "troll", "still spamming")
    troll.send("JOIN", name)
    assert troll.wait_for(lambda line: line.command == "474").param(1) == name  # cannot join while banned

    moderate(source, ModerationAction.BAN, name, "troll", "ban-2")  # already banned and gone: harmless
    moderate(source, ModerationAction.UNBAN, name, "troll", "unban-1")
    assert owner.wait_for(lambda line: line.command == "MODE" and line.param(1) == "-b").params == (
        name,
        "-b",
        "troll!*@*",
    )
    troll.join(name)
    follow(source, lambda: Message.objects.filter(source=source, kind="leave", metadata__kicked=True).count() == 2)
    kicks = Message.objects.filter(source=source, kind="leave", metadata__kicked=True).order_by("created_at", "id")
    assert [(m.metadata["by"], m.metadata.get("reason")) for m in kicks] == [
        (BOT, "no spam"),
        (BOT, "still spamming"),
    ]


def test_mute_and_unmute_with_the_servers_mute_extban(inspircd: InspircdServer, workspace: Workspace) -> None:
    name = channel()
    owner = inspircd.user("olivia")
    owner.join(name)
    source = irc_source(workspace, bot_config(inspircd, name))
    connect_bot(source, owner, name)
    loud = inspircd.user("loud")
    loud.join(name)

    moderate(source, ModerationAction.MUTE, name, "loud", "mute-1")
    assert owner.wait_for(lambda line: line.command == "MODE" and line.nick == BOT).params == (
        name,
        "+b",
        "m:loud!*@*",
    )
    loud.say(name, "can anyone hear me?")
    assert loud.wait_for(lambda line: line.command == "404").param(1) == name
    moderate(source, ModerationAction.UNMUTE, name, "loud", "unmute-1")
    loud.wait_for(lambda line: line.command == "MODE" and line.param(1) == "-b")
    loud.say(name, "thanks")
    owner.sees_message(name, "thanks")


def test_moderation_without_operator_status_is_refused_and_changes_nothing(
    inspircd: InspircdServer, workspace: Workspace
) -> None:
    name = channel()
    owner = inspircd.user("olivia")
    owner.join(name)
    source = irc_source(workspace, bot_config(inspircd, name))
    poll(source)
    owner.wait_for(lambda line: line.command == "JOIN" and line.nick == BOT)
    member = inspircd.user("member")
    member.join(name)

    with pytest.raises(PermanentError, match=rf"the bot is not a channel operator in {name}"):
        moderate(source, ModerationAction.KICK, name, "member", "kick-1")
    with pytest.raises(PermanentError, match="not a channel operator"):
        moderate(source, ModerationAction.BAN, name, "member", "ban-1")
    owner.say(name, "still here?")
    member.sees_message(name, "still here?")
    assert not [line for line in member.seen if line.command in ("KICK", "MODE")]


# --- connection -------------------------------------------------------------------------------------


def test_tls_with_a_trusted_certificate(
    inspircd: InspircdServer, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(inspircd.ca_file))  # the test CA stands in for a public one
    name = channel()
    owner = inspircd.user("olivia")
    owner.join(name)
    source = irc_source(workspace, bot_config(inspircd, name, tls=True, port=inspircd.tls_port))
    connect_bot(source, owner, name)
    question_from(source, owner, name, "over TLS")


def test_an_untrusted_certificate_disables_the_source(inspircd: InspircdServer, workspace: Workspace) -> None:
    source = irc_source(workspace, bot_config(inspircd, channel(), tls=True, port=inspircd.tls_port))
    with pytest.raises(PermanentError, match=r"TLS certificate of 127\.0\.0\.1:\d+ is not trusted"):
        follow(source, lambda: False, timeout=10)


def test_a_wrong_server_password_disables_the_source(inspircd: InspircdServer, workspace: Workspace) -> None:
    config = bot_config(inspircd, channel(), port=inspircd.password_port, password="not-the-password")
    source = irc_source(workspace, config)
    with pytest.raises(
        PermanentError,
        match=r"refused the connection \(.*Access denied by configuration\]\): check the server password",
    ):
        follow(source, lambda: False, timeout=10)


def test_the_right_server_password_connects(inspircd: InspircdServer, workspace: Workspace) -> None:
    name = channel()
    owner = inspircd.user("olivia")
    owner.join(name)
    config = bot_config(inspircd, name, port=inspircd.password_port, password=inspircd.server_password)
    connect_bot(irc_source(workspace, config), owner, name)


def test_sasl_on_a_server_without_it_disables_the_source(inspircd: InspircdServer, workspace: Workspace) -> None:
    config = bot_config(inspircd, channel(), sasl_account="communa", sasl_password="secret")
    source = irc_source(workspace, config)
    with pytest.raises(PermanentError, match="does not offer SASL"):
        follow(source, lambda: False, timeout=10)


def test_a_banned_bot_disables_the_source(inspircd: InspircdServer, workspace: Workspace) -> None:
    name = channel()
    owner = inspircd.user("olivia")
    owner.join(name)
    source = irc_source(workspace, bot_config(inspircd, name))
    poll(source)
    owner.wait_for(lambda line: line.command == "JOIN" and line.nick == BOT)
    owner.mode(name, "+b", f"{BOT}!*@*")
    owner.send("KICK", name, BOT, "go away")
    with pytest.raises(PermanentError, match=rf"cannot join {name}: the bot is banned from the channel"):
        follow(source, lambda: False, timeout=15)


def test_after_a_server_restart_the_bot_reconnects_and_reading_resumes(
    inspircd_binary: str, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real backoff doubles up to 5 min: after a 10 s outage the next attempt can come later than this
    # test waits, on a loaded machine. Reconnecting is what is tested here, not the backoff schedule.
    monkeypatch.setattr(irc_client, "BACKOFF_CAP", 2.0)

    def bot_is_back(line: Line) -> bool:
        # The bot may rejoin before or after alice: she sees either its JOIN or its nick in the NAMES list.
        if line.command == "JOIN":
            return line.nick == BOT
        names = line.params[-1].split() if line.params else []
        return line.command == "353" and BOT in {nick.lstrip("~&@%+") for nick in names}

    server = start_inspircd(inspircd_binary, tmp_path)  # its own server: this test stops it
    try:
        name = channel()
        source = irc_source(workspace, bot_config(server, name))
        member = server.user("alice")
        member.join(name)
        poll(source)
        member.wait_for(lambda line: line.command == "JOIN" and line.nick == BOT)
        question_from(source, member, name, "before the restart")

        server.stop()
        with pytest.raises(
            TransientError, match=r"not connected to IRC: .*(Server shutting down|refused the connection)"
        ):
            follow(source, lambda: False, timeout=10)
        server.start()
        member = server.user("alice")
        member.join(name)
        member.wait_for(bot_is_back, timeout=20)
        question_from(source, member, name, "after the restart")
        server.close_users()
    finally:
        server.stop()

    texts = Message.objects.filter(source=source, kind="chat").order_by("created_at").values_list("text", flat=True)
    assert list(texts) == ["before the restart", "after the restart"]
    bot_joins = Message.objects.filter(source=source, kind="join", identity__is_bot=True).count()
    assert bot_joins == 2


def test_a_taken_nick_gets_an_alternative_and_sends_are_paced(inspircd: InspircdServer, workspace: Workspace) -> None:
    name = channel()
    owner = inspircd.user("olivia")
    owner.join(name)
    inspircd.user(BOT)  # someone already uses the bot's nick
    source = irc_source(workspace, bot_config(inspircd, name, flood_messages=2, flood_seconds=2))
    poll(source)
    owner.wait_for(lambda line: line.command == "JOIN" and line.nick == f"{BOT}_")

    started = time.monotonic()
    connector_for(source).reply(
        target=ReplyTarget(channel=name, message_external_id="olivia:x"), text="1\n2\n3\n4", idempotency_key="k"
    )
    elapsed = time.monotonic() - started
    assert [
        owner.sees_message(name, f"{prefix}{n}").nick for prefix, n in [("olivia: ", 1), ("", 2), ("", 3), ("", 4)]
    ] == [f"{BOT}_"] * 4
    assert 1.9 <= elapsed < 5  # two at once, then one per second (2 per 2 s)
