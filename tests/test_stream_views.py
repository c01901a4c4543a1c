"""The stream page: filters from the query string, cursor pages, HTMX fragments, the poll, safety, roles."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from communa.accounts.models import User, Workspace
from communa.connectors.models import Source
from communa.connectors.services import create_source
from communa.ingest.services import ingest_events
from communa.stream.models import Message
from tests.conftest import FakeConfig, FakeConnector, login, raw

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
FROM_FILTERS = {**HTMX, "HTTP_HX_TRIGGER": "stream-filters"}


def url(query: str = "", *, slug: str = "acme") -> str:
    return f"/w/{slug}/stream/" + (f"?{query}" if query else "")


def ingest(source: Source, *items: Any) -> None:
    ingest_events(source=source, events=list(items))


def texts(html: str) -> list[str]:
    """The message texts in page order."""
    return [re.sub(r"\s+", " ", t).strip() for t in re.findall(r'<div class="message-text">(.*?)</div>', html, re.S)]


def content(response: Any) -> str:
    return response.content.decode()


@pytest.fixture
def second_source(workspace: Workspace, fake_connector: type[FakeConnector]) -> Source:
    return create_source(
        workspace=workspace, kind="fake", name="Forum", config=FakeConfig(platform="forum"), actor=None
    )


@pytest.fixture
def stream(fake_source: Source, second_source: Source) -> dict[str, Source]:
    """Five messages in two sources, three languages, two kinds, over three days."""
    ingest(
        fake_source,
        raw("a1", "ana", "Buongiorno a tutti", minutes=0, language="it"),
        raw("a2", "bob", "Where is my refund?", minutes=60, language="en", kind="comment"),
        raw("a3", "ana", "Grazie per il rimborso", minutes=24 * 60, language="it"),
    )
    ingest(
        second_source,
        raw("f1", "carla", "¿Dónde está mi reembolso?", minutes=2 * 24 * 60, language="es", kind="post"),
        raw("f2", "bob", "Refund received, thanks", minutes=2 * 24 * 60 + 5, language="en", kind="comment"),
    )
    return {"room": fake_source, "forum": second_source}


# --- the list and its filters ----------------------------------------------------------------------------


def test_stream_shows_every_message_newest_first_with_author_and_source(client: Client, owner: User, stream):
    response = login(client, owner).get(url())

    assert response.status_code == 200
    assert texts(content(response)) == [
        "Refund received, thanks",
        "¿Dónde está mi reembolso?",
        "Grazie per il rimborso",
        "Where is my refund?",
        "Buongiorno a tutti",
    ]
    html = content(response)
    assert '<span class="message-where">Forum <span aria-hidden="true">·</span> Fake</span>' in html
    assert "Carla" in html
    assert 'datetime="2026-03-04T09:00:00+00:00"' in html  # T0 + 2 days: the exact time is in the markup


def test_filter_by_language(client: Client, owner: User, stream):
    response = login(client, owner).get(url("language=it"))

    assert texts(content(response)) == ["Grazie per il rimborso", "Buongiorno a tutti"]
    assert '<option value="it" selected>' in content(response)


def test_filter_by_search_words_matches_title_and_text_prefix(client: Client, owner: User, stream):
    response = login(client, owner).get(url("q=refu"))

    assert texts(content(response)) == ["Refund received, thanks", "Where is my refund?"]


def test_filter_by_several_sources_kind_and_dates(client: Client, owner: User, stream):
    forum, room = stream["forum"].pk, stream["room"].pk
    c = login(client, owner)

    assert texts(content(c.get(url(f"source={forum}")))) == ["Refund received, thanks", "¿Dónde está mi reembolso?"]
    assert len(texts(content(c.get(url(f"source={forum}&source={room}"))))) == 5
    assert texts(content(c.get(url("kind=comment")))) == ["Refund received, thanks", "Where is my refund?"]
    assert texts(content(c.get(url("since=2026-03-03&until=2026-03-03")))) == ["Grazie per il rimborso"]


def test_a_source_of_another_workspace_in_the_filter_shows_nothing_of_it(
    client: Client, owner: User, outsider: User, stream, other_workspace: Workspace, fake_connector
):
    theirs = create_source(workspace=other_workspace, kind="fake", name="Theirs", config=FakeConfig(), actor=None)
    ingest(theirs, raw("t1", "eve", "their secret plans"))

    response = login(client, owner).get(url(f"source={theirs.pk}"))

    assert response.status_code == 200
    assert texts(content(response)) == []
    assert "their secret plans" not in content(response)


def test_invalid_filter_values_are_explained_and_the_valid_ones_still_apply(client: Client, owner: User, stream):
    query = "language=it&since=2026-13-45&source=abc&kind=bogus&q=" + "x" * 201
    response = login(client, owner).get(url(query))

    assert response.status_code == 200
    html = content(response)
    assert texts(html) == ["Grazie per il rimborso", "Buongiorno a tutti"]
    assert '<p class="field-error" id="filter-error-since">Enter a date as YYYY-MM-DD.</p>' in html
    assert '<p class="field-error" id="filter-error-source">Choose sources from the list.</p>' in html
    assert '<p class="field-error" id="filter-error-kind">Choose a kind from the list.</p>' in html
    assert '<p class="field-error" id="filter-error-q">Search for at most 200 characters.</p>' in html
    assert 'value="2026-13-45"' in html  # what was typed is shown back, so it can be fixed


def test_an_end_date_before_the_start_date_is_reported_and_ignored(client: Client, owner: User, stream):
    response = login(client, owner).get(url("since=2026-03-04&until=2026-03-02"))

    html = content(response)
    assert "The end date is before the start date." in html
    assert texts(html) == ["Refund received, thanks", "¿Dónde está mi reembolso?"]


# --- HTMX: one view, a page or a fragment ------------------------------------------------------------------


def test_htmx_filter_request_returns_the_results_fragment_and_pushes_a_clean_url(client: Client, owner: User, stream):
    response = login(client, owner).get(url("q=&language=it&since=&until=&kind="), **FROM_FILTERS)

    html = content(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="stream-results"')
    assert "<html" not in html
    assert texts(html) == ["Grazie per il rimborso", "Buongiorno a tutti"]
    assert response["HX-Push-Url"] == "/w/acme/stream/?language=it"
    assert "HX-Request" in response["Vary"]
    # Errors and the sources summary travel out of band to the form, which is not swapped.
    assert '<p class="field-error" id="filter-error-since" hx-swap-oob="true"></p>' in html
    assert '<span id="filter-sources-summary" hx-swap-oob="true">All sources</span>' in html


def test_htmx_refresh_that_is_not_a_filter_change_does_not_push_a_history_entry(client: Client, owner: User, stream):
    response = login(client, owner).get(url("language=it"), **HTMX)

    assert "HX-Push-Url" not in response
    assert texts(content(response)) == ["Grazie per il rimborso", "Buongiorno a tutti"]


def test_history_restore_gets_the_full_page(client: Client, owner: User, stream):
    response = login(client, owner).get(url("language=it"), **HTMX, HTTP_HX_HISTORY_RESTORE_REQUEST="true")

    assert "<html" in content(response)
    assert "HX-Request" in response["Vary"]


def test_invalid_values_in_a_fragment_update_the_error_slots_out_of_band(client: Client, owner: User, stream):
    response = login(client, owner).get(url("since=yesterday"), **FROM_FILTERS)

    html = content(response)
    assert '<p class="field-error" id="filter-error-since" hx-swap-oob="true">Enter a date as YYYY-MM-DD.</p>' in html
    assert len(texts(html)) == 5
    assert response["HX-Push-Url"] == "/w/acme/stream/"


# --- cursor pages -------------------------------------------------------------------------------------------


def test_load_more_appends_the_next_page_by_cursor_without_overlap(client: Client, owner: User, fake_source: Source):
    ingest(fake_source, *[raw(f"m{i}", text=f"message number {i}", minutes=i) for i in range(55)])
    c = login(client, owner)

    first = content(c.get(url("q=message")))
    assert texts(first)[:2] == ["message number 54", "message number 53"]
    assert len(texts(first)) == 50
    more_url = re.search(r'hx-get="([^"]+)"\s+hx-target="closest li"', first)[1].replace("&amp;", "&")
    cursor = parse_qs(urlsplit(more_url).query)["cursor"][0]

    more = c.get(url(f"q=message&cursor={cursor}"), **HTMX)
    html = content(more)
    assert texts(html) == [f"message number {i}" for i in range(4, -1, -1)]
    assert "Load more" not in html
    assert "You have reached the oldest message." in html
    assert 'id="stream-results"' not in html  # only list items, appended in place of the button


def test_load_more_link_keeps_the_filter(client: Client, owner: User, fake_source: Source):
    ingest(fake_source, *[raw(f"m{i}", text="ciao", minutes=i, language="it") for i in range(51)])

    html = content(login(client, owner).get(url("language=it")))

    link = re.search(r'<a class="btn" href="([^"]+)"', html)[1].replace("&amp;", "&")
    assert parse_qs(urlsplit(link).query)["language"] == ["it"]


def test_a_mangled_cursor_shows_the_newest_messages_with_a_notice(client: Client, owner: User, stream):
    response = login(client, owner).get(url("cursor=not-a-cursor!"))

    assert response.status_code == 200
    assert "could not be read; here are the newest messages" in content(response)
    assert len(texts(content(response))) == 5


def test_the_list_query_count_does_not_grow_with_the_number_of_messages(
    client: Client, owner: User, fake_source: Source, django_assert_num_queries
):
    c = login(client, owner)
    ingest(fake_source, *[raw(f"s{i}", author=f"person{i}", minutes=i, thread=f"t{i}") for i in range(3)])
    c.get(url())  # the first visit also remembers the workspace in the session
    with CaptureQueriesContext(connection) as few:
        c.get(url())
    ingest(fake_source, *[raw(f"l{i}", author=f"people{i}", minutes=100 + i, thread=f"u{i}") for i in range(40)])

    # session, user, memberships (navigation), membership (access), page of messages, watermark,
    # sources (filter); the languages of the filter come from the cache after the first visit
    with django_assert_num_queries(7):
        response = c.get(url())
    assert len(texts(content(response))) == 43
    assert len(few.captured_queries) == 7


def test_the_fragment_query_count_is_constant_too(
    client: Client, owner: User, fake_source: Source, django_assert_num_queries
):
    ingest(fake_source, *[raw(f"l{i}", author=f"people{i}", minutes=i, thread=f"u{i}") for i in range(30)])
    c = login(client, owner)
    c.get(url())  # the first visit also remembers the workspace in the session

    # session, user, membership (access), page of messages, watermark, memberships (navigation context)
    with django_assert_num_queries(6):
        c.get(url(), **HTMX)


# --- the "N new messages" poll ------------------------------------------------------------------------------


def test_the_poll_counts_matching_messages_stored_after_the_page_was_drawn(
    client: Client, owner: User, stream, fake_source: Source
):
    c = login(client, owner)
    page = content(c.get(url("language=it")))
    poll = re.search(r'hx-get="(/w/acme/stream/new/[^"]+)"', page)[1].replace("&amp;", "&")
    assert content(c.get(poll)).strip() == ""

    ingest(
        fake_source,
        raw("n1", text="nuovo messaggio", minutes=5000, language="it"),
        raw("n2", text="new message", minutes=5001, language="en"),
        # Old history imported late is new to the reader too.
        raw("n3", text="vecchio messaggio", minutes=-5000, language="it"),
    )

    html = content(c.get(poll))
    assert "2 new messages" in html
    assert 'hx-get="/w/acme/stream/?language=it"' in html


def test_the_poll_rejects_a_bad_watermark_without_error_page(client: Client, owner: User, stream):
    response = login(client, owner).get("/w/acme/stream/new/?after=abc")

    assert response.status_code == 400


def test_the_poll_is_scoped_like_the_page(client: Client, outsider: User, volunteer: User, stream):
    assert login(client, outsider).get("/w/acme/stream/new/?after=0").status_code == 404
    assert "5 new messages" in content(login(Client(), volunteer).get("/w/acme/stream/new/?after=0"))


# --- hostile text and links ---------------------------------------------------------------------------------


def test_hostile_text_and_titles_are_shown_as_text(client: Client, owner: User, fake_source: Source):
    ingest(
        fake_source,
        raw(
            "x1", author="<img src=x onerror=alert(1)>", text="<script>alert('x')</script>\nline two", title="<b>t</b>"
        ),
    )

    html = content(login(client, owner).get(url()))

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;<br>line two" in html
    assert "<b>t</b>" not in html
    assert "&lt;b&gt;t&lt;/b&gt;" in html
    assert "<img src=x" not in html


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        ("https://forum.example.org/t/1", True),
        ("http://example.org/a?b=1&c=2", True),
        ("javascript:alert(document.cookie)", False),
        ("JavaScript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("//evil.example.org/", False),
        ("https:///nohost", False),
    ],
)
def test_only_http_links_to_the_original_are_shown(client: Client, owner: User, fake_source: Source, link, shown):
    ingest(fake_source, raw("u1", text="look", url=link))

    html = content(login(client, owner).get(url()))

    anchor = re.search(
        r'<a class="message-link" href="([^"]*)" target="_blank" rel="noopener noreferrer nofollow">', html
    )
    assert bool(anchor) is shown
    if shown:
        assert anchor[1] == link.replace("&", "&amp;")
    assert "javascript:" not in html.lower()


def test_long_text_is_cut_with_show_more_and_kept_whole_inside(client: Client, owner: User, fake_source: Source):
    long_text = "word " * 300
    ingest(fake_source, raw("long", text=long_text))

    html = content(login(client, owner).get(url()))

    assert "Show more" in html
    assert html.count("word word") > 0
    assert (long_text.strip()) in html  # the whole text, in the expandable part


def test_reply_and_thread_context(client: Client, owner: User, fake_source: Source):
    ingest(
        fake_source,
        raw("root", text="Which plan should I pick?", minutes=0),
        raw("r1", author="bob", text="The yearly one", minutes=1, parent="root"),
    )

    html = content(login(client, owner).get(url()))

    assert "Reply in a conversation" in html
    assert "Started a conversation · 2 messages" in html
    thread_id = Message.objects.get(external_id="root").thread_id
    threaded = content(client.get(url(f"thread={thread_id}")))
    assert texts(threaded) == ["The yearly one", "Which plan should I pick?"]
    assert "One conversation" in threaded
    assert f'<input type="hidden" name="thread" value="{thread_id}">' in threaded


def test_reactions_joins_and_leaves_take_one_line(client: Client, owner: User, fake_source: Source):
    ingest(
        fake_source,
        raw("post", text="New beans are in", minutes=0, title="Beans"),
        raw("heart", author="bob", text="❤", minutes=1, kind="reaction", parent="post"),
    )

    html = content(login(client, owner).get(url()))

    compact = re.search(r'<li class="message message-compact" id="message-\d+">(.*?)</li>', html, re.S)[1]
    assert '<span class="badge badge-kind">Reaction</span>' in compact
    assert '<span class="compact-text">❤</span>' in compact
    assert "In “Beans”" in compact
    assert texts(html) == ["New beans are in"]


# --- empty states --------------------------------------------------------------------------------------------


def test_empty_workspace_points_a_manager_to_sources(client: Client, manager: User, workspace: Workspace):
    html = content(login(client, manager).get(url()))

    assert "No sources yet" in html
    assert 'href="/w/acme/sources/new/"' in html


def test_empty_workspace_tells_a_volunteer_whom_to_ask(client: Client, volunteer: User, workspace: Workspace):
    html = content(login(client, volunteer).get(url()))

    assert "Ask a community manager of this workspace to connect one." in html
    assert "/sources/" not in html


def test_no_match_offers_to_clear_the_filters(client: Client, owner: User, stream):
    html = content(login(client, owner).get(url("q=zebra"), **HTMX))

    assert "No messages match these filters" in html


# --- access and navigation -----------------------------------------------------------------------------------


def test_outsider_gets_404_and_anonymous_is_sent_to_sign_in(client: Client, outsider: User, stream):
    assert client.get(url()).status_code == 302
    assert client.get(url())["Location"] == "/accounts/login/?next=/w/acme/stream/"
    assert login(client, outsider).get(url()).status_code == 404


def test_navigation_shows_only_what_the_role_may_use(client: Client, volunteer: User, manager: User, stream):
    volunteer_nav = content(login(client, volunteer).get(url()))
    manager_nav = content(login(Client(), manager).get(url()))

    assert 'href="/w/acme/sources/"' not in volunteer_nav
    assert 'href="/w/acme/moderation/"' in volunteer_nav
    assert "Analytics <small" not in volunteer_nav
    assert 'href="/w/acme/sources/"' in manager_nav
    assert 'href="/w/acme/team/"' in manager_nav
    assert 'href="/w/acme/team/"' not in volunteer_nav
    assert 'href="/w/acme/members/"' in manager_nav
    assert 'href="/w/acme/members/"' not in volunteer_nav
    for area in ("inbox", "moderation", "analytics"):
        assert f'href="/w/acme/{area}/"' in manager_nav
    assert 'href="/w/acme/inbox/"' in volunteer_nav  # volunteers work the conversations assigned to them
    assert 'href="/w/acme/analytics/"' not in volunteer_nav
    assert '<span class="nav-soon" aria-disabled="true" title="Publishing is coming in a later version">' in manager_nav


def test_the_stream_remembers_the_workspace_for_the_home_page(client: Client, owner: User, stream):
    c = login(client, owner)
    c.get(url())

    assert c.get("/")["Location"] == "/w/acme/stream/"
    assert c.session["workspace"] == "acme"


def test_the_page_is_translated(client: Client, owner: User, stream):
    c = login(client, owner)
    c.cookies["django_language"] = "it"

    html = content(c.get(url()))

    assert '<html lang="it">' in html
    assert "Cerca" in html


def test_a_language_saved_in_the_account_is_changed_in_the_account_settings(client: Client, owner: User, stream):
    owner.language = "ru"
    owner.save(update_fields=["language"])

    html = content(login(client, owner).get(url()))

    assert '<html lang="ru">' in html
    assert 'Язык: Русский · <a href="/accounts/settings/">изменить</a>' in html
    assert 'name="language" value="it"' not in html  # no session switcher that the account would override
