"""The inbox list as the page and the API ask for it: one filter, parsed once; keyset pages; capped counts.

`InboxFilter` reads the query string (state, assignee, team, source, priority band, language, text, SLA
breached, sort) and compiles onto selectors.conversation_list, which owns visibility (a volunteer sees only
what is assigned to them or their teams). Pages are keyset-based over the sort's columns, so a page costs
the same at row 50 and at row 500,000 and stays stable while conversations arrive.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.template.loader import get_template
from django.utils import dateformat, timezone
from django.utils.formats import get_format
from django.utils.functional import Promise
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.timesince import timeuntil
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from communa.core.templatetags.communa_ui import ago
from communa.inbox import selectors
from communa.inbox.models import Conversation
from communa.inbox.selectors import InboxAccess

PAGE_SIZE = 30  # a laptop screen shows 6 to 8 rows; "Load more" fetches the next ones
COUNT_CAP = 1000  # tabs say "999+" beyond this: an exact count of a million rows is not worth its cost
MAX_TEXT = 200

# Priority bands over the computed 0–100 score (triage.py): a question waiting 2 hours is "high".
PRIORITY_BANDS: dict[str, tuple[int, int]] = {"urgent": (60, 101), "high": (40, 60), "normal": (20, 40), "low": (0, 20)}
PRIORITY_LABELS: dict[str, str | Promise] = {
    "urgent": _("Urgent"), "high": _("High"), "normal": _("Normal"), "low": _("Low"),
}  # fmt: skip
SORT_LABELS: dict[str, str | Promise] = {
    "priority": _("Most urgent first"), "newest": _("Newest activity first"), "oldest": _("Oldest activity first"),
}  # fmt: skip
# Each sort: (field, descending) columns; the last is always the id, so the order is total.
SORT_KEYS: dict[str, tuple[tuple[str, bool], ...]] = {
    "priority": (("priority", True), ("last_message_at", True), ("id", True)),
    "newest": (("last_message_at", True), ("id", True)),
    "oldest": (("last_message_at", False), ("id", False)),
}


class InvalidCursor(ValueError):
    pass


def priority_band(priority: int) -> str:
    return next(band for band, (low, high) in PRIORITY_BANDS.items() if low <= priority < high)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 19 else None


@dataclasses.dataclass(frozen=True, slots=True)
class InboxFilter:
    state: str = "open"  # a state, or "all"
    assignee: str = ""  # "me", "unassigned", a user id, or "" for anyone
    team: int | None = None
    source: int | None = None
    priority: str = ""  # a PRIORITY_BANDS key
    language: str = ""
    q: str = ""
    breached: bool = False
    sort: str = "priority"

    @classmethod
    def from_query(cls, params: Mapping[str, Any]) -> InboxFilter:
        """Tolerant: a value that makes no sense is ignored, never an error (the page keeps working)."""
        state = str(params.get("state") or "open")
        assignee = str(params.get("assignee") or "")
        priority = str(params.get("priority") or "")
        sort = str(params.get("sort") or "priority")
        return cls(
            state=state if state in {*Conversation.State.values, "all"} else "open",
            assignee=assignee if assignee in {"me", "unassigned"} or _int(assignee) is not None else "",
            team=_int(params.get("team")),
            source=_int(params.get("source")),
            priority=priority if priority in PRIORITY_BANDS else "",
            language=str(params.get("language") or "")[:12].strip().lower(),
            q=str(params.get("q") or "")[:MAX_TEXT].strip(),
            breached=str(params.get("breached") or "") in {"1", "true", "on"},
            sort=sort if sort in SORT_KEYS else "priority",
        )

    def params(self) -> dict[str, str]:
        """The non-default values, for links and the API."""
        default = InboxFilter()
        out: dict[str, str] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value != getattr(default, field.name):
                out[field.name] = "1" if value is True else str(value)
        return out

    def query_string(self) -> str:
        return urlencode(self.params())

    @property
    def is_default(self) -> bool:
        return not self.params()


def filtered(*, access: InboxAccess, flt: InboxFilter) -> QuerySet[Conversation]:
    qs = selectors.conversation_list(
        access=access, state=flt.state, assignee=flt.assignee, team_id=flt.team, source_id=flt.source,
        breached=flt.breached, sort=flt.sort,
    )  # fmt: skip
    if flt.priority:
        low, high = PRIORITY_BANDS[flt.priority]
        qs = qs.filter(priority__gte=low, priority__lt=high)
    if flt.language:
        qs = qs.filter(Q(language=flt.language) | Q(language__startswith=f"{flt.language}-"))
    if flt.q:
        text = Q(subject__icontains=flt.q) | Q(preview__icontains=flt.q) | Q(member__display_name__icontains=flt.q)
        qs = qs.filter(text | Q(pk=_int(flt.q.lstrip("#"))) if _int(flt.q.lstrip("#")) else text)
    return qs


# --- keyset pages ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    items: list[Conversation]
    next_cursor: str | None


def _encode(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _decode(cursor: str, keys: tuple[tuple[str, bool], ...]) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(keys):
            raise InvalidCursor("invalid cursor")
        return [
            datetime.fromisoformat(v) if field.endswith("_at") else int(v)
            for v, (field, _descending) in zip(values, keys, strict=True)
        ]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("invalid cursor") from exc


def _after(keys: tuple[tuple[str, bool], ...], values: list[Any]) -> Q:
    """Rows after `values` in the order `keys`: (a < x) OR (a = x AND b < y) OR …, one index range scan."""
    condition = Q()
    for i, (field, descending) in enumerate(keys):
        step = Q(**{f"{field}__{'lt' if descending else 'gt'}": values[i]})
        for j, (earlier, _descending) in enumerate(keys[:i]):
            step &= Q(**{earlier: values[j]})
        condition |= step
    return condition


def paginate(qs: QuerySet[Conversation], *, sort: str, cursor: str | None, limit: int = PAGE_SIZE) -> Page:
    keys = SORT_KEYS.get(sort, SORT_KEYS["priority"])
    if cursor:
        qs = qs.filter(_after(keys, _decode(cursor, keys)))
    rows = list(qs[: limit + 1])
    items = rows[:limit]
    following = None
    if len(rows) > limit and items:
        following = _encode([getattr(items[-1], field) for field, _descending in keys])
    return Page(items=items, next_cursor=following)


# --- what a row shows --------------------------------------------------------------------------------------

# The columns a row of the page reads (the API reads whole rows): no JSON columns, no member profile.
ROW_FIELDS = (
    "id", "workspace_id", "version", "state", "priority", "reason", "language", "subject", "preview",
    "last_message_at", "first_response_at", "first_response_due", "first_response_breached_at",
    "next_response_due", "next_response_breached_at", "member_id", "assignee_id", "team_id", "source_id",
    "member__display_name", "assignee__username", "assignee__first_name", "assignee__last_name", "team__name",
    "source__name",
)  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """One line of the list with every value it shows computed here, once: the template only prints them
    (autoescaped). Thirty rows of filters, lookups and URL reversals were most of a page's rendering time."""

    pk: int
    url: str
    band: str
    who: str
    when_iso: str
    when_title: str
    when_ago: str
    subject: str
    preview: str
    priority: int
    reason: str
    source: str
    language: str
    state: str  # the state's name when it is not "open", else ""
    breached: bool
    due_in: str  # "3 hours" until the first response is due, "" when answered or without a target
    due_title: str
    assignee_initial: str
    assignee_name: str
    team: str


