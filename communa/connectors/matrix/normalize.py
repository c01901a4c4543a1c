"""Matrix room events → normalized messages. Pure: no I/O; the payloads are those `fetch` stores.

| event                                   | becomes                                                        |
| --------------------------------------- | -------------------------------------------------------------- |
| m.room.message (text, notice, emote, …) | a chat message; HTML reduced to text, reply quotes removed     |
|   … with m.in_reply_to                  | parent = the message answered                                  |
|   … with rel_type m.thread              | thread = the thread root                                       |
|   … with rel_type m.replace (an edit)   | the ORIGINAL message, with the new text and `edited_at`        |
| m.reaction (m.annotation)               | a reaction, parent = the message reacted to                    |
| m.room.redaction, or a redacted event   | the redacted message marked deleted                            |
| m.room.member                           | join / leave (a kick or a ban is a leave, with who and why)    |
| anything else (m.room.encrypted, …)     | nothing                                                        |
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from communa.connectors.base import MessageKind, NormalizedIdentity, NormalizedMessage
from communa.connectors.matrix.schemas import (
    ANNOTATION,
    HTML_FORMAT,
    REPLACE,
    THREAD,
    MemberContent,
    MessageContent,
    NewContent,
    ReactionContent,
    RedactionContent,
    Relation,
    RoomEvent,
)
from communa.core.html import html_to_text

MATRIX_TO = "https://matrix.to/#/"
MESSAGE = "m.room.message"
REACTION = "m.reaction"
REDACTION = "m.room.redaction"
MEMBER = "m.room.member"
ENCRYPTION = "m.room.encryption"
READ_TYPES = (MESSAGE, REACTION, REDACTION, MEMBER)

# The HTML reply fallback (deprecated, still sent by older clients): a quote of the message answered.
_MX_REPLY = re.compile(r"<mx-reply>.*?</mx-reply>", re.IGNORECASE | re.DOTALL)
_ID_SAFE = "!@$:"  # kept readable in matrix.to links; "/", "#", "?" and the rest are escaped


def normalize_event(payload: dict[str, Any], *, bot_user_id: str) -> list[NormalizedMessage]:
    """Turn one stored room event into zero or one message; unknown event types give none."""
    event = RoomEvent.model_validate(payload)
    if event.type == MESSAGE:
        return _message(event, bot_user_id)
    if event.type == REACTION:
        return _reaction(event, bot_user_id)
    if event.type == REDACTION:
        return _redaction(event)
    if event.type == MEMBER:
        return _membership(event, bot_user_id)
    return []


def server_name(user_id: str) -> str:
    """`@alice:example.org` → `example.org` (a server name may carry a port: the part after the first colon)."""
    return user_id.partition(":")[2]


def permalink(room_id: str, event_id: str = "") -> str:
    link = MATRIX_TO + quote(room_id, safe=_ID_SAFE)
    return f"{link}/{quote(event_id, safe=_ID_SAFE)}" if event_id else link


def identity(user_id: str, display_name: str, *, bot_user_id: str) -> NormalizedIdentity:
    return NormalizedIdentity(
        platform=f"matrix:{server_name(user_id)}",
        external_id=user_id,
        handle=user_id,
        display_name=display_name,
        url=permalink(user_id),
        is_bot=user_id == bot_user_id,
    )


def _time(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)


# --- messages and edits ----------------------------------------------------------------------------


def _message(event: RoomEvent, bot_user_id: str) -> list[NormalizedMessage]:
    if event.redacted:
        return [_deleted(event)]
    content = MessageContent.model_validate(event.content)
    if content.relates_to is not None and content.relates_to.rel_type == REPLACE:
        return _edit(event, content, bot_user_id)
    if not content.body and not content.formatted_body:
        return []
    message = _chat(event, content, bot_user_id)
    _apply_bundled_edit(message, event)
    return [message]


def _chat(event: RoomEvent, content: MessageContent, bot_user_id: str) -> NormalizedMessage:
    thread, parent = _position(content.relates_to)
    metadata: dict[str, Any] = {"room_id": event.room_id, "msgtype": content.msgtype}
    if content.url:
        metadata["media_url"] = content.url
    return NormalizedMessage(
        external_id=event.event_id,
        kind=MessageKind.CHAT,
        text=plain_text(content, is_reply=bool(parent)),
        created_at=_time(event.origin_server_ts),
        author=identity(event.sender, event.sender_display_name, bot_user_id=bot_user_id),
        thread_external_id=thread,
        parent_external_id=parent,
        url=permalink(event.room_id, event.event_id) if event.room_id else "",
        metadata=metadata,
    )


def _position(relation: Relation | None) -> tuple[str, str]:
    """(thread root, parent) of a message: a thread reply that only falls back to a reply answers the root."""
    if relation is None:
        return "", ""
    reply_to = relation.in_reply_to.event_id if relation.in_reply_to else ""
    if relation.rel_type == THREAD and relation.event_id:
        root = relation.event_id
        return root, root if relation.is_falling_back or not reply_to else reply_to
    return "", reply_to


def plain_text(content: NewContent, *, is_reply: bool) -> str:
    """The message as a reader sees it: HTML reduced to text, without the quote of the message answered."""
    if content.format == HTML_FORMAT and content.formatted_body:
        text = html_to_text(_MX_REPLY.sub("", content.formatted_body))
        if text:
            return text
    return strip_reply_fallback(content.body) if is_reply else content.body


def strip_reply_fallback(body: str) -> str:
    """Drop the "> <@alice:example.org> original" lines (and the blank line after them) older clients prepend."""
    if not body.startswith(("> <", "> * <")):
        return body
    lines = body.split("\n")
    start = 0
    while start < len(lines) and lines[start].startswith(">"):
        start += 1
    if start < len(lines) and not lines[start].strip():
        start += 1
    return "\n".join(lines[start:])


def _edit(event: RoomEvent, content: MessageContent, bot_user_id: str) -> list[NormalizedMessage]:
    """An edit rewrites the original message; one that cannot be checked against its original is dropped.

    Only the original's sender may edit it (the spec's rule: anyone else's m.replace must be ignored), and a
    removed (redacted) message stays removed.
    """
    original = event.original_event
    target = content.relates_to.event_id if content.relates_to else ""
    if content.new_content is None or original is None or original.event_id != target:
        return []
    if original.type != MESSAGE or original.sender != event.sender or original.redacted:
        return []
    original_content = MessageContent.model_validate(original.content)
    if original_content.relates_to is not None and original_content.relates_to.rel_type == REPLACE:
        return []  # an edit of an edit is invalid in Matrix
    if not original.sender_display_name:
        original = original.model_copy(update={"sender_display_name": event.sender_display_name})
    message = _chat(
        original.model_copy(update={"room_id": original.room_id or event.room_id}), original_content, bot_user_id
    )
    message.text = plain_text(content.new_content, is_reply=False)
    message.edited_at = _time(event.origin_server_ts)
    message.metadata["edit_event_id"] = event.event_id
    return [message]


def _apply_bundled_edit(message: NormalizedMessage, event: RoomEvent) -> None:
    """The server may attach the latest edit to the original (unsigned m.relations): show the edited text."""
    edit = event.unsigned.relations.get(REPLACE)
    if not isinstance(edit, dict):
        return
    replacement = RoomEvent.model_validate({**edit, "room_id": event.room_id})
    new = MessageContent.model_validate(replacement.content).new_content
    if replacement.sender != event.sender or new is None:
        return
    message.text = plain_text(new, is_reply=False)
    message.edited_at = _time(replacement.origin_server_ts)
    message.metadata["edit_event_id"] = replacement.event_id


# --- reactions, removals, membership ----------------------------------------------------------------


def _reaction(event: RoomEvent, bot_user_id: str) -> list[NormalizedMessage]:
    if event.redacted:
        return [_deleted(event)]
    relation = ReactionContent.model_validate(event.content).relates_to
    if relation is None or relation.rel_type != ANNOTATION or not relation.event_id:
        return []
    return [
        NormalizedMessage(
            external_id=event.event_id,
            kind=MessageKind.REACTION,
            text=relation.key,
            created_at=_time(event.origin_server_ts),
            author=identity(event.sender, event.sender_display_name, bot_user_id=bot_user_id),
            parent_external_id=relation.event_id,
            url=permalink(event.room_id, event.event_id) if event.room_id else "",
            metadata={"room_id": event.room_id},
        )
    ]


def _redaction(event: RoomEvent) -> list[NormalizedMessage]:
    content = RedactionContent.model_validate(event.content)
    target = content.redacts or event.redacts
    if not target:
        return []
    return [_removal(target, event.room_id, by=event.sender, reason=content.reason, at=event.origin_server_ts)]


def _deleted(event: RoomEvent) -> NormalizedMessage:
    """An event the server already delivers redacted: its content is gone, only the removal is known."""
    because = RoomEvent.model_validate({**(event.unsigned.redacted_because or {}), "room_id": event.room_id})
    reason = RedactionContent.model_validate(because.content).reason
    return _removal(event.event_id, event.room_id, by=because.sender, reason=reason, at=because.origin_server_ts)


def _removal(external_id: str, room_id: str, *, by: str, reason: str, at: int) -> NormalizedMessage:
    metadata = {"room_id": room_id, "redacted_by": by, **({"reason": reason} if reason else {})}
    return NormalizedMessage(
        external_id=external_id,
        kind=MessageKind.OTHER,  # a redaction may remove a message or a reaction: the stored row keeps its kind
        text="",
        created_at=_time(at),
        deleted=True,
        metadata=metadata,
    )


def _membership(event: RoomEvent, bot_user_id: str) -> list[NormalizedMessage]:
    """A join, or a leave of someone who was in (left, kicked or banned); invites and profile changes are not."""
    user = event.state_key
    if not user:
        return []
    now = MemberContent.model_validate(event.content)
    before = MemberContent.model_validate(event.previous_content)
    was_in = before.membership == "join"
    if now.membership == "join" and not was_in:
        kind, name = MessageKind.JOIN, now.displayname
    elif now.membership in ("leave", "ban") and was_in:
        kind, name = MessageKind.LEAVE, before.displayname
    else:
        return []
    metadata: dict[str, Any] = {"room_id": event.room_id, "membership": now.membership}
    if event.sender != user:
        metadata["by"] = event.sender
    if now.reason:
        metadata["reason"] = now.reason
    return [
        NormalizedMessage(
            external_id=event.event_id,
            kind=kind,
            text="",
            created_at=_time(event.origin_server_ts),
            author=identity(user, name or "", bot_user_id=bot_user_id),
            url=permalink(event.room_id, event.event_id) if event.room_id else "",
            metadata=metadata,
        )
    ]
