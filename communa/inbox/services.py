"""Writes of the inbox: state changes, assignment, priority overrides, notes, replies, composing markers, and
the settings people edit (teams, assignment rules, SLA policies). Keyword-only and typed.

People's changes are optimistic: the page sends the `version` it showed, and the change is one conditional
UPDATE (`WHERE id = … AND version = …`). When somebody else changed the conversation in between, the change
either turns out to be done already (two people resolving at once: the second is a no-op, one event) or
raises StaleConversation with the current row, for the page to show what changed.

Triage (triage.py) and the periodic jobs hold the row lock (select_for_update) instead and bump `version`
too, so a page that showed an older version learns about it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from communa.accounts.models import Membership, User, Workspace
from communa.accounts.roles import Perm, role_has
from communa.audit.services import record
from communa.connectors.base import ReplyTarget
from communa.connectors.models import Source
from communa.events.services import emit
from communa.inbox.models import (
    Activity,
    AssignmentRule,
    Composing,
    Conversation,
    ConversationMessage,
    InboxSettings,
    InternalNote,
    Reply,
    SavedReply,
    SlaPolicy,
    Team,
    TeamMembership,
)
from communa.inbox.sla import BusinessCalendar, calendar_of
from communa.stream.models import Message

logger = logging.getLogger(__name__)
State = Conversation.State

REPLY_ORIGIN = "inbox.reply:"
COMPOSING_TTL = timedelta(seconds=20)
MAX_NOTE_LENGTH = 10_000
MAX_REPLY_LENGTH = 20_000


class InboxError(ValueError):
    """A change a person asked for that cannot be made; the message is for that person."""


class StaleConversation(InboxError):
    """Somebody else changed the conversation since the page was loaded."""

    def __init__(self, conversation: Conversation) -> None:
        super().__init__(gettext("This conversation was changed by someone else; look at it again before changing it."))
        self.conversation = conversation


# --- small shared helpers ---------------------------------------------------------------------------------


def settings_for(workspace: Workspace | int) -> InboxSettings:
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    found = InboxSettings.objects.filter(workspace_id=workspace_id).first()
    return found if found is not None else InboxSettings(workspace_id=workspace_id)


def policy_for(*, workspace_id: int, source_id: int) -> SlaPolicy | None:
    """The source's own active policy, else the workspace's default, else none (no SLA)."""
    policies = {
        p.source_id: p
        for p in SlaPolicy.objects.filter(workspace_id=workspace_id, is_active=True).filter(
            Q(source_id=source_id) | Q(source=None)
        )
    }
    return policies.get(source_id) or policies.get(None)


def calendar(conversation: Conversation) -> BusinessCalendar:
    return calendar_of(conversation.sla_policy)


def activity(
    conversation: Conversation,
    kind: str,
    *,
    at: datetime,
    actor: User | None = None,
    data: dict[str, Any] | None = None,
    **extra: Any,
) -> Activity:
    return Activity.objects.create(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        kind=kind,
        actor=actor,
        data={**(data or {}), **extra},
        created_at=at,
    )


def emit_event(conversation: Conversation, name: str, **data: Any) -> None:
    emit(
        workspace_id=conversation.workspace_id,
        name=name,
        data={"conversation_id": conversation.pk, "source_id": conversation.source_id, **data},
    )


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def user_in_workspace(*, workspace: Workspace | int, user: User) -> Membership | None:
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    return Membership.objects.filter(workspace_id=workspace_id, user=user).first()


def _require(conversation: Conversation, actor: User, perm: Perm = Perm.REPLY) -> Membership:
    """The actor may work this conversation: a role with the permission sees everything; a role without it
    (volunteers) only conversations assigned to them or to one of their teams (see selectors.inbox_scope)."""
    from communa.inbox.selectors import can_work

    membership = user_in_workspace(workspace=conversation.workspace_id, user=actor)
    if membership is None or not can_work(membership=membership, conversation=conversation, perm=perm):
        raise PermissionError("not allowed")
    return membership


# --- the brand answered ----------------------------------------------------------------------------------


def record_brand_response(
    conversation: Conversation, *, at: datetime, staff_member_id: int | None, answer_message_id: int | None
) -> None:
    """The brand spoke at `at`: first response (once), the member is no longer waiting, questions answered.

    The caller holds the row lock and saves the conversation."""
    if conversation.last_staff_message_at is None or at > conversation.last_staff_message_at:
        conversation.last_staff_message_at = at
    if at > conversation.last_message_at:
        conversation.last_message_at = at
    if conversation.first_response_at is None and at >= conversation.opened_at:
        conversation.first_response_at = at
        conversation.first_response_due = None
        emit_event(
            conversation,
            "conversation.first_response",
            at=utc_iso(at),
            seconds=int((at - conversation.opened_at).total_seconds()),
            business_seconds=calendar(conversation).seconds_between(conversation.opened_at, at),
            by="staff",
        )
    if conversation.waiting_since is not None and at >= conversation.waiting_since:
        conversation.waiting_since = None
        conversation.next_response_due = None
    from communa.inbox.needs_reply import answer_questions

    answer_questions(
        conversation,
        at=at,
        answered_by="staff",
        answerer_member_id=staff_member_id,
        answer_message_id=answer_message_id,
        exclude_member_id=None,
    )


def start_waiting(conversation: Conversation, *, at: datetime) -> None:
    """A member wrote at `at`: the brand owes an answer. Sets the next-response clock after a first response."""
    if conversation.waiting_since is not None and conversation.waiting_since <= at:
        return
    if conversation.last_staff_message_at is not None and at < conversation.last_staff_message_at:
        return  # older than the brand's last word (arrived late): already answered
    conversation.waiting_since = at
    policy = conversation.sla_policy
    if policy is None:
        return
    cal = calendar(conversation)
    if conversation.first_response_at is None:
        if conversation.first_response_due is None:
            conversation.first_response_due = cal.add(conversation.opened_at, policy.first_response_minutes * 60)
    else:
        conversation.next_response_due = cal.add(at, policy.next_response_minutes * 60)
        conversation.next_response_breached_at = None


# --- people's changes -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Change:
    fields: dict[str, Any]
    done: bool  # the conversation is already as asked


def _cas(conversation: Conversation, expected_version: int | None, fields: dict[str, Any]) -> bool:
    """One conditional UPDATE on the version; True when it applied. Refreshes `conversation` either way."""
    version = conversation.version if expected_version is None else expected_version
    applied = Conversation.objects.filter(pk=conversation.pk, version=version).update(
        **fields, version=F("version") + 1, updated_at=timezone.now()
    )
    conversation.refresh_from_db()
    return bool(applied)


def change_state(  # noqa: C901 - one branch per state, in order
    *,
    conversation: Conversation,
    actor: User,
    state: str,
    expected_version: int | None = None,
    snoozed_until: datetime | None = None,
    now: datetime | None = None,
) -> Conversation:
    """Open, pending, snoozed (until a time in the future) or resolved. Idempotent: asking for the state the
    conversation is in changes nothing and emits nothing."""
    _require(conversation, actor)
    now = now or timezone.now()
    if state not in State.values:
        raise InboxError(gettext("Unknown state."))
    if state == State.SNOOZED:
        if snoozed_until is None or snoozed_until <= now:
            raise InboxError(gettext("Choose a time in the future to snooze until."))
    else:
        snoozed_until = None

    def wanted(c: Conversation) -> bool:
        return c.state == state and (state != State.SNOOZED or c.snoozed_until == snoozed_until)

    with transaction.atomic():
        if wanted(conversation) and expected_version in (None, conversation.version):
            return conversation
        before = conversation.state
        fields: dict[str, Any] = {"state": state, "snoozed_until": snoozed_until}
        if state == State.RESOLVED:
            fields |= {"resolved_at": now, "resolved_by": actor}
        elif before == State.RESOLVED:
            fields |= {"resolved_at": None, "resolved_by": None}
        if state == State.OPEN:
            fields["priority_refresh_at"] = now  # the sweep adds the waiting points again
        if not _cas(conversation, expected_version, fields):
            if wanted(conversation):
                return conversation  # somebody did the very same thing first
            raise StaleConversation(conversation)
        activity(conversation, Activity.Kind.STATE, at=now, actor=actor, data={"from": before, "to": state})
        record(
            workspace=conversation.workspace,
            actor=actor,
            action="inbox.state_changed",
            target=conversation,
            data={"from": before, "to": state},
        )
        if state == State.RESOLVED:
            emit_event(
                conversation,
                "conversation.resolved",
                at=utc_iso(now),
                seconds=int((now - conversation.opened_at).total_seconds()),
                business_seconds=calendar(conversation).seconds_between(conversation.opened_at, now),
            )
        elif before == State.RESOLVED:
            emit_event(conversation, "conversation.reopened", at=utc_iso(now))
    return conversation


def _may_assign(conversation: Conversation, *, actor: User, assignee: User | None, team: Team | None) -> None:
    """A volunteer may take a conversation of their team for themselves (or give it back to the team), not
    hand conversations to others or move them between teams."""
    membership = _require(conversation, actor)
    if role_has(membership.role, Perm.REPLY):
        return
    if assignee not in (None, actor) or (team.pk if team else None) != conversation.team_id:
        raise PermissionError("not allowed")


def assign(
    *,
    conversation: Conversation,
    actor: User | None,
    assignee: User | None,
    team: Team | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Conversation:
    """Give the conversation to a person, a team, both, or nobody. The person must be in the workspace; a team
    must be the workspace's. `actor=None` is an assignment rule."""
    if actor is not None:
        _may_assign(conversation, actor=actor, assignee=assignee, team=team)
    now = now or timezone.now()
    if assignee is not None and user_in_workspace(workspace=conversation.workspace_id, user=assignee) is None:
        raise InboxError(gettext("That person is not in this workspace."))
    if team is not None and team.workspace_id != conversation.workspace_id:
        raise InboxError(gettext("That team is not in this workspace."))
    assignee_id = assignee.pk if assignee else None
    team_id = team.pk if team else None
    with transaction.atomic():
        unchanged = conversation.assignee_id == assignee_id and conversation.team_id == team_id
        if unchanged and expected_version in (None, conversation.version):
            return conversation
        fields = {
            "assignee_id": assignee_id,
            "team_id": team_id,
            "assigned_at": now if assignee_id or team_id else None,
        }
        if not _cas(conversation, expected_version, fields):
            if conversation.assignee_id == assignee_id and conversation.team_id == team_id:
                return conversation
            raise StaleConversation(conversation)
        activity(conversation, Activity.Kind.ASSIGNED, at=now, actor=actor, assignee_id=assignee_id, team_id=team_id)
        if actor is not None:
            record(
                workspace=conversation.workspace,
                actor=actor,
                action="inbox.assigned",
                target=conversation,
                data={"assignee_id": assignee_id, "team_id": team_id},
            )
        emit_event(conversation, "conversation.assigned", assignee_id=assignee_id, team_id=team_id)
    return conversation


