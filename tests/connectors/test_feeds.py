"""The feeds connector end to end: a real HTTP server on 127.0.0.1, polled through poll_source."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from communa.accounts.models import Workspace
from communa.connectors.base import MessageKind, RawItem
from communa.connectors.feeds.connector import FeedsConfig, FeedsConnector
from communa.connectors.models import Source, SourceStatus
from communa.connectors.services import create_source
from communa.ingest.models import RawEvent
from communa.ingest.polling import poll_source
from communa.members.models import Identity, Member
from communa.stream.models import Message, Thread
from tests.connectors.conftest import FIXTURES, FeedServer

pytestmark = pytest.mark.django_db

LAST_MODIFIED = "Tue, 03 Mar 2026 08:12:44 GMT"


def feed_source(workspace: Workspace, url: str, **config: Any) -> Source:
    return create_source(
        workspace=workspace, kind="feeds", name="Open Garden news", config=FeedsConfig(url=url, **config), actor=None
    )


def poll(source: Source) -> Any:
    result = poll_source(source_id=source.pk)
    source.refresh_from_db()
    return result


def snapshot(source: Source) -> dict[str, Any]:
    return {
        "messages": sorted(
            Message.objects.filter(source=source).values_list(
                "external_id", "kind", "title", "text", "url", "created_at", "edited_at", "identity__external_id"
            )
        ),
        "threads": sorted(Thread.objects.filter(source=source).values_list("external_id", "title", "message_count")),
        "identities": sorted(Identity.objects.values_list("platform", "external_id", "display_name", "email")),
        "members": Member.objects.count(),
        "raw": sorted(RawEvent.objects.filter(source=source).values_list("external_id", "processed_at")),
    }


# --- RSS --------------------------------------------------------------------------------------------


def test_rss_feed_becomes_articles_threads_and_identities(workspace: Workspace, feed_server: FeedServer) -> None:
    url = feed_server.serve_fixture("/feed/", "rss.xml", etag='"v1"', last_modified=LAST_MODIFIED)
    source = feed_source(workspace, url)

    result = poll(source)

    assert (result.received, result.messages, result.created) == (3, 3, 3)
    assert source.status == SourceStatus.ACTIVE
    assert source.last_error == ""
    swap = Message.objects.get(source=source, external_id="https://opengarden.example.org/?p=1412")
    assert swap.kind == MessageKind.ARTICLE
    assert swap.title == "Spring seed swap: what to bring & where to park"
    assert swap.text == (
        "The spring seed swap is back on 14 March!\n\n"
        "Please bring:\n\n"
        "• Seeds in labelled envelopes (variety & year)\n"
        "• A pen – we’ll have stickers\n\n"
        "Parking is behind the library."
    )
    assert swap.url == "https://opengarden.example.org/2026/03/spring-seed-swap/"
    assert swap.created_at == datetime(2026, 3, 2, 17, 30, tzinfo=UTC)
    assert swap.edited_at is None
    assert swap.language == "en-GB"
    assert swap.metadata == {
        "feed": {"title": "Open Garden Collective – News", "format": "rss20"},
        "tags": ["Events", "Seeds"],
    }
    episode = Message.objects.get(source=source, external_id="opengarden-podcast-12")
    # A relative <link> resolves against the address the feed was fetched from.
    assert episode.url == feed_server.url("/podcast/episode-12/")
    assert episode.text == "Worm bins, bokashi and the smell question. 42 minutes."
    assert episode.metadata["enclosures"] == [
        {"url": "https://media.opengarden.example.org/ep12.mp3", "type": "audio/mpeg", "length": 40550112}
    ]
    assert sorted(Identity.objects.values_list("platform", "external_id", "display_name", "email", "url")) == [
        ("feed:127.0.0.1", "Priya Raman", "Priya Raman", "", ""),
        # No author on the entry nor the feed: the publication itself is the author.
        ("feed:127.0.0.1", "https://opengarden.example.org", "Open Garden Collective – News", "",
         "https://opengarden.example.org"),
        ("feed:127.0.0.1", "tomas@opengarden.example.org", "Tomás Ferreira", "tomas@opengarden.example.org", ""),
    ]  # fmt: skip
    assert Member.objects.count() == 3
    assert sorted(Thread.objects.filter(source=source).values_list("external_id", "title", "message_count")) == [
        ("https://opengarden.example.org/?p=1412", "Spring seed swap: what to bring & where to park", 1),
        ("https://opengarden.example.org/rota-april/", "Volunteer rota for April", 1),
        ("opengarden-podcast-12", "Episode 12: Composting in small flats", 1),
    ]
    assert source.cursor["etag"] == '"v1"'
    assert source.cursor["last_modified"] == LAST_MODIFIED


def test_script_and_style_never_reach_the_text(workspace: Workspace, feed_server: FeedServer) -> None:
    source = feed_source(workspace, feed_server.serve_fixture("/feed/", "rss.xml"))

    poll(source)

    texts = " ".join(Message.objects.values_list("text", flat=True))
    assert "document.cookie" not in texts
    assert "display: none" not in texts
    assert "<" not in texts


def test_second_poll_is_conditional_and_a_304_changes_nothing(workspace: Workspace, feed_server: FeedServer) -> None:
    url = feed_server.serve_fixture("/feed/", "rss.xml", etag='"v1"', last_modified=LAST_MODIFIED)
    source = feed_source(workspace, url)
    poll(source)
    before, cursor = snapshot(source), dict(source.cursor)

    result = poll(source)

    first, second = feed_server.hits_on("/feed/")
    assert "if-none-match" not in first.headers
    assert second.headers["if-none-match"] == '"v1"'
    assert second.headers["if-modified-since"] == LAST_MODIFIED
    assert (result.received, result.messages, result.created) == (0, 0, 0)
    assert snapshot(source) == before
    assert source.cursor == cursor
    assert source.status == SourceStatus.ACTIVE


def test_repoll_of_an_unchanged_feed_without_validators_ingests_nothing(
    workspace: Workspace, feed_server: FeedServer
) -> None:
    source = feed_source(workspace, feed_server.serve_fixture("/feed/", "rss.xml"))
    poll(source)
    before = snapshot(source)

    result = poll(source)

    assert len(feed_server.hits_on("/feed/")) == 2
    assert (result.received, result.messages, result.created) == (0, 0, 0)
    assert snapshot(source) == before


def test_an_edited_entry_updates_its_message_in_place(workspace: Workspace, feed_server: FeedServer) -> None:
    source = feed_source(workspace, feed_server.serve_fixture("/feed/", "rss.xml"))
    poll(source)
    edited = (FIXTURES / "feeds" / "rss.xml").read_text().replace("Volunteer rota for April", "Volunteer rota: April")
    feed_server.serve("/feed/", edited)

    result = poll(source)

    assert (result.received, result.messages, result.created) == (1, 1, 0)
    assert Message.objects.filter(source=source).count() == 3
    rota = Message.objects.get(source=source, external_id="https://opengarden.example.org/rota-april/")
    assert rota.title == "Volunteer rota: April"


def test_an_undated_entry_keeps_the_date_it_was_first_seen(workspace: Workspace, feed_server: FeedServer) -> None:
    source = feed_source(workspace, feed_server.serve_fixture("/feed/", "rss.xml"))
    poll(source)
    rota = Message.objects.get(source=source, external_id="https://opengarden.example.org/rota-april/")
    assert rota.metadata["date_from"] == "first_seen"
    edited = (FIXTURES / "feeds" / "rss.xml").read_text().replace("The rota is up.", "The rota is up (updated).")
    feed_server.serve("/feed/", edited)

    poll(source)

    again = Message.objects.get(pk=rota.pk)
    assert again.text == "The rota is up (updated). Sign up for two slots if you can."
    assert again.created_at == rota.created_at
    assert Thread.objects.get(source=source, external_id=rota.external_id).last_activity_at == rota.created_at


# --- Atom and JSON Feed --------------------------------------------------------------------------


def test_atom_feed(workspace: Workspace, feed_server: FeedServer) -> None:
    url = feed_server.serve_fixture("/atom.xml", "atom.xml", content_type="application/atom+xml")
    source = feed_source(workspace, url)

    result = poll(source)

    assert result.created == 2
    meetup = Message.objects.get(source=source, external_id="tag:devs.example.net,2026-02-20:/posts/meetup-marzo/")
    assert meetup.title == "Meetup di marzo: async senza paura"
    assert meetup.text == (
        "Ciao a tutti! Il 12 marzo parliamo di async.\n\n"
        "async fn main() {\nrun().await;\n}\n\n"
        "Iscrizioni qui & a presto."
    )
    # xml:base makes the relative alternate link absolute.
    assert meetup.url == "https://devs.example.net/posts/meetup-marzo/"
    assert meetup.created_at == datetime(2026, 2, 20, 9, 0, tzinfo=UTC)
    assert meetup.edited_at == datetime(2026, 2, 22, 8, 30, tzinfo=UTC)
    assert meetup.language == "it"
    assert meetup.metadata["enclosures"] == [
        {"url": "https://devs.example.net/slides/async.pdf", "type": "application/pdf", "length": 183422}
    ]
    assert meetup.identity is not None
    assert (meetup.identity.external_id, meetup.identity.display_name, meetup.identity.url) == (
        "giulia@devs.example.net",
        "Giulia Bianchi",
        "https://devs.example.net/people/giulia",
    )
    matrix = Message.objects.get(source=source, external_id="tag:devs.example.net,2026-02-10:/posts/matrix/")
    assert matrix.text == "Da oggi siamo anche su Matrix.\n\nIl vecchio gruppo resta aperto."
    assert matrix.created_at == datetime(2026, 2, 10, 8, 15, tzinfo=UTC)  # only <updated>: it is the date
    assert matrix.identity is not None
    assert (matrix.identity.external_id, matrix.identity.display_name) == ("https://devs.example.net/", "Rust Milano")


def test_json_feed_1_1(workspace: Workspace, feed_server: FeedServer) -> None:
    url = feed_server.serve_fixture("/feed.json", "feed.json", content_type="application/feed+json")
    source = feed_source(workspace, url)

    result = poll(source)

    assert result.created == 2
    laser = Message.objects.get(source=source, external_id="https://maple.example.com/2026/laser-cutter-training")
    assert laser.title == "Laser cutter training <now> open"  # JSON Feed titles are plain text
    assert laser.text == "Sessions every Thursday.\n\nCost: $10 — members free."
    assert laser.url == feed_server.url("/2026/laser-cutter-training")
    assert laser.created_at == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    assert laser.edited_at == datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    assert laser.language == "en-CA"
    assert laser.metadata["tags"] == ["training", "laser"]
    assert laser.identity is not None
    assert (laser.identity.platform, laser.identity.external_id, laser.identity.display_name) == (
        "feed:127.0.0.1",
        "https://maple.example.com/people/dana",
        "Dana Okafor",
    )
    evening = Message.objects.get(source=source, external_id="1047")  # a numeric id, coerced as the spec says
    assert evening.text == "Doors open at 18:00.\nBring a friend."
    assert evening.url == ""  # a javascript: link is never kept
    assert evening.identity is not None
    assert evening.identity.display_name == "Maple Makerspace"


def test_json_feed_1_0_author(workspace: Workspace, feed_server: FeedServer) -> None:
    url = feed_server.serve_fixture("/notes.json", "feed-1.0.json", content_type="application/json")
    source = feed_source(workspace, url)

    poll(source)

    note = Message.objects.get(source=source)
    assert (note.external_id, note.text, note.url) == ("note-3", "Third note", "https://notes.example.org/3")
    assert note.identity is not None
    assert note.identity.display_name == "Sam Lee"
    assert note.metadata["feed"] == {"title": "Tiny Notes", "format": "json-feed-1"}


def test_invalid_utf8_is_replaced_and_the_rest_kept(workspace: Workspace, feed_server: FeedServer) -> None:
    body = (FIXTURES / "feeds" / "rss.xml").read_bytes().replace(b"Volunteer rota", b"Volunteer \xff\xfe rota")
    source = feed_source(workspace, feed_server.serve("/feed/", body))

    result = poll(source)

    assert result.created == 3
    titles = set(Message.objects.values_list("title", flat=True))
    assert "Volunteer \ufffd\ufffd rota for April" in titles
    assert "Spring seed swap: what to bring & where to park" in titles
    assert Identity.objects.filter(display_name="Tomás Ferreira").exists()  # valid UTF-8 is left alone


# --- failures -------------------------------------------------------------------------------------


def test_an_html_page_leaves_the_source_retrying_with_the_reason(workspace: Workspace, feed_server: FeedServer) -> None:
    source = feed_source(workspace, feed_server.serve_fixture("/feed/", "rss.xml", etag='"v1"'))
    poll(source)
    before, cursor = snapshot(source), dict(source.cursor)
    feed_server.serve_fixture("/feed/", "not-a-feed.html", content_type="text/html; charset=utf-8")

    assert poll(source) is None

    assert source.status == SourceStatus.RETRYING
    assert source.last_error == (
        "the URL returned an HTML page, not a feed; the page points to a feed at " + feed_server.url("/feed/")
    )
    assert source.failure_count == 1
    assert source.cursor == cursor
    assert snapshot(source) == before


def test_a_malformed_feed_leaves_the_source_retrying(workspace: Workspace, feed_server: FeedServer) -> None:
    source = feed_source(workspace, feed_server.serve_fixture("/feed/", "malformed.xml"))

    assert poll(source) is None

    assert source.status == SourceStatus.RETRYING
    assert source.last_error == "the feed is not well-formed XML (line 3: no element found)"
    assert source.cursor == {}
    assert Message.objects.count() == 0
    assert RawEvent.objects.count() == 0


def test_json_that_is_not_a_feed_is_refused(workspace: Workspace, feed_server: FeedServer) -> None:
    source = feed_source(workspace, feed_server.serve("/api", '{"status": "ok"}', content_type="application/json"))

    poll(source)

    assert source.status == SourceStatus.RETRYING
    assert source.last_error == "the URL returned JSON, but not a JSON Feed (no version and items)"


def test_json_nested_too_deeply_is_refused(workspace: Workspace, feed_server: FeedServer) -> None:
    source = feed_source(workspace, feed_server.serve("/deep.json", "[" * 100_000 + "]" * 100_000))

    poll(source)

    assert source.status == SourceStatus.RETRYING
    assert source.last_error == "the feed is not valid JSON (nested too deeply)"


def test_a_server_error_is_retried_then_left_retrying(workspace: Workspace, feed_server: FeedServer) -> None:
    source = feed_source(workspace, feed_server.serve("/feed/", "oops", status=500, content_type="text/plain"))

    poll(source)

    assert len(feed_server.hits_on("/feed/")) == 3  # core.http's bounded retries
    assert source.status == SourceStatus.RETRYING
    assert source.last_error == f"HTTP 500 Internal Server Error from {feed_server.url('/feed/')}"
    assert source.next_poll_at is not None
    assert Message.objects.count() == 0


def test_a_missing_feed_disables_the_source(workspace: Workspace, feed_server: FeedServer) -> None:
    source = feed_source(workspace, feed_server.url("/gone.xml"))

    poll(source)

    assert len(feed_server.hits_on("/gone.xml")) == 1  # a 404 is not retried
    assert source.status == SourceStatus.DISABLED
    assert source.last_error == f"HTTP 404 Not Found from {feed_server.url('/gone.xml')}"
    assert source.next_poll_at is None
    assert Message.objects.count() == 0


def test_a_slow_server_times_out_and_the_source_retries(
    workspace: Workspace, feed_server: FeedServer, settings: Any
) -> None:
    settings.COMMUNA_HTTP_TIMEOUT = 0.3
    source = feed_source(workspace, feed_server.serve_fixture("/slow.xml", "rss.xml", delay=1.0))

    poll(source)

    assert source.status == SourceStatus.RETRYING
    assert source.last_error == f"timed out after 0.3s talking to {feed_server.url('/slow.xml')}"
    assert Message.objects.count() == 0


def test_basic_auth_credentials_are_sent(workspace: Workspace, feed_server: FeedServer) -> None:
    url = feed_server.serve_fixture("/private.xml", "rss.xml", basic_auth=("garden", "s3cret pass"))
    source = feed_source(workspace, url, username="garden", password=SecretStr("s3cret pass"))

    result = poll(source)

    assert result.created == 3
    assert "s3cret" not in str(source.config)  # the password lives encrypted in `secrets`


def test_wrong_credentials_disable_the_source(workspace: Workspace, feed_server: FeedServer) -> None:
    url = feed_server.serve_fixture("/private.xml", "rss.xml", basic_auth=("garden", "s3cret pass"))
    source = feed_source(workspace, url, username="garden", password=SecretStr("wrong"))

    poll(source)

    assert source.status == SourceStatus.DISABLED
    assert source.last_error == f"HTTP 401 Unauthorized from {url}"
    assert Message.objects.count() == 0


# --- configuration and the pure normalizer -------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://example.org/feed", "file:///etc/passwd", "javascript:alert(1)", "example.org"])
def test_config_accepts_only_web_addresses(url: str) -> None:
    with pytest.raises(ValidationError, match="enter an http:// or https:// address"):
        FeedsConfig(url=url)


def test_config_refuses_a_password_without_username() -> None:
    with pytest.raises(ValidationError, match="a password needs a username"):
        FeedsConfig(url="https://example.org/feed", password=SecretStr("x"))


def test_normalize_is_pure_and_reads_a_stored_payload() -> None:
    connector = FeedsConnector(FeedsConfig(url="https://blog.example.org/feed"))
    payload = {
        "format": "rss20",
        "feed": {"title": "Blog", "link": "https://blog.example.org/", "host": "blog.example.org", "language": ""},
        "id": "post-1",
        "link": "https://blog.example.org/1",
        "title": "A &amp; B",
        "title_is_html": True,
        "body": {"value": "<p>Hi<script>x()</script></p>", "is_html": True},
        "published": "2026-01-02T03:04:05+00:00",
        "updated": None,
        "first_seen_at": "2026-02-01T00:00:00+00:00",
        "author": None,
        "tags": [],
        "enclosures": [{"url": "file:///etc/passwd", "type": "", "length": None}],
        "language": "",
    }

    (message,) = connector.normalize(RawItem(external_id="post-1", payload=payload))

    assert (message.title, message.text, message.url) == ("A & B", "Hi", "https://blog.example.org/1")
    assert message.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert message.metadata == {"feed": {"title": "Blog", "format": "rss20"}}  # the file: enclosure is dropped
    assert message.author is not None
    assert (message.author.platform, message.author.external_id) == (
        "feed:blog.example.org",
        "https://blog.example.org/",
    )


# --- the server's own networks (core/netguard.py) --------------------------------------------------


def test_a_feed_on_the_servers_own_network_is_refused_and_the_source_says_why(
    workspace: Workspace, feed_server: FeedServer, settings: Any
) -> None:
    settings.COMMUNA_OUTBOUND_ALLOWED_NETWORKS = []  # production's default: public addresses only
    source = feed_source(workspace, feed_server.serve_fixture("/feed/", "rss.xml"))

    assert poll(source) is None

    assert source.status == SourceStatus.DISABLED
    assert "127.0.0.1 is an address of the server's own or a private network" in source.last_error
    assert "COMMUNA_OUTBOUND_ALLOWED_NETWORKS" in source.last_error
    assert feed_server.hits == []  # refused before connecting
    assert Message.objects.count() == 0


def test_a_redirect_into_a_private_network_is_refused_at_the_hop(
    workspace: Workspace, feed_server: FeedServer, settings: Any
) -> None:
    # The feed's own address is allowed; where it redirects (another loopback address, not listed) is not.
    settings.COMMUNA_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    url = feed_server.serve("/feed/", b"", status=302, location="http://127.0.0.2:9/latest/meta-data/")
    source = feed_source(workspace, url)

    assert poll(source) is None

    assert source.status == SourceStatus.DISABLED
    assert "127.0.0.2 is an address of the server's own or a private network" in source.last_error
    assert [hit.path for hit in feed_server.hits] == ["/feed/"]
