"""Reads for moderation. Every function takes the workspace and filters on it: an object of another workspace is
a miss, and `get_*` raise Http404 for a miss (views and the API answer 404 without a word more)."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from communa.accounts.models import Workspace
from communa.members.models import Identity, Member
from communa.moderation.models import (
    Appeal,
    Backtest,
    BacktestMark,
    ConflictAlert,
    Decision,
    DecisionAction,
    ModerationSettings,
    ReviewItem,
    RuleSet,
    Strike,
)
from communa.stream.models import Message

CONTEXT_BEFORE = 5
HISTORY = 8


def moderation_settings(*, workspace: Workspace) -> ModerationSettings:
    found, _created = ModerationSettings.objects.get_or_create(workspace=workspace)
    return found


def active_rule_set(*, workspace: Workspace) -> RuleSet | None:
    config = ModerationSettings.objects.filter(workspace=workspace).select_related("active_rule_set").first()
    return config.active_rule_set if config else None


def latest_rule_set(*, workspace: Workspace) -> RuleSet | None:
    return RuleSet.objects.filter(workspace=workspace).order_by("-version").first()


def rule_sets(*, workspace: Workspace) -> QuerySet[RuleSet]:
    return RuleSet.objects.filter(workspace=workspace).select_related("created_by").order_by("-version")


def get_rule_set(*, workspace: Workspace, version: int) -> RuleSet:
    return get_object_or_404(RuleSet, workspace=workspace, version=version)


def get_backtest(*, workspace: Workspace, backtest_id: int) -> Backtest:
    return get_object_or_404(Backtest.objects.select_related("rule_set"), workspace=workspace, pk=backtest_id)


@dataclasses.dataclass(frozen=True)
class Precision:
    """What the moderators' marks on a backtest's examples say: the share of acted-on examples that were right."""

    correct: int
    wrong: int
    examples: int  # how many examples there are, marked or not

    @property
    def marked(self) -> int:
        return self.correct + self.wrong

    @property
    def estimate(self) -> float | None:
        return self.correct / self.marked if self.marked else None

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 95 % Wilson score interval: honest about how little a handful of marks says."""
        n = self.marked
        if not n:
            return None
        z, p = 1.96, self.correct / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)


def backtest_marks(*, workspace: Workspace, backtest: Backtest) -> dict[tuple[str, int], str]:
    """(rule id, message id) → verdict for the backtest's examples, from any earlier review of the same rule."""
    rule_ids = {str(e.get("rule_id", "")) for e in backtest.examples}
    message_ids = {int(e["message_id"]) for e in backtest.examples if e.get("message_id")}
    rows = BacktestMark.objects.filter(
        workspace=workspace, rule_id__in=rule_ids, message_id__in=message_ids
    ).values_list("rule_id", "message_id", "verdict")
    return {(rule_id, message_id): verdict for rule_id, message_id, verdict in rows}


def backtest_precision(
    examples: list[dict[str, Any]], marks: dict[tuple[str, int], str]
) -> tuple[Precision, dict[str, Precision]]:
    """Overall and per rule id, from the marks on these examples."""
    per_rule: dict[str, Counter[str]] = {}
    for example in examples:
        rule_id = str(example.get("rule_id", ""))
        counts = per_rule.setdefault(rule_id, Counter())
        counts["examples"] += 1
        verdict = marks.get((rule_id, int(example.get("message_id", 0))))
        if verdict:
            counts[verdict] += 1
    rules = {
        rule_id: Precision(
            correct=c[BacktestMark.Verdict.CORRECT], wrong=c[BacktestMark.Verdict.WRONG], examples=c["examples"]
        )
        for rule_id, c in per_rule.items()
    }
    overall = Precision(
        correct=sum(p.correct for p in rules.values()),
        wrong=sum(p.wrong for p in rules.values()),
        examples=sum(p.examples for p in rules.values()),
    )
    return overall, rules


def latest_backtest(*, workspace: Workspace, rule_set: RuleSet) -> Backtest | None:
    return Backtest.objects.filter(workspace=workspace, rule_set=rule_set).order_by("-created_at").first()


# --- queue ---------------------------------------------------------------------------------------------------


def open_items(*, workspace: Workspace, mine_for: Any = None) -> QuerySet[ReviewItem]:
    query = ReviewItem.objects.filter(workspace=workspace, state=ReviewItem.State.OPEN)
    if mine_for is not None:
        query = query.filter(Q(assigned_to=mine_for) | Q(claimed_by=mine_for))
    return query.select_related(
        "message__source", "message__identity", "message__thread", "member", "decision", "claimed_by", "assigned_to"
    ).order_by("created_at", "id")


