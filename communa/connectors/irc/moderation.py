"""Moderation on IRC, as a channel operator; each action is safe to repeat.

| action | IRC                                                                                               |
| ------ | ------------------------------------------------------------------------------------------------- |
| kick   | KICK with the reason, if the member is in the channel                                             |
| ban    | MODE +b on the member's mask, then KICK if present                                                |
| unban  | MODE -b on the same mask                                                                          |
| mute   | the server's quiet list (+q, Solanum/Libera, ircd-hybrid family) if it has one, else its mute      |
|        | extban (InspIRCd `m:`, UnrealIRCd `~q:`); without either, taking voice (-v) in a moderated (+m)    |
|        | channel, the classic way                                                                          |
| unmute | the reverse: -q, -b of the mute extban, or +v                                                     |

The mask: a member known by their services account (`account:<name>`) is banned or muted by account where
the server has an account extban (InspIRCd `R:`, UnrealIRCd `~a:`, Solanum `$a:`), so a new nick does not
get around it; otherwise, and for members known only by their nick, by `nick!*@*`. Messages cannot be
removed: IRC has no such thing (what was sent is on everyone's screen).

Every action waits for the server (see IrcClient.execute): a refusal is raised with the server's reason,
a member who is not there (441, 401) is nothing left to do.
"""

from __future__ import annotations

import dataclasses

from communa.connectors.base import ModerationAction, ModerationTarget
from communa.connectors.irc.client import Collector, ConnectionLost, IrcClient
from communa.connectors.irc.normalize import ACCOUNT_PREFIX
from communa.connectors.irc.protocol import format_line
from communa.core.http import PermanentError, TransientError

# What a server's EXTBAN prefix says about its extban letters: (account letter, mute letter or "").
EXTBAN_FAMILIES = {
    "": ("R", "m"),  # InspIRCd: R:account, m:mask
    "~": ("a", "q"),  # UnrealIRCd: ~a:account, ~q:mask
    "$": ("a", ""),  # Solanum, Charybdis: $a:account; quiets are the +q list
}
# Refusals worth a clear message; anything else in 400-599 is reported with the server's own words.
REFUSALS = {
    "482": "the bot is not a channel operator in {channel}: give it +o (op) there",
    "442": "the bot is not in {channel} (yet): it joins the configured channels on connecting",
    "472": "the server does not know that channel mode",
    "478": "the ban list of {channel} is full",
}
NOT_THERE = frozenset({"401", "441"})  # no such nick / not on that channel: nothing to do


@dataclasses.dataclass(frozen=True)
class Subject:
    """Who an action is about: the account, or the nick (case-folded as stored)."""

    account: str = ""
    nick: str = ""

    @classmethod
    def from_external_id(cls, external_id: str) -> Subject:
        if external_id.startswith(ACCOUNT_PREFIX):
            return cls(account=external_id.removeprefix(ACCOUNT_PREFIX))
        return cls(nick=external_id)


def apply(client: IrcClient, action: ModerationAction, target: ModerationTarget, *, reason: str) -> None:
    """Carry out `action` in `target.channel`, waiting for the server to accept it."""
    if action is ModerationAction.REMOVE_MESSAGE:
        raise PermanentError("IRC cannot remove a message: once sent, it is on everyone's screen")
    if not target.user_external_id:
        raise ValueError(f"{action.value} needs a member")
    if not client.wait_registered(20):
        raise TransientError(client.last_error or f"not connected to {client.settings.address} yet")
    channel = target.channel
    subject = Subject.from_external_id(target.user_external_id)
    # A member known by nick is acted on by that nick, whether or not the bot has seen them (re)join yet: the
    # server knows better, and answers 441 when they are not there. An account needs the bot's member list.
    nicks = client.member_nicks(channel, account=subject.account) if subject.account else [subject.nick]
    lines = _lines(client, action, channel, subject, nicks, reason=reason)
    if lines:
        _run(client, channel, lines)


def _lines(
    client: IrcClient, action: ModerationAction, channel: str, subject: Subject, nicks: list[str], *, reason: str
) -> list[str]:
    kicks = [format_line("KICK", channel, nick, reason or "Kicked") for nick in nicks]
    if action is ModerationAction.KICK:
        return kicks
    if action in (ModerationAction.BAN, ModerationAction.UNBAN):
        sign = "+" if action is ModerationAction.BAN else "-"
        modes = [format_line("MODE", channel, f"{sign}b", mask) for mask in ban_masks(client.isupport, subject, nicks)]
        return modes + kicks if action is ModerationAction.BAN else modes
    return _mute_lines(client, channel, subject, nicks, mute=action is ModerationAction.MUTE)


