"""REST API for members: the list, a member with identities, merge suggestions, merge and undo.

Workspace resolution and errors are the API's usual ones (accounts.api.api_workspace): 404 for outsiders and
for ids of another workspace, 403 for a role without the permission.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from communa.accounts.api import ERRORS, ErrorOut, WorkspaceParam, api_user, api_workspace, invalid
from communa.accounts.roles import Perm
from communa.core.pagination import InvalidCursor
from communa.members import selectors
from communa.members.models import Identity, Member, MergeRecord, MergeSuggestion
from communa.members.selectors import SORTS, MemberQuery
from communa.members.services import MergeError, MergeReason, merge_members, undo_merge

router = Router(tags=["members"])
merges_router = Router(tags=["members"])

MAX_PAGE_SIZE = 200
CONFLICT: dict[int, type[Schema]] = {409: ErrorOut}


class MemberListQuery(Schema):
    q: str = Field(default="", max_length=200, description="Part of a name or handle.")
    platform: str = Field(default="", max_length=120, description="Only members with an identity on this platform.")
    sort: str = Field(default="last_seen", json_schema_extra={"enum": list(SORTS)})
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page.")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)


class SuggestionQuery(Schema):
    page: int = Field(default=1, ge=1)
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)


class IdentityOut(Schema):
    id: int
    platform: str
    external_id: str
    handle: str
    display_name: str
    url: str
    is_bot: bool
    first_seen_at: datetime | None
    last_seen_at: datetime | None


class MemberOut(Schema):
    id: int
    display_name: str
    is_bot: bool
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    message_count: int
    platforms: list[str]


class MemberDetailOut(MemberOut):
    identities: list[IdentityOut]
    languages: dict[str, int] = Field(description="Language code → how many of their messages are in it.")
    messages_per_platform: dict[str, int]


class MemberPageOut(Schema):
    items: list[MemberOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class ReasonOut(Schema):
    code: str = Field(
        description="same_email, same_handle, handle_variant or similar_name; negative weights (different_email)"
        " count against; details vary by code."
    )
    weight: float
    details: dict[str, Any]


class SuggestionOut(Schema):
    id: int
    member_a: MemberOut
    member_b: MemberOut
    score: float
    reasons: list[ReasonOut]
    created_at: datetime


class SuggestionPageOut(Schema):
    items: list[SuggestionOut]
    total: int
    page: int


class MergeIn(Schema):
    other: int = Field(description="The member merged into the one in the path (it becomes part of it).")


class MergeOut(Schema):
    id: int
    into: int
    merged: int
    reason: str
    identities: int
    messages: int
    merged_at: datetime
    undone_at: datetime | None


def _identity(identity: Identity) -> IdentityOut:
    return IdentityOut(
        id=identity.pk,
        platform=identity.platform,
        external_id=identity.external_id,
        handle=identity.handle,
        display_name=identity.display_name,
        url=identity.url,
        is_bot=identity.is_bot,
        first_seen_at=identity.first_seen_at,
        last_seen_at=identity.last_seen_at,
    )


def _member(member: Member, identities: list[Identity]) -> MemberOut:
    return MemberOut(
        id=member.pk,
        display_name=str(member),
        is_bot=member.is_bot,
        first_seen_at=member.first_seen_at,
        last_seen_at=member.last_seen_at,
        message_count=member.message_count,
        platforms=sorted({i.platform for i in identities}),
    )


def _merge(record: MergeRecord) -> MergeOut:
    return MergeOut(
        id=record.pk,
        into=record.into_id,
        merged=record.merged_id,
        reason=record.reason,
        identities=len(record.snapshot["identity_ids"]),
        messages=len(record.snapshot["message_ids"]),
        merged_at=record.merged_at,
        undone_at=record.undone_at,
    )


@router.get("", response={200: MemberPageOut, **ERRORS}, summary="List members")
def list_members(request: Any, filters: Query[MemberListQuery], workspace: WorkspaceParam = None) -> MemberPageOut:
    """Members (merged ones are part of another and left out), most recently seen first by default."""
    ws = api_workspace(request, workspace, Perm.VIEW_MEMBERS)
    if filters.sort not in SORTS:
        raise invalid(["query", "sort"], _("Sort by one of: %(sorts)s.") % {"sorts": ", ".join(SORTS)})
    query = MemberQuery(q=filters.q, platform=filters.platform, sort=filters.sort)
    try:
        page = selectors.member_page(workspace=ws, query=query, cursor=filters.cursor, limit=filters.limit)
    except InvalidCursor as exc:
        raise invalid(["query", "cursor"], _("This cursor is not one the API returned.")) from exc
    return MemberPageOut(items=[_member(m, list(m.identities.all())) for m in page.items], next_cursor=page.next_cursor)


@router.get("/suggestions", response={200: SuggestionPageOut, **ERRORS}, summary="List merge suggestions")
def list_suggestions(
    request: Any, filters: Query[SuggestionQuery], workspace: WorkspaceParam = None
) -> SuggestionPageOut:
    """Pending suggestions, best score first. Accept one by merging the two members (POST …/merge)."""
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    pending = selectors.pending_suggestions(workspace=ws)
    start = (filters.page - 1) * filters.limit
    items: list[MergeSuggestion] = list(pending[start : start + filters.limit])
    identities = selectors.identities_of(
        workspace=ws, member_ids=sorted({s.member_a_id for s in items} | {s.member_b_id for s in items})
    )
    return SuggestionPageOut(
        items=[
            SuggestionOut(
                id=s.pk,
                member_a=_member(s.member_a, identities[s.member_a_id]),
                member_b=_member(s.member_b, identities[s.member_b_id]),
                score=s.score,
                reasons=[
                    ReasonOut(
                        code=r["code"],
                        weight=r["weight"],
                        details={k: v for k, v in r.items() if k not in {"code", "weight"}},
                    )
                    for r in s.reasons
                ],
                created_at=s.created_at,
            )
            for s in items
        ],
        total=pending.count(),
        page=filters.page,
    )


def _get_member(ws: Any, member_id: int) -> Member:
    try:
        return selectors.get_member(workspace=ws, member_id=member_id)
    except Member.DoesNotExist as exc:
        raise Http404 from exc


@router.get("/{int:member_id}", response={200: MemberDetailOut, **ERRORS}, summary="Get a member")
def get_member(request: Any, member_id: int, workspace: WorkspaceParam = None) -> MemberDetailOut:
    """A member with their identities, languages and messages per platform. A member merged into another is
    a 404 here: follow the merge (its identities are the other member's now)."""
    ws = api_workspace(request, workspace, Perm.VIEW_MEMBERS)
    member = _get_member(ws, member_id)
    if member.merged_into_id is not None:
        raise Http404
    profile = selectors.member_profile(workspace=ws, member=member)
    return MemberDetailOut(
        **_member(member, profile.identities).model_dump(),
        identities=[_identity(i) for i in profile.identities],
        languages=dict(profile.languages),
        messages_per_platform=dict(profile.counts_by_platform),
    )


@router.post(
    "/{int:member_id}/merge",
    response={201: MergeOut, **ERRORS, **CONFLICT},
    summary="Merge another member into this one",
)
def merge(request: Any, member_id: int, body: MergeIn, workspace: WorkspaceParam = None) -> Status[MergeOut | ErrorOut]:
    """Moves the other member's identities and messages to this member; undo with POST /merges/{id}/undo.
    A pending suggestion for the pair is marked accepted. 409 when either member was merged already."""
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    into, other = _get_member(ws, member_id), _get_member(ws, body.other)
    try:
        record = merge_members(
            workspace=ws, into=into, merged=other, actor=api_user(request), reason=MergeReason.MANUAL
        )
    except MergeError as exc:
        return Status(409, ErrorOut(detail=str(exc)))
    return Status(201, _merge(record))


@merges_router.post("/{merge_id}/undo", response={200: MergeOut, **ERRORS, **CONFLICT}, summary="Undo a merge")
def undo(request: Any, merge_id: int, workspace: WorkspaceParam = None) -> Status[MergeOut | ErrorOut]:
    """Restores exactly the state before the merge (identities, messages, both members, the suggestion it
    accepted). 409 when it was undone already or the member was merged again since (undo that first)."""
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    try:
        record = selectors.get_merge(workspace=ws, merge_id=merge_id)
    except MergeRecord.DoesNotExist as exc:
        raise Http404 from exc
    try:
        undo_merge(workspace=ws, record=record, actor=api_user(request))
    except MergeError as exc:
        return Status(409, ErrorOut(detail=str(exc)))
    record.refresh_from_db()
    return Status(200, _merge(record))


# Segments, tags, notes, custom fields, GDPR export/erase and CSV import status (members/api_manage.py), also
# under /members; it uses this module's schemas, hence the import here. Member ids are `int:` paths above so
# that /members/segments is not read as a member id.
from communa.members.api_manage import manage_router  # noqa: E402
from communa.members.engagement.api import engagement_router  # noqa: E402

router.add_router("", manage_router)
router.add_router("", engagement_router)
