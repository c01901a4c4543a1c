"""REST API for what a team keeps about members: segments, tags, notes, custom fields, GDPR export and erase,
and the status of a CSV import. Mounted under /members by api.py (`router.add_router("", manage_router)`).

Same rules as the pages (manage_views.py): reading needs `view_members`; writes, the data export, erasure
and import status need `manage_members`. An id of another workspace is a 404; so are members merged into
another (follow the merge) and erased members.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from communa.accounts.api import ERRORS, WorkspaceParam, api_user, api_workspace, invalid
from communa.accounts.models import Workspace
from communa.accounts.roles import Perm
from communa.core.pagination import InvalidCursor
from communa.members import annotations as notes
from communa.members import privacy, segments, selectors
from communa.members.api import MAX_PAGE_SIZE, MemberPageOut, _member
from communa.members.models import CustomField, Member, MemberImport, MemberTag, Note, Segment, Tag
from communa.members.selectors import SORTS, MemberQuery

manage_router: Router = Router(tags=["members"])

NO_CONTENT: dict[int, None] = {204: None}


# --- schemas ------------------------------------------------------------------------------------------------


class SegmentIn(Schema):
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=500)
    filter: dict[str, Any] = Field(
        default_factory=dict,
        description="Conditions, as on the member list: q, platform, source, language, tag, not_tag, field "
        '("key:op[:value]"), org, seen_within, not_seen_within, min_messages, period, negative_share, staff, bot, '
        "level, lifecycle, main_language (docs/members.md, Segments).",
    )


class SegmentPatch(Schema):
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=500)
    filter: dict[str, Any] | None = None


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    filter: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class SegmentDetailOut(SegmentOut):
    member_count: int = Field(description="Members matching the segment now.")


class SegmentMembersQuery(Schema):
    sort: str = Field(default="last_seen", json_schema_extra={"enum": list(SORTS)})
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page.")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)


class TagOut(Schema):
    id: int
    name: str


class TagsIn(Schema):
    tags: list[str] = Field(min_length=1, max_length=50, description="Tag names; missing tags are created.")


class NoteIn(Schema):
    text: str = Field(max_length=notes.MAX_NOTE)


class NoteOut(Schema):
    id: int
    text: str
    author: str | None = Field(description="Username of the team member who wrote it.")
    created_at: datetime
    edited_at: datetime | None


class FieldValueOut(Schema):
    key: str
    label: str
    kind: str
    choices: list[str]
    value: str = Field(description='The value as text; "" when not set.')


class FieldsOut(Schema):
    fields: list[FieldValueOut]
    organisation: str


class FieldsIn(Schema):
    values: dict[str, str] = Field(
        default_factory=dict, description='Field key → value as text ("" clears). Numbers as 12.5, dates YYYY-MM-DD.'
    )
    organisation: str | None = Field(
        default=None, max_length=200, description='Set by hand; "" hands it back to the email-domain estimate.'
    )


class EraseIn(Schema):
    confirm: int = Field(description="The member's id again, so that a wrong id in the path erases nothing.")


class EraseOut(Schema):
    member_id: int
    rows: dict[str, int] = Field(description="Rows changed by each eraser.")


class ImportOut(Schema):
    id: int
    filename: str
    status: str = Field(json_schema_extra={"enum": list(MemberImport.Status.values)})
    total_rows: int
    processed_rows: int
    progress: float = Field(description="Share of the rows done, 0 to 1.")
    created: int
    updated: int
    unchanged: int
    skipped: int
    errors: list[tuple[int, str]] = Field(description="[line, reason] of skipped rows, the first 1,000.")
    failure: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


# --- helpers ------------------------------------------------------------------------------------------------


def _live_member(ws: Workspace, member_id: int) -> Member:
    try:
        member = selectors.get_member(workspace=ws, member_id=member_id)
    except Member.DoesNotExist as exc:
        raise Http404 from exc
    if member.merged_into_id is not None or member.erased_at is not None:
        raise Http404
    return member


def _segment(ws: Workspace, segment_id: int) -> Segment:
    try:
        return Segment.objects.get(workspace=ws, pk=segment_id)
    except Segment.DoesNotExist as exc:
        raise Http404 from exc


def _filter(data: dict[str, Any]) -> segments.MemberFilter:
    try:
        return segments.parse_filter(data)
    except segments.InvalidFilter as exc:
        first = exc.errors[0] if exc.errors else {"loc": [], "msg": "invalid"}
        raise invalid(["body", "filter", *first.get("loc", [])], str(first.get("msg", ""))) from exc


def _segment_out(segment: Segment) -> SegmentOut:
    return SegmentOut(
        id=segment.pk,
        name=segment.name,
        description=segment.description,
        filter=segment.filter,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


def _segment_detail(ws: Workspace, segment: Segment) -> SegmentDetailOut:
    count = selectors.members_in_segment(ws, segment).count()
    return SegmentDetailOut(**_segment_out(segment).model_dump(), member_count=count)


def _note_out(note: Note) -> NoteOut:
    return NoteOut(
        id=note.pk,
        text=note.text,
        author=note.author.get_username() if note.author else None,
        created_at=note.created_at,
        edited_at=note.edited_at,
    )


def _tags(member: Member) -> list[TagOut]:
    links = MemberTag.objects.filter(member=member).select_related("tag").order_by("tag__name")
    return [TagOut(id=link.tag.pk, name=link.tag.name) for link in links]


def _fields(ws: Workspace, member: Member) -> FieldsOut:
    values = {v.field_id: v.text for v in member.field_values.all()}
    return FieldsOut(
        fields=[
            FieldValueOut(key=f.key, label=f.label, kind=f.kind, choices=list(f.choices), value=values.get(f.pk, ""))
            for f in CustomField.objects.filter(workspace=ws).order_by("position", "id")
        ],
        organisation=notes.organisation_of(member),
    )


# --- segments -----------------------------------------------------------------------------------------------


@manage_router.get("/segments", response={200: list[SegmentOut], **ERRORS}, summary="List segments")
def list_segments(request: Any, workspace: WorkspaceParam = None) -> list[SegmentOut]:
    """The workspace's saved member filters, by name."""
    ws = api_workspace(request, workspace, Perm.VIEW_MEMBERS)
    return [_segment_out(s) for s in Segment.objects.filter(workspace=ws).order_by("name", "id")]


