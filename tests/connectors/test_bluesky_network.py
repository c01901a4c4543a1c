"""Bluesky connector against a real AT Protocol network started by the tests (tests/servers/atproto.py).

People post through XRPC as themselves (`BlueskyUser`); Communa logs in as the brand's account with an app
password through the connector, and what it ingests is checked in the database. The AppView indexes what
the PDS writes asynchronously, so tests wait until it has seen what they are about to read.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from communa.accounts.models import Workspace
from communa.connectors.base import ModerationAction, ModerationTarget, ReplyTarget
from communa.connectors.bluesky.client import SESSIONS, AtprotoError, session_key
from communa.connectors.bluesky.connector import BlueskyConfig, BlueskyConnector
from communa.connectors.models import Source
from communa.connectors.services import create_source
from communa.core.http import PermanentError
from communa.ingest.models import RawEvent
from communa.ingest.services import ingest_events
from communa.members.models import Identity
from communa.stream.models import Message
from tests.servers.atproto import AtprotoNetwork, BlueskyUser, wait_for

pytestmark = [pytest.mark.server, pytest.mark.django_db]


def brand_config(network: AtprotoNetwork, brand: BlueskyUser, **overrides: Any) -> BlueskyConfig:
    values: dict[str, Any] = {
        "service": network.pds,
        "identifier": brand.handle,
        "app_password": brand.app_password(),
    }
    return BlueskyConfig.model_validate({**values, **overrides})


def bluesky_source(workspace: Workspace, config: BlueskyConfig) -> Source:
    return create_source(workspace=workspace, kind="bluesky", name="Brand on Bluesky", config=config, actor=None)


def poll(source: Source, connector: BlueskyConnector) -> list[str]:
    """One fetch from the source's saved cursor, ingested; return the external ids it brought."""
    result = connector.fetch(source.cursor)
    ingest_events(source=source, events=result.items, cursor=result.cursor, connector=connector)
    return [item.external_id for item in result.items]


def rows(source: Source) -> dict[str, Message]:
    return {m.external_id: m for m in Message.objects.filter(source=source).select_related("identity", "thread")}


def notified(brand: BlueskyUser, count: int) -> list[dict[str, Any]]:
    """Wait until the AppView has `count` notifications for the brand."""

    def enough() -> list[dict[str, Any]] | None:
        found = brand.notifications()
        return found if len(found) >= count else None

    return wait_for(enough, what="the notifications")


