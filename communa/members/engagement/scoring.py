"""The engagement score and levels, the pure part: weights, decay, and levels with hysteresis.

The score is a sum of weighted activity, each item decaying with a half-life: an answer given today counts
its full weight, the same answer a month ago half of it. Levels are bands of the score. A member is promoted
as soon as the score reaches a band, and demoted only after the score has stayed below their band for
`DEMOTE_AFTER_DAYS`: a holiday does not cost a champion their level, a season away does.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from communa.members.engagement.models import ActivityKind, Level

HALF_LIFE_DAYS = 30.0
# How far back activity is read when a score is computed from scratch: past eight half-lives an item is
# worth less than 0.4 % of its weight.
HORIZON_DAYS = 240

# What each kind of activity is worth. A helpful reply (to someone else's question) is the heart of a
# community, and is worth more when it came first or when the asker thanked for it (separate rows, so the
# explanation can say so). Attending an event is weighted now and produced by the events area later.
WEIGHTS: dict[str, float] = {
    ActivityKind.QUESTION: 3.0,
    ActivityKind.HELPFUL_REPLY: 5.0,
    ActivityKind.FIRST_REPLY: 2.0,
    ActivityKind.THANKED: 3.0,
    ActivityKind.ACCEPTED_ANSWER: 8.0,
    ActivityKind.EVENT_ATTENDED: 6.0,
    ActivityKind.POST: 2.0,
    ActivityKind.REPLY: 1.0,
    ActivityKind.REACTION: 0.25,
}

# The score each level needs, lowest first.
THRESHOLDS: tuple[tuple[str, float], ...] = (
    (Level.NEWCOMER, 0.0),
    (Level.PARTICIPANT, 5.0),
    (Level.REGULAR, 30.0),
    (Level.CHAMPION, 80.0),
)
LEVEL_ORDER = [level for level, _threshold in THRESHOLDS]
DEMOTE_AFTER_DAYS = 14


def decay(age: timedelta) -> float:
    """The share of its weight an activity keeps after `age` (1.0 for activity in the future)."""
    days = max(0.0, age.total_seconds() / 86400)
    return math.pow(2.0, -days / HALF_LIFE_DAYS)


def decayed(score: float, score_at: datetime, now: datetime) -> float:
    """A score known at `score_at`, as it stands at `now`."""
    return score * decay(now - score_at)


def score_of(items: Iterable[tuple[float, datetime]], now: datetime) -> float:
    """The score at `now` of (weight, at) items; items after `now` do not count yet."""
    return sum(weight * decay(now - at) for weight, at in items if at <= now)


def threshold(level: str) -> float:
    return dict(THRESHOLDS)[level]


def level_for(score: float) -> str:
    """The highest level whose threshold the score reaches."""
    reached = str(Level.NEWCOMER)
    for level, needed in THRESHOLDS:
        if score >= needed:
            reached = str(level)
    return reached


def rank(level: str) -> int:
    return LEVEL_ORDER.index(Level(level)) if level in LEVEL_ORDER else 0


@dataclasses.dataclass(frozen=True, slots=True)
class LevelState:
    level: str
    since: datetime
    below_since: datetime | None


def crossed_below(score: float, score_at: datetime, needed: float) -> datetime:
    """When a score decaying from `score` at `score_at` fell (or falls) to `needed`."""
    if needed <= 0 or score <= needed:
        return score_at
    return score_at + timedelta(days=HALF_LIFE_DAYS * math.log2(score / needed))


def next_level(state: LevelState, score: float, now: datetime, *, below_from: datetime | None = None) -> LevelState:
    """Promote at once; demote only after the score stayed below the current level for DEMOTE_AFTER_DAYS.

    A demotion goes to the level the score supports then (possibly several steps down): the grace period is
    for a dip, not for a member gone for months. `below_from` is when the score crossed under the level's
    threshold, when the caller knows it (the score only decays between activities, so it can be computed).
    """
    earned = level_for(score)
    if rank(earned) > rank(state.level):
        return LevelState(earned, now, None)
    if rank(earned) == rank(state.level):
        return LevelState(state.level, state.since, None)
    below = state.below_since or min(now, below_from or now)
    if now - below >= timedelta(days=DEMOTE_AFTER_DAYS):
        return LevelState(earned, now, None)
    return LevelState(state.level, state.since, below)


def replay_level(items: list[tuple[float, datetime]], now: datetime) -> tuple[LevelState, float]:
    """The level state at `now` of a member whose whole history is `items` (weight, at), oldest first,
    as if the level had been followed activity by activity; and the score at `now`.

    Used when a member gets their first engagement row (a new workspace, an import of old history), so a
    champion who went quiet two days ago is still a champion, as they would have been had Communa watched.
    """
    state: LevelState | None = None
    score, score_at = 0.0, now
    for weight, at in items:
        if at > now:
            break
        if state is not None:
            current = decayed(score, score_at, at)
            below = crossed_below(score, score_at, threshold(state.level))
            state = next_level(state, current, at, below_from=below)
            score = current
        score, score_at = score + weight if state is not None else weight, at
        state = next_level(state, score, at) if state is not None else LevelState(level_for(score), at, None)
    current = decayed(score, score_at, now) if state is not None else 0.0
    if state is None:
        return LevelState(str(Level.NEWCOMER), now, None), 0.0
    below = crossed_below(score, score_at, threshold(state.level))
    return next_level(state, current, now, below_from=below), current