def override_priority(
    *, conversation: Conversation, actor: User, priority: int | None, expected_version: int | None = None
) -> Conversation:
    """Set the priority by hand (0–100), or give it back to the computation with None."""
    _require(conversation, actor)
    if priority is not None and not 0 <= priority <= 100:
        raise InboxError(gettext("Priority goes from 0 to 100."))
    effective = conversation.priority_computed if priority is None else priority
    with transaction.atomic():
        if not _cas(conversation, expected_version, {"priority_override": priority, "priority": effective}):
            raise StaleConversation(conversation)
        activity(conversation, Activity.Kind.PRIORITY, at=timezone.now(), actor=actor, priority=priority)
        record(
            workspace=conversation.workspace,
            actor=actor,
            action="inbox.priority_overridden",
            target=conversation,
            data={"priority": priority},
        )
    return conversation


def add_note(*, conversation: Conversation, author: User, text: str) -> InternalNote:
    """An internal note; "@username" mentions of people in the workspace are kept (and only those)."""
    _require(conversation, author)
    text = text.strip()
    if not text:
        raise InboxError(gettext("A note needs text."))
    if len(text) > MAX_NOTE_LENGTH:
        raise InboxError(gettext("A note is at most %(n)d characters.") % {"n": MAX_NOTE_LENGTH})
    from communa.inbox.assignment import mentioned_users

    with transaction.atomic():
        note = InternalNote.objects.create(
            workspace_id=conversation.workspace_id, conversation=conversation, author=author, text=text
        )
        users = mentioned_users(workspace_id=conversation.workspace_id, text=text)
        if users:
            note.mentions.set(users)
        record(
            workspace=conversation.workspace,
            actor=author,
            action="inbox.note_added",
            target=conversation,
            data={"note_id": note.pk, "mentions": [u.pk for u in users]},
        )
    return note