def ban_masks(isupport: dict[str, str], subject: Subject, nicks: list[str]) -> list[str]:
    """The ban masks for `subject`: by account where the server can, else by nick."""
    if subject.account:
        extban = account_extban(isupport)
        if extban:
            return [f"{extban}{subject.account}"]
        if not nicks:
            raise PermanentError(
                f"this server cannot ban by account, and {subject.account} is not in the channel to ban by nick"
            )
        return [f"{nick}!*@*" for nick in nicks]
    return [f"{subject.nick}!*@*"]


def _extban(isupport: dict[str, str]) -> tuple[str, str] | None:
    """(prefix, letters) from ISUPPORT EXTBAN=prefix,letters; None when the server has no extbans."""
    if "EXTBAN" not in isupport:
        return None
    prefix, _, letters = isupport["EXTBAN"].partition(",")
    return prefix, letters


def account_extban(isupport: dict[str, str]) -> str:
    """The prefix of an account ban (`R:`, `~a:`, `$a:`), or "" when the server has none we know."""
    extban = _extban(isupport)
    if extban is None or extban[0] not in EXTBAN_FAMILIES:
        return ""
    prefix, letters = extban
    letter = EXTBAN_FAMILIES[prefix][0]
    return f"{prefix}{letter}:" if letter in letters else ""


def mute_method(isupport: dict[str, str]) -> str:
    """How this server silences one member: "quiet" (+q list), an extban prefix ("m:", "~q:"), or "voice"."""
    prefix_modes = isupport.get("PREFIX", "(ov)@+").partition(")")[0].lstrip("(")
    list_modes = isupport.get("CHANMODES", "").split(",")[0]
    if "q" in list_modes and "q" not in prefix_modes:
        return "quiet"
    extban = _extban(isupport)
    if extban is not None and extban[0] in EXTBAN_FAMILIES:
        prefix, letters = extban
        letter = EXTBAN_FAMILIES[prefix][1]
        if letter and letter in letters:
            return f"{prefix}{letter}:"
    return "voice"


def _mute_lines(client: IrcClient, channel: str, subject: Subject, nicks: list[str], *, mute: bool) -> list[str]:
    method = mute_method(client.isupport)
    sign = "+" if mute else "-"
    if method == "voice":
        if not _is_moderated(client, channel):
            raise PermanentError(
                f"this server has no quiet list or mute extban, so muting one member needs {channel} to be"
                " moderated (+m) with voice (+v) for those who may speak: set that up, then mute takes voice away"
            )
        voice = "-v" if mute else "+v"
        return [format_line("MODE", channel, voice, nick) for nick in nicks]
    masks = ban_masks(client.isupport, subject, nicks)
    if method == "quiet":
        return [format_line("MODE", channel, f"{sign}q", mask) for mask in masks]
    return [format_line("MODE", channel, f"{sign}b", f"{method}{mask}") for mask in masks]


def _is_moderated(client: IrcClient, channel: str) -> bool:
    """Ask the server for the channel's modes (324 RPL_CHANNELMODEIS)."""
    answer = _run(client, channel, [format_line("MODE", channel)])
    modes = next((line.param(2) for line in answer.lines if line.command == "324"), "")
    return "m" in modes


def _run(client: IrcClient, channel: str, lines: list[str]) -> Collector:
    try:
        answer = client.execute(lines)
    except ConnectionLost as exc:
        raise TransientError(f"could not reach {client.settings.address}: {exc}") from exc
    refusal = first_refusal(client, channel, answer)
    if refusal is not None:
        code, text = refusal
        if code in REFUSALS:
            raise PermanentError(REFUSALS[code].format(channel=channel) + f" ({text})")
        raise PermanentError(f"{client.settings.address} refused it in {channel}: {text} ({code})")
    return answer


def first_refusal(client: IrcClient, channel: str, answer: Collector) -> tuple[str, str] | None:
    """The first error numeric about `channel` (or an unknown mode) among the answers: (code, text)."""
    folded = client.casefold(channel)
    for line in answer.lines:
        code = line.command
        if not code.isdigit() or not "400" <= code < "600" or code in NOT_THERE:
            continue
        if code == "472" or client.casefold(line.param(1)) == folded:
            return code, line.params[-1] if line.params else ""
    return None
