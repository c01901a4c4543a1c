"""Lifecycle states, the pure part: new, active, at risk, churned, returning.

Read from when a member was first and last active (their own messages: reactions, joins and leaves do not
make someone active) and how much they did in all:
- new: first active less than NEW_DAYS ago;
- active: active in the last AT_RISK_DAYS;
- at risk: an established member (ESTABLISHED_ACTIVITY or more activities) quiet for AT_RISK_DAYS;
- churned: quiet for CHURN_DAYS, or a one-off visitor quiet for AT_RISK_DAYS (they never became active);
- returning: active again after being at risk or churned; after RETURNING_DAYS they are simply active.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from communa.members.engagement.models import Lifecycle

NEW_DAYS = 30
AT_RISK_DAYS = 21
CHURN_DAYS = 60
RETURNING_DAYS = 30
ESTABLISHED_ACTIVITY = 3


@dataclasses.dataclass(frozen=True, slots=True)
class LifecycleState:
    state: str
    since: datetime


def next_state(
    previous: LifecycleState | None,
    *,
    first_active: datetime | None,
    last_active: datetime | None,
    activity_total: int,
    now: datetime,
) -> LifecycleState:
    """The state at `now`; `since` moves only when the state changes."""
    target = _target(previous, first_active, last_active, activity_total, now)
    if previous is not None and previous.state == target:
        return previous
    return LifecycleState(target, now)


def _target(
    previous: LifecycleState | None,
    first_active: datetime | None,
    last_active: datetime | None,
    activity_total: int,
    now: datetime,
) -> str:
    if last_active is None or first_active is None:
        return Lifecycle.NEW if previous is None else previous.state
    quiet = now - last_active
    if quiet >= timedelta(days=CHURN_DAYS):
        return Lifecycle.CHURNED
    if quiet >= timedelta(days=AT_RISK_DAYS):
        return Lifecycle.AT_RISK if activity_total >= ESTABLISHED_ACTIVITY else Lifecycle.CHURNED
    if previous is not None and previous.state in {Lifecycle.AT_RISK, Lifecycle.CHURNED}:
        return Lifecycle.RETURNING
    returning = previous is not None and previous.state == Lifecycle.RETURNING
    if returning and previous is not None and now - previous.since < timedelta(days=RETURNING_DAYS):
        return Lifecycle.RETURNING
    if now - first_active < timedelta(days=NEW_DAYS):
        return Lifecycle.NEW
    return Lifecycle.ACTIVE


def replay(times: list[datetime], now: datetime) -> LifecycleState:
    """The state at `now` of a member active at `times` (oldest first), followed activity by activity, so a
    member who came back after a long silence is "returning" even when Communa first sees them today."""
    state: LifecycleState | None = None
    first = times[0] if times else None
    for index, at in enumerate(times):
        if at > now:
            break
        if index:  # just before this activity: how quiet they had been
            state = next_state(state, first_active=first, last_active=times[index - 1], activity_total=index, now=at)
        state = next_state(state, first_active=first, last_active=at, activity_total=index + 1, now=at)
    done = sum(1 for at in times if at <= now)
    last = times[done - 1] if done else None
    return next_state(state, first_active=first, last_active=last, activity_total=done, now=now)