def open_conversation(*, workspace: Workspace, actor: User, message_id: int) -> Conversation:
    """A person opens a conversation on a message of the stream ("needs an answer"), reason "manual"."""
    from communa.inbox.selectors import inbox_scope
    from communa.inbox.triage import open_for_message

    membership = user_in_workspace(workspace=workspace, user=actor)
    if membership is None or inbox_scope(membership.role) != "all":
        raise PermissionError("not allowed")
    message = (
        Message.objects.select_related("source", "member", "identity", "thread", "parent__member")
        .filter(workspace=workspace, pk=message_id)
        .first()
    )
    if message is None:
        raise InboxError(gettext("That message is not in this workspace."))
    conversation = open_for_message(message, reason=Conversation.Reason.MANUAL)
    record(
        workspace=workspace, actor=actor, action="inbox.opened", target=conversation, data={"message_id": message_id}
    )
    return conversation


def mark_composing(*, conversation: Conversation, user: User, now: datetime | None = None) -> None:
    """The person has the composer open and is typing: others see "X is replying" for COMPOSING_TTL."""
    Composing.objects.update_or_create(conversation=conversation, user=user, defaults={"at": now or timezone.now()})


def stop_composing(*, conversation: Conversation, user: User) -> None:
    Composing.objects.filter(conversation=conversation, user=user).delete()


