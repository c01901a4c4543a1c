"""REST API for engagement and key people: a member's level and lifecycle with their explanation, and the
latest key-people snapshot. Mounted under /members by members/api.py; reading needs `view_members`, like the
pages. A member of another workspace, merged into another or erased is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from communa.accounts.api import ERRORS, WorkspaceParam, api_workspace, invalid
from communa.accounts.roles import Perm
from communa.members import selectors as member_selectors
from communa.members.engagement import scoring, selectors
from communa.members.engagement.models import KeyPeopleRun, KeyPerson, Level
from communa.members.models import Member

engagement_router: Router = Router(tags=["members"])

MAX_PEOPLE = 100


class NextLevelOut(Schema):
    level: str
    score_needed: int


class EngagementOut(Schema):
    level: str = Field(description="newcomer, participant, regular or champion.")
    level_label: str
    level_since: datetime
    score: float = Field(description="The decaying score now (activity weighted, half-life in docs/members.md).")
    below_since: datetime | None = Field(
        description="When the score fell below what the level needs; the level is kept for a while (demote slowly)."
    )
    next_level: NextLevelOut | None = Field(description="The next level and the score it needs; null for champions.")
    lifecycle: str = Field(description="new, active, at_risk, churned or returning.")
    lifecycle_label: str
    lifecycle_since: datetime
    first_active_at: datetime | None
    last_active_at: datetime | None
    activity_total: int
    recent: dict[str, int] = Field(description="Activity kind → how many in the last 30 days.")
    explanation: list[str] = Field(description="The sentences the profile shows: level, next level, lifecycle.")


class MemberEngagementOut(Schema):
    member_id: int
    excluded: bool = Field(description="Staff and bots are left out of engagement: no level, no lifecycle.")
    engagement: EngagementOut | None = Field(description="Null when excluded or not computed yet.")


class KeyPeopleQuery(Schema):
    category: list[str] = Field(
        default_factory=list,
        description="Only these categories (repeat the parameter); all four by default.",
        json_schema_extra={"items": {"enum": list(KeyPerson.Category.values)}},
    )
    limit: int = Field(default=20, ge=1, le=MAX_PEOPLE, description="People per category, best first.")


class KeyPersonReasonOut(Schema):
    code: str = Field(description="pagerank, helped, answered_by, platforms, champion, rising or bridge.")
    text: str = Field(description="The reason as the page says it.")
    details: dict[str, Any]


class KeyPersonOut(Schema):
    rank: int
    member_id: int
    display_name: str
    score: float
    figures: dict[str, Any] = Field(description="pagerank, betweenness, helped, answered_by, platforms, ...")
    reasons: list[KeyPersonReasonOut]


class KeyPeopleRunOut(Schema):
    started_at: datetime
    finished_at: datetime | None
    members: int = Field(description="Members in the reply network.")
    edges: int
    truncated: bool = Field(description="The network was cut to its most connected members to stay in budget.")


class KeyPeopleOut(Schema):
    run: KeyPeopleRunOut | None = Field(description="The snapshot read; null when none was computed yet.")
    categories: dict[str, list[KeyPersonOut]] = Field(description="influencer, champion, rising, bridge.")


def _person(person: KeyPerson) -> KeyPersonOut:
    return KeyPersonOut(
        rank=person.rank,
        member_id=person.member_id,
        display_name=person.member.display_name,
        score=person.score,
        figures=person.figures,
        reasons=[
            KeyPersonReasonOut(
                code=str(r.get("code", "")),
                text=selectors.describe_reason(r),
                details={k: v for k, v in r.items() if k != "code"},
            )
            for r in person.reasons
        ],
    )


@engagement_router.get("/key-people", response={200: KeyPeopleOut, **ERRORS}, summary="Key people")
def key_people(request: Any, filters: Query[KeyPeopleQuery], workspace: WorkspaceParam = None) -> KeyPeopleOut:
    """Champions, the most influential (who answers others and gets answered, centrality in the reply network,
    reach across platforms), rising members and bridges between groups, from the latest snapshot."""
    ws = api_workspace(request, workspace, Perm.VIEW_MEMBERS)
    unknown = sorted(set(filters.category) - set(KeyPerson.Category.values))
    if unknown:
        message = _("Unknown category: %(names)s.") % {"names": ", ".join(unknown)}
        raise invalid(["query", "category"], message)
    snapshot = selectors.key_people(workspace=ws)
    wanted = filters.category or list(KeyPerson.Category.values)
    return KeyPeopleOut(
        run=_run(snapshot.run),
        categories={c: [_person(p) for p in snapshot.categories[c][: filters.limit]] for c in wanted},
    )


def _run(run: KeyPeopleRun | None) -> KeyPeopleRunOut | None:
    if run is None:
        return None
    return KeyPeopleRunOut(
        started_at=run.started_at,
        finished_at=run.finished_at,
        members=run.members,
        edges=run.edges,
        truncated=run.truncated,
    )


@engagement_router.get(
    "/{int:member_id}/engagement", response={200: MemberEngagementOut, **ERRORS}, summary="A member's engagement"
)
def member_engagement(request: Any, member_id: int, workspace: WorkspaceParam = None) -> MemberEngagementOut:
    """The member's level and lifecycle state, with the explanation the profile shows."""
    ws = api_workspace(request, workspace, Perm.VIEW_MEMBERS)
    try:
        member = member_selectors.get_member(workspace=ws, member_id=member_id)
    except Member.DoesNotExist as exc:
        raise Http404 from exc
    if member.merged_into_id is not None or member.erased_at is not None:
        raise Http404
    excluded = member.is_staff or member.is_bot
    found = None if excluded else selectors.engagement_of(workspace=ws, member=member)
    return MemberEngagementOut(
        member_id=member.pk, excluded=excluded, engagement=None if found is None else _out(found)
    )


def _out(found: selectors.Engagement) -> EngagementOut:
    row = found.row
    following = scoring.LEVEL_ORDER.index(Level(row.level)) + 1
    next_level = (
        NextLevelOut(
            level=scoring.LEVEL_ORDER[following], score_needed=round(scoring.threshold(scoring.LEVEL_ORDER[following]))
        )
        if following < len(scoring.LEVEL_ORDER)
        else None
    )
    return EngagementOut(
        level=row.level,
        level_label=found.level_label,
        level_since=row.level_since,
        score=round(found.score, 1),
        below_since=row.below_since,
        next_level=next_level,
        lifecycle=row.lifecycle,
        lifecycle_label=found.lifecycle_label,
        lifecycle_since=row.lifecycle_since,
        first_active_at=row.first_active_at,
        last_active_at=row.last_active_at,
        activity_total=row.activity_total,
        recent={str(k): int(v) for k, v in row.recent.items()},
        explanation=[t for t in (found.level_text, found.next_level_text, found.lifecycle_text) if t],
    )