def recently_resolved(*, workspace: Workspace, limit: int = 20) -> list[ReviewItem]:
    return list(
        ReviewItem.objects.filter(workspace=workspace, state=ReviewItem.State.RESOLVED)
        .select_related("message__source", "member", "resolved_by")
        .order_by("-resolved_at")[:limit]
    )


def get_item(*, workspace: Workspace, item_id: int) -> ReviewItem:
    items = ReviewItem.objects.select_related(
        "message__source", "message__identity", "message__thread", "member", "decision", "claimed_by", "assigned_to"
    )
    return get_object_or_404(items, workspace=workspace, pk=item_id)


@dataclasses.dataclass
class MemberContext:
    member: Member | None
    identities: list[Identity]
    strikes: list[Strike]
    active_strikes: int
    decisions: list[Decision]
    recent: list[Message]


def thread_context(*, workspace: Workspace, message: Message) -> list[Message]:
    """The messages just before this one in its thread (or its place), oldest first, and the message itself."""
    base = Message.objects.filter(workspace=workspace).select_related("identity")
    if message.thread_id is not None:
        base = base.filter(thread_id=message.thread_id)
    else:
        base = base.filter(source_id=message.source_id)
    before = list(
        base.filter(created_at__lte=message.created_at).exclude(pk=message.pk).order_by("-created_at")[:CONTEXT_BEFORE]
    )
    return [*reversed(before), message]


def member_context(*, workspace: Workspace, member_id: int | None, now: datetime | None = None) -> MemberContext:
    now = now or timezone.now()
    if member_id is None:
        return MemberContext(None, [], [], 0, [], [])
    member = Member.objects.filter(workspace=workspace, pk=member_id).first()
    strikes = list(strikes_of(workspace=workspace, member_id=member_id))
    return MemberContext(
        member=member,
        identities=list(Identity.objects.filter(workspace=workspace, member_id=member_id).order_by("platform")),
        strikes=strikes,
        active_strikes=sum(1 for s in strikes if s.removed_at is None and s.expires_at > now),
        decisions=list(
            Decision.objects.filter(workspace=workspace, member_id=member_id, live=True)
            .select_related("moderator")
            .order_by("-created_at")[:HISTORY]
        ),
        recent=list(
            Message.objects.filter(workspace=workspace, member_id=member_id)
            .exclude(kind__in=["join", "leave", "reaction"])
            .select_related("source")
            .order_by("-created_at")[:HISTORY]
        ),
    )


def strikes_of(*, workspace: Workspace, member_id: int) -> QuerySet[Strike]:
    return (
        Strike.objects.filter(workspace=workspace, member_id=member_id)
        .select_related("created_by")
        .order_by("-created_at")
    )


def active_strike_counts(*, workspace_id: int, member_ids: list[int], now: datetime) -> dict[int, int]:
    rows = (
        Strike.objects.filter(
            workspace_id=workspace_id, member_id__in=member_ids, removed_at__isnull=True, expires_at__gt=now
        )
        .values("member_id")
        .annotate(n=Count("id"))
    )
    return {row["member_id"]: row["n"] for row in rows}


# --- decisions, appeals ---------------------------------------------------------------------------------------


def decisions(*, workspace: Workspace) -> QuerySet[Decision]:
    return (
        Decision.objects.filter(workspace=workspace)
        .select_related("message__source", "member", "moderator")
        .order_by("-created_at", "-id")
    )


def get_decision(*, workspace: Workspace, decision_id: int) -> Decision:
    decisions = Decision.objects.select_related("message__source", "message__identity", "member", "moderator")
    return get_object_or_404(decisions, workspace=workspace, pk=decision_id)


def actions_of(decision: Decision) -> list[DecisionAction]:
    return list(decision.actions.select_related("source").order_by("id"))


def appeals(*, workspace: Workspace, state: str | None = None) -> QuerySet[Appeal]:
    query = Appeal.objects.filter(workspace=workspace)
    if state:
        query = query.filter(state=state)
    return query.select_related("decision__message__source", "decision__moderator", "member", "decided_by").order_by(
        "-created_at"
    )


