"""Business-hours arithmetic (communa/inbox/sla.py): exact moments and durations, DST, overnight, holidays."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from communa.accounts.models import User, Workspace
from communa.inbox.models import SlaPolicy
from communa.inbox.services import InboxError, save_sla_policy
from communa.inbox.sla import BusinessCalendar, InvalidHours, calendar_of

ROME = ZoneInfo("Europe/Rome")
WEEKDAYS_9_17 = {str(d): [["09:00", "17:00"]] for d in range(1, 6)}


def rome(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=ROME)


def cal(
    hours: dict[str, list[list[str]]], holidays: list[str] | None = None, tz: str = "Europe/Rome"
) -> BusinessCalendar:
    return BusinessCalendar.build(time_zone=tz, business_hours=hours, holidays=holidays or [])


def test_within_one_period() -> None:
    c = cal(WEEKDAYS_9_17)
    assert c.add(rome(2026, 11, 18, 10, 0), 3600) == rome(2026, 11, 18, 11, 0)
    assert c.seconds_between(rome(2026, 11, 18, 10, 0), rome(2026, 11, 18, 11, 15)) == 4500


def test_friday_afternoon_rolls_over_the_weekend() -> None:
    c = cal(WEEKDAYS_9_17)
    # Friday 16:30 + 60 business minutes = Monday 09:30.
    assert c.add(rome(2026, 11, 20, 16, 30), 3600) == rome(2026, 11, 23, 9, 30)
    assert c.seconds_between(rome(2026, 11, 20, 16, 0), rome(2026, 11, 23, 10, 0)) == 2 * 3600


def test_starting_outside_hours_starts_at_the_next_opening() -> None:
    c = cal(WEEKDAYS_9_17)
    assert c.add(rome(2026, 11, 21, 10, 0), 1800) == rome(2026, 11, 23, 9, 30)  # Saturday
    assert c.add(rome(2026, 11, 18, 7, 0), 1800) == rome(2026, 11, 18, 9, 30)  # before opening
    assert c.add(rome(2026, 11, 18, 18, 0), 1800) == rome(2026, 11, 19, 9, 30)  # after closing
    assert c.seconds_between(rome(2026, 11, 21, 0, 0), rome(2026, 11, 22, 23, 59)) == 0


def test_several_periods_per_day() -> None:
    c = cal({"3": [["13:30", "18:00"], ["09:00", "12:30"]]})  # listed out of order on purpose
    assert c.add(rome(2026, 11, 18, 12, 0), 3600) == rome(2026, 11, 18, 14, 0)  # 30 before lunch, 30 after
    assert c.seconds_between(rome(2026, 11, 18, 8, 0), rome(2026, 11, 18, 20, 0)) == 8 * 3600
    # Wednesday 17:30 + 1 h: 30 min that day, then the next Wednesday at 09:30.
    assert c.add(rome(2026, 11, 18, 17, 30), 3600) == rome(2026, 11, 25, 9, 30)


def test_holidays_have_no_business_hours() -> None:
    c = cal(WEEKDAYS_9_17, holidays=["2026-12-24", "2026-12-25"])
    # Wednesday 23rd 16:30 + 1 h: 30 min on the 23rd, Thursday and Friday off, Monday 28th 09:30.
    assert c.add(rome(2026, 12, 23, 16, 30), 3600) == rome(2026, 12, 28, 9, 30)
    assert c.seconds_between(rome(2026, 12, 23, 0, 0), rome(2026, 12, 29, 0, 0)) == 2 * 8 * 3600


def test_overnight_periods_belong_to_the_day_they_start() -> None:
    c = cal({str(d): [["22:00", "06:00"]] for d in range(1, 8)})
    assert c.add(rome(2026, 11, 18, 5, 30), 3600) == rome(2026, 11, 18, 22, 30)
    assert c.add(rome(2026, 11, 18, 23, 0), 8 * 3600) == rome(2026, 11, 19, 23, 0)  # 7 h this night, 1 h the next
    assert c.seconds_between(rome(2026, 11, 18, 12, 0), rome(2026, 11, 19, 12, 0)) == 8 * 3600
    assert c.is_open(rome(2026, 11, 19, 3, 0)) is True
    assert c.is_open(rome(2026, 11, 19, 12, 0)) is False


def test_a_holiday_cancels_the_night_that_starts_on_it_not_the_one_ending_on_it() -> None:
    c = cal({str(d): [["22:00", "06:00"]] for d in range(1, 8)}, holidays=["2026-12-25"])
    # The night of the 24th runs into the 25th (kept); the night starting on the 25th is cancelled.
    assert c.seconds_between(rome(2026, 12, 24, 12, 0), rome(2026, 12, 26, 12, 0)) == 8 * 3600
    assert c.is_open(rome(2026, 12, 25, 5, 0)) is True
    assert c.is_open(rome(2026, 12, 25, 23, 0)) is False


def test_clocks_going_forward_shorten_the_night() -> None:
    # Europe/Rome: Sunday 2026-03-29 02:00 → 03:00. The Saturday night 22:00–06:00 lasts 7 hours.
    c = cal({"6": [["22:00", "06:00"]]})
    assert c.seconds_between(rome(2026, 3, 28, 12, 0), rome(2026, 3, 29, 12, 0)) == 7 * 3600
    # 5 business hours from Saturday 22:00 local (21:00 UTC) is 04:00 local summer time (02:00 UTC).
    assert c.add(rome(2026, 3, 28, 22, 0), 5 * 3600) == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)
    assert c.add(rome(2026, 3, 28, 22, 0), 5 * 3600).astimezone(ROME).hour == 4


def test_clocks_going_back_lengthen_the_night() -> None:
    # Europe/Rome: Sunday 2026-10-25 03:00 → 02:00. The Saturday night 22:00–06:00 lasts 9 hours.
    c = cal({"6": [["22:00", "06:00"]]})
    assert c.seconds_between(rome(2026, 10, 24, 12, 0), rome(2026, 10, 25, 12, 0)) == 9 * 3600


def test_daytime_hours_keep_their_wall_clock_across_a_change() -> None:
    c = cal({str(d): [["09:00", "17:00"]] for d in range(1, 8)})
    # Friday 16:00 CET + 2 h → Saturday 10:00 CET (09:00 UTC); Saturday 16:00 + 2 h → Sunday 10:00 CEST (08:00 UTC).
    assert c.add(rome(2026, 3, 27, 16, 0), 7200) == datetime(2026, 3, 28, 9, 0, tzinfo=UTC)
    assert c.add(rome(2026, 3, 28, 16, 0), 7200) == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)


def test_a_time_that_does_not_exist_reads_with_the_offset_before_the_change() -> None:
    c = cal({"7": [["02:30", "04:00"]]})  # 02:30 does not exist on 2026-03-29 in Rome: it is 03:30 CEST
    assert c.seconds_between(rome(2026, 3, 29, 0, 0), rome(2026, 3, 29, 12, 0)) == 1800


def test_adjacent_and_overlapping_periods_count_once() -> None:
    c = cal({"1": [["00:00", "24:00"]], "2": [["00:00", "12:00"], ["10:00", "14:00"]]})
    assert c.add(rome(2026, 11, 16, 0, 0), 36 * 3600) == rome(2026, 11, 17, 12, 0)
    assert c.seconds_between(rome(2026, 11, 16, 0, 0), rome(2026, 11, 18, 0, 0)) == 38 * 3600


def test_intervals_are_merged_across_midnight() -> None:
    c = cal({"1": [["18:00", "24:00"]], "2": [["00:00", "02:00"]]})
    assert list(islice(c.intervals(rome(2026, 11, 16, 19, 0)), 2)) == [
        (rome(2026, 11, 16, 19, 0).astimezone(UTC), rome(2026, 11, 17, 2, 0).astimezone(UTC)),
        (rome(2026, 11, 23, 18, 0).astimezone(UTC), rome(2026, 11, 24, 2, 0).astimezone(UTC)),
    ]


def test_around_the_clock_is_calendar_time() -> None:
    for c in (cal({}), cal({"1": []}), BusinessCalendar.around_the_clock(), calendar_of(None)):
        assert c.always_open is True
        assert c.add(rome(2026, 11, 21, 10, 0), 90) == rome(2026, 11, 21, 10, 1, 30)
        assert c.seconds_between(rome(2026, 11, 21, 10, 0), rome(2026, 11, 22, 10, 0)) == 86400


def test_only_holidays_ahead_falls_back_to_calendar_time() -> None:
    c = cal(
        {"1": [["09:00", "10:00"]]},
        holidays=[
            f"2026-{m:02d}-{d:02d}"
            for m in range(1, 13)
            for d in range(1, 32)
            if not (m == 2 and d > 28) and not (m in (4, 6, 9, 11) and d > 30)
        ],
    )
    # Every Monday of 2026 is a holiday; the first business hour is Monday 2027-01-04.
    assert c.add(rome(2026, 11, 16, 8, 0), 600) == rome(2027, 1, 4, 9, 10)


def test_end_before_start_is_zero() -> None:
    assert cal(WEEKDAYS_9_17).seconds_between(rome(2026, 11, 18, 11, 0), rome(2026, 11, 18, 10, 0)) == 0


@pytest.mark.parametrize(
    ("hours", "holidays", "tz", "message"),
    [
        ({"8": [["09:00", "17:00"]]}, [], "UTC", "'8' is not a weekday number"),
        ({"mon": [["09:00", "17:00"]]}, [], "UTC", "'mon' is not a weekday number"),
        ({"1": [["9", "17:00"]]}, [], "UTC", "'9' is not a time like 09:30"),
        ({"1": [["25:00", "26:00"]]}, [], "UTC", "'25:00' is not a time of day"),
        ({"1": [["24:00", "02:00"]]}, [], "UTC", "a period cannot start at 24:00"),
        ({"1": [["09:00"]]}, [], "UTC", "is not a period like"),
        ({}, ["25/12"], "UTC", "'25/12' is not a date like 2026-12-25"),
        ({}, [], "Mars/Olympus", "'Mars/Olympus' is not a time zone"),
    ],
)
def test_unreadable_hours_say_what_is_wrong(hours: dict, holidays: list[str], tz: str, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidHours, match=message):
        cal(hours, holidays, tz)


@pytest.mark.parametrize(
    ("language", "hours", "tz", "message"),
    [
        ("it", {"1": [["25:00", "26:00"]]}, "UTC", "'25:00' non è un'ora del giorno"),
        ("es", {"1": [["9", "17:00"]]}, "UTC", "'9' no es una hora como 09:30"),
        ("ru", {}, "Mars/Olympus", "'Mars/Olympus' — не часовой пояс"),
        ("ru", {"1": [["24:00", "02:00"]]}, "UTC", "период не может начинаться в 24:00"),
    ],
)
def test_unreadable_hours_are_told_in_the_persons_language(
    language: str, hours: dict[str, list[list[str]]], tz: str, message: str
) -> None:
    with translation.override(language), pytest.raises(InvalidHours) as raised:
        cal(hours, [], tz)
    assert str(raised.value) == message


@pytest.mark.django_db
def test_saving_a_policy_with_unreadable_hours_says_why_in_italian_and_saves_nothing(
    workspace: Workspace, manager: User
) -> None:
    with translation.override("it"), pytest.raises(InboxError) as raised:
        save_sla_policy(
            workspace=workspace, actor=manager, name="Support", source=None, first_response_minutes=60,
            next_response_minutes=240, time_zone="Europe/Rome", business_hours={"1": [["09:00", "17:00"]]},
            holidays=["25/12"],
        )  # fmt: skip
    assert str(raised.value) == "'25/12' non è una data come 2026-12-25"
    assert not SlaPolicy.objects.filter(workspace=workspace).exists()
