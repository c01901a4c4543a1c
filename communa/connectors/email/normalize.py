"""One stored mail payload → one normalized message. Pure: no I/O, no clock, deterministic.

Threading follows the headers mail apps write: the parent is the mail answered (In-Reply-To, else the last
id in References), and the thread is the conversation's first mail, the first id in References. When
References names only the parent, the thread is the parent's (ingest looks it up), or the parent itself. So
a whole conversation is one thread, whichever mail arrived first. Subjects are not used to guess threads:
"Re: Hello" from two strangers is two conversations.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from communa.connectors.base import MessageKind, NormalizedIdentity, NormalizedMessage
from communa.connectors.email.quoting import trim_html, trim_text
from communa.connectors.email.schemas import Address, EmailPayload
from communa.core.html import html_to_text

PLATFORM = "email"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST_BELIEVABLE = datetime(1990, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)
# Local parts that are never a person: the identities are marked as bots.
MACHINE_SENDER = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|bounce[-+].*)$", re.IGNORECASE
)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|delivery status notification|delivery failure|returned mail|failure notice|mail delivery failed"
    r"|non remise|недоставлен|impossibile recapitare|unzustellbar)",
    re.IGNORECASE,
)
_NO_AUTO_REPLY_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_LANGUAGE = re.compile(r"^\s*([a-zA-Z]{2,3})(?:[-_][a-zA-Z0-9]+)*\s*(?:,|$)")


def normalize_payload(data: dict[str, Any], *, mailbox_address: str) -> list[NormalizedMessage]:
    """The message for one stored mail; `mailbox_address` (the connector's From) marks its own mail."""
    payload = EmailPayload.model_validate(data)
    headers = payload.headers
    sender = _sender(payload)
    parent = headers.in_reply_to[0] if headers.in_reply_to else (headers.references[-1] if headers.references else "")
    # References that only name the parent say nothing about the root (auto-replies, some mobile apps):
    # then the thread is left to ingest, which takes the parent's thread.
    root = headers.references[0] if headers.references and headers.references[0] != parent else ""
    # A mail that lists itself (broken clients do) starts its thread rather than answering itself.
    root = "" if root == payload.message_id else root
    parent = "" if parent == payload.message_id else parent
    full_text, text = _texts(payload)
    metadata = _metadata(payload, sender, mailbox_address=mailbox_address)
    if text != full_text:
        metadata["full_text"] = full_text
    return [
        NormalizedMessage(
            external_id=payload.message_id,
            kind=MessageKind.EMAIL,
            text=text,
            created_at=sent_at(payload),
            author=_identity(sender, bounce=metadata["bounce"]) if sender else None,
            thread_external_id=root,
            parent_external_id=parent,
            title=headers.subject,
            language=_language(headers.content_language),
            metadata=metadata,
        )
    ]


def _texts(payload: EmailPayload) -> tuple[str, str]:
    """(the whole text, the text without quote and signature): the plain part, else the HTML made text."""
    if payload.text.strip():
        full = payload.text.strip()
        return full, trim_text(full)
    full = html_to_text(payload.html)
    return full, trim_text(html_to_text(trim_html(payload.html))) if full else ""


def sent_at(payload: EmailPayload) -> datetime:
    """The Date header, unless it is missing or not believable next to when the server received the mail."""
    received = _parse_iso(payload.internal_date)
    written = _parse_date(payload.headers.date)
    if written is None or written < EARLIEST_BELIEVABLE:
        return received or written or EPOCH
    if received is not None and written > received + CLOCK_SKEW:
        return received  # a sender's clock (or a spammer) in the future
    return written


def _parse_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)  # "-0000": UTC, origin unknown


def _parse_iso(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _sender(payload: EmailPayload) -> Address | None:
    senders = payload.headers.from_ or payload.headers.sender
    return senders[0] if senders else None


def _identity(sender: Address, *, bounce: bool) -> NormalizedIdentity:
    address = sender.address.strip().lower()
    local = address.split("@", 1)[0]
    return NormalizedIdentity(
        platform=PLATFORM,
        external_id=address,
        handle=address,
        display_name=sender.name,
        email=address,
        is_bot=bool(MACHINE_SENDER.match(local)) or (bounce and local in ("mailer-daemon", "postmaster")),
    )


def is_bounce(payload: EmailPayload) -> bool:
    """A delivery failure report: by its MIME type (RFC 3464), or a mailer daemon's typical subject."""
    if payload.report_type == "delivery-status" or payload.delivery_status:
        return True
    sender = _sender(payload)
    local = sender.address.split("@", 1)[0].lower() if sender else ""
    return local in ("mailer-daemon", "postmaster") and bool(_BOUNCE_SUBJECT.search(payload.headers.subject))


def is_auto_reply(payload: EmailPayload) -> bool:
    """An answering machine's mail: vacation notices, ticket acknowledgements (RFC 3834 and common headers)."""
    headers = payload.headers
    auto = headers.auto_submitted.split(";", 1)[0].strip().lower()
    return auto == "auto-replied" or bool(headers.x_autoreply or headers.x_autorespond)


def is_automated(payload: EmailPayload) -> bool:
    """Mail that must never get an automatic answer (RFC 3834 §2): machine-sent, bulk, lists, bounces."""
    headers = payload.headers
    auto = headers.auto_submitted.split(";", 1)[0].strip().lower()
    return (
        (bool(auto) and auto != "no")
        or is_auto_reply(payload)
        or is_bounce(payload)
        or headers.precedence.strip().lower() in _NO_AUTO_REPLY_PRECEDENCE
        or bool(headers.list_id)
    )


def _metadata(payload: EmailPayload, sender: Address | None, *, mailbox_address: str) -> dict[str, Any]:
    headers = payload.headers
    own = mailbox_address.strip().lower()
    metadata: dict[str, Any] = {
        "channel": payload.folder,
        "message_id": payload.message_id,
        "from": sender.address.lower() if sender else "",
        "to": [a.address.lower() for a in headers.to],
        "cc": [a.address.lower() for a in headers.cc],
        "reply_to": [a.address.lower() for a in headers.reply_to],
        "references": headers.references,
        "attachments": [a.model_dump() for a in payload.attachments],
        "auto_submitted": headers.auto_submitted,
        "auto_reply": is_auto_reply(payload),
        "bounce": is_bounce(payload),
        "automated": is_automated(payload),
        "outgoing": sender is not None and sender.address.lower() == own,
        "list_id": headers.list_id,
        "html_only": not payload.text.strip() and bool(payload.html.strip()),
        "truncated": payload.truncated or payload.text_truncated or payload.html_truncated,
    }
    if payload.delivery_status:
        metadata["delivery_status"] = [status.model_dump() for status in payload.delivery_status]
    return metadata


def _language(content_language: str) -> str:
    """The primary tag of Content-Language ("it-IT, en-US" → "it"), when the sender declared one."""
    match = _LANGUAGE.match(content_language)
    return match.group(1).lower() if match else ""
