"""Reads for engagement, the richer profile and key people. Every function takes the workspace (fail closed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from communa.accounts.models import Workspace
from communa.core.pagination import Page, paginate_newest_first
from communa.members.engagement import lifecycle, scoring
from communa.members.engagement.models import (
    ActivityKind,
    KeyPeopleRun,
    KeyPerson,
    Level,
    Lifecycle,
    MemberEngagement,
    MemberFacts,
)
from communa.members.models import Identity, Member
from communa.stream.models import Message

# Activity kinds in the order an explanation names them, each with its phrase (singular/plural marked for
# translation here, so makemessages finds them).
PHRASES: tuple[tuple[str, Callable[[int], str]], ...] = (
    (ActivityKind.ACCEPTED_ANSWER, lambda n: ngettext("%(n)d accepted answer", "%(n)d accepted answers", n)),
    (ActivityKind.HELPFUL_REPLY, lambda n: ngettext("%(n)d helpful reply", "%(n)d helpful replies", n)),
    (ActivityKind.THANKED, lambda n: ngettext("thanked %(n)d time", "thanked %(n)d times", n)),
    (ActivityKind.QUESTION, lambda n: ngettext("%(n)d question", "%(n)d questions", n)),
    (ActivityKind.EVENT_ATTENDED, lambda n: ngettext("%(n)d event attended", "%(n)d events attended", n)),
    (ActivityKind.POST, lambda n: ngettext("%(n)d post", "%(n)d posts", n)),
    (ActivityKind.REPLY, lambda n: ngettext("%(n)d reply", "%(n)d replies", n)),
    (ActivityKind.REACTION, lambda n: ngettext("%(n)d reaction", "%(n)d reactions", n)),
)


def activity_summary(recent: dict[str, int]) -> str:
    """ "14 helpful replies and 3 questions" from 30-day counts (first-reply bonuses are part of replies)."""
    parts = [phrase(int(recent[code])) % {"n": int(recent[code])} for code, phrase in PHRASES if recent.get(code)]
    if not parts:
        return _("no activity")
    if len(parts) == 1:
        return parts[0]
    return _("%(list)s and %(last)s") % {"list": ", ".join(parts[:-1]), "last": parts[-1]}


def _day(value: datetime) -> str:
    return date_format(timezone.localtime(value), "j M Y")


@dataclasses.dataclass(frozen=True, slots=True)
class Engagement:
    row: MemberEngagement
    score: float
    level_label: str
    lifecycle_label: str
    level_text: str
    lifecycle_text: str
    next_level_text: str


def _level_text(row: MemberEngagement, score: float, now: datetime) -> str:
    summary = activity_summary(row.recent)
    needed = scoring.threshold(row.level)
    label = Level(row.level).label
    values = {"level": label, "since": _day(row.level_since), "summary": summary, "score": round(score)}
    if row.below_since is not None and score < needed:
        keep_until = row.below_since + timedelta(days=scoring.DEMOTE_AFTER_DAYS)
        values.update(needed=round(needed), until=_day(keep_until))
        return (
            _(
                "%(level)s since %(since)s: %(summary)s in 30 days; score %(score)s, below %(needed)s since then: "
                "the level is kept until %(until)s unless the score recovers."
            )
            % values
        )
    values["needed"] = round(needed)
    return _("%(level)s since %(since)s: %(summary)s in 30 days; score %(score)s ≥ %(needed)s.") % values


def _next_level_text(row: MemberEngagement, score: float) -> str:
    order = scoring.LEVEL_ORDER
    index = order.index(Level(row.level))
    if index + 1 >= len(order):
        return ""
    following = order[index + 1]
    return _("%(level)s at %(needed)s.") % {
        "level": Level(following).label,
        "needed": round(scoring.threshold(following)),
    }


def _lifecycle_text(row: MemberEngagement, now: datetime) -> str:
    last = row.last_active_at
    values = {"since": _day(row.lifecycle_since), "last": _day(last) if last else "—"}
    quiet = (now - last).days if last else 0
    values["quiet"] = str(quiet)
    texts = {
        Lifecycle.NEW: _("First active %(first)s (less than %(days)s days ago)."),
        Lifecycle.ACTIVE: _("Last active %(last)s."),
        Lifecycle.AT_RISK: _("Was active; quiet for %(quiet)s days (since %(last)s). At risk after %(days)s days."),
        Lifecycle.CHURNED: _("Quiet for %(quiet)s days (since %(last)s)."),
        Lifecycle.RETURNING: _("Back since %(since)s after a quiet spell; last active %(last)s."),
    }
    days = {
        Lifecycle.NEW: lifecycle.NEW_DAYS,
        Lifecycle.AT_RISK: lifecycle.AT_RISK_DAYS,
    }.get(Lifecycle(row.lifecycle), lifecycle.CHURN_DAYS)
    values["days"] = str(days)
    values["first"] = _day(row.first_active_at) if row.first_active_at else "—"
    return texts[Lifecycle(row.lifecycle)] % values


def engagement_of(*, workspace: Workspace, member: Member, now: datetime | None = None) -> Engagement | None:
    """The member's engagement with its explanation, or None (staff, bots, not computed yet)."""
    row = MemberEngagement.objects.filter(workspace=workspace, member=member).first()
    if row is None:
        return None
    now = now or timezone.now()
    score = scoring.decayed(row.score, row.score_at, now)
    return Engagement(
        row=row,
        score=score,
        level_label=str(Level(row.level).label),
        lifecycle_label=str(Lifecycle(row.lifecycle).label),
        level_text=_level_text(row, score, now),
        lifecycle_text=_lifecycle_text(row, now),
        next_level_text=_next_level_text(row, score),
    )