# --- replying ---------------------------------------------------------------------------------------------


def reply_target(conversation: Conversation) -> tuple[ReplyTarget, Message | None]:
    """Where a reply goes: the conversation's newest member message (else its first message), on its channel
    and thread; for email also who to answer, the subject and the references so far."""
    message = None
    for message_id in (conversation.last_member_message_id, conversation.first_message_id):
        if message_id:
            message = Message.objects.select_related("thread", "identity").filter(pk=message_id).first()
            if message is not None:
                break
    if message is None:
        raise InboxError(gettext("There is no message to answer in this conversation."))
    meta = message.metadata or {}
    channel = str(meta.get("room_id") or meta.get("channel") or conversation.channel or "")
    thread_external_id = message.thread.external_id if message.thread else ""
    if thread_external_id == message.external_id:
        thread_external_id = ""
    recipient = subject = ""
    references: tuple[str, ...] = ()
    if message.kind == "email" or conversation.kind == Conversation.Kind.EMAIL:
        reply_to = meta.get("reply_to") or []
        recipient = str(
            (reply_to[0] if reply_to else "")
            or meta.get("from")
            or (message.identity.email if message.identity else "")
        )
        subject = message.title or conversation.subject
        earlier = [str(r) for r in meta.get("references") or [] if r]
        own = str(meta.get("message_id") or message.external_id)
        references = tuple(dict.fromkeys([*earlier, own]))
    target = ReplyTarget(
        channel=channel,
        message_external_id=message.external_id,
        thread_external_id=thread_external_id,
        recipient=recipient,
        subject=subject,
        references=references,
    )
    return target, message


