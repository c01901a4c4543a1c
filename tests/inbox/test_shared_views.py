"""Shared views of the inbox list: made by one person, shown to the whole team, removed by their author or a
manager; the filter is normalized; outsiders and roles without an inbox can do nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.audit.models import AuditEntry
from communa.connectors.models import Source
from communa.inbox import shared_views
from communa.inbox.models import Conversation, SharedView
from communa.inbox.services import InboxError
from tests.conftest import login
from tests.inbox.test_views import listed, url
from tests.inbox.test_views_fixtures import conversation, ingest, raw

pytestmark = pytest.mark.django_db


@pytest.fixture
def convs(workspace: Workspace, fake_source: Source) -> dict[str, Conversation]:
    m = ingest(fake_source, raw("q1", "ana", "How do I reset my password?", 0), raw("q3", "cy", "Come si fa?", 10))
    return {
        "reset": conversation(workspace, m["q1"], priority=35),
        "lingua": conversation(workspace, m["q3"], priority=25, language="it"),
    }


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks: Any) -> Any:
    """Run on_commit callbacks (the cache of the page's pickers is forgotten after commit)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_a_shared_view_shows_for_the_whole_team(
    client: Client, manager: User, owner: User, on_commit: Any, convs: dict[str, Conversation]
) -> None:
    login(client, owner)
    assert client.get(url("index")).context["shared_views"] == []  # the pickers are cached from here
    login(client, manager)
    with on_commit():
        response = client.post(url("share_view"), {"name": "  Italian   questions ", "language": "it", "q": ""})
    view = SharedView.objects.get()
    assert (view.name, view.query, view.created_by) == ("Italian questions", "language=it", manager)
    assert response.status_code == 302
    assert response["Location"] == url("index") + "?language=it"
    assert AuditEntry.objects.filter(action="inbox.view_shared").count() == 1
    # Another person sees it at once, as a link to the filtered list, and the list it opens is filtered.
    login(client, owner)
    page = client.get(url("index"))
    [link] = page.context["shared_views"]
    assert (link["name"], link["url"], link["current"], link["removable"]) == (
        "Italian questions", url("index") + "?language=it", False, True,
    )  # fmt: skip
    assert "Italian questions" in page.content.decode()
    filtered = client.get(link["url"])
    assert listed(filtered) == [convs["lingua"].pk]
    assert filtered.context["shared_views"][0]["current"] is True


def test_the_filter_is_normalized_and_bad_names_are_refused(
    workspace: Workspace, manager: User, on_commit: Any
) -> None:
    with on_commit():
        view = shared_views.share_view(
            workspace=workspace, actor=manager, name="Urgent",
            params={"priority": "urgent", "state": "open", "sort": "bogus", "evil": "<script>", "team": "x"},
        )  # fmt: skip
    assert view.query == "priority=urgent"  # defaults and nonsense dropped, unknown keys ignored
    with pytest.raises(InboxError, match="needs a name"):
        shared_views.share_view(workspace=workspace, actor=manager, name="   ", params={})
    with pytest.raises(InboxError, match="at most 40"):
        shared_views.share_view(workspace=workspace, actor=manager, name="x" * 41, params={})
    with pytest.raises(InboxError, match="already a shared view"):
        shared_views.share_view(workspace=workspace, actor=manager, name="Urgent", params={})
    assert SharedView.objects.count() == 1


def test_who_may_remove_a_shared_view(
    client: Client, workspace: Workspace, manager: User, volunteer: User, owner: User, on_commit: Any
) -> None:
    with on_commit():
        mine = shared_views.share_view(workspace=workspace, actor=volunteer, name="Mine", params={"assignee": "me"})
        theirs = shared_views.share_view(workspace=workspace, actor=manager, name="Billing", params={"q": "invoice"})
    login(client, volunteer)
    links = {v["name"]: v["removable"] for v in client.get(url("index")).context["shared_views"]}
    assert links == {"Billing": False, "Mine": True}
    assert client.post(url("remove_view", theirs.pk)).status_code == 403  # not theirs, and not a manager
    assert SharedView.objects.filter(pk=theirs.pk).exists()
    with on_commit():
        assert client.post(url("remove_view", mine.pk)).status_code == 302
    login(client, owner)
    with on_commit():
        assert client.post(url("remove_view", theirs.pk)).status_code == 302  # a manager may tidy up
    assert not SharedView.objects.exists()
    assert AuditEntry.objects.filter(action="inbox.view_removed").count() == 2
    assert client.get(url("index")).context["shared_views"] == []


def test_outsiders_and_roles_without_an_inbox_cannot_share_or_remove(
    client: Client, workspace: Workspace, manager: User, analyst: User, outsider: User, on_commit: Any
) -> None:
    view = shared_views.share_view(workspace=workspace, actor=manager, name="Open", params={})
    login(client, outsider)
    assert client.post(url("share_view"), {"name": "Spy"}).status_code == 404
    assert client.post(url("remove_view", view.pk)).status_code == 404
    login(client, analyst)
    assert client.post(url("share_view"), {"name": "Numbers"}).status_code == 403
    assert client.post(url("remove_view", view.pk)).status_code == 403
    with pytest.raises(PermissionError):
        shared_views.share_view(workspace=workspace, actor=outsider, name="Spy", params={})
    assert list(SharedView.objects.values_list("name", flat=True)) == ["Open"]
    # Another workspace's view id is a 404 here, never a 403.
    login(client, manager)
    rival = SharedView.objects.create(workspace=outsider.memberships.get().workspace, name="Theirs", query="")
    assert client.post(url("remove_view", rival.pk)).status_code == 404
    assert SharedView.objects.filter(pk=rival.pk).exists()


def test_a_shared_view_name_is_escaped(client: Client, workspace: Workspace, manager: User, on_commit: Any) -> None:
    with on_commit():
        shared_views.share_view(workspace=workspace, actor=manager, name="<img src=x onerror=alert(1)>", params={})
    login(client, manager)
    body = client.get(url("index")).content.decode()
    assert "<img src=x" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_the_shared_views_are_translated(client: Client, manager: User) -> None:
    login(client, manager)
    body = client.get(url("index"), HTTP_ACCEPT_LANGUAGE="it").content.decode()
    assert "Condividi questo elenco…" in body
    response = client.post(url("share_view"), {"name": ""}, follow=True, HTTP_ACCEPT_LANGUAGE="ru")
    assert "Общему представлению нужно название." in response.content.decode()
