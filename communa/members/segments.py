"""The query layer for members: parse a filter once (`MemberFilter`), compile it to a workspace-scoped queryset.

The member list, the API, CSV export, saved segments (and analytics, publishing targets and automations)
all use it, so "language=it tag=beta seen_within=30" means the same thing everywhere — as
stream/filters.py does for messages. A saved segment is a named `MemberFilter` stored as JSON.

Adding a filter on a column of a related table (engagement level, lifecycle, main language) is one line in
`RELATED_COLUMNS`; a column that does not exist (yet) is ignored rather than failing the whole list.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import cache
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, FloatField, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from communa.accounts.models import User, Workspace
from communa.audit.services import record as audit
from communa.events.services import emit
from communa.members.models import CustomField, CustomFieldValue, Identity, Member, MemberTag, Segment
from communa.stream.models import Message

# filter attribute → lookup path from Member to a column of a related table (one row per member). Values
# are matched with `__in`. A path that does not resolve (the table is not there) is skipped.
RELATED_COLUMNS: dict[str, str] = {
    "level": "engagement__level",
    "lifecycle": "engagement__lifecycle",
    "main_language": "facts__main_language",
}
ORGANISATION_PATH = "facts__organisation"

FIELD_OPS = ("eq", "contains", "gt", "lt", "set", "unset")
# "plan:eq:pro", "seats:gt:10", "joined:lt:2026-01-01", "plan:set"
_FIELD_CONDITION = re.compile(r"^(?P<key>[-a-zA-Z0-9_]{1,50}):(?P<op>eq|contains|gt|lt|set|unset)(?::(?P<value>.*))?$")
# List-valued attributes (several values in a query string: ?tag=a&tag=b).
LIST_FIELDS = ("platform", "source", "language", "tag", "not_tag", "field", "level", "lifecycle", "main_language")


class MemberFilter(BaseModel):
    """Which members: every condition must hold; a list holds when any of its values does."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    q: str = Field(default="", max_length=200, description="Part of a name, handle or email.")
    platform: list[str] = Field(default_factory=list, description="Has an identity on one of these platforms.")
    source: list[int] = Field(default_factory=list, description="Wrote in one of these sources.")
    language: list[str] = Field(default_factory=list, description="Wrote at least one message in one of these.")
    tag: list[str] = Field(default_factory=list, description="Has one of these tags.")
    not_tag: list[str] = Field(default_factory=list, description="Has none of these tags.")
    field: list[str] = Field(
        default_factory=list,
        description='Custom field conditions "key:op[:value]", op in eq, contains, gt, lt, set, unset.',
    )
    org: str = Field(default="", max_length=200, description="Organisation (part of its name).")
    seen_within: int | None = Field(default=None, ge=1, le=36500, description="Seen in the last N days.")
    not_seen_within: int | None = Field(default=None, ge=1, le=36500, description="Not seen in the last N days.")
    min_messages: int | None = Field(default=None, ge=0, le=10_000_000, description="At least N messages…")
    period: int | None = Field(default=None, ge=1, le=36500, description="…in the last N days (else ever).")
    negative_share: float | None = Field(
        default=None, ge=0, le=1, description="At least this share of their analysed messages is negative."
    )
    staff: bool | None = Field(default=None, description="Team members only (true) or everyone else (false).")
    bot: bool | None = Field(default=None, description="Bots only (true) or people only (false).")
    level: list[str] = Field(default_factory=list)
    lifecycle: list[str] = Field(default_factory=list)
    main_language: list[str] = Field(default_factory=list)

    @field_validator("language", "main_language")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        return sorted({v.lower()[:12] for v in value if v})

    @field_validator("platform", "tag", "not_tag", "level", "lifecycle")
    @classmethod
    def _texts(cls, value: list[str]) -> list[str]:
        return sorted({v.strip()[:120] for v in value if v and v.strip()})

    @field_validator("field")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        for condition in value:
            if not _FIELD_CONDITION.match(condition):
                raise ValueError(f"{condition!r} is not key:op[:value] with op in {', '.join(FIELD_OPS)}")
        return value

    def is_empty(self) -> bool:
        return self == MemberFilter()

    def as_json(self) -> dict[str, Any]:
        """What a saved segment stores: only the conditions that are set."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def as_query(self) -> QueryDict:
        """The filter as query-string parameters (the list page's URL)."""
        params = QueryDict(mutable=True)
        for key, value in self.as_json().items():
            values = value if isinstance(value, list) else [value]
            params.setlist(key, ["true" if v is True else "false" if v is False else str(v) for v in values])
        return params


class InvalidFilter(ValueError):
    """A filter that cannot be read; `errors` are pydantic's, for a 422 or a message on the page."""

    def __init__(self, errors: list[Any]) -> None:
        super().__init__("invalid member filter")
        self.errors = errors


def parse_filter(data: dict[str, Any] | QueryDict) -> MemberFilter:
    """A filter from a query string (lists from repeated keys; empty values ignored) or stored JSON."""
    if isinstance(data, QueryDict):
        raw: dict[str, Any] = {}
        for key in data:
            values = [v for v in data.getlist(key) if v.strip()]
            if not values:
                continue
            raw[key] = values if key in LIST_FIELDS else values[-1]
        data = raw
    try:
        return MemberFilter.model_validate(data)
    except ValidationError as exc:
        raise InvalidFilter(exc.errors(include_url=False, include_context=False)) from exc


@cache
def path_exists(path: str) -> bool:
    """Does this lookup path from Member resolve to a column (K=5's engagement tables may not be there)?"""
    model: Any = Member
    for part in path.split("__"):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        model = field.related_model if field.is_relation else None
        if model is None:
            return part == path.split("__")[-1]
    return True


def filter_members(*, workspace: Workspace, flt: MemberFilter) -> QuerySet[Member]:  # noqa: C901
    # (one line per condition)
    """Members of `workspace` matching `flt`: people on their own (not merged into another, not erased)."""
    qs = Member.objects.filter(workspace=workspace, merged_into__isnull=True, erased_at__isnull=True)
    if flt.q:
        qs = qs.filter(_text_q(flt.q))
    if flt.platform:
        qs = qs.filter(Exists(Identity.objects.filter(member=OuterRef("pk"), platform__in=flt.platform)))
    if flt.source:
        qs = qs.filter(Exists(Message.objects.filter(member=OuterRef("pk"), source_id__in=flt.source)))
    if flt.language:
        qs = qs.filter(Exists(Message.objects.filter(member=OuterRef("pk"), language__in=flt.language)))
    if flt.tag:
        qs = qs.filter(Exists(MemberTag.objects.filter(member=OuterRef("pk"), tag__name__in=flt.tag)))
    if flt.not_tag:
        qs = qs.exclude(Exists(MemberTag.objects.filter(member=OuterRef("pk"), tag__name__in=flt.not_tag)))
    for condition in flt.field:
        qs = _field_condition(workspace, qs, condition)
    if flt.org and path_exists(ORGANISATION_PATH):
        qs = qs.filter(**{f"{ORGANISATION_PATH}__icontains": flt.org})
    now = timezone.now()
    if flt.seen_within:
        qs = qs.filter(last_seen_at__gte=now - timedelta(days=flt.seen_within))
    if flt.not_seen_within:
        qs = qs.filter(Q(last_seen_at__lt=now - timedelta(days=flt.not_seen_within)) | Q(last_seen_at__isnull=True))
    if flt.min_messages is not None:
        if flt.period:
            recent = _count_of(Message.objects.filter(created_at__gte=now - timedelta(days=flt.period)))
            qs = qs.annotate(_recent=recent).filter(_recent__gte=flt.min_messages)
        else:
            qs = qs.filter(message_count__gte=flt.min_messages)
    if flt.negative_share is not None:
        qs = _negative_share(qs, flt, now)
    if flt.staff is not None:
        qs = qs.filter(is_staff=flt.staff)
    if flt.bot is not None:
        qs = qs.filter(is_bot=flt.bot)
    for attribute, path in RELATED_COLUMNS.items():
        values = getattr(flt, attribute)
        if values and path_exists(path):
            # The related row's own workspace too: it lets PostgreSQL use the (workspace, column) indexes
            # instead of reading the whole table (one join: both conditions in one filter()).
            relation = path.split("__", 1)[0]
            qs = qs.filter(**{f"{path}__in": values, f"{relation}__workspace": workspace})
    return qs


def _text_q(text: str) -> Q:
    identities = Identity.objects.filter(member=OuterRef("pk")).filter(
        Q(handle__icontains=text)
        | Q(display_name__icontains=text)
        | Q(email__iexact=text)
        | Q(external_id__iexact=text)
    )
    return Q(display_name__icontains=text) | Q(Exists(identities))


def _count_of(messages: QuerySet[Message]) -> Coalesce:
    counted = messages.filter(member=OuterRef("pk"), deleted_at=None).order_by().values("member")
    return Coalesce(Subquery(counted.annotate(n=Count("id")).values("n"), output_field=IntegerField()), Value(0))


def _negative_share(qs: QuerySet[Member], flt: MemberFilter, now: Any) -> QuerySet[Member]:
    """Share of the member's analysed messages (in the period, if set) whose sentiment is negative. Joins the
    enrichment table by its relation name (`signals`): members import nothing of enrichment."""
    messages = Message.objects.filter(signals__sentiment__in=["negative", "neutral", "positive"])
    if flt.period:
        messages = messages.filter(created_at__gte=now - timedelta(days=flt.period))
    analysed = _count_of(messages)
    negative = _count_of(messages.filter(signals__sentiment="negative"))
    qs = qs.annotate(_analysed=analysed, _negative=negative).filter(_analysed__gt=0)
    share = float(flt.negative_share or 0)
    return qs.annotate(_ratio=Cast("_negative", FloatField()) / Cast("_analysed", FloatField())).filter(
        _ratio__gte=share
    )


def _field_condition(workspace: Workspace, qs: QuerySet[Member], condition: str) -> QuerySet[Member]:
    match = _FIELD_CONDITION.match(condition)
    assert match is not None  # validated by MemberFilter
    key, op, value = match["key"], match["op"], match["value"] or ""
    field = CustomField.objects.filter(workspace=workspace, key=key).first()
    if field is None:
        return qs.none()  # a field that does not exist: no member has it (fail closed)
    values = CustomFieldValue.objects.filter(member=OuterRef("pk"), field=field)
    if op == "set":
        return qs.filter(Exists(values))
    if op == "unset":
        return qs.exclude(Exists(values))
    column = {"number": "number", "date": "date"}.get(field.kind, "text")
    typed: Any = value
    try:
        if column == "number":
            typed = float(value)
        elif column == "date":
            typed = date.fromisoformat(value)
    except ValueError:
        return qs.none()
    lookup = {"eq": "iexact" if column == "text" else "exact", "contains": "icontains", "gt": "gt", "lt": "lt"}[op]
    return qs.filter(Exists(values.filter(**{f"{column}__{lookup}": typed})))


# --- saved segments ---------------------------------------------------------------------------------------


def segment_filter(segment: Segment) -> MemberFilter:
    """The stored filter of a segment; a stored condition that no longer parses is dropped, not fatal."""
    try:
        return MemberFilter.model_validate(segment.filter)
    except ValidationError:
        valid = {}
        for key, value in segment.filter.items():
            try:
                MemberFilter.model_validate({key: value})
            except ValidationError:
                continue
            valid[key] = value
        return MemberFilter.model_validate(valid)


def members_in_segment(*, workspace: Workspace, segment: Segment) -> QuerySet[Member]:
    """The members a saved segment stands for, now. Fails closed on a segment of another workspace."""
    if segment.workspace_id != workspace.pk:
        return Member.objects.none()
    return filter_members(workspace=workspace, flt=segment_filter(segment))


# --- segment services (the list page and the API) -----------------------------------------------------------


class SegmentError(ValueError):
    """A segment that cannot be saved as given; the message says why, for a person."""


def _segment_name(name: str) -> str:
    name = " ".join(name.split())[:100]
    if not name:
        raise SegmentError(_("Give the segment a name."))
    return name


def _emit_saved(segment: Segment, *, created: bool, filter_changed: bool) -> None:
    """`segment.saved` in the saving transaction: analytics tracks, rebuilds or leaves its rollup by it."""
    emit(
        workspace_id=segment.workspace_id,
        name="segment.saved",
        data={"segment_id": segment.pk, "created": created, "filter_changed": filter_changed},
    )


def create_segment(
    *, workspace: Workspace, name: str, flt: MemberFilter, description: str = "", actor: User | None
) -> Segment:
    """Save a filter under a name, shared by the workspace. SegmentError when the name is empty or taken."""
    name = _segment_name(name)
    try:
        with transaction.atomic():
            segment = Segment.objects.create(
                workspace=workspace,
                name=name,
                description=description.strip()[:500],
                filter=flt.as_json(),
                created_by=actor,
            )
            _emit_saved(segment, created=True, filter_changed=True)
            audit(workspace=workspace, actor=actor, action="members.segment_saved", data={"segment": segment.pk})
    except IntegrityError as exc:
        raise SegmentError(_("There is already a segment with this name.")) from exc
    return segment


def update_segment(
    *,
    workspace: Workspace,
    segment: Segment,
    name: str | None = None,
    description: str | None = None,
    flt: MemberFilter | None = None,
    actor: User | None,
) -> Segment:
    """Rename, describe or change the filter of a segment (None: leave as it is)."""
    if segment.workspace_id != workspace.pk:
        raise Segment.DoesNotExist
    if name is not None:
        segment.name = _segment_name(name)
    if description is not None:
        segment.description = description.strip()[:500]
    filter_changed = flt is not None and flt.as_json() != segment.filter
    if flt is not None:
        segment.filter = flt.as_json()
    try:
        with transaction.atomic():
            segment.save(update_fields=["name", "description", "filter", "updated_at"])
            _emit_saved(segment, created=False, filter_changed=filter_changed)
            audit(workspace=workspace, actor=actor, action="members.segment_saved", data={"segment": segment.pk})
    except IntegrityError as exc:
        raise SegmentError(_("There is already a segment with this name.")) from exc
    return segment


def delete_segment(*, workspace: Workspace, segment: Segment, actor: User | None) -> None:
    if segment.workspace_id != workspace.pk:
        raise Segment.DoesNotExist
    data = {"segment": segment.pk}
    with transaction.atomic():
        segment.delete()
        emit(workspace_id=workspace.pk, name="segment.deleted", data={"segment_id": data["segment"]})
        audit(workspace=workspace, actor=actor, action="members.segment_deleted", data=data)
