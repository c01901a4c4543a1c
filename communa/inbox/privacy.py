"""GDPR for the inbox: what it holds about a member, exported and erased.

Registered by import path in members/privacy.py (EXPORTERS, ERASERS): members is a lower layer and cannot
import the inbox, so it names these functions and resolves them when an export or erasure runs.

A member's conversations are theirs: the subject, preview, the DM channel or key that names them, the team's
notes and the replies written to them. In other conversations (a thread they took part in) only what quotes
or names them goes. Rows stay, emptied, so the inbox's counts and response times stay right.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from communa.core.bulk import chunked
from communa.inbox.models import Activity, Conversation, ConversationMessage, InternalNote, Reply
from communa.members.privacy import Subject, contains_any, erased_id, scrub_json, scrub_rows
from communa.outbox.models import OutboxItem


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None else None


def _theirs(subject: Subject) -> QuerySet[Conversation]:
    return Conversation.objects.filter(workspace=subject.workspace, member_id__in=subject.member_ids)


def _involved_ids(subject: Subject) -> set[int]:
    """Conversations they took part in without being the member they are about."""
    ids: set[int] = set()
    for chunk in chunked(subject.message_ids):
        ids.update(
            ConversationMessage.objects.filter(workspace=subject.workspace, message_id__in=chunk).values_list(
                "conversation_id", flat=True
            )
        )
        ids.update(
            Conversation.objects.filter(workspace=subject.workspace)
            .filter(Q(first_message_id__in=chunk) | Q(last_member_message_id__in=chunk))
            .values_list("id", flat=True)
        )
    return ids - set(_theirs(subject).values_list("id", flat=True))


def export_inbox(subject: Subject) -> list[tuple[str, list[dict[str, Any]]]]:
    conversations = list(_theirs(subject).order_by("opened_at", "id"))
    ids = [c.pk for c in conversations]
    notes = InternalNote.objects.filter(conversation_id__in=ids).select_related("author").order_by("created_at", "id")
    replies = Reply.objects.filter(conversation_id__in=ids).select_related("author").order_by("created_at", "id")
    return [
        (
            "conversations",
            [
                {
                    "id": c.pk,
                    "subject": c.subject,
                    "preview": c.preview,
                    "channel": c.channel,
                    "state": c.state,
                    "reason": c.reason,
                    "opened_at": _iso(c.opened_at),
                    "resolved_at": _iso(c.resolved_at),
                }
                for c in conversations
            ],
        ),
        (
            "conversation_notes",
            [
                {
                    "conversation": n.conversation_id,
                    "text": n.text,
                    "author": n.author.get_username() if n.author else "",
                    "created_at": _iso(n.created_at),
                }
                for n in notes
            ],
        ),
        (
            "replies",
            [
                {
                    "conversation": r.conversation_id,
                    "text": r.text,
                    "author": r.author.get_username() if r.author else "",
                    "status": r.state,
                    "created_at": _iso(r.created_at),
                    "sent_at": _iso(r.sent_at),
                }
                for r in replies
            ],
        ),
    ]


def erase_inbox(subject: Subject) -> int:
    terms = subject.terms
    changed = 0
    theirs = list(_theirs(subject).only("id", "key", "channel"))
    own_ids = [c.pk for c in theirs]
    for conversation in theirs:
        fields: dict[str, Any] = {"subject": "", "preview": "", "priority_reasons": []}
        if contains_any(conversation.key, terms):
            fields["key"] = erased_id(conversation.key)
        if contains_any(conversation.channel, terms):
            fields["channel"] = erased_id(conversation.channel)
        changed += Conversation.objects.filter(pk=conversation.pk).update(**fields)
    changed += InternalNote.objects.filter(conversation_id__in=own_ids).update(text="")
    own_replies = list(Reply.objects.filter(conversation_id__in=own_ids).values_list("id", flat=True))
    changed += Reply.objects.filter(pk__in=own_replies).update(text="", url="", error="")
    answering: list[int] = []
    for chunk in chunked(subject.message_ids):  # replies elsewhere that answer their messages
        answering += list(Reply.objects.filter(in_reply_to_id__in=chunk).values_list("id", flat=True))
    changed += Reply.objects.filter(pk__in=answering).update(text="", url="", error="")

    involved = sorted(_involved_ids(subject))
    for chunk in chunked(subject.message_ids):
        changed += Conversation.objects.filter(pk__in=involved, last_member_message_id__in=chunk).update(preview="")
        changed += Conversation.objects.filter(pk__in=involved, first_message_id__in=chunk).update(subject="")
    conversation_fields = ["subject", "preview", "priority_reasons"]
    changed += scrub_rows(Conversation.objects.filter(pk__in=involved), conversation_fields, terms)
    changed += scrub_rows(InternalNote.objects.filter(conversation_id__in=involved), ["text"], terms)
    changed += scrub_rows(Reply.objects.filter(conversation_id__in=involved), ["text", "error"], terms)
    changed += scrub_rows(Activity.objects.filter(conversation_id__in=[*own_ids, *involved]), ["data"], terms)
    changed += _erase_outbox(subject, [*own_replies, *answering])
    return changed


def _erase_outbox(subject: Subject, reply_ids: list[int]) -> int:
    """The outbox copies a reply's text and target: a waiting one is cancelled, every one emptied."""
    from communa.outbox.services import cancel

    changed = 0
    origins = [f"inbox.reply:{pk}" for pk in reply_ids]
    for chunk in chunked(origins):
        for item in OutboxItem.objects.filter(workspace=subject.workspace, origin__in=chunk):
            if item.state == OutboxItem.State.PENDING:
                cancel(item=item)
            payload = scrub_json(item.payload, subject.terms)
            if isinstance(payload, dict) and "text" in payload:
                payload["text"] = ""
            changed += OutboxItem.objects.filter(pk=item.pk).update(
                payload=payload, result_url="", error=scrub_json(item.error, subject.terms)
            )
    return changed
