"""The demo's analytics: rollups, topics, answered questions, two goals and the anomalies of its history.

Called once by build_demo after the history is ingested. The story the dashboards tell comes from the
generated history itself (a growing community that answers itself more and more, a launch-day spike, a
defective burr batch); this module only computes it and sets goals against it:
- "Members answer N% of questions" (peer-answer ratio ≥ a target the rising trend reaches): on track;
- "Grow monthly active members by 60% in 30 days": off track.
Runs last: the facts the inbox, moderation and members demos emitted as domain events are recorded directly
(the events stay pending for the worker, whose upserts then change nothing). Answered questions the inbox
did not report (most of the history is not in its conversations) fall back to the message graph: the first
reply by the brand, or by another member that is not itself a question, to a thread opened with a question.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from communa.accounts.models import User, Workspace
from communa.analytics import anomalies, goals, rollups, services, topics
from communa.analytics.management.commands.analytics import backfill
from communa.analytics.models import AnswerFact, Goal
from communa.demo.people import BRAND_DOMAIN
from communa.demo.phrases import BANKS
from communa.demo.phrases.base import SLOTS
from communa.events.models import DomainEvent
from communa.members.models import Member
from communa.stream.models import Message


def build_analytics(workspace: Workspace, *, actor: User | None = None) -> None:
    _mark_team(workspace)
    backfill(workspace, quiet=True, with_topics=True)
    _facts_from_events(workspace)
    _answers(workspace)
    today = rollups.today(workspace)
    Goal.objects.filter(workspace=workspace).delete()
    # On track: members answer a growing share of the questions; the target is one the trend reaches.
    share = services.create_goal(
        workspace=workspace,
        actor=actor,
        name="Members answer most questions",
        metric="peer_answer_ratio",
        comparison="gte",
        target=0.5,
        deadline=today + timedelta(days=45),
        start=today - timedelta(days=42),
    )
    if share.current is not None and share.forecast is not None:
        reachable = share.current + 0.6 * max(share.forecast - share.current, 0.02)
        target = math.floor(min(reachable, 0.95) * 20) / 20  # a round 5%
        name = f"Members answer {round(target * 100)}% of questions"
        services.update_goal(goal=share, actor=actor, name=name, target=max(target, 0.05))
    # Off track: a growth target the community is not on course for.
    mau = services.create_goal(
        workspace=workspace,
        actor=actor,
        name="Grow monthly active members by 60%",
        metric="mau",
        comparison="gte",
        target=1.0,
        deadline=today + timedelta(days=30),
        start=today - timedelta(days=14),
    )
    if mau.current:
        services.update_goal(goal=mau, actor=actor, target=float(round(mau.current * 1.6 / 10) * 10))
    for goal in Goal.objects.filter(workspace=workspace):
        # progress is measured from the value when the goal was set (its start), not from today's
        goal.baseline = goals.evaluate(goal, on=goal.start).current
        goals.evaluate_goal(goal)
    now = timezone.now()
    anomalies.detect(workspace=workspace, start=now - timedelta(days=rollups.hourly_days()), end=now)
    span = rollups.message_range(workspace)
    if span is not None:  # days against the same weekday: the launch-day surge is the day's story
        anomalies.detect_days(workspace=workspace, start=span[0], end=today - timedelta(days=1))
    topics.refresh_dirty_topics(workspace=workspace, limit=1000)


FACT_EVENTS = ("question.answered", "moderation.action", "member.lifecycle_changed")


def _facts_from_events(workspace: Workspace) -> int:
    """The facts the inbox, moderation and members demos reported as domain events, recorded now so that the
    dashboards are complete before a worker runs. The events stay pending: when the worker dispatches them,
    the same upserts change nothing."""
    pending = DomainEvent.objects.filter(workspace_id=workspace.pk, dispatched_at=None).filter(
        Q(name__startswith="conversation.") | Q(name__in=FACT_EVENTS)
    )
    recorded = 0
    for event in pending.order_by("id").iterator():
        recorded += services.record_event(workspace=workspace, name=event.name, data=dict(event.data))
    return recorded


def _mark_team(workspace: Workspace) -> None:
    """The brand's own accounts speak for the brand: staff (unless someone already decided who is)."""
    members = Member.objects.filter(workspace=workspace)
    if members.filter(is_staff=True).exists():
        return
    team = (
        Q(identities__email__endswith=f"@{BRAND_DOMAIN}")
        | Q(messages__metadata__staff=True)
        | Q(messages__metadata__power_level=100)
    )
    ids = set(members.filter(team).values_list("pk", flat=True))
    Member.objects.filter(pk__in=ids).update(is_staff=True)


def _question_patterns() -> dict[str, list[re.Pattern[str]]]:
    """Per language, the question openings the history is written from (templates, slots as wildcards)."""
    out: dict[str, list[re.Pattern[str]]] = {}
    for language, bank in BANKS.items():
        patterns = []
        for topic in bank.questions.values():
            for template in topic.openings:
                pattern = re.escape(template.strip())
                for slot in SLOTS:
                    pattern = pattern.replace(re.escape("{" + slot + "}"), ".+?")
                patterns.append(re.compile(pattern, re.DOTALL))
        out[language] = patterns
    return out


def _answers(workspace: Workspace) -> None:
    """question.answered facts from the message graph, for questions the inbox has not reported.

    A question is what enrichment marked as one or, where enrichment has not run (the demo is built without
    models), a thread the history opened with one of its question templates — not every post with a "?"
    (chatter and complaints ask rhetorical ones). The answer is the inbox's: the first reply by the brand, or
    by another member that is not itself a question."""
    tz = rollups.workspace_tz(workspace)
    patterns = _question_patterns()
    candidates = (
        Message.objects.filter(workspace=workspace, parent=None, member__isnull=False)
        .exclude(member__is_staff=True)
        .exclude(kind="reaction")
        .values_list("id", "member_id", "source_id", "created_at", "text", "language", "signals__is_question")
    )
    roots = [
        (root_id, asker, source_id, asked_at)
        for root_id, asker, source_id, asked_at, text, language, flagged in candidates.iterator()
        if flagged or any(p.search(text) for p in patterns.get(language, ()))
    ]
    known = set(AnswerFact.objects.filter(workspace=workspace).values_list("message_id", flat=True))
    facts = []
    for root_id, asker, source_id, asked_at in roots:
        if root_id in known:
            continue
        first = (  # as the inbox decides: the brand's reply, or another member's that is not itself a question
            Message.objects.filter(workspace=workspace, parent_id=root_id, member__isnull=False)
            .exclude(member_id=asker)
            .exclude(Q(member__is_staff=False) & (Q(signals__is_question=True) | Q(text__contains="?")))
            .order_by("created_at")
            .values_list("member_id", "member__is_staff", "created_at")
            .first()
        )
        if first is None:
            continue
        member_id, is_staff, at = first
        facts.append(
            AnswerFact(
                workspace=workspace,
                message_id=root_id,
                source_id=source_id,
                at=at,
                day=rollups.local_day(at, tz),
                answered_by="staff" if is_staff else "member",
                answerer_member_id=member_id,
                seconds=int((at - asked_at).total_seconds()),
            )
        )
    AnswerFact.objects.bulk_create(facts, ignore_conflicts=True)