def rkey(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


@pytest.fixture
def brand(atproto: AtprotoNetwork) -> BlueskyUser:
    user = atproto.create_account("brand")
    user.set_display_name("Aurora Coffee")
    return user


@pytest.fixture
def member(atproto: AtprotoNetwork) -> BlueskyUser:
    user = atproto.create_account("alice")
    user.set_display_name("Alice Liddell")
    return user


# --- reading ----------------------------------------------------------------------------------------


def test_a_conversation_becomes_exactly_the_expected_messages(
    atproto: AtprotoNetwork, brand: BlueskyUser, member: BlueskyUser, workspace: Workspace
) -> None:
    launch = brand.post("Our autumn roast is out!")
    wait_for(lambda: member.appview_sees(launch["uri"]))
    question = member.post("Is it decaf too?", reply_to=launch)
    shout = member.post(**member.mention(brand, "Best coffee in town, ", " ☕"))
    wait_for(lambda: member.appview_sees(question["uri"]))
    follow_up = member.post("Asking for a friend.", reply_to=question, root=launch)
    notified(brand, 3)

    connector = BlueskyConnector(brand_config(atproto, brand))
    source = bluesky_source(workspace, connector.config)
    poll(source, connector)

    messages = rows(source)
    summary = {
        ext: (m.kind, m.identity.handle if m.identity else "", m.text, m.parent_external_id, m.thread.external_id)
        for ext, m in messages.items()
    }
    assert summary == {
        launch["uri"]: ("post", brand.handle, "Our autumn roast is out!", "", launch["uri"]),
        question["uri"]: ("comment", member.handle, "Is it decaf too?", launch["uri"], launch["uri"]),
        shout["uri"]: ("post", member.handle, f"Best coffee in town, @{brand.handle} ☕", "", shout["uri"]),
        follow_up["uri"]: ("comment", member.handle, "Asking for a friend.", question["uri"], launch["uri"]),
    }
    assert messages[follow_up["uri"]].parent_id == messages[question["uri"]].pk
    assert messages[launch["uri"]].url == f"https://bsky.app/profile/{brand.handle}/post/{rkey(launch['uri'])}"
    assert messages[shout["uri"]].metadata["mentions"] == [brand.did]
    assert messages[shout["uri"]].metadata["reason"] == "mention"
    alice = Identity.objects.get(workspace=workspace, platform="bsky", external_id=member.did)
    assert (alice.handle, alice.display_name, alice.url) == (
        member.handle,
        "Alice Liddell",
        f"https://bsky.app/profile/{member.handle}",
    )
    assert Identity.objects.get(workspace=workspace, platform="bsky", external_id=brand.did).handle == brand.handle


def test_polling_again_resumes_after_what_was_read(
    atproto: AtprotoNetwork, brand: BlueskyUser, member: BlueskyUser, workspace: Workspace
) -> None:
    first = brand.post("First post")
    wait_for(lambda: member.appview_sees(first["uri"]))
    hello = member.post("Hello!", reply_to=first)
    notified(brand, 1)
    connector = BlueskyConnector(brand_config(atproto, brand))
    source = bluesky_source(workspace, connector.config)
    assert sorted(poll(source, connector)) == sorted([first["uri"], hello["uri"]])

    second = brand.post("Second post")
    again = member.post(**member.mention(brand, "Thanks ", ""))
    notified(brand, 2)
    assert sorted(poll(source, connector)) == sorted([second["uri"], again["uri"]])
    assert poll(source, connector) == []
    source.refresh_from_db()
    assert BlueskyConnector(connector.config).fetch(source.cursor).items == []  # another worker, same cursor
    assert Message.objects.filter(source=source).count() == 4
    assert RawEvent.objects.filter(source=source).count() == 4
    assert not RawEvent.objects.filter(source=source, processed_at=None).exists()


def test_a_crash_before_the_cursor_is_saved_replays_without_duplicates(
    atproto: AtprotoNetwork, brand: BlueskyUser, member: BlueskyUser, workspace: Workspace
) -> None:
    post = brand.post("Tasting tonight")
    wait_for(lambda: member.appview_sees(post["uri"]))
    member.post("I'll be there", reply_to=post)
    notified(brand, 1)
    connector = BlueskyConnector(brand_config(atproto, brand))
    source = bluesky_source(workspace, connector.config)
    lost = connector.fetch(source.cursor)  # fetched, then the worker dies: nothing stored, cursor unchanged
    assert len(lost.items) == 2
    assert poll(source, connector) == [item.external_id for item in lost.items]
    assert Message.objects.filter(source=source).count() == 2


def test_the_post_a_brand_reply_answers_comes_as_context(
    atproto: AtprotoNetwork, brand: BlueskyUser, member: BlueskyUser, workspace: Workspace
) -> None:
    """The brand answered someone in Bluesky's app: that person's post, never notified, is read for context."""
    musing = member.post("Where do people get good beans around here?")
    wait_for(lambda: brand.appview_sees(musing["uri"]))
    answer = brand.post("Come and see us!", reply_to=musing)
    connector = BlueskyConnector(brand_config(atproto, brand))
    source = bluesky_source(workspace, connector.config)
    assert poll(source, connector) == [answer["uri"], musing["uri"]]
    messages = rows(source)
    assert messages[musing["uri"]].metadata["via"] == "context"
    assert messages[answer["uri"]].parent_id == messages[musing["uri"]].pk
    assert messages[answer["uri"]].thread.external_id == musing["uri"]


def test_likes_and_reposts_are_reactions_when_asked_for(
    atproto: AtprotoNetwork, brand: BlueskyUser, member: BlueskyUser, workspace: Workspace
) -> None:
    post = brand.post("New mugs in the shop")
    wait_for(lambda: member.appview_sees(post["uri"]))
    like = member.like(post)
    repost = member.repost(post)
    notified(brand, 2)
    quiet = BlueskyConnector(brand_config(atproto, brand))
    assert [i.external_id for i in quiet.fetch({}).items] == [post["uri"]]

    connector = BlueskyConnector(brand_config(atproto, brand, read_reactions=True))
    source = bluesky_source(workspace, connector.config)
    poll(source, connector)
    reactions = {
        m.external_id: (m.kind, m.text, m.parent_external_id, m.thread.external_id, m.identity.handle)
        for m in Message.objects.filter(source=source, kind="reaction").select_related("thread", "identity")
    }
    assert reactions == {
        like["uri"]: ("reaction", "❤️", post["uri"], post["uri"], member.handle),
        repost["uri"]: ("reaction", "🔁", post["uri"], post["uri"], member.handle),
    }


def test_without_an_appview_only_the_accounts_own_posts_are_read(
    atproto: AtprotoNetwork, brand: BlueskyUser, member: BlueskyUser, workspace: Workspace
) -> None:
    post = brand.post("Just us")
    wait_for(lambda: member.appview_sees(post["uri"]))
    member.post("A reply nobody will read", reply_to=post)
    notified(brand, 1)
    connector = BlueskyConnector(brand_config(atproto, brand, use_appview=False))
    assert [i.external_id for i in connector.fetch({}).items] == [post["uri"]]


# --- writing ----------------------------------------------------------------------------------------


def test_a_reply_lands_in_the_thread_once_whatever_the_retries(
    atproto: AtprotoNetwork, brand: BlueskyUser, member: BlueskyUser
) -> None:
    launch = brand.post("Our autumn roast is out!")
    wait_for(lambda: member.appview_sees(launch["uri"]))
    question = member.post("Is it decaf too?", reply_to=launch)
    connector = BlueskyConnector(brand_config(atproto, brand))
    target = ReplyTarget(channel="", message_external_id=question["uri"], thread_external_id=launch["uri"])
    text = f"Not yet, @{member.handle}! See https://example.com/decaf #decaf"

    sent = connector.reply(target=target, text=text, idempotency_key="outbox-17")
    again = connector.reply(target=target, text=text, idempotency_key="outbox-17")

    assert again == sent
    replies = [r for r in brand.records("app.bsky.feed.post") if r["uri"] != launch["uri"]]
    assert [r["uri"] for r in replies] == [sent.external_id]
    record = replies[0]["value"]
    assert record["text"] == text
    assert record["reply"] == {"root": launch, "parent": question}
    start = len("Not yet, ")
    assert record["facets"] == [
        {
            "index": {"byteStart": start, "byteEnd": start + 1 + len(member.handle)},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": member.did}],
        },
        {
            "index": {"byteStart": text.index("https"), "byteEnd": text.index(" #decaf")},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/decaf"}],
        },
        {
            "index": {"byteStart": text.index("#decaf"), "byteEnd": len(text)},
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "decaf"}],
        },
    ]
    assert sent.url == f"https://bsky.app/profile/{brand.handle}/post/{rkey(sent.external_id)}"
    other = connector.reply(target=target, text="Another answer", idempotency_key="outbox-18")
    assert other.external_id != sent.external_id
    assert len(brand.records("app.bsky.feed.post")) == 3


