"""The pure parts of engagement: decay, levels with hysteresis, lifecycle states, time zone and organisation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from communa.members.engagement import facts, lifecycle, scoring
from communa.members.engagement.lifecycle import LifecycleState
from communa.members.engagement.models import Level, Lifecycle
from communa.members.engagement.scoring import LevelState

T = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def test_an_activity_keeps_half_its_weight_after_one_half_life() -> None:
    assert scoring.decay(days(0)) == 1.0
    assert scoring.decay(days(30)) == pytest.approx(0.5)
    assert scoring.decay(days(60)) == pytest.approx(0.25)
    assert scoring.decayed(40.0, T, T + days(30)) == pytest.approx(20.0)
    # Items after `now` do not count yet.
    assert scoring.score_of([(5.0, T), (3.0, T + days(30)), (8.0, T + days(31))], T + days(30)) == pytest.approx(5.5)


@pytest.mark.parametrize(
    ("score", "level"),
    [(0, Level.NEWCOMER), (4.99, Level.NEWCOMER), (5, Level.PARTICIPANT), (30, Level.REGULAR), (80, Level.CHAMPION)],
)
def test_levels_are_bands_of_the_score(score: float, level: str) -> None:
    assert scoring.level_for(score) == level


def test_promotion_is_immediate_and_skips_levels() -> None:
    state = scoring.next_level(LevelState(Level.NEWCOMER, T, None), 85.0, T + days(1))
    assert state == LevelState(Level.CHAMPION, T + days(1), None)


def test_demotion_waits_until_the_score_stayed_below_for_two_weeks() -> None:
    champion = LevelState(Level.CHAMPION, T, None)
    dip = scoring.next_level(champion, 70.0, T + days(5))
    assert dip == LevelState(Level.CHAMPION, T, T + days(5))
    recovered = scoring.next_level(dip, 81.0, T + days(10))
    assert recovered == LevelState(Level.CHAMPION, T, None)
    still = scoring.next_level(dip, 60.0, T + days(18))
    assert still == LevelState(Level.CHAMPION, T, T + days(5))
    lost = scoring.next_level(still, 20.0, T + days(19))  # 14 days below: down to what the score supports
    assert lost == LevelState(Level.PARTICIPANT, T + days(19), None)


def test_the_grace_period_starts_when_the_decaying_score_crossed_the_threshold() -> None:
    # 160 at T decays to 80 (the champion threshold) one half-life later.
    assert scoring.crossed_below(160.0, T, 80.0) == T + days(30)
    state = scoring.next_level(LevelState(Level.CHAMPION, T, None), 40.0, T + days(60), below_from=T + days(30))
    assert state.level == Level.REGULAR


def test_replaying_history_keeps_a_champion_who_went_quiet_two_days_ago() -> None:
    items = [(5.0, T + timedelta(hours=h)) for h in range(20)]  # score 100 in one day
    state, score = scoring.replay_level(items, T + days(2) + days(10))
    assert state.level == Level.CHAMPION
    assert score == pytest.approx(100 * scoring.decay(days(12)), rel=0.02)
    assert state.below_since is not None  # 100 → below 80 after ~9.7 days
    gone, _score = scoring.replay_level(items, T + days(60))
    assert gone.level == Level.PARTICIPANT  # 25 after two half-lives; 14 days below each higher band


def state(name: str, since: datetime = T) -> LifecycleState:
    return LifecycleState(name, since)


def test_lifecycle_states() -> None:
    now = T + days(100)
    nxt = lifecycle.next_state
    assert nxt(None, first_active=now - days(3), last_active=now - days(1), activity_total=2, now=now).state == "new"
    assert nxt(None, first_active=T, last_active=now - days(2), activity_total=9, now=now).state == "active"
    assert nxt(None, first_active=T, last_active=now - days(25), activity_total=9, now=now).state == "at_risk"
    # A one-off visitor never became active: quiet for three weeks is gone, not at risk.
    assert nxt(None, first_active=T, last_active=now - days(25), activity_total=1, now=now).state == "churned"
    assert nxt(None, first_active=T, last_active=now - days(61), activity_total=9, now=now).state == "churned"
    came_back = nxt(state(Lifecycle.AT_RISK), first_active=T, last_active=now, activity_total=10, now=now)
    assert came_back == LifecycleState(Lifecycle.RETURNING, now)
    still = nxt(came_back, first_active=T, last_active=now + days(20), activity_total=11, now=now + days(20))
    assert still == came_back  # `since` moves only on a change
    settled = nxt(came_back, first_active=T, last_active=now + days(31), activity_total=12, now=now + days(31))
    assert settled.state == Lifecycle.ACTIVE


def test_replay_finds_a_member_returning_after_a_long_silence() -> None:
    times = [T, T + days(2), T + days(4), T + days(80), T + days(81)]
    assert lifecycle.replay(times, T + days(82)) == LifecycleState(Lifecycle.RETURNING, T + days(80))
    assert lifecycle.replay(times[:3], T + days(30)).state == Lifecycle.AT_RISK
    assert lifecycle.replay([], T).state == Lifecycle.NEW


def test_time_zone_is_estimated_from_hours_of_activity() -> None:
    # Someone in UTC+3 writing 9-12 and 18-22 local: 6-9 and 15-19 UTC.
    hours = Counter({6: 4, 7: 5, 8: 5, 9: 4, 15: 5, 16: 6, 17: 6, 18: 5, 19: 3})
    offset, confidence = facts.estimate_utc_offset(hours)
    assert (offset, confidence) == (3, 1.0)
    assert facts.estimate_utc_offset(Counter(dict.fromkeys(range(24), 3))) == (None, 0.0)  # no day in it
    assert facts.estimate_utc_offset(Counter({9: 3})) == (None, None)  # too few messages to tell


def test_organisation_comes_from_a_work_domain_only() -> None:
    assert facts.organisation_from_emails(["ana@gmail.com", "ana@Roastery.io", "a@roastery.io"]) == "roastery.io"
    assert facts.organisation_from_emails(["ana@gmail.com", "ana@mail.ru"]) == ""
    assert facts.organisation_from_emails(["ana@posta.example", "broken"]) == ""