def facts_of(*, workspace: Workspace, member: Member) -> MemberFacts | None:
    return MemberFacts.objects.filter(workspace=workspace, member=member).first()


def message_total(*, workspace: Workspace, member: Member) -> int:
    """The member's messages counted now (the profile shows this, never a counter waiting for a task)."""
    return Message.objects.filter(workspace=workspace, member=member, deleted_at=None).count()


def timeline_page(*, workspace: Workspace, member: Member, cursor: str | None, limit: int) -> Page[Message]:
    """The member's messages across every platform, newest first, keyset-paginated (InvalidCursor on junk)."""
    messages = Message.objects.filter(workspace=workspace, member=member, deleted_at=None).select_related(
        "identity", "source", "thread"
    )
    return paginate_newest_first(messages, cursor=cursor, limit=limit)


def identity_emails(*, workspace: Workspace, member: Member) -> list[str]:
    return list(
        Identity.objects.filter(workspace=workspace, member=member).exclude(email="").values_list("email", flat=True)
    )


# --- key people ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class KeyPeople:
    run: KeyPeopleRun | None
    categories: dict[str, list[KeyPerson]]


def key_people(*, workspace: Workspace) -> KeyPeople:
    """The latest finished snapshot, per category, best first, members loaded (one query per category list)."""
    run = (
        KeyPeopleRun.objects.filter(workspace=workspace, finished_at__isnull=False)
        .order_by("-started_at", "-id")
        .first()
    )
    categories: dict[str, list[KeyPerson]] = {c: [] for c in KeyPerson.Category.values}
    if run is None:
        return KeyPeople(run=None, categories=categories)
    rows: QuerySet[KeyPerson] = (
        KeyPerson.objects.filter(workspace=workspace, run=run)
        .select_related("member", "member__engagement", "member__facts")
        .order_by("category", "rank")
    )
    for person in rows:
        categories[person.category].append(person)
    return KeyPeople(run=run, categories=categories)


def level_counts(*, workspace: Workspace) -> dict[str, int]:
    rows = MemberEngagement.objects.filter(workspace=workspace).values("level").annotate(n=Count("pk"))
    counts = dict.fromkeys(Level.values, 0)
    counts.update({row["level"]: row["n"] for row in rows})
    return counts


def lifecycle_counts(*, workspace: Workspace) -> dict[str, int]:
    rows = MemberEngagement.objects.filter(workspace=workspace).values("lifecycle").annotate(n=Count("pk"))
    counts = dict.fromkeys(Lifecycle.values, 0)
    counts.update({row["lifecycle"]: row["n"] for row in rows})
    return counts


def describe_reason(reason: dict[str, Any]) -> str:
    """One key-person reason as a sentence for the page."""
    code = reason.get("code")
    if code == "pagerank":
        return _("Influence %(value)s× the average member in the reply network.") % {"value": reason["value"]}
    if code == "helped":
        n = int(reason["count"])
        return ngettext("Helped %(n)d person with answers.", "Helped %(n)d people with answers.", n) % {"n": n}
    if code == "answered_by":
        n = int(reason["count"])
        return ngettext("Replied to by %(n)d person.", "Replied to by %(n)d people.", n) % {"n": n}
    if code == "platforms":
        return _("Active on %(platforms)s.") % {"platforms": ", ".join(reason["platforms"])}
    if code == "champion":
        since = datetime.fromisoformat(reason["since"])
        values = {"since": _day(since), "score": reason["score"], "summary": activity_summary(reason.get("recent", {}))}
        return _("Champion since %(since)s: %(summary)s in 30 days; score %(score)s.") % values
    if code == "rising":
        return _("Score %(before)s → %(score)s in 30 days.") % {"before": reason["before"], "score": reason["score"]}
    if code == "bridge":
        groups = ", ".join(
            _("%(group)s (%(n)s interactions)") % {"group": group_label(g), "n": n} for g, n in reason["groups"]
        )
        return _("Connects %(groups)s.") % {"groups": groups}
    return str(code)


def group_label(group: str) -> str:
    """ "lang:it" → "Italian speakers", "platform:irc:libera.chat" → "irc:libera.chat"."""
    from django.utils.translation import get_language_info

    kind, _sep, value = group.partition(":")
    if kind == "lang":
        try:
            name = get_language_info(value)["name_translated"]
        except KeyError:
            name = value
        return _("%(language)s speakers") % {"language": name}
    return value
