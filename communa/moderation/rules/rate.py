"""Sliding windows of recent messages, for rate conditions: floods, duplicates, mention floods, raids.

A `RateWindow` remembers, for `horizon` seconds, who posted where and when. `evaluate` adds each message to it
before the rules ask, so a message counts itself. The same object serves live moderation and backtests:

- live: the moderation app keeps one window per workspace and process, and when it starts (or evaluates a
  batch in a fresh process) seeds it with `seed(facts)` from the messages of the last
  `CompiledRuleSet.rate_horizon_seconds`; a message seen twice (same message_id) counts once;
- backtest: `backtest` creates its own window and feeds history ordered by time.

Counts only look back from the message being evaluated (`created_at - seconds` to `created_at`), so a window
seeded with later messages still answers as of each message's own time.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

from communa.moderation.rules.facts import MessageFacts

if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_HORIZON = 3600.0
MIN_DUPLICATE_CHARS = 12  # shorter texts ("hi", "+1", "thanks!") are not duplicates worth counting
_PRUNE_EVERY = 2048


@dataclasses.dataclass(frozen=True, slots=True)
class _Seen:
    at: float
    message_id: int | str
    channel: str
    source_id: int | None
    text_key: str
    mentions: int


class RateWindow:
    """Recent messages per member and first messages per source, for `horizon` seconds (see module doc)."""

    def __init__(self, horizon: float = DEFAULT_HORIZON, max_ids: int = 200_000) -> None:
        self.horizon = float(horizon)
        self._by_member: dict[int | None, collections.deque[_Seen]] = {}
        self._first_by_source: dict[int | None, collections.deque[tuple[float, int | None, str]]] = {}
        self._ids: dict[int | str, None] = {}
        self._max_ids = max_ids
        self._observed = 0
        self._latest = float("-inf")

    def seed(self, facts: Iterable[MessageFacts]) -> None:
        """Remember past messages (any order) without evaluating them."""
        from communa.moderation.rules.normalize import normalize

        for message in sorted(facts, key=lambda f: f.created_at):  # appending in time order is O(1)
            self.observe(message, text_key(" ".join(t.text for t in normalize(message.text).tokens)))

    def observe(self, facts: MessageFacts, key: str) -> None:
        """Remember one message (once per message_id); `key` is its normalised text, for duplicates."""
        if facts.message_id in self._ids:
            return
        self._ids[facts.message_id] = None
        if len(self._ids) > self._max_ids:
            for old in list(self._ids)[: self._max_ids // 4]:
                del self._ids[old]
        at = facts.created_at.timestamp()
        seen = _Seen(at, facts.message_id, facts.channel, facts.source_id, key, facts.mentions)
        queue = self._by_member.setdefault(facts.member_id, collections.deque())
        if queue and queue[-1].at > at:
            _insert_sorted(queue, seen)
        else:
            queue.append(seen)
        if facts.is_first_message:
            first = self._first_by_source.setdefault(facts.source_id, collections.deque())
            entry = (at, facts.member_id, facts.channel)
            if first and first[-1][0] > at:
                index = len(first)
                while index > 0 and first[index - 1][0] > at:
                    index -= 1
                first.insert(index, entry)
            else:
                first.append(entry)
        self._latest = max(self._latest, at)
        self._observed += 1
        if self._observed % _PRUNE_EVERY == 0:
            self.prune()

    def prune(self) -> None:
        """Forget what is older than the horizon (relative to the latest message seen)."""
        cutoff = self._latest - self.horizon
        for table in (self._by_member, self._first_by_source):
            for key in list(table):
                queue = table[key]
                while queue and _at(queue[0]) < cutoff:
                    queue.popleft()
                if not queue:
                    del table[key]

    def _recent(self, facts: MessageFacts, seconds: float) -> Iterator[_Seen]:
        queue = self._by_member.get(facts.member_id)
        if not queue:
            return
        now = facts.created_at.timestamp()
        since = now - seconds
        for seen in reversed(queue):
            if seen.at > now:
                continue
            if seen.at < since:
                break
            yield seen

    def messages(self, facts: MessageFacts, seconds: float, per: str = "member") -> int:
        """Messages by this member in the last `seconds` (in this channel only when per="channel")."""
        if facts.member_id is None:
            return 0
        if per == "channel":
            return sum(1 for s in self._recent(facts, seconds) if s.channel == facts.channel)
        return sum(1 for _ in self._recent(facts, seconds))

    def duplicates(self, facts: MessageFacts, seconds: float, key: str) -> int:
        """Distinct channels where this member posted this same (normalised) text in the last `seconds`."""
        if facts.member_id is None or len(key) < MIN_DUPLICATE_CHARS:
            return 0
        return len({(s.source_id, s.channel) for s in self._recent(facts, seconds) if s.text_key == key})

    def mentions(self, facts: MessageFacts, seconds: float) -> int:
        """Mentions in this member's messages of the last `seconds` (this one included)."""
        if facts.member_id is None:
            return facts.mentions
        return sum(s.mentions for s in self._recent(facts, seconds))

    def new_members(self, facts: MessageFacts, seconds: float, per: str = "source") -> int:
        """Distinct members whose first message was posted on this source (or channel) in the last `seconds`."""
        queue = self._first_by_source.get(facts.source_id)
        if not queue:
            return 0
        now = facts.created_at.timestamp()
        since = now - seconds
        members: set[int | None] = set()
        for at, member_id, channel in reversed(queue):
            if at > now:
                continue
            if at < since:
                break
            if per == "channel" and channel != facts.channel:
                continue
            members.add(member_id)
        return len(members)


def text_key(normalised: str) -> str:
    return normalised[:500]


def _at(item: _Seen | tuple[float, int | None, str]) -> float:
    return item.at if isinstance(item, _Seen) else item[0]


def _insert_sorted(queue: collections.deque[_Seen], seen: _Seen) -> None:
    index = len(queue)
    while index > 0 and queue[index - 1].at > seen.at:
        index -= 1
    queue.insert(index, seen)
