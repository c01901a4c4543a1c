"""What a conversation's timeline shows, computed once in Python (as listing.display_rows does for the list):
per message, the template's filters, lookups and translated badges were most of the timeline's rendering."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.template.defaultfilters import linebreaksbr
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from communa.core.templatetags.communa_ui import http_url
from communa.inbox.listing import ago_this_minute, exact_time
from communa.inbox.selectors import Entry


@dataclasses.dataclass(frozen=True, slots=True)
class MessageLine:
    """One message of the timeline, every value as the page prints it (autoescaped, except `text`)."""

    pk: int
    role: str  # "member", "staff" or "community"
    initial: str
    name: str
    question: str  # the question's badge ("Answered", "Escalated", "Question"), "" when not a question
    question_class: str
    at_iso: str
    at_title: str
    at_ago: str
    url: str  # "" unless an absolute http(s) URL
    title: str
    text: SafeString  # escaped, line breaks as <br>
    deleted: bool


def _question(item: object) -> tuple[str, str]:
    if not getattr(item, "is_question", False):
        return "", ""
    if getattr(item, "answered_at", None):
        if getattr(item, "answered_by", "") == "member":
            return gettext("Answered by the community"), "badge-success"
        return gettext("Answered"), "badge-success"
    if getattr(item, "escalated_at", None):
        return gettext("Escalated"), "badge-danger"
    return gettext("Question"), "badge-warning"


def timeline_lines(entries: list[Entry], *, now: datetime) -> list[Entry]:
    """The entries with `line` set on the messages (the other kinds are few and keep their template)."""
    someone = gettext("Someone")
    out = []
    for entry in entries:
        if entry.kind != "message":
            out.append(entry)
            continue
        item, message = entry.item, entry.item.message
        member_name = message.member.display_name if message.member_id and message.member else ""
        identity_name = message.identity.display_name if message.identity_id and message.identity else ""
        at_iso, at_title = exact_time(message.created_at)
        question, question_class = _question(item)
        line = MessageLine(
            pk=message.pk, role=item.role, initial=(member_name or "?")[:1].upper(),
            name=member_name or identity_name or someone, question=question, question_class=question_class,
            at_iso=at_iso, at_title=at_title, at_ago=ago_this_minute(message.created_at, now),
            url=http_url(message.url), title=message.title,
            text=linebreaksbr(message.text),  # escapes, then <br> for each line break
            deleted=message.deleted_at is not None,
        )  # fmt: skip
        out.append(dataclasses.replace(entry, line=line))
    return out
