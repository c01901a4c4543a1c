"""Stored IRC lines → normalized messages. Pure: everything needed is in the payload (see schemas.py).

| line                              | becomes                                                                 |
| --------------------------------- | ----------------------------------------------------------------------- |
| PRIVMSG / NOTICE to a channel     | a chat message (formatting stripped); CTCP ACTION (`/me`) too, flagged  |
| other CTCP (VERSION, PING, ...)   | nothing: these are client-to-client queries, not conversation           |
| JOIN                              | a join                                                                  |
| PART, KICK                        | a leave (KICK: of the member kicked, `by` the kicker, with the reason)  |
| QUIT                              | a leave in each configured channel the person was in                    |
| NICK                              | a nick change in each configured channel the person was in (kind other) |

Ids. A message's external id is `<nick>:<id>`, where `<id>` is the server's IRCv3 `msgid` when it sends
one (Twitch: its `id` tag), otherwise a hash of the time (the server's `time` tag, else when Communa read
the line), command, nick, channel and text, so that the same line stored twice is one message. The nick in front is who
said it: IRC replies are addressed "nick: ...", and a reply only knows the id of the message it answers.
Lines that concern several channels (QUIT, NICK) get one message per channel, `<nick>:<id>/<channel>`.

People. Identities are scoped to the network (`irc:<host>`). A person logged in to the network's services
is `account:<account>` (case-folded), so that they stay one identity when they change nick; anyone else
is known only by the (case-folded) nick, which anybody may take once it is free.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from communa.connectors.base import MessageKind, NormalizedIdentity, NormalizedMessage
from communa.connectors.irc.protocol import Line, casefold, parse_ctcp, parse_line, readable_text, strip_formatting
from communa.connectors.irc.schemas import IrcPayload

ACCOUNT_PREFIX = "account:"
# Replies: the IRCv3 draft client tag, and Twitch's own tags.
REPLY_TAGS = ("+draft/reply", "reply-parent-msg-id")
# Twitch sends its message id as `id` and the time as `tmi-sent-ts` (milliseconds) instead of msgid and time.
TWITCH_TIME = "tmi-sent-ts"


def normalize_line(raw: dict[str, Any]) -> list[NormalizedMessage]:
    """Turn one stored line into zero, one or (QUIT, NICK) several messages."""
    payload = IrcPayload.model_validate(raw)
    line = parse_line(payload.line)
    base = event_id(payload, line)
    if line.command in ("PRIVMSG", "NOTICE"):
        return _chat(payload, line, base)
    if line.command == "JOIN":
        return [_membership(payload, line, base, MessageKind.JOIN, line.nick, channel=line.param(0))]
    if line.command == "PART":
        return [_membership(payload, line, base, MessageKind.LEAVE, line.nick, channel=line.param(0), part=True)]
    if line.command == "KICK":
        return [_kick(payload, line, base)]
    if line.command == "QUIT":
        return [
            _membership(payload, line, f"{base}/{channel}", MessageKind.LEAVE, line.nick, channel=channel, quit=True)
            for channel in payload.channels
        ]
    if line.command == "NICK":
        return [_nick_change(payload, line, f"{base}/{channel}", channel) for channel in payload.channels]
    return []


def event_id(payload: IrcPayload, line: Line | None = None) -> str:
    """The stored line's id, `<nick>:<msgid or hash>` (see the module docstring)."""
    line = line or parse_line(payload.line)
    msgid = line.tags.get("msgid", "") or (line.tags.get("id", "") if TWITCH_TIME in line.tags else "")
    if not msgid:
        moment = line.tags.get("time") or payload.received_at.isoformat()
        fields = (moment, line.command, casefold(line.nick, payload.casemapping), *line.params)
        msgid = "h-" + hashlib.sha256("\n".join(fields).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{line.nick}:{msgid}"


def nick_of(external_id: str) -> str:
    """The nick of whoever said the message with this external id ("" when the id is not one of ours)."""
    nick, separator, _ = external_id.partition(":")
    return nick if separator else ""


def identity(payload: IrcPayload, nick: str, account: str, tags: dict[str, str] | None = None) -> NormalizedIdentity:
    folded_account = casefold(account, payload.casemapping) if account else ""
    display = (tags or {}).get("display-name", "") or nick  # Twitch sends the name as the person styles it
    return NormalizedIdentity(
        platform=f"irc:{payload.network}",
        external_id=f"{ACCOUNT_PREFIX}{folded_account}" if account else casefold(nick, payload.casemapping),
        handle=nick,
        display_name=strip_formatting(display),
        is_bot=bool(payload.bot_nick) and casefold(nick, payload.casemapping) == casefold(payload.bot_nick),
    )


def _time(payload: IrcPayload, line: Line) -> datetime:
    stamp = line.tags.get("time", "")
    twitch_ms = line.tags.get(TWITCH_TIME, "")
    if not stamp and twitch_ms.isdigit():
        return datetime.fromtimestamp(int(twitch_ms) / 1000, tz=UTC)
    if stamp:
        try:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            pass  # a malformed server-time: when Communa read it is the next best
    return payload.received_at


def _base_metadata(payload: IrcPayload, line: Line, channel: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"channel": channel, "nick": line.nick}
    if payload.account:
        metadata["account"] = payload.account
    return metadata


def _chat(payload: IrcPayload, line: Line, external_id: str) -> list[NormalizedMessage]:
    channel = line.param(0)
    if len(line.params) < 2 or not _is_configured(payload, channel):
        return []  # private messages to the bot and server notices are not community conversation
    text = readable_text(line.params[-1], payload.encoding)
    metadata = _base_metadata(payload, line, channel)
    metadata["command"] = line.command.lower()
    ctcp = parse_ctcp(text)
    if ctcp is not None:
        command, argument = ctcp
        if command != "ACTION" or line.command != "PRIVMSG":
            return []
        text, metadata["action"] = argument, True
    text = strip_formatting(text).strip()
    if not text:
        return []
    return [
        NormalizedMessage(
            external_id=external_id,
            kind=MessageKind.CHAT,
            text=text,
            created_at=_time(payload, line),
            author=identity(payload, line.nick, payload.account, dict(line.tags)),
            parent_external_id=_parent(line),
            metadata=metadata,
        )
    ]


def _parent(line: Line) -> str:
    """The message this one answers, when the sender's client said so (IRCv3 draft reply, Twitch)."""
    parent_nick = line.tags.get("reply-parent-user-login", "")
    for tag in REPLY_TAGS:
        if line.tags.get(tag):
            # Without the parent's nick the id cannot be rebuilt: the reply is then shown on its own.
            return f"{parent_nick}:{line.tags[tag]}" if parent_nick else ""
    return ""


def _is_configured(payload: IrcPayload, channel: str) -> bool:
    folded = casefold(channel, payload.casemapping)
    return any(casefold(c, payload.casemapping) == folded for c in payload.channels)


def _membership(
    payload: IrcPayload,
    line: Line,
    external_id: str,
    kind: MessageKind,
    nick: str,
    *,
    channel: str,
    part: bool = False,
    quit: bool = False,
) -> NormalizedMessage:
    metadata = _base_metadata(payload, line, channel)
    reason = line.param(1) if part else line.param(0) if quit else ""
    if reason:
        metadata["reason"] = strip_formatting(readable_text(reason, payload.encoding))
    if quit:
        metadata["quit"] = True
    return NormalizedMessage(
        external_id=external_id,
        kind=kind,
        text="",
        created_at=_time(payload, line),
        author=identity(payload, nick, payload.account),
        metadata=metadata,
    )


def _kick(payload: IrcPayload, line: Line, external_id: str) -> NormalizedMessage:
    channel, kicked = line.param(0), line.param(1)
    metadata: dict[str, Any] = {"channel": channel, "nick": kicked, "by": line.nick, "kicked": True}
    if payload.account:
        metadata["account"] = payload.account
    reason = strip_formatting(readable_text(line.param(2), payload.encoding))
    if reason and reason != kicked:  # many clients give the nick as the reason when there is none
        metadata["reason"] = reason
    return NormalizedMessage(
        external_id=external_id,
        kind=MessageKind.LEAVE,
        text="",
        created_at=_time(payload, line),
        author=identity(payload, kicked, payload.account),
        metadata=metadata,
    )


def _nick_change(payload: IrcPayload, line: Line, external_id: str, channel: str) -> NormalizedMessage:
    new_nick = line.param(0)
    metadata = {"channel": channel, "nick": new_nick, "old_nick": line.nick, "new_nick": new_nick, "event": "nick"}
    if payload.account:
        metadata["account"] = payload.account
    return NormalizedMessage(
        external_id=external_id,
        kind=MessageKind.OTHER,
        text="",
        created_at=_time(payload, line),
        author=identity(payload, new_nick, payload.account),
        metadata=metadata,
    )