def get_appeal(*, workspace: Workspace, appeal_id: int) -> Appeal:
    appeals = Appeal.objects.select_related("decision__message__source", "decision__moderator", "member")
    return get_object_or_404(appeals, workspace=workspace, pk=appeal_id)


def conflict_alerts(*, workspace: Workspace, limit: int = 20) -> list[ConflictAlert]:
    return list(
        ConflictAlert.objects.filter(workspace=workspace, dismissed_at__isnull=True)
        .select_related("thread", "source")
        .order_by("-created_at")[:limit]
    )


def counts(*, workspace: Workspace) -> dict[str, int]:
    return {
        "queue": ReviewItem.objects.filter(workspace=workspace, state=ReviewItem.State.OPEN).count(),
        "appeals": Appeal.objects.filter(workspace=workspace, state=Appeal.State.OPEN).count(),
        "conflicts": ConflictAlert.objects.filter(workspace=workspace, dismissed_at__isnull=True).count(),
    }


# --- reports -------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    since: datetime
    until: datetime
    total: int
    automatic: int
    by_rule: list[tuple[str, int]]
    by_action: list[tuple[str, int]]
    by_moderator: list[tuple[str, int]]
    by_day: list[tuple[str, int, int]]  # (day, automatic, by moderators)
    median_seconds: float | None
    p90_seconds: float | None
    median_seconds_queue: float | None
    appeals: int
    appeals_overturned: int
    appeals_open: int
    overturned_by_rule: list[tuple[str, int]]


def report(*, workspace: Workspace, days: int, now: datetime | None = None) -> Report:
    """Moderation activity in the last `days`, from Decision / DecisionAction / Appeal rows (indexed by workspace
    and time), never from message scans."""
    until = now or timezone.now()
    since = until - timedelta(days=days)
    live = Decision.objects.filter(workspace=workspace, created_at__gte=since, created_at__lt=until, live=True).exclude(
        verdict="reverse"
    )
    rows = list(live.values("kind", "rule", "moderator__username", "created_at", "seconds_to_action"))
    by_rule = Counter(r["rule"] or "—" for r in rows if r["kind"] == Decision.Kind.RULE)
    by_moderator = Counter(r["moderator__username"] for r in rows if r["moderator__username"])
    actions = (
        DecisionAction.objects.filter(workspace=workspace, created_at__gte=since, created_at__lt=until)
        .exclude(state__in=[DecisionAction.State.LOGGED, DecisionAction.State.SKIPPED])
        .values("action")
        .annotate(n=Count("id"))
        .order_by("-n", "action")
    )
    days_map: dict[str, list[int]] = {}
    for offset in range(days):
        day = (since + timedelta(days=offset + 1)).date().isoformat()
        days_map[day] = [0, 0]
    for r in rows:
        day = r["created_at"].date().isoformat()
        slot = days_map.setdefault(day, [0, 0])
        slot[0 if r["kind"] == Decision.Kind.RULE else 1] += 1
    auto_seconds = sorted(
        r["seconds_to_action"] for r in rows if r["kind"] == "rule" and r["seconds_to_action"] is not None
    )
    human_seconds = sorted(
        r["seconds_to_action"] for r in rows if r["kind"] == "moderator" and r["seconds_to_action"] is not None
    )
    appeal_rows = list(
        Appeal.objects.filter(workspace=workspace, created_at__gte=since, created_at__lt=until).values(
            "state", "decision__rule"
        )
    )
    overturned = [a for a in appeal_rows if a["state"] == Appeal.State.OVERTURNED]
    return Report(
        since=since,
        until=until,
        total=len(rows),
        automatic=sum(1 for r in rows if r["kind"] == Decision.Kind.RULE),
        by_rule=by_rule.most_common(),
        by_action=[(a["action"], a["n"]) for a in actions],
        by_moderator=by_moderator.most_common(),
        by_day=[(day, counts[0], counts[1]) for day, counts in sorted(days_map.items())][-days:],
        median_seconds=statistics.median(auto_seconds) if auto_seconds else None,
        p90_seconds=auto_seconds[int(0.9 * (len(auto_seconds) - 1))] if auto_seconds else None,
        median_seconds_queue=statistics.median(human_seconds) if human_seconds else None,
        appeals=len(appeal_rows),
        appeals_overturned=len(overturned),
        appeals_open=sum(1 for a in appeal_rows if a["state"] == Appeal.State.OPEN),
        overturned_by_rule=Counter(a["decision__rule"] or "—" for a in overturned).most_common(),
    )
