"""What a rule decided and why: matches, actions and explanations (structured, and rendered as plain text).

An `Explanation` is stored with every automatic decision (`as_dict()` is JSON-ready, `Explanation.from_dict`
reads it back) and rendered for moderators and members: "matched `insult` 0.93 ≥ 0.80 and word «idioti»
(idiota) and rule *no-insults* on «sei un idioti»". `render()` returns plain text: templates escape it like
any other text (never `|safe`), since it quotes what the member wrote.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

EXCERPT_CHARS = 120


class Mode(enum.StrEnum):
    ENABLED = "enabled"  # acts
    LOG_ONLY = "log_only"  # records what it would have done, acts on nothing, never stops other rules
    DISABLED = "disabled"  # not evaluated


class ActionKind(enum.StrEnum):
    QUEUE = "queue"  # put the message in the review queue
    REMOVE = "remove"  # hide/remove the message on the platform
    REPLY = "reply"  # reply in the thread with a template
    WARN = "warn"  # a strike, and tell the member (privately where the platform can) with a template
    MUTE = "mute"  # mute the member for a duration
    KICK = "kick"  # remove the member from the room/channel
    BAN = "ban"  # ban on this source (for a duration, or for good)
    BAN_EVERYWHERE = "ban_everywhere"  # ban on every source where the member has an identity
    TAG = "tag"  # tag the message
    NOTIFY = "notify"  # notify people or teams
    ESCALATE = "escalate"  # hand to senior moderators with a note


@dataclasses.dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    template: str = ""  # reply, warn: the name of a template in the rule set's `templates:`
    text: str = ""  # reply, warn: inline text when no template is named
    duration_seconds: int | None = None  # mute, ban: None for mute means the default, for ban means for good
    tags: tuple[str, ...] = ()  # tag
    targets: tuple[str, ...] = ()  # notify, escalate: team or user names ("moderators" when none is named)
    note: str = ""  # escalate: a note for whoever takes it

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind.value}
        for field in ("template", "text", "duration_seconds", "note"):
            value = getattr(self, field)
            if value not in ("", None):
                data[field] = value
        if self.tags:
            data["tags"] = list(self.tags)
        if self.targets:
            data["targets"] = list(self.targets)
        return data


@dataclasses.dataclass(frozen=True, slots=True)
class Evidence:
    """One reason a rule matched.

    kind: "word" | "phrase" | "regex" (text found: `found` is the original text at [start, end), `expected`
    the rule's word, phrase or pattern); "score" (`name`, `value`, `op`, `threshold`); "flag", "fact"
    (`name`, `value`, `expected`); "rate" (`name` = messages | duplicates | mentions | raid, `value` = the
    count, `op`, `threshold`, `seconds`).
    """

    kind: str
    name: str = ""
    value: Any = None
    op: str = ""
    threshold: float | None = None
    expected: Any = None
    found: str = ""
    start: int | None = None
    end: int | None = None
    seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, "")}

    def render(self) -> str:
        if self.kind in ("word", "phrase"):
            found = _clip(self.found, 60)
            same = _fold(self.found) == _fold(str(self.expected))
            return f"{self.kind} «{found}»" if same else f"{self.kind} «{found}» ({self.expected})"
        if self.kind == "regex":
            return f"pattern /{_clip(str(self.expected), 60)}/ on «{_clip(self.found, 60)}»"
        if self.kind == "score":
            return f"`{self.name}` {self.value:.2f} {_OPS.get(self.op, self.op)} {self.threshold:.2f}"
        if self.kind == "rate":
            window = f" in {_duration(self.seconds)}" if self.seconds else ""
            return f"{self.name} {self.value}{window} {_OPS.get(self.op, self.op)} {_number(self.threshold)}"
        expected = self.expected
        if isinstance(expected, list | tuple):
            expected = ", ".join(str(e) for e in expected)
        if self.op:
            return f"{self.name} {_number(self.value)} {_OPS.get(self.op, self.op)} {_number(self.threshold)}"
        return f"{self.name} = {_value(self.value)}" if expected is None else f"{self.name} {_value(self.value)}"


@dataclasses.dataclass(frozen=True, slots=True)
class Explanation:
    rule_id: str
    rule_name: str
    evidence: tuple[Evidence, ...]
    excerpt: str  # the part of the message the evidence points at (plain text, to be escaped when shown)
    guideline: str = ""  # the community guideline the rule enforces, as the rule set states it

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "rule_name": self.rule_name,
            "evidence": [e.as_dict() for e in self.evidence],
            "excerpt": self.excerpt,
            "guideline": self.guideline,
            "text": self.render(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Explanation:
        fields = {f.name for f in dataclasses.fields(Evidence)}
        return cls(
            rule_id=str(data.get("rule_id", "")),
            rule_name=str(data.get("rule_name", "")),
            evidence=tuple(_evidence(e, fields) for e in data.get("evidence", [])),
            excerpt=str(data.get("excerpt", "")),
            guideline=str(data.get("guideline", "")),
        )

    def render(self) -> str:
        """Plain text: "matched `insult` 0.93 ≥ 0.80 and word «idioti» (idiota) and rule *no-insults* on «…»"."""
        parts = [e.render() for e in self.evidence]
        parts.append(f"rule *{self.rule_name or self.rule_id}*")
        text = "matched " + " and ".join(parts)
        if self.excerpt:
            text += f" on «{self.excerpt}»"
        return text


@dataclasses.dataclass(frozen=True, slots=True)
class Match:
    """A rule that matched a message: what it asks to do and why."""

    rule_id: str
    rule_name: str
    mode: Mode  # ENABLED: act; LOG_ONLY: record only
    priority: int
    actions: tuple[Action, ...]
    explanation: Explanation
    stop: bool = False  # this rule stopped the evaluation of the rules after it

    @property
    def acts(self) -> bool:
        return self.mode is Mode.ENABLED

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "rule_name": self.rule_name,
            "mode": self.mode.value,
            "priority": self.priority,
            "actions": [a.as_dict() for a in self.actions],
            "explanation": self.explanation.as_dict(),
            "stop": self.stop,
        }


def _evidence(data: Mapping[str, Any], fields: set[str]) -> Evidence:
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in fields}
    return Evidence(**values)


_OPS = {">=": "≥", "<=": "≤", "!=": "≠", ">": ">", "<": "<", "==": "="}


def excerpt(text: str, spans: list[tuple[int, int]], limit: int = EXCERPT_CHARS) -> str:
    """The part of `text` around the first span (or its beginning), at most `limit` characters, with …."""
    text_length = len(text)
    if not spans:
        return _clip(" ".join(text.split()), limit)
    start, end = min(spans)
    room = max(limit - (end - start), 0)
    left = max(start - room // 2, 0)
    right = min(max(end, left + limit), text_length)
    piece = text[left:right]
    piece = " ".join(piece.split())
    return ("…" if left > 0 else "") + _clip(piece, limit) + ("…" if right < text_length else "")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fold(text: str) -> str:
    return text.casefold().strip()


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "unknown"
    return _number(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
