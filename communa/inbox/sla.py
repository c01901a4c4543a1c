"""Business-hours arithmetic for SLA targets: "60 business minutes after this message" and "how many business
seconds between these two moments", in a policy's time zone, with several periods per day, periods that run
overnight, and holidays.

Rules (documented in docs/inbox.md, "SLA"):
- Periods are wall-clock times in the policy's time zone. A period belongs to the day it starts on: a
  Friday ["22:00", "06:00"] period runs from Friday 22:00 to Saturday 06:00, and a holiday on Friday cancels
  it entirely, a holiday on Saturday does not.
- Wall-clock times survive daylight-saving changes: "09:00" is 09:00 local on both sides of a change, so a
  22:00–06:00 night is 7 or 9 hours long on the nights the clocks move. A time that does not exist (02:30 on
  the night the clocks go forward) is read with the offset before the change (03:30 after it).
- "24:00" may end a period (midnight at the end of the day). Overlapping periods count once.
- No periods at all (an empty mapping, or only empty days) means around the clock: business time is
  calendar time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext as _

DAY_MINUTES = 24 * 60
# A calendar whose periods are all on holidays for this long gives up and counts calendar time.
_HORIZON_DAYS = 2 * 366
_LIMIT_DAYS = 100 * 366  # the generator is endless for practical purposes, never past the calendar's end


class InvalidHours(ValueError):
    """Business hours that cannot be read: a bad time, a bad weekday, a bad date or time zone. The message is
    translated into the active language: the inbox shows it to the person who typed the hours."""


def _not_a_weekday(day: object) -> InvalidHours:
    return InvalidHours(_("%(day)s is not a weekday number (1 Monday … 7 Sunday)") % {"day": repr(day)})


def parse_clock(value: str) -> int:
    """ "09:30" → 570 minutes after midnight; "24:00" → 1440."""
    try:
        hours_text, minutes_text = value.strip().split(":")
        hours, minutes = int(hours_text), int(minutes_text)
    except (ValueError, AttributeError) as exc:
        raise InvalidHours(_("%(value)s is not a time like 09:30") % {"value": repr(value)}) from exc
    if not (0 <= minutes < 60 and (0 <= hours < 24 or (hours == 24 and minutes == 0))):
        raise InvalidHours(_("%(value)s is not a time of day") % {"value": repr(value)})
    return hours * 60 + minutes


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidHours(_("%(name)s is not a time zone") % {"name": repr(name)}) from exc


@dataclasses.dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """When the team works. `periods[isoweekday]` are (start, end) minutes after local midnight; an end not
    after its start runs into the next day."""

    tz: ZoneInfo
    periods: Mapping[int, tuple[tuple[int, int], ...]]
    holidays: frozenset[date]

    @classmethod
    def around_the_clock(cls) -> BusinessCalendar:
        return cls(tz=ZoneInfo("UTC"), periods={}, holidays=frozenset())

    @classmethod
    def build(cls, *, time_zone: str, business_hours: Mapping[str, Any], holidays: Sequence[str]) -> BusinessCalendar:
        """Read a policy's JSON (see SlaPolicy); raises InvalidHours with what is wrong."""
        periods: dict[int, tuple[tuple[int, int], ...]] = {}
        for day, spans in (business_hours or {}).items():
            try:
                weekday = int(day)
            except ValueError as exc:
                raise _not_a_weekday(day) from exc
            if not 1 <= weekday <= 7:
                raise _not_a_weekday(day)
            parsed = []
            for span in spans or []:
                if not isinstance(span, (list, tuple)) or len(span) != 2:
                    raise InvalidHours(_('%(span)s is not a period like ["09:00", "17:00"]') % {"span": repr(span)})
                start, end = parse_clock(str(span[0])), parse_clock(str(span[1]))
                if start == DAY_MINUTES:
                    raise InvalidHours(_("a period cannot start at 24:00"))
                parsed.append((start, end))
            if parsed:
                periods[weekday] = tuple(sorted(parsed))
        days = set()
        for text in holidays or []:
            try:
                days.add(date.fromisoformat(str(text)))
            except ValueError as exc:
                raise InvalidHours(_("%(text)s is not a date like 2026-12-25") % {"text": repr(text)}) from exc
        return cls(tz=zone(time_zone), periods=periods, holidays=frozenset(days))

    @property
    def always_open(self) -> bool:
        return not self.periods

    # --- the intervals ------------------------------------------------------------------------------

    def _day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The business intervals of the periods starting on local `day`, in UTC."""
        if day in self.holidays:
            return []
        midnight = datetime.combine(day, time())
        out = []
        for start, end in self.periods.get(day.isoweekday(), ()):
            if end <= start:
                end += DAY_MINUTES
            begin_local = (midnight + timedelta(minutes=start)).replace(tzinfo=self.tz)
            end_local = (midnight + timedelta(minutes=end)).replace(tzinfo=self.tz)
            begin_utc, end_utc = begin_local.astimezone(UTC), end_local.astimezone(UTC)
            if end_utc > begin_utc:
                out.append((begin_utc, end_utc))
        return out

    def intervals(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Business intervals (UTC, merged, in order) that end after `start`, clipped to begin at `start` at the
        earliest. Ends after _HORIZON_DAYS without finding any."""
        start = start.astimezone(UTC)
        day = start.astimezone(self.tz).date() - timedelta(days=1)  # yesterday's overnight period may still run
        pending: tuple[datetime, datetime] | None = None
        empty_days = 0
        last_day = day + timedelta(days=_LIMIT_DAYS)
        while empty_days <= _HORIZON_DAYS and day < last_day:
            todays = sorted(self._day_intervals(day))
            empty_days = 0 if todays else empty_days + 1
            for begin, end in todays:
                if end <= start:
                    continue
                begin = max(begin, start)
                if pending is None:
                    pending = (begin, end)
                elif begin <= pending[1]:
                    pending = (pending[0], max(pending[1], end))
                else:
                    yield pending
                    pending = (begin, end)
            day += timedelta(days=1)
            # Periods starting tomorrow begin after today's local midnight, which is after everything that
            # started before it except overnight periods: those are merged above, so flush what cannot grow.
            if pending is not None:
                next_midnight = datetime.combine(day, time()).replace(tzinfo=self.tz).astimezone(UTC)
                if pending[1] < next_midnight:
                    yield pending
                    pending = None
        if pending is not None:
            yield pending

    # --- arithmetic ---------------------------------------------------------------------------------

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment `seconds` of business time after `start` (UTC)."""
        start = start.astimezone(UTC)
        if self.always_open or seconds <= 0:
            return start + timedelta(seconds=max(seconds, 0))
        left = timedelta(seconds=seconds)
        for begin, end in self.intervals(start):
            span = end - begin
            if left <= span:
                return begin + left
            left -= span
        return start + timedelta(seconds=seconds)  # no business hours within the horizon: calendar time

    def seconds_between(self, start: datetime, end: datetime) -> int:
        """Business seconds in [start, end) (0 when end is not after start)."""
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return 0
        if self.always_open:
            return int((end - start).total_seconds())
        total = timedelta()
        for begin, finish in self.intervals(start):
            if begin >= end:
                break
            total += min(finish, end) - begin
        return int(total.total_seconds())

    def is_open(self, moment: datetime) -> bool:
        if self.always_open:
            return True
        for begin, end in self.intervals(moment):
            return begin <= moment.astimezone(UTC) < end
        return False


def calendar_of(policy: Any) -> BusinessCalendar:
    """The calendar of an SlaPolicy (or around the clock for None). A policy that no longer reads (edited by
    hand in the database) falls back to around the clock rather than stopping the inbox."""
    if policy is None:
        return BusinessCalendar.around_the_clock()
    try:
        return BusinessCalendar.build(
            time_zone=policy.time_zone, business_hours=policy.business_hours, holidays=policy.holidays
        )
    except InvalidHours:
        return BusinessCalendar.around_the_clock()


# --- breach warnings (the periodic job's step) ---------------------------------------------------------


def check_breaches(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Mark conversations whose first or next response is overdue and emit `sla.breached` once per breach
    (a conditional UPDATE on the breach column claims it). Only open conversations breach: a person put a
    pending or snoozed one aside on purpose (it breaches when it is open again and still overdue).
    Returns how many breaches were recorded."""
    from django.db import transaction
    from django.utils import timezone

    from communa.inbox.models import Activity, Conversation
    from communa.inbox.services import activity, emit_event, utc_iso

    now = now or timezone.now()
    count = 0
    targets = (
        ("first_response", "first_response_due", "first_response_breached_at"),
        ("next_response", "next_response_due", "next_response_breached_at"),
    )
    for target, due_field, breached_field in targets:
        due = list(
            Conversation.objects.filter(**{f"{due_field}__lte": now, breached_field: None})
            .filter(state=Conversation.State.OPEN)
            .order_by(due_field)
            .values_list("pk", due_field)[:limit]
        )
        for pk, due_at in due:
            with transaction.atomic():
                claimed = Conversation.objects.filter(pk=pk, **{due_field: due_at, breached_field: None}).update(
                    **{breached_field: now}
                )
                if not claimed:
                    continue
                conversation = Conversation.objects.get(pk=pk)
                count += 1
                activity(conversation, Activity.Kind.SLA_BREACHED, at=now, target=target, due=utc_iso(due_at))
                emit_event(
                    conversation, "sla.breached", policy_id=conversation.sla_policy_id, target=target, at=utc_iso(now)
                )
    return count
