"""The stream page with signals: badges and their reasons, the correction menu by role, the filters, and a query
count that does not grow."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from communa.accounts.models import User
from communa.connectors.models import Source
from communa.enrichment.services import enrich_messages
from communa.ingest.services import ingest_events
from communa.stream.models import Message
from tests.conftest import login, raw
from tests.enrichment.conftest import TinyModels

pytestmark = pytest.mark.django_db

STREAM = "/w/acme/stream/"


@pytest.fixture
def analysed(fake_source: Source, tiny_models: TinyModels) -> dict[str, int]:
    ids = ingest_events(
        source=fake_source,
        events=[
            raw("rude", text="you are an idiot", minutes=1),
            raw("ask", text="How do I change my e-mail address?", minutes=2),
            raw("shop", text="buy followers at http://spam.example and http://more.example", author="s", minutes=3),
            raw("fun", text="this update is fucking awesome", minutes=4),
            raw("emoji", text="😀😀😀", minutes=5),
        ],
    ).message_ids
    enrich_messages(message_ids=ids)
    return dict(Message.objects.values_list("external_id", "pk"))


def article(html: str, pk: int) -> str:
    match = re.search(rf'<li class="message" id="message-{pk}">(.*?)</li>', html, re.DOTALL)
    assert match, f"message {pk} not on the page"
    return match.group(1)


def badges(html: str) -> list[tuple[str, str]]:
    """(label, title) of each signal badge."""
    return re.findall(r'<span class="badge [^"]*signal-[^"]*" title="([^"]*)">([^<]*)<', html)


def test_badges_with_reasons_on_hover(client: Client, volunteer: User, analysed: dict[str, int]) -> None:
    html = login(client, volunteer).get(STREAM).content.decode()

    assert [(label, title) for title, label in badges(article(html, analysed["rude"]))] == [
        ("Toxic", "Toxic 90%; insult 85%; insult: &quot;idiot&quot;"),
        ("Neutral", "Neutral 80% · Negative 10% · Positive 10%"),
    ]
    assert [label for _, label in badges(article(html, analysed["ask"]))] == ["Question", "Neutral"]
    shop = dict((label, title) for title, label in badges(article(html, analysed["shop"])))
    assert shop["Spam"] == "Spam 98%; 2 links; new in the community"
    fun = dict((label, title) for title, label in badges(article(html, analysed["fun"])))
    assert fun["Profane, friendly"] == "Profane but friendly 90%; profanity 90%; profanity: «fucking»"
    assert "Toxic" not in fun
    emoji = dict((label, title) for title, label in badges(article(html, analysed["emoji"])))
    assert emoji["Language unknown"] == "Language unknown; too little text to tell"
    # reasons are also in the text for screen readers, not only in the title
    assert '<span class="visually-hidden">: Toxic 90%; insult 85%; insult: &quot;idiot&quot;</span>' in html


def test_the_correction_menu_is_for_moderating_roles(
    client: Client, volunteer: User, analyst: User, analysed: dict[str, int]
) -> None:
    moderator_page = login(client, volunteer).get(STREAM).content.decode()
    assert f'hx-post="/w/acme/signals/{analysed["rude"]}/correct"' in moderator_page
    assert 'value="not_toxic"' in moderator_page
    analyst_page = login(Client(), analyst).get(STREAM).content.decode()
    assert "/signals/" not in analyst_page
    assert "signal-toxic" in analyst_page  # everyone who reads the stream sees the badges


def test_missing_models_say_not_available(
    client: Client, owner: User, fake_source: Source, tiny_models: TinyModels
) -> None:
    del tiny_models.heads["sentiment"], tiny_models.heads["spam"]
    [pk] = ingest_events(source=fake_source, events=[raw("a", text="a perfectly ordinary message")]).message_ids
    enrich_messages(message_ids=[pk])
    html = article(login(client, owner).get(STREAM).content.decode(), pk)
    assert ("Not available (model not installed): sentiment, spam", "Not available") in badges(html)


def test_the_filters_are_in_the_form_and_applied(client: Client, owner: User, analysed: dict[str, int]) -> None:
    c = login(client, owner)
    page = c.get(STREAM).content.decode()
    assert '<select id="filter-sentiment" name="sentiment"' in page
    assert '<select id="filter-toxic" name="toxic"' in page
    toxic = c.get(STREAM, {"toxic": "true"}).content.decode()
    assert re.findall(r'id="message-(\d+)"', toxic) == [str(analysed["rude"])]
    assert '<option value="true" selected>Toxic</option>' in toxic
    questions = c.get(STREAM, {"question": "true", "sentiment": "neutral"}, HTTP_HX_REQUEST="true").content.decode()
    assert re.findall(r'id="message-(\d+)"', questions) == [str(analysed["ask"])]
    bad = c.get(STREAM, {"toxic": "maybe"}).content.decode()
    assert "Choose from the list." in bad
    assert len(re.findall(r'id="message-(\d+)"', bad)) == 5  # the bad value is left out, not a 500


def test_the_query_count_does_not_grow_with_signals(
    client: Client, owner: User, fake_source: Source, tiny_models: TinyModels
) -> None:
    c = login(client, owner)
    ingest_events(source=fake_source, events=[raw(f"a{i}", text=f"plain {i}", minutes=i) for i in range(3)])
    c.get(STREAM)
    with CaptureQueriesContext(connection) as before:
        c.get(STREAM)
    ids = ingest_events(source=fake_source, events=[raw(f"b{i}", text=f"you are an idiot {i}", author=f"p{i}",
                                                        minutes=10 + i) for i in range(30)]).message_ids  # fmt: skip
    enrich_messages(message_ids=ids)

    with CaptureQueriesContext(connection) as after:
        html = c.get(STREAM).content.decode()

    assert html.count("signal-toxic") == 30
    assert len(after.captured_queries) == len(before.captured_queries)


def test_the_menu_marks_the_current_labels(client: Client, volunteer: User, analysed: dict[str, int]) -> None:
    html = article(login(client, volunteer).get(STREAM).content.decode(), analysed["rude"])
    current = re.findall(r'value="(\w+)" class="menu-item" aria-current="true"', html)
    assert current == ["neutral", "toxic", "not_spam", "not_question"]