def _is_breached(c: Conversation) -> bool:
    return bool(
        (c.first_response_breached_at and not c.first_response_at)
        or (c.next_response_breached_at and c.next_response_due)
    )


def clip(text: str, length: int) -> str:
    """Truncator(text).chars(length), without its per-character walk for the text that fits (most of them)."""
    text = unicodedata.normalize("NFC", text)
    return text if len(text) <= length else Truncator(text).chars(length)


@functools.lru_cache(maxsize=4096)
def _exact(moment: datetime, zone: str, language: str | None) -> tuple[str, str]:
    """The moment in the zone: ISO 8601 and the language's DATETIME_FORMAT (a pure function of the three)."""
    local = timezone.localtime(moment)
    return local.isoformat(), dateformat.format(local, get_format("DATETIME_FORMAT"))


def exact_time(moment: datetime) -> tuple[str, str]:
    """ISO 8601 and the full date and time of `moment` in the current time zone and language, memoized: the
    template filters cost ~70 µs a value, and the same moments are on every person's list."""
    return _exact(moment, timezone.get_current_timezone_name(), get_language())


@functools.lru_cache(maxsize=4096)
def _ago(moment: datetime, minute: int, zone: str, language: str | None) -> str:
    return ago(timezone.localtime(moment))


def ago_this_minute(moment: datetime, now: datetime) -> str:
    """ago(moment) ("5 minutes ago"), computed once per clock minute and reused within it, so it may lag by
    less than a minute (the list on screen keeps its relative times far longer: its poll answers 204 while the
    rows are unchanged). timesince's lazy translated units cost ~50 µs a value."""
    return _ago(moment, int(now.timestamp()) // 60, timezone.get_current_timezone_name(), get_language())


def display_rows(items: list[Conversation], *, base_url: str, query: str, now: datetime) -> list[Row]:
    """The rows of a page as the list shows them. `base_url` is the inbox's URL (a conversation is
    `<base_url><id>/`), `query` the filter's query string, kept on every link."""
    suffix = f"?{query}" if query else ""
    someone = gettext("Someone")
    # Labels once per page: get_*_display() hashes the lazy choices on every call (a gettext per choice).
    reasons = {value: str(label) for value, label in Conversation.Reason.choices}
    states = {value: str(label) for value, label in Conversation.State.choices}
    rows = []
    for c in items:
        when_iso, when_title = exact_time(c.last_message_at)
        due = c.first_response_due if c.first_response_due and not c.first_response_at else None
        person = c.assignee
        rows.append(
            Row(
                pk=c.pk, url=f"{base_url}{c.pk}/{suffix}", band=priority_band(c.priority),
                who=(c.member.display_name if c.member else "") or someone,
                when_iso=when_iso, when_title=when_title, when_ago=ago_this_minute(c.last_message_at, now),
                subject=clip(c.subject, 80), preview=clip(c.preview, 140),
                priority=c.priority, reason=reasons.get(c.reason, c.reason),
                source=c.source.name if c.source else "", language=c.language,
                state="" if c.state == Conversation.State.OPEN else states.get(c.state, c.state),
                breached=_is_breached(c), due_in=timeuntil(due, now) if due else "",
                due_title=exact_time(due)[1] if due else "",
                assignee_initial=person.username[:1].upper() if person else "",
                assignee_name=(person.get_full_name() or person.username) if person else "",
                team=c.team.name if c.team else "",
            )
        )  # fmt: skip
    return rows


class _RowMemo:
    """Each row's HTML by (language, selected, Row), in this process, least recently used out. A Row holds every
    value its row shows, already formatted, so the HTML is a pure function of the key: a hit is never stale,
    and a changed row (or a minute more in its "3 minutes ago") is another key. The same rows are on every
    person's list and on every poll, and rendering them (thirty rows of ~25 values, each escaped and localized
    by the template engine) was most of the list's CPU."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.html: OrderedDict[tuple[str, bool, Row], str] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, bool, Row]) -> str | None:
        with self.lock:
            found = self.html.get(key)
            if found is not None:
                self.html.move_to_end(key)
            return found

    def put(self, key: tuple[str, bool, Row], html: str) -> None:
        with self.lock:
            self.html[key] = html
            while len(self.html) > self.size:
                self.html.popitem(last=False)


ROW_MEMO = _RowMemo(size=2000)  # ~1 KB a row


def rows_html(rows: list[Row], *, selected: int | None) -> SafeString:
    """The rows' `<li>`s (partials/row.html), each rendered once and then reused (ROW_MEMO). With DEBUG the
    memo is skipped, so an edited template shows at once."""
    template = get_template("inbox/partials/row.html")
    language = get_language()
    parts = []
    for row in rows:
        key = (language, row.pk == selected, row)
        html = None if settings.DEBUG else ROW_MEMO.get(key)
        if html is None:
            html = template.render({"row": row, "is_selected": key[1]})
            ROW_MEMO.put(key, html)
        parts.append(html)
    return mark_safe("".join(parts))  # noqa: S308 - rendered by the template engine, escaped there


# --- the tabs' numbers --------------------------------------------------------------------------------


def tab_counts(*, access: InboxAccess) -> dict[str, int]:
    """Open, mine, unassigned, pending, snoozed: each counted up to COUNT_CAP, in one round trip (the five
    capped counts are UNION ALL-ed: each reads at most COUNT_CAP index entries)."""
    visible = selectors.visible(access=access).order_by()
    open_ = visible.filter(state=Conversation.State.OPEN)
    queries = {
        "open": open_,
        "mine": open_.filter(assignee=access.user),
        "unassigned": open_.filter(assignee=None),
        "pending": visible.filter(state=Conversation.State.PENDING),
        "snoozed": visible.filter(state=Conversation.State.SNOOZED),
    }
    parts: list[str] = []
    params: list[Any] = []
    for qs in queries.values():
        sql, part_params = qs.values("pk")[:COUNT_CAP].query.sql_with_params()
        parts.append(f"SELECT {len(parts)} AS tab, count(*) AS n FROM ({sql}) capped")  # noqa: S608 - Django's SQL
        params.extend(part_params)
    union = " UNION ALL ".join(f"SELECT * FROM ({part}) c{i}" for i, part in enumerate(parts))  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(union, params)  # Django's own SQL with its parameters, nothing typed by a person
        numbers = dict(cursor.fetchall())
    return {name: int(numbers[i]) for i, name in enumerate(queries)}


# Built-in views: a name, a label, and the filter they apply. People keep their own views in the browser.
VIEWS: dict[str, tuple[str | Promise, dict[str, str]]] = {
    "open": (_("All open"), {}),
    "mine": (_("Mine"), {"assignee": "me"}),
    "unassigned": (_("Unassigned"), {"assignee": "unassigned"}),
    "urgent": (_("Urgent"), {"priority": "urgent"}),
    "breached": (_("SLA breached"), {"breached": "1"}),
    "pending": (_("Waiting for the member"), {"state": "pending"}),
    "snoozed": (_("Snoozed"), {"state": "snoozed"}),
    "resolved": (_("Resolved"), {"state": "resolved", "sort": "newest"}),
}


def view_of(flt: InboxFilter) -> str:
    """The built-in view the filter is exactly, or ""."""
    params = flt.params()
    return next((name for name, (_label, wanted) in VIEWS.items() if wanted == params), "")