def test_publish_posts_once_per_key(atproto: AtprotoNetwork, brand: BlueskyUser) -> None:
    connector = BlueskyConnector(brand_config(atproto, brand))
    sent = connector.publish(text="Open late on Friday", idempotency_key="announcement-1")
    assert connector.publish(text="Open late on Friday", idempotency_key="announcement-1") == sent
    posts = brand.records("app.bsky.feed.post")
    assert [(p["uri"], p["value"]["text"], "reply" in p["value"]) for p in posts] == [
        (sent.external_id, "Open late on Friday", False)
    ]


def test_a_reply_to_a_deleted_post_is_refused(atproto: AtprotoNetwork, brand: BlueskyUser, member: BlueskyUser) -> None:
    gone = member.post("Delete me")
    member.delete(gone["uri"])
    connector = BlueskyConnector(brand_config(atproto, brand))
    with pytest.raises(PermanentError, match="no longer exists"):
        connector.reply(target=ReplyTarget(channel="", message_external_id=gone["uri"]), text="Hi", idempotency_key="k")
    assert brand.records("app.bsky.feed.post") == []


# --- moderation -------------------------------------------------------------------------------------


def test_remove_message_deletes_the_accounts_own_post_only(
    atproto: AtprotoNetwork, brand: BlueskyUser, member: BlueskyUser
) -> None:
    own = brand.post("Typo in this post")
    theirs = member.post("Spam spam spam")
    connector = BlueskyConnector(brand_config(atproto, brand))

    remove = ModerationAction.REMOVE_MESSAGE
    sent = connector.moderate(
        action=remove, target=ModerationTarget(channel="", message_external_id=own["uri"]), idempotency_key="m-1"
    )
    assert sent.external_id == own["uri"]
    assert brand.records("app.bsky.feed.post") == []
    # Again (a retry): the post is already gone, which is fine.
    connector.moderate(
        action=remove, target=ModerationTarget(channel="", message_external_id=own["uri"]), idempotency_key="m-1"
    )
    with pytest.raises(PermanentError, match="only its own posts"):
        connector.moderate(
            action=remove, target=ModerationTarget(channel="", message_external_id=theirs["uri"]), idempotency_key="m-2"
        )
    assert [p["uri"] for p in member.records("app.bsky.feed.post")] == [theirs["uri"]]


