"""The member profile's conversations panel: what the viewer may see of the inbox, about one member."""

from __future__ import annotations

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.connectors.models import Source
from communa.inbox.models import Conversation
from communa.members.models import Member
from communa.stream.models import Message
from tests.conftest import login
from tests.inbox.conftest import post, triage

pytestmark = pytest.mark.django_db


def panel_url(workspace: Workspace, member_id: int) -> str:
    return f"/w/{workspace.slug}/inbox/member/{member_id}/panel/"


def test_the_panel_lists_the_members_conversations(
    client: Client, manager: User, workspace: Workspace, source: Source
) -> None:
    question = post(source, "q1", "ana", "How do I <b>descale</b>?", question=True)
    post(source, "q2", "ben", "Where is my order?", minutes=1, question=True)
    triage(workspace, *Message.objects.filter(source=source).order_by("id"))
    ana = Member.objects.get(pk=question.member_id)
    html = login(client, manager).get(panel_url(workspace, ana.pk)).content.decode()
    mine = Conversation.objects.get(member=ana)
    assert f'href="/w/{workspace.slug}/inbox/{mine.pk}/"' in html
    assert "How do I &lt;b&gt;descale&lt;/b&gt;?" in html
    assert html.count('href="/w/acme/inbox/') == 1  # ben's conversation is not ana's
    assert "Open" in html


def test_profile_offers_the_panel_only_to_roles_that_work_conversations(
    client: Client, manager: User, analyst: User, workspace: Workspace, source: Source
) -> None:
    question = post(source, "q1", "ana", "How do I descale?", question=True)
    profile = f"/w/{workspace.slug}/members/{question.member_id}/"
    assert panel_url(workspace, question.member_id) in login(client, manager).get(profile).content.decode()
    analyst_page = login(Client(), analyst).get(profile).content.decode()
    assert panel_url(workspace, question.member_id) not in analyst_page
    assert login(Client(), analyst).get(panel_url(workspace, question.member_id)).status_code == 403


def test_other_workspaces_members_are_404(
    client: Client, outsider: User, manager: User, workspace: Workspace, other_workspace: Workspace, source: Source
) -> None:
    question = post(source, "q1", "ana", "How do I descale?", question=True)
    assert login(client, outsider).get(panel_url(workspace, question.member_id)).status_code == 404
    assert client.get(panel_url(other_workspace, question.member_id)).status_code == 404
    assert login(Client(), manager).get(panel_url(workspace, 999_999)).status_code == 404