def send_reply(
    *,
    conversation: Conversation,
    author: User,
    text: str,
    saved_reply: SavedReply | None = None,
    state_after: str | None = None,
) -> Reply:
    """Record the reply and hand it to the outbox (delivered after commit, exactly once). `state_after` moves
    the conversation to pending or resolved in the same step ("send and wait", "send and resolve")."""
    _require(conversation, author)
    text = text.strip()
    if not text:
        raise InboxError(gettext("A reply needs text."))
    if len(text) > MAX_REPLY_LENGTH:
        raise InboxError(gettext("A reply is at most %(n)d characters.") % {"n": MAX_REPLY_LENGTH})
    if state_after not in (None, State.PENDING, State.RESOLVED, State.OPEN):
        raise InboxError(gettext("After sending, a conversation can stay open, wait for the member or be resolved."))
    target, message = reply_target(conversation)
    with transaction.atomic():
        reply = Reply.objects.create(
            workspace_id=conversation.workspace_id,
            conversation=conversation,
            author=author,
            text=text,
            in_reply_to=message,
            saved_reply=saved_reply,
        )
        _enqueue(reply, target)
        if saved_reply is not None:
            SavedReply.objects.filter(pk=saved_reply.pk).update(use_count=F("use_count") + 1)
        stop_composing(conversation=conversation, user=author)
        record(
            workspace=conversation.workspace,
            actor=author,
            action="inbox.reply_sent",
            target=conversation,
            data={"reply_id": reply.pk},
        )
        if state_after and state_after != conversation.state:
            change_state(conversation=conversation, actor=author, state=state_after)
    return reply


def _enqueue(reply: Reply, target: ReplyTarget) -> None:
    from communa.outbox.services import enqueue_reply

    conversation = reply.conversation
    key = f"inbox-reply-{reply.pk}-{reply.attempt}"
    item = enqueue_reply(
        workspace=conversation.workspace,
        source=Source.objects.get(pk=conversation.source_id),
        target=target,
        text=reply.text,
        idempotency_key=key,
        origin=f"{REPLY_ORIGIN}{reply.pk}",
        created_by=reply.author,
    )
    reply.outbox_item = item
    reply.idempotency_key = key
    reply.state = Reply.State.PENDING
    reply.error = ""
    reply.save(update_fields=["outbox_item", "idempotency_key", "state", "error", "updated_at"])


def retry_reply(*, reply: Reply, actor: User, text: str) -> Reply:
    """Send a refused (or cancelled) reply again, edited: a new outbox item under a new key."""
    conversation = reply.conversation
    _require(conversation, actor)
    if reply.state not in (Reply.State.FAILED, Reply.State.CANCELLED):
        raise InboxError(gettext("Only a reply the platform refused can be edited and sent again."))
    text = text.strip()
    if not text:
        raise InboxError(gettext("A reply needs text."))
    target, _ = reply_target(conversation)
    with transaction.atomic():
        if not Reply.objects.filter(pk=reply.pk, state=reply.state).update(attempt=F("attempt") + 1, text=text):
            raise InboxError(gettext("This reply was already sent again."))
        reply.refresh_from_db()
        _enqueue(reply, target)
        record(
            workspace=conversation.workspace,
            actor=actor,
            action="inbox.reply_retried",
            target=conversation,
            data={"reply_id": reply.pk},
        )
    return reply


def cancel_reply(*, reply: Reply, actor: User) -> bool:
    """Stop a reply that has not started to go out."""
    from communa.outbox.services import cancel

    _require(reply.conversation, actor)
    if reply.outbox_item is None or not cancel(item=reply.outbox_item):
        return False
    Reply.objects.filter(pk=reply.pk).update(state=Reply.State.CANCELLED)
    return True