def test_ban_blocks_once_and_unban_unblocks(atproto: AtprotoNetwork, brand: BlueskyUser, member: BlueskyUser) -> None:
    connector = BlueskyConnector(brand_config(atproto, brand))
    target = ModerationTarget(channel="", user_external_id=member.did)
    block = connector.moderate(action=ModerationAction.BAN, target=target, idempotency_key="ban-1")
    assert connector.moderate(action=ModerationAction.BAN, target=target, idempotency_key="ban-2") == block
    blocks = brand.records("app.bsky.graph.block")
    assert [(b["uri"], b["value"]["subject"]) for b in blocks] == [(block.external_id, member.did)]

    unblocked = connector.moderate(action=ModerationAction.UNBAN, target=target, idempotency_key="unban-1")
    assert unblocked.external_id == block.external_id
    assert brand.records("app.bsky.graph.block") == []
    assert connector.moderate(action=ModerationAction.UNBAN, target=target, idempotency_key="unban-1").external_id == ""


def test_mute_and_unmute_are_account_mutes(atproto: AtprotoNetwork, brand: BlueskyUser, member: BlueskyUser) -> None:
    connector = BlueskyConnector(brand_config(atproto, brand))
    target = ModerationTarget(channel="", user_external_id=member.did)

    def muted(expected: list[str]) -> bool:
        """Whether the AppView lists exactly `expected` as muted (mutes reach it asynchronously)."""
        return [actor["did"] for actor in brand.call("app.bsky.graph.getMutes")["mutes"]] == expected

    connector.moderate(action=ModerationAction.MUTE, target=target, idempotency_key="mute-1")
    connector.moderate(action=ModerationAction.MUTE, target=target, idempotency_key="mute-1")
    wait_for(lambda: muted([member.did]), what="the mute")
    connector.moderate(action=ModerationAction.UNMUTE, target=target, idempotency_key="unmute-1")
    wait_for(lambda: muted([]), what="the unmute")

    without_appview = BlueskyConnector(brand_config(atproto, brand, use_appview=False))
    with pytest.raises(PermanentError, match="AppView"):
        without_appview.moderate(action=ModerationAction.MUTE, target=target, idempotency_key="mute-2")
    time.sleep(0.5)  # what a refused mute would have taken to show
    assert muted([])


# --- refusals ---------------------------------------------------------------------------------------


def test_a_wrong_app_password_is_a_permanent_error(atproto: AtprotoNetwork, brand: BlueskyUser) -> None:
    config = brand_config(atproto, brand, app_password="abcd-efgh-ijkl-mnop")
    with pytest.raises(AtprotoError, match=f"did not accept the app password for {brand.handle}"):
        BlueskyConnector(config).fetch({})


def test_a_revoked_app_password_stops_the_source_with_a_clear_error(
    atproto: AtprotoNetwork, brand: BlueskyUser
) -> None:
    config = BlueskyConfig.model_validate(
        {"service": atproto.pds, "identifier": brand.handle, "app_password": brand.app_password("revoked")}
    )
    connector = BlueskyConnector(config)
    connector.fetch({})
    brand.call("com.atproto.server.revokeAppPassword", body={"name": "revoked"})
    SESSIONS.clear()  # a new worker process: it must log in again
    with pytest.raises(PermanentError, match="did not accept the app password"):
        connector.fetch({})


def test_a_taken_down_account_is_a_permanent_error(atproto: AtprotoNetwork, brand: BlueskyUser) -> None:
    connector = BlueskyConnector(brand_config(atproto, brand))
    connector.fetch({})
    atproto.takedown(brand)
    # The PDS no longer knows the account's session: the source stops with the PDS's own words.
    with pytest.raises(PermanentError, match=r"^could not check the account: Could not find user info for account"):
        connector.fetch({})
    SESSIONS.clear()  # a new worker logs in: the PDS no longer accepts the account's app passwords
    with pytest.raises(PermanentError, match="did not accept the app password"):
        connector.fetch({})


def test_an_expired_session_is_refreshed_without_logging_in_again(atproto: AtprotoNetwork, brand: BlueskyUser) -> None:
    connector = BlueskyConnector(brand_config(atproto, brand))
    connector.fetch({})
    [key] = [key for key in SESSIONS if key[1] == brand.handle]
    session = SESSIONS.pop(key)
    # The same session held for a password the PDS would refuse: only a refresh can renew it, not a login.
    unusable = BlueskyConnector(brand_config(atproto, brand, app_password="wxyz-wxyz-wxyz-wxyz"))
    held = session_key(atproto.pds, brand.handle, "wxyz-wxyz-wxyz-wxyz")
    broken = session.access_jwt[:-4] + "AAAA"  # an access token the PDS no longer accepts, as after two hours
    SESSIONS[held] = session.model_copy(update={"access_jwt": broken})

    published = unusable.publish(text="Still here", idempotency_key="after-refresh")

    assert SESSIONS[held].access_jwt != broken
    assert SESSIONS[held].refresh_jwt != session.refresh_jwt  # refresh tokens are single-use: the new one is kept
    assert [p["uri"] for p in brand.records("app.bsky.feed.post")] == [published.external_id]
