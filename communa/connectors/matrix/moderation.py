"""Moderation on Matrix, each action safe to repeat.

| action          | Matrix                                                                                   |
| --------------- | ---------------------------------------------------------------------------------------- |
| remove_message  | redact the event (transaction id from the idempotency key: a repeat is the same redaction) |
| kick            | kick, if the member is still in the room (or invited, or knocking)                       |
| ban             | ban (banning a banned member is accepted by the server)                                  |
| unban           | unban, if the member is banned (the member may then join again)                          |
| mute            | lower the member's power level just below what posting messages and reactions requires   |
| unmute          | lift it back: the room's default member level, or exactly the posting level if the      |
|                 | default itself is below it (a read-only room)                                            |

Unmuting restores posting rights, not a level the member had before being muted: a muted moderator comes
back as an ordinary member. The bot needs the room's power levels for each action (redact, kick and ban:
Moderator, 50, by default; mute and unmute change m.room.power_levels: Admin, 100, by default) and a higher
level than the member it acts on; otherwise the homeserver refuses (PermanentError, M_FORBIDDEN).
"""

from __future__ import annotations

from typing import Any

from communa.connectors.base import ModerationAction, ModerationTarget
from communa.connectors.matrix.client import MatrixClient
from communa.connectors.matrix.schemas import PowerLevels
from communa.core.http import PermanentError

POWER_LEVELS = "m.room.power_levels"
POSTED_TYPES = ("m.room.message", "m.reaction")
STILL_THERE = frozenset({"join", "invite", "knock"})


def apply(api: MatrixClient, action: ModerationAction, target: ModerationTarget, *, reason: str, txn_id: str) -> str:
    """Carry out `action`; return the id of the event it created, or "" (none, or nothing left to do)."""
    if action is ModerationAction.REMOVE_MESSAGE:
        if not target.message_external_id:
            raise ValueError("removing a message needs its id")
        return api.redact(target.channel, target.message_external_id, txn_id=txn_id, reason=reason)
    if not target.user_external_id:
        raise ValueError(f"{action.value} needs a member")
    if action in (ModerationAction.MUTE, ModerationAction.UNMUTE):
        return _set_voice(api, target, muted=action is ModerationAction.MUTE)
    _change_membership(api, action, target, reason=reason)
    return ""


def _change_membership(api: MatrixClient, action: ModerationAction, target: ModerationTarget, *, reason: str) -> None:
    room, user = target.channel, target.user_external_id
    if action is ModerationAction.BAN:
        api.membership(room, "ban", user_id=user, reason=reason)
        return
    member = api.state(room, "m.room.member", user) or {}
    current = member.get("membership", "")
    if action is ModerationAction.KICK and current in STILL_THERE:
        api.membership(room, "kick", user_id=user, reason=reason)
    elif action is ModerationAction.UNBAN and current == "ban":
        api.membership(room, "unban", user_id=user, reason=reason)


def _set_voice(api: MatrixClient, target: ModerationTarget, *, muted: bool) -> str:
    content = api.state(target.channel, POWER_LEVELS)
    if content is None:
        raise PermanentError(f"room {target.channel} has no power levels to mute with")
    change = mute(content, target.user_external_id) if muted else unmute(content, target.user_external_id)
    if change is None:
        return ""
    return api.put_state(target.channel, POWER_LEVELS, change)


def posting_level(levels: PowerLevels) -> int:
    """The lowest power level that may post a message or a reaction in the room."""
    return min(levels.events.get(event_type, levels.events_default) for event_type in POSTED_TYPES)


def user_level(levels: PowerLevels, user_id: str) -> int:
    return levels.users.get(user_id, levels.users_default)


def mute(content: dict[str, Any], user_id: str) -> dict[str, Any] | None:
    """Power levels with `user_id` just below the posting level; None when the member cannot post already."""
    levels = PowerLevels.model_validate(content)
    floor = posting_level(levels)
    if user_level(levels, user_id) < floor:
        return None
    return {**content, "users": {**_users(content), user_id: floor - 1}}


def unmute(content: dict[str, Any], user_id: str) -> dict[str, Any] | None:
    """Power levels where `user_id` may post again; None when the member can post already."""
    levels = PowerLevels.model_validate(content)
    floor = posting_level(levels)
    if user_level(levels, user_id) >= floor:
        return None
    users = _users(content)
    if levels.users_default >= floor:
        users.pop(user_id, None)
    else:
        users[user_id] = floor
    return {**content, "users": users}


def _users(content: dict[str, Any]) -> dict[str, Any]:
    users = content.get("users")
    return dict(users) if isinstance(users, dict) else {}
