"""A community manager connects a Matrix room in a browser and sees a member's message arrive.

Everything is real and runs as a person runs it: Synapse (tests/servers/synapse.py), and Communa started
with `python -m communa.cli run` (the web server and its worker child, whose listener follows the room) on a
new installation — migrated, with its first user and workspace made through `communa shell -c` — driven by
Debian's Chromium through Playwright. On the PostgreSQL + Redis leg the installation uses a new PostgreSQL
database and Redis task queues (tests/e2e/product.py), on the SQLite leg the embedded default.

Without Chromium or Synapse the test skips with the reason, except under CI=true, where it fails.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.test_stream_browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.matrix import community_room
from tests.e2e.product import CommunaProcess, fresh_deployment
from tests.servers.base import free_port
from tests.servers.synapse import SynapseServer

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

USERNAME = "lena"
PASSWORD = "a long passphrase for lena"  # a test account on a throwaway installation
WORKSPACE = "friends"
ARRIVAL_SECONDS = 30  # from the member's send to the message on the stream page

# What a person would type into `communa shell` to create the first account and its workspace.
FIRST_ACCOUNT = f"""
from communa.accounts.models import User
from communa.accounts.services import create_workspace
lena = User.objects.create_user(username={USERNAME!r}, email="lena@example.org", password={PASSWORD!r})
create_workspace(name="Friends of Communa", owner=lena, slug={WORKSPACE!r})
"""


@dataclasses.dataclass(frozen=True)
class Site:
    url: str
    server: CommunaProcess

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's and its worker's log, without the request lines, to explain a failure."""
        kept = [line for line in self.server.log_text().splitlines() if "HTTP Request:" not in line]
        return "\n".join(kept[-lines:])


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A new Communa installation served by `communa run` (web server and worker) on a free port."""
    with fresh_deployment(tmp_path) as deployment:
        deployment.command("migrate", "--no-input")
        deployment.command("shell", "-c", FIRST_ACCOUNT)
        for attempt in range(1, 4):  # another process may take the free port before the server binds it
            url = f"http://127.0.0.1:{free_port()}"
            server = deployment.process(f"communa-run-{attempt}", "run", "--port", url.rsplit(":", 1)[1])
            server.start()
            try:
                server.wait_until(lambda url=url: healthy(url), timeout=90)  # type: ignore[misc]
            except RuntimeError:
                server.stop()
                if attempt == 3:
                    raise
                continue
            site = Site(url, server)
            try:
                yield site
            finally:
                print(f"The end of communa run's log (shown when the test fails):\n{site.log_tail()}")
                server.stop()
            return


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium (checked before anything is installed or started)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (make test-deps) to run the browser tests"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def sign_in(page: Any) -> None:
    page.goto("/")
    page.wait_for_url("**/accounts/login/**")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/w/{WORKSPACE}/stream/")


def open_sources(page: Any) -> None:
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Sources").click()
    page.wait_for_url(f"**/w/{WORKSPACE}/sources/")


def add_matrix_source(page: Any, synapse: SynapseServer, room: str) -> None:
    open_sources(page)
    page.get_by_role("link", name="Add your first source").click()
    page.get_by_role("link", name=re.compile(r"^Matrix rooms")).click()
    page.wait_for_url(f"**/w/{WORKSPACE}/sources/new/matrix/")
    page.get_by_label("Name", exact=True).fill("Friends room")
    page.get_by_label("Homeserver address", exact=True).fill(synapse.base_url)
    page.get_by_label("Bot's Matrix ID", exact=True).fill(synapse.bot.user_id)
    page.get_by_label("Bot access token", exact=True).fill(synapse.bot.access_token)
    page.get_by_label("Rooms to follow", exact=True).fill(room)
    page.get_by_role("button", name="Connect source").click()
    page.wait_for_url(re.compile(rf"/w/{WORKSPACE}/sources/\d+/$"))


def wait_for_message(page: Any, site: Site, text: str) -> float:
    """Reload the stream until a message with exactly `text` is shown; return the seconds it took."""
    started = time.monotonic()
    shown = page.locator(".message .message-text").filter(has_text=re.compile(rf"^{re.escape(text)}$"))
    while time.monotonic() - started < ARRIVAL_SECONDS:
        page.goto(f"/w/{WORKSPACE}/stream/")
        if shown.count():
            return time.monotonic() - started
        time.sleep(1)
    open_sources(page)
    status = page.locator(".sources-table tbody tr").first.inner_text()
    raise AssertionError(
        f"“{text}” did not reach the stream in {ARRIVAL_SECONDS} s. The source:\n{status}\n"
        f"The server's log:\n{site.log_tail()}"
    )


def test_a_manager_connects_a_matrix_room_and_a_members_message_arrives_in_the_stream(
    synapse: SynapseServer, page: Any, site: Site
) -> None:
    room = community_room(synapse, name="Friends of Communa")
    sign_in(page)

    add_matrix_source(page, synapse, room)

    assert page.get_by_role("status").inner_text() == "The source “Friends room” is connected."
    status = page.locator(".status-card")
    assert status.locator(".badge-outline").all_inner_texts() == ["Polls", "Live stream", "Can reply", "Can moderate"]
    open_sources(page)
    row = page.locator(".sources-table tbody tr")
    assert row.count() == 1
    assert row.locator("td").first.inner_text().splitlines() == ["Friends room", "Matrix rooms"]
    assert row.locator(".badge-outline").all_inner_texts() == ["Polls", "Live stream", "Can reply", "Can moderate"]

    text = f"Hello from the Matrix room! ({secrets.token_hex(3)})"
    synapse.member.say(room, text)

    wait_for_message(page, site, text)
    message = page.locator(".message", has=page.locator(".message-text", has_text=text))
    assert message.locator(".message-author").inner_text().split() == ["alice", synapse.member.user_id]
    assert message.locator(".message-where").inner_text() == "Friends room · Matrix rooms"

    # The Sources page counts what arrived: the owner's, the member's and the bot's joins, and the message.
    open_sources(page)
    assert row.locator(".status-active").inner_text() == "Active"
    assert row.locator("td.num").inner_text() == "4"
