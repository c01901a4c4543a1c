"""Dry run: what a rule set would have done over past messages, before it goes live.

`backtest` evaluates every rule as if it were enabled (a draft, log-only or disabled rule included: the
question is "what would it do"), over messages ordered by time, with its own rate window, and counts per rule
and per action, keeps a few examples per rule, and warns when the rule set, or one rule, would act on more
than `warning_share` of the messages (the rule set's `backtest_warning`, 5% by default).
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from communa.moderation.rules.engine import CompiledRuleSet, evaluate
from communa.moderation.rules.facts import MessageFacts

DEFAULT_EXAMPLES = 5


@dataclasses.dataclass(frozen=True, slots=True)
class Example:
    message_id: int | str
    created_at: datetime
    member_id: int | None
    excerpt: str
    explanation: str  # rendered plain text (escape it when showing it)
    evidence: tuple[dict[str, Any], ...]


@dataclasses.dataclass(slots=True)
class RuleStats:
    rule_id: str
    name: str
    matched: int = 0  # messages this rule matched
    acted: int = 0  # messages on which this rule was the one that acted first (the others were stopped)
    actions: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    examples: list[Example] = dataclasses.field(default_factory=list)

    def share(self, total: int) -> float:
        return self.matched / total if total else 0.0


@dataclasses.dataclass(slots=True)
class BacktestResult:
    total: int  # messages read
    acted: int  # messages at least one rule would have acted on
    rules: dict[str, RuleStats]  # by rule id, in evaluation order
    actions: collections.Counter[str]  # action kind → messages it would have been applied to
    warning_share: float
    first_at: datetime | None = None
    last_at: datetime | None = None
    out_of_order: int = 0  # messages older than the one before them (rate conditions may be off)

    @property
    def share(self) -> float:
        """The share of messages that would have been acted on (0..1)."""
        return self.acted / self.total if self.total else 0.0

    @property
    def warnings(self) -> list[str]:
        """Plain-text warnings to show before enabling (empty: nothing unusual)."""
        out: list[str] = []
        limit = self.warning_share
        if self.total and self.share > limit:
            out.append(
                f"the rules would act on {self.share:.1%} of {self.total:,} messages "
                f"(more than {limit:.0%}): check the examples for false positives before enabling"
            )
        for stats in self.rules.values():
            if self.total and stats.share(self.total) > limit:
                out.append(
                    f"rule *{stats.name}* alone would act on {stats.share(self.total):.1%} of the messages "
                    f"(more than {limit:.0%})"
                )
        if self.out_of_order:
            out.append(f"{self.out_of_order:,} messages were not in time order: rate conditions may be off")
        return out

    @property
    def too_broad(self) -> bool:
        return bool(self.total) and (
            self.share > self.warning_share
            or any(s.share(self.total) > self.warning_share for s in self.rules.values())
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "acted": self.acted,
            "share": self.share,
            "warning_share": self.warning_share,
            "warnings": self.warnings,
            "actions": dict(self.actions),
            "first_at": self.first_at.isoformat() if self.first_at else None,
            "last_at": self.last_at.isoformat() if self.last_at else None,
            "rules": [
                {
                    "rule_id": s.rule_id,
                    "name": s.name,
                    "matched": s.matched,
                    "acted": s.acted,
                    "share": s.share(self.total),
                    "actions": dict(s.actions),
                    "examples": [
                        {
                            "message_id": e.message_id,
                            "created_at": e.created_at.isoformat(),
                            "member_id": e.member_id,
                            "excerpt": e.excerpt,
                            "explanation": e.explanation,
                            "evidence": list(e.evidence),
                        }
                        for e in s.examples
                    ],
                }
                for s in self.rules.values()
            ],
        }


def backtest(
    compiled: CompiledRuleSet,
    facts: Iterable[MessageFacts],
    *,
    rule_ids: Iterable[str] | None = None,
    warning_share: float | None = None,
    examples: int = DEFAULT_EXAMPLES,
) -> BacktestResult:
    """What `compiled` (or only the rules in `rule_ids`) would have done to `facts` (ordered by time)."""
    wanted = frozenset(rule_ids) if rule_ids is not None else None
    trial = compiled.all_enabled(wanted)
    rate = trial.new_rate_window()
    stats = {
        r.rule_id: RuleStats(rule_id=r.rule_id, name=r.name)
        for r in trial.rules
        if wanted is None or r.rule_id in wanted
    }
    result = BacktestResult(
        total=0,
        acted=0,
        rules=stats,
        actions=collections.Counter(),
        warning_share=compiled.warning_share if warning_share is None else warning_share,
    )
    previous: datetime | None = None
    for message in facts:
        result.total += 1
        if previous is not None and message.created_at < previous:
            result.out_of_order += 1
        previous = message.created_at if previous is None else max(previous, message.created_at)
        result.first_at = message.created_at if result.first_at is None else min(result.first_at, message.created_at)
        result.last_at = message.created_at if result.last_at is None else max(result.last_at, message.created_at)
        matches = evaluate(trial, message, rate)
        if not matches:
            continue
        result.acted += 1
        kinds: set[str] = set()
        for position, match in enumerate(matches):
            rule_stats = stats[match.rule_id]
            rule_stats.matched += 1
            if position == 0:
                rule_stats.acted += 1
            for action in match.actions:
                rule_stats.actions[action.kind.value] += 1
                kinds.add(action.kind.value)
            if len(rule_stats.examples) < examples:
                rule_stats.examples.append(
                    Example(
                        message_id=message.message_id,
                        created_at=message.created_at,
                        member_id=message.member_id,
                        excerpt=match.explanation.excerpt,
                        explanation=match.explanation.render(),
                        evidence=tuple(e.as_dict() for e in match.explanation.evidence),
                    )
                )
        result.actions.update(kinds)
    return result
