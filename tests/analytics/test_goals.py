"""Goals: current value over 4 weeks, linear forecast, status, drift alerts (event + notice), audit, scoping."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from communa.accounts.models import User, Workspace
from communa.analytics import goals
from communa.analytics.models import DailyRollup, Goal, Notice
from communa.analytics.services import GoalError, create_goal
from communa.audit.models import AuditEntry
from communa.events.models import DomainEvent

pytestmark = pytest.mark.django_db
ON = date(2026, 3, 31)


def rows(workspace: Workspace, peer: callable, days: int = 84) -> None:  # type: ignore[valid-type]
    DailyRollup.objects.bulk_create(
        DailyRollup(
            workspace=workspace,
            day=ON - timedelta(days=k),
            source_id=1,
            language="en",
            messages=20,
            replies=10,
            peer_replies=peer(k),
        )
        for k in range(days)
    )


def test_linear_forecast() -> None:
    assert goals.linear_forecast([(0, 1), (1, 2), (2, 3)], 5) == 6
    assert goals.linear_forecast([(0, 1), (1, 2)], 5) is None
    assert goals.linear_forecast([(0, 2), (0, 4), (0, 6)], 9) == 4


def test_goal_on_track_with_rising_trend(workspace: Workspace, owner: User) -> None:
    rows(workspace, lambda k: 6 if k < 28 else (4 if k < 56 else 2))  # 20%, then 40%, then 60% of replies
    goal = create_goal(
        workspace=workspace,
        actor=owner,
        name="Peers answer peers",
        metric="peer_reply_share",
        comparison="gte",
        target=0.7,
        deadline=ON + timedelta(days=60),
        start=ON - timedelta(days=1),
    )
    goals.evaluate_goal(goal, on=ON)
    goal.refresh_from_db()
    assert goal.current == pytest.approx(0.6)
    assert goal.forecast is not None
    assert goal.forecast > 0.7
    assert goal.status == Goal.Status.ON_TRACK
    assert AuditEntry.objects.filter(action="analytics.goal_created", workspace=workspace).count() == 1


def test_goal_off_track_alerts_once(workspace: Workspace, owner: User) -> None:
    rows(workspace, lambda k: 2 if k < 28 else (4 if k < 56 else 6))  # falling: 60% → 20%
    goal = create_goal(
        workspace=workspace,
        actor=owner,
        name="Peers",
        metric="peer_reply_share",
        comparison="gte",
        target=0.5,
        deadline=ON + timedelta(days=60),
        start=ON - timedelta(days=1),
    )
    goals.evaluate_goal(goal, on=ON)
    goals.evaluate_goal(goal, on=ON)
    goal.refresh_from_db()
    assert goal.status == Goal.Status.OFF_TRACK
    assert goal.current == pytest.approx(0.2)
    assert DomainEvent.objects.filter(name="goal.drifted", workspace=workspace).count() == 1
    event = DomainEvent.objects.get(name="goal.drifted")
    assert (event.data["goal_id"], event.data["status"], event.data["target"]) == (goal.pk, "off_track", 0.5)
    assert Notice.objects.filter(workspace=workspace, goal=goal, kind="goal.drifted").count() == 1


def test_goal_at_most_and_deadline(workspace: Workspace, owner: User) -> None:
    rows(workspace, lambda k: 5)
    goal = create_goal(
        workspace=workspace,
        actor=owner,
        name="Calm",
        metric="messages",
        comparison="lte",
        target=600,
        deadline=ON - timedelta(days=1),
        start=ON - timedelta(days=30),
    )
    goals.evaluate_goal(goal, on=ON)
    goal.refresh_from_db()
    assert goal.current == 560.0
    assert goal.status == Goal.Status.ACHIEVED


def test_goal_rejects_unknown_metric_and_bad_deadline(workspace: Workspace, owner: User) -> None:
    with pytest.raises(GoalError):
        create_goal(workspace=workspace, actor=owner, name="x", metric="nope", comparison="gte", target=1, deadline=ON)
    with pytest.raises(GoalError):
        create_goal(
            workspace=workspace,
            actor=owner,
            name="x",
            metric="messages",
            comparison="gte",
            target=1,
            deadline=ON - timedelta(days=9),
            start=ON,
        )
    assert Goal.objects.count() == 0
    assert AuditEntry.objects.filter(action__startswith="analytics.").count() == 0


def test_goal_reads_only_its_workspace(workspace: Workspace, other_workspace: Workspace, owner: User) -> None:
    rows(other_workspace, lambda k: 9)
    goal = create_goal(
        workspace=workspace,
        actor=owner,
        name="x",
        metric="messages",
        comparison="gte",
        target=10,
        deadline=ON + timedelta(days=30),
        start=ON - timedelta(days=1),
    )
    goals.evaluate_goal(goal, on=ON)
    goal.refresh_from_db()
    assert goal.current == 0.0
