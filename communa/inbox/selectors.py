"""Reads of the inbox. Always scoped to a workspace and to what the person may see (fail closed).

Who sees what (docs/inbox.md, "Who sees what"):
- roles with Perm.REPLY (owner, manager, moderator) see every conversation of the workspace;
- volunteers (Perm.MODERATE without Perm.REPLY) see only conversations assigned to them or to one of their
  teams, and may work those (reply, note, change state, take one of their team's for themselves);
- other roles (analyst, contributor) have no inbox: 403.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from communa.accounts.access import membership_for
from communa.accounts.models import Membership, User, Workspace
from communa.accounts.roles import Perm, role_has
from communa.inbox.models import (
    Activity,
    Composing,
    Conversation,
    ConversationMessage,
    InternalNote,
    Reply,
    SavedReply,
    Team,
)

Scope = Literal["all", "assigned"]
SORTS = {
    "priority": ("-priority", "-last_message_at", "-id"),
    "newest": ("-last_message_at", "-id"),
    "oldest": ("last_message_at", "id"),
    "waiting": ("waiting_since", "id"),
}


def inbox_scope(role: str) -> Scope | None:
    if role_has(role, Perm.REPLY):
        return "all"
    if role_has(role, Perm.MODERATE):
        return "assigned"
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class InboxAccess:
    workspace: Workspace
    user: User
    role: str
    scope: Scope

    @property
    def sees_all(self) -> bool:
        return self.scope == "all"

    @property
    def can_assign_others(self) -> bool:
        return role_has(self.role, Perm.REPLY)


def inbox_access(user: User | AnonymousUser, workspace_slug: str) -> InboxAccess:
    """The inbox of the workspace for this person: 404 for outsiders, 403 for roles without an inbox."""
    membership = membership_for(user, workspace_slug)
    scope = inbox_scope(membership.role)
    if scope is None:
        raise PermissionDenied
    return InboxAccess(workspace=membership.workspace, user=membership.user, role=membership.role, scope=scope)


def access_for(*, workspace: Workspace, user: User) -> InboxAccess:
    """The same as inbox_access, from a workspace already resolved (the API)."""
    membership = Membership.objects.filter(workspace=workspace, user=user).first()
    if membership is None:
        raise Http404
    scope = inbox_scope(membership.role)
    if scope is None:
        raise PermissionDenied
    return InboxAccess(workspace=workspace, user=user, role=membership.role, scope=scope)


def team_ids_of(*, workspace_id: int, user: User) -> list[int]:
    return list(Team.objects.filter(workspace_id=workspace_id, memberships__user=user).values_list("pk", flat=True))


def can_work(*, membership: Membership, conversation: Conversation, perm: Perm = Perm.REPLY) -> bool:
    scope = inbox_scope(membership.role)
    if scope == "all":
        return True
    if scope is None:
        return False
    if conversation.assignee_id == membership.user_id:
        return True
    return conversation.team_id is not None and conversation.team_id in team_ids_of(
        workspace_id=conversation.workspace_id, user=membership.user
    )


def visible(*, access: InboxAccess) -> QuerySet[Conversation]:
    qs = Conversation.objects.filter(workspace=access.workspace)
    if access.sees_all:
        return qs
    teams = team_ids_of(workspace_id=access.workspace.pk, user=access.user)
    return qs.filter(Q(assignee=access.user) | Q(team_id__in=teams))


def conversation_list(  # noqa: C901 - one branch per filter
    *,
    access: InboxAccess,
    state: str = "open",
    assignee: str = "",
    team_id: int | None = None,
    source_id: int | None = None,
    kind: str = "",
    reason: str = "",
    member_id: int | None = None,
    breached: bool = False,
    sort: str = "priority",
) -> QuerySet[Conversation]:
    """The list's rows, filtered and sorted (paginate the result). `state` is a state or "all"; `assignee` is
    "me", "unassigned", a user id, or "" for anyone."""
    qs = visible(access=access)
    if state in Conversation.State.values:
        qs = qs.filter(state=state)
    if assignee == "me":
        qs = qs.filter(assignee=access.user)
    elif assignee == "unassigned":
        qs = qs.filter(assignee=None)
    elif assignee.isdigit():
        qs = qs.filter(assignee_id=int(assignee))
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    if source_id is not None:
        qs = qs.filter(source_id=source_id)
    if kind:
        qs = qs.filter(kind=kind)
    if reason:
        # `reasons` is a JSON list of codes: its text contains the quoted code (the same SQL on both databases).
        qs = qs.filter(Q(reason=reason) | Q(reasons__icontains=f'"{reason}"'))
    if member_id is not None:
        qs = qs.filter(member_id=member_id)
    if breached:
        qs = qs.filter(
            Q(first_response_breached_at__isnull=False, first_response_at=None)
            | Q(next_response_breached_at__isnull=False, next_response_due__isnull=False)
        )
    return qs.select_related("member", "assignee", "team", "source").order_by(*SORTS.get(sort, SORTS["priority"]))


def get_conversation(*, access: InboxAccess, conversation_id: int) -> Conversation:
    """One conversation the person may see, or 404 (another workspace's id, or not theirs to see)."""
    found = (
        visible(access=access)
        .select_related("member", "assignee", "team", "source", "thread", "sla_policy", "resolved_by")
        .filter(pk=conversation_id)
        .first()
    )
    if found is None:
        raise Http404
    return found


def counts(*, access: InboxAccess) -> dict[str, int]:
    """Numbers for the list's tabs: per state, and the person's own and the unassigned open ones."""
    qs = visible(access=access)
    by_state = dict(qs.values_list("state").annotate(n=Count("id")).order_by())
    out = {state: by_state.get(state, 0) for state in Conversation.State.values}
    open_qs = qs.filter(state=Conversation.State.OPEN)
    out["mine"] = open_qs.filter(assignee=access.user).count()
    out["unassigned"] = open_qs.filter(assignee=None).count()
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One line of a conversation's timeline."""

    kind: Literal["message", "reply", "note", "activity"]
    at: datetime
    item: Any  # ConversationMessage (with .message), Reply, InternalNote or Activity


def timeline(*, conversation: Conversation) -> list[Entry]:
    """Messages (both sides), replies written here (with delivery state), notes and activity, oldest first.
    A reply that came back through ingest is shown once, as the reply. A fixed number of queries."""
    replies = list(
        Reply.objects.filter(conversation=conversation)
        .select_related("author", "outbox_item")
        .order_by("created_at", "id")
    )
    came_back = {r.message_id for r in replies if r.message_id}
    items = [
        i
        for i in ConversationMessage.objects.filter(conversation=conversation)
        .select_related("message", "message__member", "message__identity", "message__signals", "answerer_member")
        .order_by("created_at", "id")
        if i.message_id not in came_back
    ]
    notes = list(
        InternalNote.objects.filter(conversation=conversation)
        .select_related("author")
        .prefetch_related("mentions")
        .order_by("created_at", "id")
    )
    activities = list(
        Activity.objects.filter(conversation=conversation).select_related("actor").order_by("created_at", "id")
    )
    entries = (
        [Entry("message", i.created_at, i) for i in items]
        + [Entry("reply", r.sent_at or r.created_at, r) for r in replies]
        + [Entry("note", n.created_at, n) for n in notes]
        + [Entry("activity", a.created_at, a) for a in activities]
    )
    order = {"activity": 0, "message": 1, "reply": 2, "note": 3}
    entries.sort(key=lambda e: (e.at, order[e.kind]))
    return entries


def others_composing(*, conversation: Conversation, user: User, now: datetime | None = None) -> list[User]:
    """Who else is writing a reply in this conversation right now (the "someone else is replying" warning)."""
    from communa.inbox.services import COMPOSING_TTL

    now = now or timezone.now()
    return [
        c.user
        for c in Composing.objects.filter(conversation=conversation, at__gte=now - COMPOSING_TTL)
        .exclude(user=user)
        .select_related("user")
        .order_by("at")
    ]


def past_conversations(*, conversation: Conversation, limit: int = 5) -> list[Conversation]:
    """The member's other conversations, newest first (the page's member context)."""
    if conversation.member_id is None:
        return []
    return list(
        Conversation.objects.filter(workspace_id=conversation.workspace_id, member_id=conversation.member_id)
        .exclude(pk=conversation.pk)
        .order_by("-opened_at", "-id")[:limit]
    )


def replies_of(*, conversation: Conversation) -> list[Reply]:
    return list(Reply.objects.filter(conversation=conversation).order_by("created_at", "id"))


def saved_replies(*, workspace: Workspace, query: str = "") -> QuerySet[SavedReply]:
    qs = SavedReply.objects.filter(workspace=workspace).prefetch_related("variants")
    if query:
        qs = qs.filter(Q(shortcut__istartswith=query) | Q(title__icontains=query))
    return qs.order_by("shortcut")


def teams(*, workspace: Workspace) -> list[Team]:
    return list(Team.objects.filter(workspace=workspace).prefetch_related("users").order_by("name"))


def question_items(*, conversation: Conversation) -> Sequence[ConversationMessage]:
    """The conversation's questions with their needs-reply state."""
    return list(
        ConversationMessage.objects.filter(conversation=conversation, is_question=True)
        .select_related("message", "answerer_member")
        .order_by("created_at", "id")
    )


def member_conversations(*, access: InboxAccess, member_id: int, limit: int = 10) -> tuple[list[Conversation], int]:
    """The newest conversations with a member of this workspace that `access` may see, and how many there are.
    A member of another workspace (or none) is a 404."""
    from communa.members.models import Member

    if not Member.objects.filter(workspace=access.workspace, pk=member_id).exists():
        raise Http404
    mine = visible(access=access).filter(member_id=member_id)
    rows = list(mine.select_related("source", "assignee", "member").order_by("-last_message_at", "-id")[:limit])
    return rows, mine.count() if len(rows) == limit else len(rows)
