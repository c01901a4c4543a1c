"""Analytics in a real browser: open the overview, change the range, drill into a spike and land on its messages.

Playwright drives Debian's Chromium (/usr/bin/chromium); see test_stream_browser.py for the conventions.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from communa.accounts.models import User, Workspace
from communa.analytics import rollups
from communa.connectors.base import RawItem
from communa.connectors.models import Source
from communa.connectors.services import create_source
from communa.ingest.services import ingest_events
from communa.stream.models import Message
from tests.browser.test_stream_browser import browser, page, sign_in  # noqa: F401 - fixtures
from tests.conftest import FakeConfig

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SPIKE_DAYS_AGO = 3


def at(days_ago: int, hour: int, minute: int = 0) -> datetime:
    day = datetime.now(UTC).date() - timedelta(days=days_ago)
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


@pytest.fixture
def busy_room(workspace: Workspace, fake_connector: Any) -> Source:
    """Two messages a day for three weeks, and twelve complaints about a broken grinder three days ago."""
    source = create_source(workspace=workspace, kind="fake", name="Community room", config=FakeConfig(), actor=None)
    items = []
    for days_ago in range(1, 22):
        for n in range(2):
            ext = f"d{days_ago}-{n}"
            items.append(
                RawItem(
                    external_id=ext,
                    payload={
                        "id": ext,
                        "author": f"regular{n}",
                        "text": "Morning all",
                        "at": at(days_ago, 8 + n).isoformat(),
                    },
                )
            )
    for n in range(12):
        ext = f"spike-{n}"
        text = f"My grinder broke after the update ({n})"
        items.append(
            RawItem(
                external_id=ext,
                payload={"id": ext, "author": f"upset{n}", "text": text, "at": at(SPIKE_DAYS_AGO, 14, n).isoformat()},
            )
        )
    ingest_events(source=source, events=items)
    ids = list(Message.objects.filter(source=source).values_list("id", flat=True))
    rollups.apply_batch(workspace=workspace, message_ids=ids)
    rollups.refresh_dirty(workspace=workspace)
    return source


def test_open_overview_change_range_and_drill_into_the_spike(page: Any, owner: User, busy_room: Source) -> None:  # noqa: F811
    sign_in(page, owner)
    page.goto("/w/acme/analytics/")
    assert page.locator("h1").inner_text() == "Analytics"
    assert page.locator("#kpi-messages .kpi-value").inner_text() == "54"  # 28 days: 21 × 2 + 12

    page.get_by_role("link", name="7 days").click()
    page.wait_for_url("**/w/acme/analytics/?range=7d")
    assert page.locator("#kpi-messages .kpi-value").inner_text() == "24"  # six quiet days × 2 + the spike
    assert page.get_by_role("link", name="7 days").get_attribute("aria-current") == "true"

    spike_day = (datetime.now(UTC).date() - timedelta(days=SPIKE_DAYS_AGO)).isoformat()
    # pygal links each point with xlink:href and repeats the URL in a <desc class="xlink">.
    point = page.locator(f'#chart-messages svg a:has(desc.xlink:has-text("since={spike_day}&until={spike_day}"))')
    assert point.locator("desc.value").text_content() == "14"  # the two regulars and the twelve complaints
    point.click()
    page.wait_for_url(f"**/w/acme/stream/?since={spike_day}&until={spike_day}")
    texts = [t.strip() for t in page.locator(".message .message-text").all_inner_texts()]
    assert len(texts) == 14
    assert sum(t.startswith("My grinder broke after the update") for t in texts) == 12


def test_keyboard_reaches_the_data_table_and_its_links(page: Any, owner: User, busy_room: Source) -> None:  # noqa: F811
    sign_in(page, owner)
    page.goto("/w/acme/analytics/?range=7d")
    summary = page.locator("#chart-messages summary")
    summary.focus()
    page.keyboard.press("Enter")
    spike_day = (datetime.now(UTC).date() - timedelta(days=SPIKE_DAYS_AGO)).isoformat()
    row_link = page.locator(f'#chart-messages table a[href*="since={spike_day}"]')
    assert row_link.is_visible()
    row_link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/w/acme/stream/?since={spike_day}&until={spike_day}")