def on_outbox_event(*, name: str, data: dict[str, Any]) -> None:
    """outbox.sent / outbox.failed / outbox.unknown for an inbox reply: mirror the state on the Reply; a sent
    reply is the brand's response (first / next response) at the time it was sent."""
    origin = str(data.get("origin") or "")
    if not origin.startswith(REPLY_ORIGIN):
        return
    try:
        reply_id = int(origin.removeprefix(REPLY_ORIGIN))
        item_id = int(data["item_id"])
        source_id = int(data["source_id"])
    except (KeyError, TypeError, ValueError):
        return
    from communa.outbox.models import OutboxItem

    with transaction.atomic():
        reply = Reply.objects.select_for_update(of=("self",)).filter(pk=reply_id).first()
        if reply is None or (reply.outbox_item_id and reply.outbox_item_id != item_id):
            return  # an older attempt's news
        item = OutboxItem.objects.filter(pk=item_id).first()
        if name == "outbox.failed":
            reply.state, reply.error = Reply.State.FAILED, str(data.get("error") or (item.error if item else ""))
            reply.save(update_fields=["state", "error", "updated_at"])
            return
        if name == "outbox.unknown":
            reply.state = Reply.State.UNKNOWN
            reply.save(update_fields=["state", "updated_at"])
            return
        if name != "outbox.sent" or reply.state == Reply.State.SENT:
            return
        sent_at = (item.sent_at if item and item.sent_at else None) or timezone.now()
        reply.state, reply.error, reply.sent_at = Reply.State.SENT, "", sent_at
        reply.external_id = str(data.get("external_id") or (item.result_external_id if item else ""))
        reply.url = item.result_url if item else ""
        came_back = (
            Message.objects.filter(source_id=source_id, external_id=reply.external_id).first()
            if reply.external_id
            else None
        )
        if came_back is not None:
            reply.message = came_back
        reply.save(update_fields=["state", "error", "sent_at", "external_id", "url", "message", "updated_at"])
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("sla_policy")
            .get(pk=reply.conversation_id)
        )
        record_brand_response(
            conversation, at=sent_at, staff_member_id=None, answer_message_id=came_back.pk if came_back else None
        )
        if came_back is not None:
            link_brand_message(conversation, came_back)
        from communa.inbox.triage import refresh_priority

        refresh_priority(conversation, now=timezone.now())
        conversation.version += 1
        conversation.save()


def link_brand_message(conversation: Conversation, message: Message) -> None:
    """The brand's message (a sent reply back through ingest) joins the conversation as the team's, once; a
    row triage wrote before the outbox knew it was ours is corrected."""
    ConversationMessage.objects.update_or_create(
        conversation=conversation,
        message=message,
        defaults={
            "workspace_id": conversation.workspace_id,
            "role": ConversationMessage.Role.STAFF,
            "created_at": message.created_at,
            "is_question": False,
        },
    )


def follow_member_merge(*, workspace_id: int, into_id: int, merged_id: int, undone: bool) -> int:
    """A merge moves the merged member's conversations to the member they were merged into; undoing it
    gives back those whose first message is the merged member's again. Returns how many moved."""
    if not undone:
        return Conversation.objects.filter(workspace_id=workspace_id, member_id=merged_id).update(member_id=into_id)
    back = Conversation.objects.filter(
        workspace_id=workspace_id, member_id=into_id, first_message__member_id=merged_id
    ).values_list("pk", flat=True)
    return Conversation.objects.filter(pk__in=list(back)).update(member_id=merged_id)


# --- settings people edit ---------------------------------------------------------------------------------


def _manager(workspace: Workspace, actor: User) -> None:
    membership = user_in_workspace(workspace=workspace, user=actor)
    if membership is None or not role_has(membership.role, Perm.MANAGE_TEAM):
        raise PermissionError("not allowed")


def update_settings(
    *,
    workspace: Workspace,
    actor: User,
    escalate_after_minutes: int | None = None,
    brand_keywords: list[str] | None = None,
    auto_assign: bool | None = None,
) -> InboxSettings:
    _manager(workspace, actor)
    current = settings_for(workspace)
    if escalate_after_minutes is not None:
        if not 1 <= escalate_after_minutes <= 7 * 24 * 60:
            raise InboxError(gettext("Escalate after 1 minute to 7 days."))
        current.escalate_after_minutes = escalate_after_minutes
    if brand_keywords is not None:
        current.brand_keywords = sorted({k.strip() for k in brand_keywords if k.strip()}, key=str.casefold)[:50]
    if auto_assign is not None:
        current.auto_assign = auto_assign
    current.save()
    record(
        workspace=workspace,
        actor=actor,
        action="inbox.settings_changed",
        target=None,
        data={
            "escalate_after_minutes": current.escalate_after_minutes,
            "brand_keywords": current.brand_keywords,
            "auto_assign": current.auto_assign,
        },
    )
    return current


