"""The richer profile: engagement explained, facts (estimated time zone, organisation), message count as it is
now, keyset-paged timeline (HTMX and plain), other apps' panels only when they exist; tenancy and roles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.accounts.roles import Perm
from communa.members.engagement import views as engagement_views
from communa.members.models import Member
from tests.conftest import login
from tests.members.engagement_helpers import NOW, ingest, member, process, row

pytestmark = pytest.mark.django_db
FORUM = "discourse:forum"


@pytest.fixture
def lucia(workspace: Workspace) -> Member:
    """Lucía answers 30 questions over a week, in Spanish, mornings and evenings in UTC+1."""
    rows = []
    start = (NOW - timedelta(days=8)).replace(hour=0)
    for i in range(30):
        at = start + timedelta(days=i // 4, hours=(7, 9, 18, 20)[i % 4])  # 8, 10, 19, 21 local time
        rows.append(row(f"q{i}", f"asker{i % 5}", f"¿Pregunta {i}?", at - timedelta(minutes=30), language="es"))
        rows.append(
            row(f"a{i}", "lucia", f"Respuesta número {i}", at, thread=f"q{i}", parent=f"q{i}", language="es",
                email="lucia@tostadores.es")
        )  # fmt: skip
    ingest(workspace, FORUM, rows)
    process(workspace, NOW)
    return member(workspace, FORUM, "lucia")


def test_profile_explains_engagement_and_shows_facts(client: Client, analyst: User, lucia: Member) -> None:
    Member.objects.filter(pk=lucia.pk).update(message_count=0)  # a counter the task has not refreshed yet
    html = login(client, analyst).get(f"/w/acme/members/{lucia.pk}/").content.decode()
    assert 'class="badge level-champion"' in html
    assert "30 helpful replies" in html
    assert "in 30 days; score" in html
    assert "≥ 80" in html
    assert "UTC+1" in html
    assert "estimated from their hours of activity" in html
    assert "tostadores.es" in html
    assert "from their email domain" in html
    assert "<dd>30</dd>" in html  # counted now, never "0 messages"


def test_timeline_is_paged_with_htmx(client: Client, analyst: User, lucia: Member) -> None:
    c = login(client, analyst)
    html = c.get(f"/w/acme/members/{lucia.pk}/").content.decode()
    assert html.count('<li class="card" id="message-') == engagement_views.TIMELINE_PAGE
    assert "Respuesta número 29" in html
    start = html.index('hx-get="/w/acme/members/') + len('hx-get="')
    more = html[start : html.index('"', start)].replace("&amp;", "&")
    fragment = c.get(more, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment
    assert fragment.count('<li class="card" id="message-') == 30 - engagement_views.TIMELINE_PAGE
    assert "Respuesta número 0" in fragment
    assert "Older activity" not in fragment
    page = c.get(more).content.decode()  # without HTMX: a whole page
    assert "<html" in page
    assert c.get(f"/w/acme/members/{lucia.pk}/timeline/?cursor=junk").status_code == 200


def test_panels_render_only_for_apps_that_have_them(
    client: Client, analyst: User, lucia: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engagement_views, "PANELS", (("nowhere:member_panel", "conversations", (Perm.VIEW_MEMBERS,)),))
    html = login(client, analyst).get(f"/w/acme/members/{lucia.pk}/").content.decode()
    assert "conversations-panel" not in html
    monkeypatch.setattr(engagement_views, "PANELS", (("members:timeline", "moderation", (Perm.VIEW_MEMBERS,)),))
    html = client.get(f"/w/acme/members/{lucia.pk}/").content.decode()
    assert f'hx-get="/w/acme/members/{lucia.pk}/timeline/"' in html
    assert 'id="moderation-panel"' in html
    # A panel the viewer's role may not open is not offered (an analyst moderates nothing).
    monkeypatch.setattr(engagement_views, "PANELS", (("members:timeline", "moderation", (Perm.MODERATE,)),))
    assert 'id="moderation-panel"' not in client.get(f"/w/acme/members/{lucia.pk}/").content.decode()


def test_staff_profile_says_they_are_left_out(client: Client, analyst: User, workspace: Workspace) -> None:
    ingest(workspace, FORUM, [row("s1", "sam", "Hello from the team", NOW)])
    sam = member(workspace, FORUM, "sam")
    Member.objects.filter(pk=sam.pk).update(is_staff=True)
    process(workspace, NOW)
    html = login(client, analyst).get(f"/w/acme/members/{sam.pk}/").content.decode()
    assert "Team members and bots are left out of engagement and levels." in html


def test_timeline_denied_paths(client: Client, volunteer: User, outsider: User, lucia: Member) -> None:
    assert login(client, volunteer).get(f"/w/acme/members/{lucia.pk}/timeline/").status_code == 403
    assert login(client, outsider).get(f"/w/acme/members/{lucia.pk}/timeline/").status_code == 404
    assert login(client, outsider).get(f"/w/rival/members/{lucia.pk}/timeline/").status_code == 404
