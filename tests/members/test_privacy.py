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


def _inbox_and_moderation(workspace: Workspace, owner: User, member: Member) -> dict[str, int]:
    """A DM conversation with Zoltan (notes, a reply waiting in the outbox), his message ending another member's
    conversation, and a moderation decision about him (action with his platform id, review, strike, appeal)."""
    from communa.connectors.base import ModerationAction, ModerationTarget, ReplyTarget
    from communa.inbox.models import Conversation, ConversationMessage, InternalNote, Reply
    from communa.moderation.models import Appeal, Decision, DecisionAction, ReviewItem, Strike
    from communa.outbox.services import enqueue_moderation, enqueue_reply

    m1, m2, m3 = (Message.objects.get(external_id=e) for e in ("m1", "m2", "m3"))
    now = timezone.now()
    dm = Conversation.objects.create(
        workspace=workspace, key="dm:1:@zoltan_k:example.org", source=m1.source, kind="dm",
        channel="@zoltan_k:example.org", member=member, first_message=m1, last_member_message=m1,
        subject="my secret plan", preview="my secret plan", reason="question", opened_at=now, last_message_at=now,
    )  # fmt: skip
    ConversationMessage.objects.create(workspace=workspace, conversation=dm, message=m1, role="member", created_at=now)
    InternalNote.objects.create(workspace=workspace, conversation=dm, author=owner, text="Zoltan Kovacs: kovacs-corp")
    reply = Reply.objects.create(workspace=workspace, conversation=dm, author=owner, text="Hi Zoltan Kovacs!",
                                 in_reply_to=m1)  # fmt: skip
    enqueue_reply(
        workspace=workspace, source=m1.source, idempotency_key=f"inbox-reply-{reply.pk}",
        origin=f"inbox.reply:{reply.pk}", text="Hi Zoltan Kovacs!",
        target=ReplyTarget(channel="@zoltan_k:example.org", message_external_id="m1",
                           recipient="zoltan@kovacs.example"),
    )  # fmt: skip
    other = Member.objects.get(identities__external_id="other")
    thread = Conversation.objects.create(
        workspace=workspace, key="thread:9", source=m2.source, member=other, first_message=m3,
        last_member_message=m2, subject="hello all", preview="mezzo-forte", reason="question", opened_at=now,
        last_message_at=now,
    )  # fmt: skip
    ConversationMessage.objects.create(workspace=workspace, conversation=thread, message=m2, role="member",
                                       created_at=now)  # fmt: skip
    ConversationMessage.objects.create(workspace=workspace, conversation=thread, message=m3, role="member",
                                       created_at=now)  # fmt: skip
    decision = Decision.objects.create(
        workspace=workspace, kind="rule", message=m2, member=member, source=m2.source, rule="insults", verdict="ban",
        explanation={"summary": "insults", "excerpt": "mezzo-forte", "reasons": [{"word": "mezzo-forte"}]},
        reason="Zoltan Kovacs, insults are not allowed",
    )  # fmt: skip
    action = DecisionAction.objects.create(
        workspace=workspace, decision=decision, action="ban", source=m2.source, channel="#general",
        target_user="zoltan_k", params={"text": "Zoltan Kovacs, you are banned"},
    )  # fmt: skip
    enqueue_moderation(
        workspace=workspace, source=m2.source, action=ModerationAction.BAN, idempotency_key=f"mod-{action.pk}",
        target=ModerationTarget(channel="#general", user_external_id="zoltan_k"), reason="Zoltan Kovacs: insults",
        origin=f"moderation.action:{action.pk}",
    )  # fmt: skip
    ReviewItem.objects.create(workspace=workspace, message=m2, member=member, decision=decision,
                              reason="zoltan_k insulted", explanation={"excerpt": "mezzo-forte"})  # fmt: skip
    Strike.objects.create(workspace=workspace, member=member, decision=decision, rule="insults",
                          reason="Zoltan Kovacs strike", expires_at=now + timedelta(days=30))  # fmt: skip
    Appeal.objects.create(workspace=workspace, decision=decision, member=member, channel="link",
                          statement="I am Zoltan Kovacs and I disagree", contact="zoltan@kovacs.example",
                          response="Dear Zoltan Kovacs, upheld")  # fmt: skip
    return {"dm": dm.pk, "thread": thread.pk, "decision": decision.pk, "reply": reply.pk}


def test_erase_reaches_the_inbox_and_moderation(workspace: Workspace, owner: User, zoltan: Member) -> None:
    from communa.inbox.models import Conversation, InternalNote, Reply
    from communa.moderation.models import Appeal, Decision
    from communa.outbox.models import OutboxItem

    ids = _inbox_and_moderation(workspace, owner, zoltan)
    data = privacy.export_data(workspace=workspace, member=zoltan, actor=owner)
    assert [c["subject"] for c in data["conversations"]] == ["my secret plan"]
    assert [n["text"] for n in data["conversation_notes"]] == ["Zoltan Kovacs: kovacs-corp"]
    assert [r["text"] for r in data["replies"]] == ["Hi Zoltan Kovacs!"]
    assert [(d["verdict"], d["reason"]) for d in data["moderation_decisions"]] == [
        ("ban", "Zoltan Kovacs, insults are not allowed")
    ]
    assert [a["statement"] for a in data["appeals"]] == ["I am Zoltan Kovacs and I disagree"]
    assert [s["reason"] for s in data["strikes"]] == ["Zoltan Kovacs strike"]

    counts = privacy.erase_member(workspace=workspace, member=zoltan, actor=owner)

    assert leftovers(SECRETS) == []
    assert counts["erase_inbox"] > 0
    assert counts["erase_moderation"] > 0
    dm = Conversation.objects.get(pk=ids["dm"])
    assert (dm.subject, dm.preview, dm.member_id) == ("", "", zoltan.pk)  # the row stays, for the counts
    thread = Conversation.objects.get(pk=ids["thread"])
    assert (thread.subject, thread.preview) == ("hello all", "")  # the other member's subject stays
    assert InternalNote.objects.get(conversation_id=ids["dm"]).text == ""
    assert Reply.objects.get(pk=ids["reply"]).text == ""
    assert sorted(OutboxItem.objects.values_list("state", flat=True)) == ["cancelled", "cancelled"]
    decision = Decision.objects.get(pk=ids["decision"])
    assert (decision.verdict, decision.rule, decision.explanation) == (
        "ban",
        "insults",
        {"summary": "insults", "erased": True},
    )
    assert Appeal.objects.get().statement == ""


def test_an_eraser_registers_by_import_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privacy, "ERASERS", list(privacy.ERASERS))
    monkeypatch.setattr(privacy, "EXPORTERS", list(privacy.EXPORTERS))
    privacy.register(eraser="tests.members.test_privacy.nothing", exporter="tests.members.test_privacy.nothing")
    privacy.register(eraser="tests.members.test_privacy.nothing")
    assert privacy.ERASERS.count("tests.members.test_privacy.nothing") == 1
    assert (
        privacy.ERASERS.index("tests.members.test_privacy.nothing")
        == privacy.ERASERS.index("communa.members.privacy.erase_identities") - 1
    )
    assert privacy.EXPORTERS[-1] == "tests.members.test_privacy.nothing"
    assert "communa.inbox.privacy.erase_inbox" in privacy.ERASERS
    assert "communa.moderation.privacy.erase_moderation" in privacy.ERASERS


def nothing(subject: privacy.Subject) -> int:
    return 0
