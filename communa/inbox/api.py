"""REST API for the inbox: list conversations (the page's filters, keyset pages), get one with its timeline,
assign, change state, reply (through the outbox), and the suggested answers.

Access is the page's: a role with an inbox (owners, managers, moderators see every conversation; volunteers
only theirs and their teams'); other roles get 403, a conversation the caller may not see is a 404. Writes
take the `version` the client last saw: a conflicting change is a 409 with the conversation as it is now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from communa.accounts.api import ERRORS, WorkspaceParam, api_workspace, invalid
from communa.accounts.models import User
from communa.accounts.roles import Perm
from communa.inbox import listing, selectors, services, suggestions
from communa.inbox.listing import InboxFilter
from communa.inbox.models import Conversation, Reply, SavedReply, Team
from communa.inbox.selectors import InboxAccess

router = Router(tags=["conversations"])
MAX_PAGE_SIZE = 200


class ConversationQuery(Schema):
    state: Literal["open", "pending", "snoozed", "resolved", "all"] = "open"
    assignee: str = Field(default="", description='"me", "unassigned", a user id, or empty for anyone.')
    team: int | None = None
    source: int | None = None
    priority: Literal["", "urgent", "high", "normal", "low"] = Field(
        default="", description="Priority band: urgent ≥ 60, high ≥ 40, normal ≥ 20, low below."
    )
    language: str = Field(default="", max_length=12)
    q: str = Field(default="", max_length=200, description="Text in the subject, the preview or the member's name.")
    breached: bool = Field(default=False, description="Only conversations whose SLA target was missed.")
    sort: Literal["priority", "newest", "oldest"] = "priority"
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page.")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)


class ConversationOut(Schema):
    id: int
    version: int
    source_id: int
    kind: str
    reason: str
    reasons: list[str]
    state: str
    snoozed_until: datetime | None
    subject: str
    preview: str
    language: str
    member_id: int | None
    member_name: str
    assignee_id: int | None
    team_id: int | None
    priority: int
    priority_band: str
    priority_overridden: bool
    priority_reasons: list[dict[str, Any]]
    opened_at: datetime
    last_message_at: datetime
    waiting_since: datetime | None
    first_response_at: datetime | None
    first_response_seconds: int | None = Field(description="From opening to the first answer of the team.")
    first_response_due: datetime | None
    next_response_due: datetime | None
    sla_breached: bool
    resolved_at: datetime | None
    answered_by_community: bool
    message_count: int


class ConversationPageOut(Schema):
    items: list[ConversationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class TimelineMessageOut(Schema):
    message_id: int
    role: str = Field(description='"member", "community" (another member) or "staff".')
    author: str
    text: str
    created_at: datetime
    is_question: bool
    answered_at: datetime | None
    answered_by: str
    escalated_at: datetime | None


class ReplyOut(Schema):
    id: int
    state: str
    text: str
    author_id: int | None
    error: str = Field(description="The platform's reason when it refused the reply.")
    external_id: str
    created_at: datetime
    sent_at: datetime | None


class NoteOut(Schema):
    id: int
    author_id: int | None
    text: str
    created_at: datetime


class ConversationDetailOut(ConversationOut):
    messages: list[TimelineMessageOut]
    replies: list[ReplyOut]
    notes: list[NoteOut]


class AssignIn(Schema):
    assignee: int | None = Field(default=None, description="A user id of the workspace; null for nobody.")
    team: int | None = Field(default=None, description="A team id of the workspace; null for none.")
    version: int | None = Field(default=None, description="The version you saw; a conflicting change gives 409.")


class StateIn(Schema):
    state: Literal["open", "pending", "snoozed", "resolved"]
    snoozed_until: datetime | None = Field(default=None, description="Required to snooze; in the future.")
    version: int | None = None


class ReplyIn(Schema):
    text: str = Field(min_length=1, max_length=services.MAX_REPLY_LENGTH)
    after: Literal["open", "pending", "resolved"] | None = Field(
        default=None, description="The state to move to once the reply is queued."
    )
    saved_reply: int | None = Field(default=None, description="The saved reply used, for its statistics.")


class ConflictOut(Schema):
    detail: str
    conversation: ConversationOut


class SuggestedAnswerOut(Schema):
    question_id: int
    question: str
    answer: str
    answered_by: str
    answerer: str
    conversation_id: int | None
    similarity: float


class SuggestedSavedReplyOut(Schema):
    saved_reply_id: int
    title: str
    shortcut: str
    text: str
    language: str
    similarity: float


class SuggestionsOut(Schema):
    question_id: int | None
    answered: list[SuggestedAnswerOut]
    saved_replies: list[SuggestedSavedReplyOut]


def _access(request: HttpRequest, workspace: str | None) -> InboxAccess:
    ws = api_workspace(request, workspace, Perm.VIEW_STREAM)
    assert isinstance(request.user, User)  # api_workspace authenticated the caller
    return selectors.access_for(workspace=ws, user=request.user)


def _conversation(access: InboxAccess, conversation_id: int) -> Conversation:
    return selectors.get_conversation(access=access, conversation_id=conversation_id)


def _out(c: Conversation) -> dict[str, Any]:
    breached = bool(
        (c.first_response_breached_at and c.first_response_at is None)
        or (c.next_response_breached_at and c.next_response_due)
    )
    first = int((c.first_response_at - c.opened_at).total_seconds()) if c.first_response_at else None
    return {
        "id": c.pk, "version": c.version, "source_id": c.source_id, "kind": c.kind, "reason": c.reason,
        "reasons": list(c.reasons or []), "state": c.state, "snoozed_until": c.snoozed_until, "subject": c.subject,
        "preview": c.preview, "language": c.language, "member_id": c.member_id,
        "member_name": c.member.display_name if c.member else "", "assignee_id": c.assignee_id, "team_id": c.team_id,
        "priority": c.priority, "priority_band": listing.priority_band(c.priority),
        "priority_overridden": c.is_overridden, "priority_reasons": list(c.priority_reasons or []),
        "opened_at": c.opened_at, "last_message_at": c.last_message_at, "waiting_since": c.waiting_since,
        "first_response_at": c.first_response_at, "first_response_seconds": first,
        "first_response_due": c.first_response_due, "next_response_due": c.next_response_due,
        "sla_breached": breached, "resolved_at": c.resolved_at, "answered_by_community": c.answered_by_community,
        "message_count": c.message_count,
    }  # fmt: skip


def _reply_out(r: Reply) -> ReplyOut:
    return ReplyOut(
        id=r.pk, state=r.state, text=r.text, author_id=r.author_id, error=r.error, external_id=r.external_id,
        created_at=r.created_at, sent_at=r.sent_at,
    )  # fmt: skip


def _detail(c: Conversation) -> ConversationDetailOut:
    messages, replies, notes = [], [], []
    for entry in selectors.timeline(conversation=c):
        item = entry.item
        if entry.kind == "message":
            m = item.message
            messages.append(
                TimelineMessageOut(
                    message_id=m.pk, role=item.role, author=m.member.display_name if m.member else "",
                    text="" if m.deleted_at else m.text, created_at=m.created_at, is_question=item.is_question,
                    answered_at=item.answered_at, answered_by=item.answered_by, escalated_at=item.escalated_at,
                )
            )  # fmt: skip
        elif entry.kind == "reply":
            replies.append(_reply_out(item))
        elif entry.kind == "note":
            notes.append(NoteOut(id=item.pk, author_id=item.author_id, text=item.text, created_at=item.created_at))
    return ConversationDetailOut(**_out(c), messages=messages, replies=replies, notes=notes)


@router.get("", response={200: ConversationPageOut, **ERRORS}, summary="List conversations")
def list_conversations(
    request: HttpRequest, filters: Query[ConversationQuery], workspace: WorkspaceParam = None
) -> ConversationPageOut:
    """Conversations the caller may see, most urgent first by default, `limit` at a time."""
    access = _access(request, workspace)
    flt = InboxFilter.from_query(filters.model_dump(exclude={"cursor", "limit"}))
    try:
        page = listing.paginate(
            listing.filtered(access=access, flt=flt), sort=flt.sort, cursor=filters.cursor, limit=filters.limit
        )
    except listing.InvalidCursor as exc:
        raise invalid(["query", "cursor"], _("This cursor is not one the API returned.")) from exc
    return ConversationPageOut(items=[ConversationOut(**_out(c)) for c in page.items], next_cursor=page.next_cursor)


@router.get("/{conversation_id}", response={200: ConversationDetailOut, **ERRORS}, summary="Get a conversation")
def get_conversation(request: HttpRequest, conversation_id: int, workspace: WorkspaceParam = None) -> Any:
    """The conversation with its messages (both sides), replies written in Communa and internal notes."""
    return _detail(_conversation(_access(request, workspace), conversation_id))


def _stale(exc: services.StaleConversation) -> Status[ConflictOut]:
    detail = _("Someone else changed this conversation meanwhile: here it is as it is now.")
    return Status(409, ConflictOut(detail=detail, conversation=ConversationOut(**_out(exc.conversation))))


def _check(exc: services.InboxError, field: str) -> Exception:
    return invalid(["body", field], str(exc))


@router.post(
    "/{conversation_id}/assign",
    response={200: ConversationOut, 409: ConflictOut, **ERRORS},
    summary="Assign a conversation",
)
def assign(request: HttpRequest, conversation_id: int, body: AssignIn, workspace: WorkspaceParam = None) -> Any:
    """Give the conversation to a person and/or a team of the workspace (null: nobody)."""
    access = _access(request, workspace)
    conv = _conversation(access, conversation_id)
    person = team = None
    if body.assignee is not None:
        person = User.objects.filter(pk=body.assignee, memberships__workspace=access.workspace).first()
        if person is None:
            raise invalid(["body", "assignee"], _("That person is not in this workspace."))
    if body.team is not None:
        team = Team.objects.filter(workspace=access.workspace, pk=body.team).first()
        if team is None:
            raise invalid(["body", "team"], _("That team is not in this workspace."))
    try:
        services.assign(conversation=conv, actor=access.user, assignee=person, team=team, expected_version=body.version)
    except services.StaleConversation as exc:
        return _stale(exc)
    except services.InboxError as exc:
        raise _check(exc, "assignee") from exc
    except PermissionError as exc:
        raise PermissionDenied from exc
    return ConversationOut(**_out(conv))


@router.post(
    "/{conversation_id}/state",
    response={200: ConversationOut, 409: ConflictOut, **ERRORS},
    summary="Change a conversation's state",
)
def change_state(request: HttpRequest, conversation_id: int, body: StateIn, workspace: WorkspaceParam = None) -> Any:
    """Open, pending (waiting for the member), snoozed until a time, or resolved. Asking twice changes nothing."""
    access = _access(request, workspace)
    conv = _conversation(access, conversation_id)
    try:
        services.change_state(
            conversation=conv, actor=access.user, state=body.state, expected_version=body.version,
            snoozed_until=body.snoozed_until,
        )  # fmt: skip
    except services.StaleConversation as exc:
        return _stale(exc)
    except services.InboxError as exc:
        raise _check(exc, "snoozed_until" if body.state == "snoozed" else "state") from exc
    except PermissionError as exc:
        raise PermissionDenied from exc
    return ConversationOut(**_out(conv))


@router.post("/{conversation_id}/replies", response={201: ReplyOut, **ERRORS}, summary="Reply to a conversation")
def reply(request: HttpRequest, conversation_id: int, body: ReplyIn, workspace: WorkspaceParam = None) -> Any:
    """Queue a reply: it is sent through the outbox to the right thread on the platform, exactly once.
    Poll the conversation (or subscribe to webhooks) for its `state`: pending, sent, unknown, failed."""
    access = _access(request, workspace)
    conv = _conversation(access, conversation_id)
    saved = None
    if body.saved_reply is not None:
        saved = SavedReply.objects.filter(workspace=access.workspace, pk=body.saved_reply).first()
        if saved is None:
            raise invalid(["body", "saved_reply"], _("No saved reply with this id in the workspace."))
    try:
        made = services.send_reply(
            conversation=conv, author=access.user, text=body.text, saved_reply=saved, state_after=body.after
        )
    except services.InboxError as exc:
        raise _check(exc, "text") from exc
    except PermissionError as exc:
        raise PermissionDenied from exc
    made.refresh_from_db()
    return Status(201, _reply_out(made))


@router.get("/{conversation_id}/suggestions", response={200: SuggestionsOut, **ERRORS}, summary="Suggested answers")
def suggested(request: HttpRequest, conversation_id: int, workspace: WorkspaceParam = None) -> Any:
    """Similar questions answered before (with the answer given) and saved replies, ranked by meaning."""
    conv = _conversation(_access(request, workspace), conversation_id)
    found = suggestions.suggest(conversation=conv)
    return SuggestionsOut(
        question_id=found.question_id,
        answered=[
            SuggestedAnswerOut(
                question_id=a.question_id, question=a.question, answer=a.answer, answered_by=a.answered_by,
                answerer=a.answerer, conversation_id=a.conversation_id, similarity=a.similarity,
            )
            for a in found.answered
        ],
        saved_replies=[
            SuggestedSavedReplyOut(
                saved_reply_id=s.saved_reply_id, title=s.title, shortcut=s.shortcut, text=s.text,
                language=s.language, similarity=s.similarity,
            )
            for s in found.saved_replies
        ],
    )  # fmt: skip