def create_team(*, workspace: Workspace, actor: User, name: str, users: list[User] = ()) -> Team:  # type: ignore[assignment]
    from communa.inbox.selectors import forget_picker_options

    _manager(workspace, actor)
    name = name.strip()
    if not name:
        raise InboxError(gettext("A team needs a name."))
    if Team.objects.filter(workspace=workspace, name=name).exists():
        raise InboxError(gettext("There is already a team with that name."))
    with transaction.atomic():
        team = Team.objects.create(workspace=workspace, name=name)
        for user in users:
            add_to_team(team=team, actor=actor, user=user)
        record(workspace=workspace, actor=actor, action="inbox.team_created", target=team)
        transaction.on_commit(lambda: forget_picker_options(workspace_id=workspace.pk))
    return team


def add_to_team(*, team: Team, actor: User, user: User) -> None:
    _manager(team.workspace, actor)
    if user_in_workspace(workspace=team.workspace_id, user=user) is None:
        raise InboxError(gettext("That person is not in this workspace."))
    TeamMembership.objects.get_or_create(team=team, user=user)


def remove_from_team(*, team: Team, actor: User, user: User) -> None:
    _manager(team.workspace, actor)
    TeamMembership.objects.filter(team=team, user=user).delete()


def set_assignment_rule(
    *,
    workspace: Workspace,
    actor: User,
    source: Source,
    strategy: str,
    users: list[User],
    team: Team | None = None,
    is_active: bool = True,
) -> AssignmentRule:
    _manager(workspace, actor)
    if source.workspace_id != workspace.pk or (team is not None and team.workspace_id != workspace.pk):
        raise InboxError(gettext("That source or team is not in this workspace."))
    if strategy not in AssignmentRule.Strategy.values:
        raise InboxError(gettext("Unknown assignment strategy."))
    members = set(Membership.objects.filter(workspace=workspace).values_list("user_id", flat=True))
    if any(u.pk not in members for u in users):
        raise InboxError(gettext("Everyone in the rule must be in this workspace."))
    with transaction.atomic():
        rule, _ = AssignmentRule.objects.update_or_create(
            workspace=workspace, source=source, defaults={"strategy": strategy, "team": team, "is_active": is_active}
        )
        rule.users.set(users)
        record(
            workspace=workspace,
            actor=actor,
            action="inbox.assignment_rule_set",
            target=rule,
            data={"source_id": source.pk, "strategy": strategy, "users": sorted(u.pk for u in users)},
        )
    return rule


def save_sla_policy(
    *,
    workspace: Workspace,
    actor: User,
    name: str,
    source: Source | None,
    first_response_minutes: int,
    next_response_minutes: int,
    time_zone: str,
    business_hours: dict[str, list[list[str]]],
    holidays: list[str],
    is_active: bool = True,
) -> SlaPolicy:
    """Create or replace the policy of `source` (None: the workspace default). Validates the hours."""
    from communa.inbox.sla import BusinessCalendar, InvalidHours

    _manager(workspace, actor)
    if source is not None and source.workspace_id != workspace.pk:
        raise InboxError(gettext("That source is not in this workspace."))
    if not (1 <= first_response_minutes <= 60 * 24 * 30 and 1 <= next_response_minutes <= 60 * 24 * 30):
        raise InboxError(gettext("Targets go from 1 minute to 30 days."))
    try:
        BusinessCalendar.build(time_zone=time_zone, business_hours=business_hours, holidays=holidays)
    except InvalidHours as exc:
        raise InboxError(str(exc)) from exc
    with transaction.atomic():
        policy, _ = SlaPolicy.objects.update_or_create(
            workspace=workspace,
            source=source,
            defaults={
                "name": name.strip() or "SLA",
                "first_response_minutes": first_response_minutes,
                "next_response_minutes": next_response_minutes,
                "time_zone": time_zone,
                "business_hours": business_hours,
                "holidays": sorted(set(holidays)),
                "is_active": is_active,
            },
        )
        record(workspace=workspace, actor=actor, action="inbox.sla_policy_saved", target=policy)
    return policy