@manage_router.post("/segments", response={201: SegmentDetailOut, **ERRORS}, summary="Save a segment")
def create_segment(request: Any, body: SegmentIn, workspace: WorkspaceParam = None) -> Status[SegmentDetailOut]:
    """A named filter shared by the workspace. 422 when the name is taken or a condition cannot be read."""
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    flt = _filter(body.filter)
    try:
        segment = segments.create_segment(
            workspace=ws, name=body.name, description=body.description, flt=flt, actor=api_user(request)
        )
    except segments.SegmentError as exc:
        raise invalid(["body", "name"], str(exc)) from exc
    return Status(201, _segment_detail(ws, segment))


@manage_router.get("/segments/{segment_id}", response={200: SegmentDetailOut, **ERRORS}, summary="Get a segment")
def get_segment(request: Any, segment_id: int, workspace: WorkspaceParam = None) -> SegmentDetailOut:
    ws = api_workspace(request, workspace, Perm.VIEW_MEMBERS)
    return _segment_detail(ws, _segment(ws, segment_id))


@manage_router.patch("/segments/{segment_id}", response={200: SegmentDetailOut, **ERRORS}, summary="Change a segment")
def update_segment(
    request: Any, segment_id: int, body: SegmentPatch, workspace: WorkspaceParam = None
) -> SegmentDetailOut:
    """Only the fields sent change; `filter` replaces the whole filter."""
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    segment = _segment(ws, segment_id)
    flt = _filter(body.filter) if body.filter is not None else None
    try:
        segments.update_segment(
            workspace=ws,
            segment=segment,
            name=body.name,
            description=body.description,
            flt=flt,
            actor=api_user(request),
        )
    except segments.SegmentError as exc:
        raise invalid(["body", "name"], str(exc)) from exc
    return _segment_detail(ws, segment)


@manage_router.delete("/segments/{segment_id}", response={**NO_CONTENT, **ERRORS}, summary="Delete a segment")
def delete_segment(request: Any, segment_id: int, workspace: WorkspaceParam = None) -> Status[None]:
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    segments.delete_segment(workspace=ws, segment=_segment(ws, segment_id), actor=api_user(request))
    return Status(204, None)


