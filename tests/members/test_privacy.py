"""GDPR: export everything held about a member; erase everywhere, checked by scanning every text column of
every table; the audit entry holds no personal data; retention; roles."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import models
from django.test import Client
from django.utils import timezone

from communa.accounts.models import User, Workspace
from communa.audit.models import AuditEntry
from communa.members import annotations, privacy
from communa.members.models import Identity, Member, MergeRecord, MergeSuggestion
from communa.members.services import generate_suggestions, merge_members
from communa.stream.models import Message
from tests.conftest import login
from tests.members.conftest import say

pytestmark = pytest.mark.django_db

SECRETS = ["Zoltan Kovacs", "zoltan_k", "zoltan@kovacs.example", "my secret plan", "kovacs-corp", "mezzo-forte"]


@pytest.fixture
def zoltan(workspace: Workspace, owner: User) -> Member:
    say(workspace, "matrix:example.org", "@zoltan_k:example.org", handle="@zoltan_k:example.org", name="Zoltan Kovacs",
        text="my secret plan", msg_id="m1")  # fmt: skip
    irc = say(workspace, "irc:libera.chat", "zoltan_k", handle="zoltan_k", name="zoltan_k", text="mezzo-forte",
              email="zoltan@kovacs.example", msg_id="m2", minutes=3)  # fmt: skip
    say(workspace, "irc:libera.chat", "other", handle="other", name="Other", text="hello all", msg_id="m3", minutes=4)
    generate_suggestions(workspace=workspace)
    a, b = sorted(Identity.objects.filter(handle__contains="zoltan_k").values_list("member_id", flat=True))
    merge_members(workspace=workspace, into=Member.objects.get(pk=a), merged=Member.objects.get(pk=b), actor=owner)
    member = Member.objects.get(pk=a)
    annotations.add_tags(workspace=workspace, member=member, names=["vip"], actor=owner)
    annotations.add_note(workspace=workspace, member=member, text="Zoltan Kovacs asked about kovacs-corp", author=owner)
    annotations.record_consent(workspace=workspace, member=member, topic="newsletter", granted=True,
                               source="zoltan@kovacs.example signup", actor=owner)  # fmt: skip
    annotations.set_organisation(workspace=workspace, member=member, organisation="kovacs-corp", actor=owner)
    assert irc.member_id is not None
    return member


def leftovers(secrets: list[str]) -> list[str]:
    """Every text column of every table, searched for each secret."""
    found = []
    for model in apps.get_models():
        if not model._meta.managed:
            continue
        columns = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField))
        ]
        for row in model._default_manager.values(*columns) if columns else []:
            blob = json.dumps(row, ensure_ascii=False, default=str).casefold()
            found += [f"{model._meta.label}: {s}" for s in secrets if s.casefold() in blob]
    return found


def test_export_holds_everything(client: Client, manager: User, zoltan: Member) -> None:
    c = login(client, manager)
    data = json.loads(b"".join([c.get(f"/w/acme/members/{zoltan.pk}/data.json").content]))
    assert sorted(i["platform"] for i in data["identities"]) == ["irc:libera.chat", "matrix:example.org"]
    assert sorted(m["text"] for m in data["messages"]) == ["mezzo-forte", "my secret plan"]
    assert data["notes"][0]["text"] == "Zoltan Kovacs asked about kovacs-corp"
    assert data["tags"][0]["tag"] == "vip" and data["consents"][0]["topic"] == "newsletter"  # noqa: PT018
    html = c.get(f"/w/acme/members/{zoltan.pk}/data.html")
    assert html["Content-Disposition"] == f'attachment; filename="member-{zoltan.pk}-data.html"'
    assert "mezzo-forte" in html.content.decode()
    assert AuditEntry.objects.filter(action="members.data_exported").count() == 2


def test_erase_leaves_nothing_personal(client: Client, manager: User, workspace: Workspace, zoltan: Member) -> None:
    assert len(leftovers(SECRETS)) > 5
    messages_before = Message.objects.filter(workspace=workspace).count()
    c = login(client, manager)
    assert c.post(f"/w/acme/members/{zoltan.pk}/erase/", {"confirm": "nope"}).status_code == 200
    assert Identity.objects.filter(member=zoltan).count() == 2  # not confirmed: nothing happened
    response = c.post(f"/w/acme/members/{zoltan.pk}/erase/", {"confirm": str(zoltan.pk)})
    assert response.status_code == 302
    assert leftovers(SECRETS) == []
    assert Message.objects.filter(workspace=workspace).count() == messages_before  # counts stay
    assert Message.objects.get(external_id="m3").text == "hello all"  # other people's data untouched
    assert MergeRecord.objects.count() == MergeSuggestion.objects.count() == 0
    entry = AuditEntry.objects.get(action="members.erased")
    assert entry.data == {"member": zoltan.pk, "members": 2, "identities": 2, "messages": 2}
    assert Member.objects.get(pk=zoltan.pk).erased_at is not None
    assert c.get(f"/w/acme/members/{zoltan.pk}/erase/").status_code == 404


def test_privacy_actions_need_manage_members(client: Client, analyst: User, outsider: User, zoltan: Member) -> None:
    c = login(client, analyst)
    assert c.get(f"/w/acme/members/{zoltan.pk}/data.json").status_code == 403
    assert c.post(f"/w/acme/members/{zoltan.pk}/erase/", {"confirm": str(zoltan.pk)}).status_code == 403
    c = login(client, outsider)
    assert c.post(f"/w/rival/members/{zoltan.pk}/erase/", {"confirm": str(zoltan.pk)}).status_code == 404
    assert Identity.objects.filter(member=zoltan).count() == 2


def test_retention_anonymises_or_deletes_old_messages(workspace: Workspace, zoltan: Member) -> None:
    Message.objects.filter(external_id="m1").update(created_at=timezone.now() - timedelta(days=5000))
    privacy.set_retention(workspace=workspace, message_days=3000, action="anonymise", actor=None)
    assert privacy.apply_retention(workspace=workspace) == 1
    assert privacy.apply_retention(workspace=workspace) == 0  # safe to run twice
    old = Message.objects.get(external_id="m1")
    assert (old.text, old.metadata) == ("", {"retention": "anonymised"})
    assert Message.objects.get(external_id="m2").text == "mezzo-forte"
    privacy.set_retention(workspace=workspace, message_days=3000, action="delete", actor=None)
    assert privacy.apply_retention(workspace=workspace) == 1
    assert not Message.objects.filter(external_id="m1").exists()
    assert privacy.enqueue_due_retention() == 1
