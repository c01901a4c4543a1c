"""The stream in a real browser (Debian's Chromium through Playwright): sign in, read, filter, go back.

Playwright never downloads a browser here: it drives /usr/bin/chromium. Without it the tests skip with a
reason, except on CI (CI=true), where a missing browser is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_django.live_server_helper import LiveServer

from communa.accounts.models import User, Workspace
from communa.connectors.models import Source
from communa.connectors.services import create_source
from communa.ingest.services import ingest_events
from tests.conftest import PASSWORD, FakeConfig, raw

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (make test-deps) to run the browser tests"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django refuses ORM calls next to a running
    # loop unless told that this thread is not async code (it is not: the loop only drives the browser).
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def room(workspace: Workspace, fake_connector: Any) -> Source:
    source = create_source(workspace=workspace, kind="fake", name="Community room", config=FakeConfig(), actor=None)
    ingest_events(
        source=source,
        events=[
            raw("1", "lucia", "Buongiorno! Quando arriva il rimborso?", minutes=0, language="it"),
            raw("2", "sam", "When will my refund arrive?", minutes=1, language="en"),
            raw("3", "marco", "Il rimborso è arrivato, grazie!", minutes=2, language="it"),
            raw("4", "ana", "¿Cuándo llega el reembolso?", minutes=3, language="es"),
            raw("5", "olga", "Когда придёт возврат?", minutes=4, language="ru"),
        ],
    )
    return source


def shown_texts(page: Any) -> list[str]:
    return [text.strip() for text in page.locator(".message .message-text").all_inner_texts()]


def sign_in(page: Any, user: User) -> None:
    page.goto("/w/acme/stream/")
    page.wait_for_url("**/accounts/login/?next=/w/acme/stream/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/w/acme/stream/")


def test_sign_in_then_filter_the_stream_by_language_and_word(page: Any, owner: User, room: Source):
    sign_in(page, owner)

    assert page.locator("h1").inner_text() == "Stream"
    assert shown_texts(page) == [
        "Когда придёт возврат?",
        "¿Cuándo llega el reembolso?",
        "Il rimborso è arrivato, grazie!",
        "When will my refund arrive?",
        "Buongiorno! Quando arriva il rimborso?",
    ]

    page.get_by_role("combobox", name="Language").select_option("it")
    page.wait_for_url("**/w/acme/stream/?language=it")
    page.wait_for_function("document.querySelectorAll('.message').length === 2")
    assert shown_texts(page) == ["Il rimborso è arrivato, grazie!", "Buongiorno! Quando arriva il rimborso?"]

    page.get_by_role("searchbox", name="Search messages").fill("arrivato")
    page.wait_for_url("**/w/acme/stream/?language=it&q=arrivato")
    page.wait_for_function("document.querySelectorAll('.message').length === 1")
    assert shown_texts(page) == ["Il rimborso è arrivato, grazie!"]

    # The filtered URL is shareable: opening it fresh shows the same messages and the same form values.
    page.goto("/w/acme/stream/?language=it&q=arrivato")
    assert shown_texts(page) == ["Il rimborso è arrivato, grazie!"]
    assert page.get_by_role("combobox", name="Language").input_value() == "it"

    page.go_back()
    page.wait_for_url("**/w/acme/stream/?language=it")
    page.wait_for_function("document.querySelectorAll('.message').length === 2")


def test_an_invalid_date_is_explained_next_to_the_field(page: Any, owner: User, room: Source):
    sign_in(page, owner)

    page.goto("/w/acme/stream/?since=2026-02-31&language=es")

    assert page.locator("#filter-error-since").inner_text() == "Enter a date as YYYY-MM-DD."
    assert shown_texts(page) == ["¿Cuándo llega el reembolso?"]

    # The next filter change swaps only the list; the error next to the form is cleared out of band.
    page.get_by_role("combobox", name="Language").select_option("it")
    page.wait_for_url("**/w/acme/stream/?language=it")
    page.wait_for_function("document.querySelectorAll('.message').length === 2")
    assert page.locator("#filter-error-since").inner_text() == ""


def test_choosing_sources_updates_the_list_and_the_summary(page: Any, owner: User, room: Source, workspace):
    other = create_source(workspace=workspace, kind="fake", name="Forum", config=FakeConfig(platform="f"), actor=None)
    ingest_events(source=other, events=[raw("f1", "rita", "Forum post", minutes=10, language="en")])
    sign_in(page, owner)
    assert page.locator(".message").count() == 6

    page.locator(".filter-menu > summary").click()
    page.get_by_label("Forum").check()

    page.wait_for_url(f"**/w/acme/stream/?source={other.pk}")
    page.wait_for_function("document.querySelectorAll('.message').length === 1")
    assert shown_texts(page) == ["Forum post"]
    assert page.locator("#filter-sources-summary").inner_text() == "1 source"


def test_load_more_appends_older_messages(page: Any, owner: User, room: Source):
    ingest_events(source=room, events=[raw(f"old{i}", text=f"older {i}", minutes=-100 + i) for i in range(50)])
    sign_in(page, owner)
    assert page.locator(".message").count() == 50

    page.get_by_role("link", name="Load more").click()

    page.wait_for_function("document.querySelectorAll('.message').length === 55")
    assert shown_texts(page)[-1] == "older 0"
    assert page.get_by_text("You have reached the oldest message.").is_visible()
