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
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone

from communa.accounts.access import membership_for
from communa.accounts.models import Membership, User, Workspace
from communa.accounts.roles import Perm, role_has
from communa.connectors.models import Source
from communa.inbox.models import (
    Activity,
    Composing,
    Conversation,
    ConversationMessage,
    InternalNote,
    Reply,
    SavedReply,
    SharedView,
    Team,
)

Scope = Literal["all", "assigned"]
OPTIONS_SECONDS = 30  # how long a new source, team or colleague may take to appear in the page's pickers
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


FOR_WRITES = ("member", "assignee", "team", "source", "thread", "sla_policy", "resolved_by")
FOR_PAGE = ("member", "source", "sla_policy")  # what the conversation's templates read


def get_conversation(
    *, access: InboxAccess, conversation_id: int, with_changes: bool = False, related: tuple[str, ...] = FOR_WRITES
) -> Conversation:
    """One conversation the person may see, or 404 (another workspace's id, or not theirs to see).
    `with_changes` folds in what the live poll compares (Changes.of), so an unchanged poll reads one row, and
    whether the conversation has any activity, so that timeline() skips the kinds it has none of;
    `related=FOR_PAGE` joins only what the page shows (each join is columns to compile, fetch and build)."""
    qs = visible(access=access).select_related(*related)
    if with_changes:
        replies = Reply.objects.filter(conversation=OuterRef("pk")).order_by("-updated_at", "-id")
        qs = qs.annotate(
            newest_reply_at=Subquery(replies.values("updated_at")[:1]),
            newest_reply_state=Subquery(replies.values("state")[:1]),
            newest_note_id=Subquery(
                InternalNote.objects.filter(conversation=OuterRef("pk")).order_by("-id").values("id")[:1]
            ),
            has_activity=Exists(Activity.objects.filter(conversation=OuterRef("pk"))),
        )
    found = qs.filter(pk=conversation_id).first()
    if found is None:
        raise Http404
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class Changes:
    """What changes a conversation's page without changing the conversation row: its newest reply (a delivery
    state moves) and its newest note."""

    reply_at: datetime | None
    reply_state: str
    note_id: int | None

    @classmethod
    def of(cls, conversation: Conversation) -> Changes:
        """From get_conversation(..., with_changes=True)."""
        found = getattr(conversation, "newest_reply_at", None)
        return cls(
            reply_at=found,
            reply_state=getattr(conversation, "newest_reply_state", None) or "",
            note_id=getattr(conversation, "newest_note_id", None),
        )


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
    line: Any = None  # what the page shows of a message, set by display.timeline_lines


def _has_none(conversation: Conversation, annotation: str) -> bool:
    """get_conversation(with_changes=True) said the conversation has none of these (a reply, a note, activity):
    the timeline need not ask. Without the annotation nothing is known."""
    if not hasattr(conversation, annotation):
        return False
    value = getattr(conversation, annotation)
    return value is False or value is None


def timeline(*, conversation: Conversation) -> list[Entry]:
    """Messages (both sides), replies written here (with delivery state), notes and activity, oldest first.
    A reply that came back through ingest is shown once, as the reply. A fixed number of queries at most: from
    get_conversation(with_changes=True), none for the replies, notes or activity it has none of."""
    replies = (
        []
        if _has_none(conversation, "newest_reply_at")
        else list(Reply.objects.filter(conversation=conversation).select_related("author").order_by("created_at", "id"))
    )
    came_back = {r.message_id for r in replies if r.message_id}
    items = [
        i
        for i in ConversationMessage.objects.filter(conversation=conversation)
        .select_related("message", "message__member", "message__identity")  # what the page and the API show
        .defer("message__metadata")  # neither shows it; a JSON document to decode per message
        .order_by("created_at", "id")
        if i.message_id not in came_back
    ]
    notes = (
        []
        if _has_none(conversation, "newest_note_id")
        else list(
            InternalNote.objects.filter(conversation=conversation)
            .select_related("author")
            .prefetch_related("mentions")
            .order_by("created_at", "id")
        )
    )
    activities = (
        []
        if _has_none(conversation, "has_activity")
        else list(
            Activity.objects.filter(conversation=conversation).select_related("actor").order_by("created_at", "id")
        )
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
        .only("at", "user__username", "user__first_name", "user__last_name")  # the warning shows the name
        .order_by("at")
    ]


def past_conversations(*, conversation: Conversation, limit: int = 5) -> list[Conversation]:
    """The member's other conversations, newest first (the page's member context)."""
    if conversation.member_id is None:
        return []
    return list(
        Conversation.objects.filter(workspace_id=conversation.workspace_id, member_id=conversation.member_id)
        .exclude(pk=conversation.pk)
        .only("subject", "preview", "state", "opened_at")  # what the page shows of them
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


@dataclasses.dataclass(frozen=True, slots=True)
class Person:
    """Someone conversations can be given to, as the pickers show them."""

    pk: int
    name: str


@dataclasses.dataclass(frozen=True, slots=True)
class PickerOptions:
    """What every inbox page of a workspace offers in its pickers: the same for every request of the workspace."""

    people: list[Person]
    teams: list[tuple[int, str]]
    sources: list[tuple[int, str]]
    shared_views: list[SharedViewItem]


@dataclasses.dataclass(frozen=True, slots=True)
class SharedViewItem:
    pk: int
    name: str
    query: str
    created_by_id: int | None


def _options_key(workspace_id: int) -> str:
    return f"inbox:options:{workspace_id}"


def picker_options(*, workspace: Workspace) -> PickerOptions:
    """The people who have an inbox, the teams, the sources and the shared views of the workspace, by name.
    Cached for OPTIONS_SECONDS (four queries otherwise on every page and poll); a new team or shared view shows
    at once (their services forget the entry), a new colleague or source within OPTIONS_SECONDS. What is picked
    is checked again by the services, so a stale entry can never assign outside the workspace."""
    key = _options_key(workspace.pk)
    found = cache.get(key)
    if isinstance(found, PickerOptions):
        return found
    memberships = Membership.objects.filter(workspace=workspace).select_related("user").order_by("user__username")
    options = PickerOptions(
        people=[
            Person(pk=m.user.pk, name=m.user.get_full_name() or m.user.username)
            for m in memberships
            if inbox_scope(m.role) is not None
        ],
        teams=list(Team.objects.filter(workspace=workspace).order_by("name").values_list("pk", "name")),
        sources=list(Source.objects.filter(workspace=workspace).order_by("name").values_list("pk", "name")),
        shared_views=[
            SharedViewItem(pk=pk, name=name, query=query, created_by_id=author)
            for pk, name, query, author in SharedView.objects.filter(workspace=workspace)
            .order_by("name", "pk")
            .values_list("pk", "name", "query", "created_by_id")
        ],
    )
    cache.set(key, options, OPTIONS_SECONDS)
    return options


def forget_picker_options(*, workspace_id: int) -> None:
    cache.delete(_options_key(workspace_id))