@manage_router.get(
    "/segments/{segment_id}/members", response={200: MemberPageOut, **ERRORS}, summary="Members in a segment"
)
def segment_members(
    request: Any, segment_id: int, params: Query[SegmentMembersQuery], workspace: WorkspaceParam = None
) -> MemberPageOut:
    """The members matching the segment now, in keyset pages (as GET /members): pass `next_cursor` back."""
    ws = api_workspace(request, workspace, Perm.VIEW_MEMBERS)
    segment = _segment(ws, segment_id)
    if params.sort not in SORTS:
        raise invalid(["query", "sort"], _("Sort by one of: %(sorts)s.") % {"sorts": ", ".join(SORTS)})
    query = MemberQuery(sort=params.sort, flt=segments.segment_filter(segment))
    try:
        page = selectors.member_page(workspace=ws, query=query, cursor=params.cursor, limit=params.limit)
    except InvalidCursor as exc:
        raise invalid(["query", "cursor"], _("This cursor is not one the API returned.")) from exc
    return MemberPageOut(items=[_member(m, list(m.identities.all())) for m in page.items], next_cursor=page.next_cursor)


# --- CSV import status --------------------------------------------------------------------------------------


@manage_router.get("/imports/{import_id}", response={200: ImportOut, **ERRORS}, summary="CSV import status")
def import_status(request: Any, import_id: int, workspace: WorkspaceParam = None) -> ImportOut:
    """Progress of a member CSV import started on the page (Members → Import), then its summary."""
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    job = MemberImport.objects.filter(workspace=ws, pk=import_id).first()
    if job is None:
        raise Http404
    return ImportOut(
        id=job.pk,
        filename=job.filename,
        status=job.status,
        total_rows=job.total_rows,
        processed_rows=job.processed_rows,
        progress=round(min(1.0, job.processed_rows / job.total_rows), 4) if job.total_rows else 0.0,
        created=job.created_count,
        updated=job.updated_count,
        unchanged=job.unchanged_count,
        skipped=job.error_count,
        errors=[(int(line), str(message)) for line, message in job.errors],
        failure=job.failure,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


# --- tags ---------------------------------------------------------------------------------------------------


@manage_router.get("/{int:member_id}/tags", response={200: list[TagOut], **ERRORS}, summary="A member's tags")
def member_tags(request: Any, member_id: int, workspace: WorkspaceParam = None) -> list[TagOut]:
    ws = api_workspace(request, workspace, Perm.VIEW_MEMBERS)
    return _tags(_live_member(ws, member_id))


@manage_router.post("/{int:member_id}/tags", response={200: list[TagOut], **ERRORS}, summary="Tag a member")
def add_tags(request: Any, member_id: int, body: TagsIn, workspace: WorkspaceParam = None) -> list[TagOut]:
    """Adds the tags (matched case-insensitively to the workspace's tags, created when new); returns all the
    member's tags. Tags the member has already are left alone."""
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    member = _live_member(ws, member_id)
    try:
        notes.add_tags(workspace=ws, member=member, names=body.tags, actor=api_user(request))
    except notes.AnnotationError as exc:
        raise invalid(["body", "tags"], str(exc)) from exc
    return _tags(member)


@manage_router.delete(
    "/{int:member_id}/tags/{tag_id}", response={**NO_CONTENT, **ERRORS}, summary="Remove a tag from a member"
)
def remove_tag(request: Any, member_id: int, tag_id: int, workspace: WorkspaceParam = None) -> Status[None]:
    """404 when the member does not have the tag."""
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    member = _live_member(ws, member_id)
    tag = Tag.objects.filter(workspace=ws, pk=tag_id).first()
    if tag is None or not notes.remove_tag(workspace=ws, member=member, tag=tag, actor=api_user(request)):
        raise Http404
    return Status(204, None)


# --- notes --------------------------------------------------------------------------------------------------


def _note(ws: Workspace, member: Member, note_id: int) -> Note:
    note = Note.objects.filter(workspace=ws, member=member, pk=note_id).select_related("author").first()
    if note is None:
        raise Http404
    return note


@manage_router.get("/{int:member_id}/notes", response={200: list[NoteOut], **ERRORS}, summary="A member's notes")
def member_notes(request: Any, member_id: int, workspace: WorkspaceParam = None) -> list[NoteOut]:
    """Staff-internal notes, newest first (never shown to the member; included in their data export)."""
    ws = api_workspace(request, workspace, Perm.VIEW_MEMBERS)
    member = _live_member(ws, member_id)
    return [_note_out(n) for n in member.notes.select_related("author").order_by("-created_at", "-id")]


@manage_router.post("/{int:member_id}/notes", response={201: NoteOut, **ERRORS}, summary="Add a note")
def add_note(request: Any, member_id: int, body: NoteIn, workspace: WorkspaceParam = None) -> Status[NoteOut]:
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    member = _live_member(ws, member_id)
    try:
        note = notes.add_note(workspace=ws, member=member, text=body.text, author=api_user(request))
    except notes.AnnotationError as exc:
        raise invalid(["body", "text"], str(exc)) from exc
    return Status(201, _note_out(note))


@manage_router.patch("/{int:member_id}/notes/{note_id}", response={200: NoteOut, **ERRORS}, summary="Edit a note")
def edit_note(request: Any, member_id: int, note_id: int, body: NoteIn, workspace: WorkspaceParam = None) -> NoteOut:
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    note = _note(ws, _live_member(ws, member_id), note_id)
    try:
        notes.edit_note(workspace=ws, note=note, text=body.text, actor=api_user(request))
    except notes.AnnotationError as exc:
        raise invalid(["body", "text"], str(exc)) from exc
    return _note_out(note)


@manage_router.delete("/{int:member_id}/notes/{note_id}", response={**NO_CONTENT, **ERRORS}, summary="Delete a note")
def delete_note(request: Any, member_id: int, note_id: int, workspace: WorkspaceParam = None) -> Status[None]:
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    note = _note(ws, _live_member(ws, member_id), note_id)
    notes.delete_note(workspace=ws, note=note, actor=api_user(request))
    return Status(204, None)


# --- custom fields and organisation ---------------------------------------------------------------------------


@manage_router.get("/{int:member_id}/fields", response={200: FieldsOut, **ERRORS}, summary="A member's custom fields")
def member_fields(request: Any, member_id: int, workspace: WorkspaceParam = None) -> FieldsOut:
    """Every field the workspace defines (in its order), with this member's value, and their organisation."""
    ws = api_workspace(request, workspace, Perm.VIEW_MEMBERS)
    return _fields(ws, _live_member(ws, member_id))


@manage_router.patch(
    "/{int:member_id}/fields", response={200: FieldsOut, **ERRORS}, summary="Set a member's custom fields"
)
def set_fields(request: Any, member_id: int, body: FieldsIn, workspace: WorkspaceParam = None) -> FieldsOut:
    """Sets the fields named in `values` (others stay as they are). All or nothing: one unknown key or value
    that does not fit its field (a number, a date, one of the choices) is a 422 and nothing changes."""
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    member = _live_member(ws, member_id)
    fields = {f.key: f for f in CustomField.objects.filter(workspace=ws, key__in=list(body.values))}
    for key, raw in body.values.items():
        field = fields.get(key)
        if field is None:
            raise invalid(["body", "values", key], _("There is no custom field with this key."))
        if raw.strip():
            try:
                notes.parse_value(field, raw)
            except notes.AnnotationError as exc:
                raise invalid(["body", "values", key], str(exc)) from exc
    actor = api_user(request)
    with transaction.atomic():
        for key, raw in body.values.items():
            notes.set_field_value(workspace=ws, member=member, field=fields[key], raw=raw, actor=actor)
        if body.organisation is not None:
            notes.set_organisation(workspace=ws, member=member, organisation=body.organisation, actor=actor)
    member = Member.objects.get(pk=member.pk)  # the organisation is read through a cached relation
    return _fields(ws, member)


# --- privacy ------------------------------------------------------------------------------------------------


@manage_router.get(
    "/{int:member_id}/data", response={200: dict[str, Any], **ERRORS}, summary="Export a member's data (GDPR)"
)
def export_data(request: Any, member_id: int, workspace: WorkspaceParam = None) -> dict[str, Any]:
    """Everything Communa holds about the member, by section (member, identities, messages, tags, notes,
    custom fields, consents, merges, engagement, and other apps' sections such as conversations and moderation
    decisions). Audited (`members.data_exported`, counts only)."""
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    return privacy.export_data(workspace=ws, member=_live_member(ws, member_id), actor=api_user(request))


@manage_router.post(
    "/{int:member_id}/erase", response={200: EraseOut, **ERRORS}, summary="Erase a member everywhere (GDPR)"
)
def erase(request: Any, member_id: int, body: EraseIn, workspace: WorkspaceParam = None) -> EraseOut:
    """Cannot be undone. Erases their identities and the personal fields of everything that holds them
    (messages, notes, conversations, moderation decisions, ...); the member row stays, empty, so counts stay
    right. Send `{"confirm": <member id>}`. Audited with ids and counts only; emits `member.erased`."""
    ws = api_workspace(request, workspace, Perm.MANAGE_MEMBERS)
    member = _live_member(ws, member_id)
    if body.confirm != member.pk:
        raise invalid(["body", "confirm"], _("Send the member's id as `confirm` to erase them."))
    rows = privacy.erase_member(workspace=ws, member=member, actor=api_user(request))
    return EraseOut(member_id=member.pk, rows=rows)
