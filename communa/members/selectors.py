"""Reads for members. Every function takes the workspace and filters on it (fail closed)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet

from communa.accounts.models import Workspace
from communa.core.pagination import InvalidCursor
from communa.members.models import Identity, Member, MergeRecord, MergeSuggestion, Segment
from communa.members.segments import MemberFilter, filter_members
from communa.members.segments import members_in_segment as _members_in_segment
from communa.stream.models import Message

# Sort orders of the member list (newest or most first) and the column each sorts on.
SORTS = ("last_seen", "first_seen", "messages")
SORT_FIELDS = {"last_seen": "last_seen_at", "first_seen": "first_seen_at", "messages": "message_count"}


@dataclasses.dataclass(frozen=True)
class MemberQuery:
    q: str = ""
    platform: str = ""
    sort: str = "last_seen"
    # The full member filter (segments.py); when set, it decides which members, and q/platform are unused.
    flt: MemberFilter | None = None


@dataclasses.dataclass
class MemberPage:
    items: list[Member]
    next_cursor: str | None


def active_members(workspace: Workspace) -> QuerySet[Member]:
    """Members that are people on their own: not merged into another member."""
    return Member.objects.filter(workspace=workspace, merged_into__isnull=True)


def get_member(*, workspace: Workspace, member_id: int) -> Member:
    """A member of this workspace (a merged one too: its page says where it went), or Member.DoesNotExist."""
    return Member.objects.select_related("merged_into").get(workspace=workspace, pk=member_id)


def platforms_in_use(workspace: Workspace) -> list[str]:
    return list(
        Identity.objects.filter(workspace=workspace).order_by("platform").values_list("platform", flat=True).distinct()
    )


def _filtered(workspace: Workspace, query: MemberQuery) -> QuerySet[Member]:
    if query.flt is not None:
        return filter_members(workspace=workspace, flt=query.flt)
    members = active_members(workspace)
    if query.q:
        text = query.q.strip()
        matching = Identity.objects.filter(member=OuterRef("pk")).filter(
            Q(handle__icontains=text) | Q(display_name__icontains=text) | Q(external_id__iexact=text)
        )
        members = members.filter(Q(display_name__icontains=text) | Exists(matching))
    if query.platform:
        members = members.filter(Exists(Identity.objects.filter(member=OuterRef("pk"), platform=query.platform)))
    return members


def _encode(value: Any, pk: int) -> str:
    raw = json.dumps([value.isoformat() if isinstance(value, datetime) else value, pk])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, sort: str) -> tuple[Any, int]:
    try:
        value, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        if value is None:
            return None, int(pk)
        return (int(value) if sort == "messages" else datetime.fromisoformat(value)), int(pk)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("invalid cursor") from exc


def _after(field: str, value: Any, pk: int) -> Q:
    """Rows after (value, pk) in the order (field DESC NULLS LAST, pk DESC)."""
    if value is None:
        return Q(**{f"{field}__isnull": True, "pk__lt": pk})
    return Q(**{f"{field}__lt": value}) | Q(**{field: value, "pk__lt": pk}) | Q(**{f"{field}__isnull": True})


def member_page(*, workspace: Workspace, query: MemberQuery, cursor: str | None, limit: int) -> MemberPage:
    """One page of the member list, keyset-paginated on (sort column, id), with identities prefetched: two
    queries whatever the page size. Members never seen (no timestamp) come last."""
    sort = query.sort if query.sort in SORTS else "last_seen"
    field = SORT_FIELDS[sort]
    members = _filtered(workspace, query)
    if cursor:
        members = members.filter(_after(field, *_decode(cursor, sort)))
    identities = Prefetch("identities", queryset=Identity.objects.order_by("platform", "id"))
    order = [F(field).desc(nulls_last=True), F("pk").desc()]
    rows = list(members.order_by(*order).prefetch_related(identities)[: limit + 1])
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit and items:
        last = items[-1]
        next_cursor = _encode(getattr(last, field), last.pk)
    return MemberPage(items=items, next_cursor=next_cursor)


@dataclasses.dataclass
class Profile:
    member: Member
    identities: list[Identity]
    counts_by_platform: list[tuple[str, int]]
    languages: list[tuple[str, int]]
    merges: list[MergeRecord]


def member_profile(*, workspace: Workspace, member: Member) -> Profile:
    """What the profile page shows besides the timeline: identities, counts per platform, languages, merges."""
    identities = list(Identity.objects.filter(workspace=workspace, member=member).order_by("platform", "id"))
    messages = Message.objects.filter(workspace=workspace, member=member, deleted_at=None)
    by_platform = (
        messages.filter(identity__isnull=False)
        .values("identity__platform")
        .annotate(n=Count("id"))
        .order_by("-n", "identity__platform")
    )
    languages = (
        messages.exclude(language__in=["", "und"]).values("language").annotate(n=Count("id")).order_by("-n", "language")
    )
    merges = list(
        MergeRecord.objects.filter(workspace=workspace, into=member, undone_at=None)
        .select_related("merged", "merged_by")
        .order_by("-merged_at", "-id")[:20]
    )
    return Profile(
        member=member,
        identities=identities,
        counts_by_platform=[(row["identity__platform"], row["n"]) for row in by_platform],
        languages=[(row["language"], row["n"]) for row in languages],
        merges=merges,
    )


def timeline(*, workspace: Workspace, member: Member, limit: int = 50) -> list[Message]:
    """The member's latest messages across every platform, newest first."""
    return list(
        Message.objects.filter(workspace=workspace, member=member, deleted_at=None)
        .select_related("identity", "source", "thread")
        .order_by("-created_at", "-id")[:limit]
    )


def pending_suggestions(*, workspace: Workspace) -> QuerySet[MergeSuggestion]:
    """Suggestions waiting for a person, best first; pairs where a side was merged away since are left out."""
    return (
        MergeSuggestion.objects.filter(
            workspace=workspace,
            status=MergeSuggestion.Status.PENDING,
            member_a__merged_into__isnull=True,
            member_b__merged_into__isnull=True,
        )
        .select_related("member_a", "member_b")
        .order_by("-score", "id")
    )


def get_suggestion(*, workspace: Workspace, suggestion_id: int) -> MergeSuggestion:
    return MergeSuggestion.objects.get(workspace=workspace, pk=suggestion_id)


def get_merge(*, workspace: Workspace, merge_id: int) -> MergeRecord:
    return MergeRecord.objects.select_related("into", "merged").get(workspace=workspace, pk=merge_id)


def identities_of(*, workspace: Workspace, member_ids: Sequence[int]) -> dict[int, list[Identity]]:
    """member id → identities, in one query (the suggestion queue shows both sides' identities)."""
    grouped: dict[int, list[Identity]] = {pk: [] for pk in member_ids}
    for identity in Identity.objects.filter(workspace=workspace, member_id__in=member_ids).order_by("platform", "id"):
        if identity.member_id is not None:
            grouped[identity.member_id].append(identity)
    return grouped


def members_in_segment(workspace: Workspace, segment: Segment) -> QuerySet[Member]:
    """The members of a saved segment, now (for analytics, publishing targets, automations)."""
    return _members_in_segment(workspace=workspace, segment=segment)
