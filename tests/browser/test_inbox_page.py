"""The inbox in a real browser (Debian's Chromium): three panes on a laptop screen, keyboard, composer, bulk.

Screenshots of each state go to $COMMUNA_SCREENSHOTS (when set), to look at the pages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_django.live_server_helper import LiveServer

from communa.accounts.models import User, Workspace
from communa.connectors.services import create_source
from communa.enrichment.services import enrich_messages
from communa.inbox import services
from communa.inbox.models import Conversation, Reply, SavedReply, SavedReplyVariant
from communa.members.models import Member
from communa.stream.models import Message
from tests.browser.test_stream_browser import browser  # noqa: F401 (the fixture)
from tests.conftest import PASSWORD, FakeConfig
from tests.inbox.test_views_fixtures import conversation, ingest, raw

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SHOTS = os.environ.get("COMMUNA_SCREENSHOTS", "")


def shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


@pytest.fixture
def laptop(browser: Any, live_server: LiveServer) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def inbox(workspace: Workspace, fake_connector: Any, manager: User, owner: User) -> dict[str, Any]:
    source = create_source(workspace=workspace, kind="fake", name="Community forum", config=FakeConfig(), actor=None)
    m = ingest(
        source,
        raw("h1", "lucia", "How do I reset my password?", -3000),
        raw("h2", "support", "Use the 'Forgot password' link, then check your mail.", -2990, parent="h1"),
        raw("q1", "sam", "I can't log in, how can I reset my password?", -50),
        raw("q2", "ana", "The app keeps crashing since the update, this is really frustrating!", -30),
        raw("q3", "giulia", "Quando arriva il rimborso del mio ordine?", -20, language="it"),
        raw("q4", "olga", "Когда будет новая версия?", -10, language="ru"),
        raw("q5", "ben", "Is there a dark mode?", -5),
    )  # fmt: skip
    Member.objects.filter(identities__external_id="support").update(is_staff=True)
    enrich_messages(message_ids=[msg.pk for msg in m.values()])
    convs = {
        "password": conversation(workspace, m["q1"], priority=45),
        "crash": conversation(workspace, m["q2"], priority=72, reason="complaint"),
        "refund": conversation(workspace, m["q3"], priority=38, language="it"),
        "release": conversation(workspace, m["q4"], priority=22, language="ru"),
        "dark": conversation(workspace, m["q5"], priority=20),
    }
    Conversation.objects.filter(pk=convs["crash"].pk).update(
        assignee=owner, priority_reasons=[
            {"code": "reason", "points": 30, "reason": "complaint"}, {"code": "negative", "points": 15},
            {"code": "waiting", "points": 20, "minutes": 480}, {"code": "member", "points": 7, "messages": 42},
        ],
    )  # fmt: skip
    services.add_note(conversation=convs["crash"], author=owner, text="@marco this looks like the 2.3 regression")
    reset = SavedReply.objects.create(
        workspace=workspace, title="Password reset", shortcut="reset",
        body="Hi {first_name}, use the 'Forgot password' link on the sign-in page.", language="en",
    )  # fmt: skip
    SavedReplyVariant.objects.create(saved_reply=reset, language="it", body="Ciao {first_name}, usa il link.")
    SavedReply.objects.create(workspace=workspace, title="Refund times", shortcut="refund", body="Refunds take 5 days.")
    return {"source": source, "messages": m, "convs": convs}


def sign_in(page: Any, user: User, path: str = "/w/acme/inbox/") -> None:
    page.goto(path)
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{path}")


def test_the_inbox_on_a_laptop_screen(laptop: Any, manager: User, inbox: dict[str, Any]) -> None:
    page = laptop
    convs = inbox["convs"]
    sign_in(page, manager)
    rows = page.locator("[data-row]")
    assert rows.count() == 5
    assert rows.first.get_attribute("data-id") == str(convs["crash"].pk)  # most urgent first
    # The three panes fit the window: nothing scrolls the page itself.
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight + 1")
    shot(page, "inbox-list")

    page.keyboard.press("j")  # the first conversation opens in the middle pane
    page.wait_for_selector(f"[data-conversation='{convs['crash'].pk}']")
    page.wait_for_url(f"**/w/acme/inbox/{convs['crash'].pk}/")
    assert "this looks like the 2.3 regression" in page.locator("#conv-timeline").inner_text()
    page.keyboard.press("j")
    page.wait_for_selector(f"[data-conversation='{convs['password'].pk}']")
    # The suggested answer: the same question, answered before by the team.
    page.wait_for_selector("[data-suggestion]")
    assert "Forgot password" in page.locator("#conv-suggestions").inner_text()
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight + 1")
    shot(page, "inbox-conversation")

    page.keyboard.press("r")
    page.keyboard.type("/res")
    page.wait_for_selector("[data-picker] .picker-item")
    shot(page, "inbox-saved-reply-picker")
    page.keyboard.press("Enter")
    assert (
        page.locator("[data-reply-text]").input_value() == "Hi Sam, use the 'Forgot password' link on the sign-in page."
    )
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("[data-reply-state]")
    reply = Reply.objects.get(conversation=convs["password"])
    assert reply.saved_reply is not None
    assert reply.saved_reply.shortcut == "reset"

    page.keyboard.press("Escape")
    page.locator("body").press("e")  # resolve
    page.wait_for_selector("button[name='state'][value='open']")
    convs["password"].refresh_from_db()
    assert convs["password"].state == "resolved"

    page.keyboard.press("?")
    page.wait_for_selector("#inbox-help[open]")
    shot(page, "inbox-help")
    page.keyboard.press("Escape")


def test_bulk_resolve_and_translated_page(laptop: Any, manager: User, inbox: dict[str, Any]) -> None:
    page = laptop
    convs = inbox["convs"]
    sign_in(page, manager)
    page.locator(f"[data-row][data-id='{convs['dark'].pk}'] .inbox-check").check()
    page.locator(f"[data-row][data-id='{convs['release'].pk}'] .inbox-check").check()
    assert page.locator("[data-bulk-bar]").is_visible()
    shot(page, "inbox-bulk")
    page.locator("[data-bulk-bar] button[type='submit']").click()
    page.wait_for_selector(".alert-success")
    assert set(Conversation.objects.filter(state="resolved").values_list("pk", flat=True)) == {
        convs["dark"].pk, convs["release"].pk,
    }  # fmt: skip
    assert page.locator("[data-row]").count() == 3

    page.goto(f"/w/acme/inbox/{convs['refund'].pk}/")
    page.evaluate("document.cookie = 'django_language=it; path=/'")
    page.reload()
    assert page.locator("h1").inner_text() == "Posta in arrivo"
    shot(page, "inbox-italian")
    assert Message.objects.count() == 7


def test_a_shared_view_reaches_the_whole_team(
    laptop: Any,
    browser: Any,  # noqa: F811 - the fixture imported above
    live_server: LiveServer,
    manager: User,
    owner: User,
    inbox: dict[str, Any],
) -> None:
    page = laptop
    sign_in(page, manager, "/w/acme/inbox/?language=it")
    assert page.locator("[data-row]").count() == 1
    page.locator(".inbox-share-view summary").click()
    page.get_by_label("Name of the view the whole team will see").fill("Italiano")
    page.get_by_role("button", name="Share with the team").click()
    page.wait_for_selector(".alert-success")
    shot(page, "inbox-shared-view")
    # The owner, in another browser session, finds it beside the built-in views and opens the same list.
    other = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768}).new_page()
    sign_in(other, owner)
    other.locator("[data-shared-view]", has_text="Italiano").click()
    other.wait_for_url("**/w/acme/inbox/?language=it")
    assert other.locator("[data-row]").count() == 1
    assert other.locator("[data-row]").first.get_attribute("data-id") == str(inbox["convs"]["refund"].pk)
    other.context.close()
