"""The webhook settings in Chromium: add an endpoint, send a test event to a real local receiver, read the log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from pytest_django.live_server_helper import LiveServer

from communa.accounts.models import User
from communa.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.browser.test_inbox_page import shot, sign_in
from tests.browser.test_stream_browser import browser  # noqa: F401 (the fixture)
from tests.webhooks.conftest import Receiver

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": []}}


@pytest.fixture
def laptop(browser: Any, live_server: LiveServer) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def test_add_an_endpoint_and_send_a_test_event(laptop: Any, manager: User, receiver: Receiver) -> None:
    page = laptop
    sign_in(page, manager, "/w/acme/webhooks/")
    shot(page, "webhooks-empty")
    page.get_by_role("link", name="Add your first endpoint").click()
    page.get_by_label("Name").fill("Helpdesk")
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("A conversation was resolved").check()
    page.get_by_label("A response target was missed").check()
    shot(page, "webhooks-form")
    page.get_by_role("button", name="Add endpoint").click()
    page.wait_for_selector("#secret-heading")
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["conversation.created", "conversation.resolved", "sla.breached"]
    with override_settings(TASKS=IMMEDIATE):
        page.get_by_role("button", name="Send a test event").click()
        page.wait_for_selector(".alert-success")
    assert WebhookDelivery.objects.get().state == "delivered"
    assert len(receiver.requests) == 1
    page.reload()
    assert "webhook.ping" in page.locator("#log-heading + .table-wrap").inner_text()
    shot(page, "webhooks-endpoint")
    page.goto("/w/acme/webhooks/")
    shot(page, "webhooks-list")
