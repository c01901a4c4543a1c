"""Compiled conditions: small objects with `test` (fast, boolean) and `explain` (the evidence, run on matches).

Text conditions (words, phrases, regular expressions) are not evaluated one by one: the rule set looks every
token up once in one index and runs every pattern in one RE2 set per message (see engine.py); a text
condition only asks whether its id was hit.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from communa.moderation.rules.explain import Evidence

if TYPE_CHECKING:
    from communa.moderation.rules.engine import Context

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


SIGNAL_FACTS = frozenset({"sentiment", "language"})  # facts enrichment computes


class Condition:
    __slots__ = ()
    depth_cost = 1  # cheap conditions are evaluated first inside all/any

    def test(self, ctx: Context) -> bool:
        raise NotImplementedError

    def explain(self, ctx: Context, out: list[Evidence]) -> None:
        """Append the evidence for a condition that tested true."""

    def required_text(self) -> frozenset[int] | None:
        """Text condition ids one of which must be hit for this condition to hold (None: cannot tell)."""
        return None

    def uses_rate(self) -> bool:
        return False

    def needs_signals(self) -> bool:
        """Whether the condition reads what enrichment computes (scores, flags, sentiment, detected language)."""
        return False

    def guard(self) -> tuple[tuple[Any, ...], float] | None:
        """(measure, threshold): the condition can only hold when the measure is at least the threshold."""
        return None


class AllOf(Condition):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[Condition]) -> None:
        self.children = tuple(sorted(children, key=lambda c: c.depth_cost))

    @property
    def depth_cost(self) -> int:  # type: ignore[override]
        return max((c.depth_cost for c in self.children), default=1)

    def test(self, ctx: Context) -> bool:
        return all(child.test(ctx) for child in self.children)

    def explain(self, ctx: Context, out: list[Evidence]) -> None:
        for child in self.children:
            child.explain(ctx, out)

    def required_text(self) -> frozenset[int] | None:
        candidates = [r for r in (c.required_text() for c in self.children) if r is not None]
        return min(candidates, key=len) if candidates else None

    def guard(self) -> tuple[tuple[Any, ...], float] | None:
        return next((g for g in (c.guard() for c in self.children) if g is not None), None)

    def uses_rate(self) -> bool:
        return any(c.uses_rate() for c in self.children)

    def needs_signals(self) -> bool:
        return any(c.needs_signals() for c in self.children)


class AnyOf(Condition):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[Condition]) -> None:
        self.children = tuple(sorted(children, key=lambda c: c.depth_cost))

    @property
    def depth_cost(self) -> int:  # type: ignore[override]
        return max((c.depth_cost for c in self.children), default=1)

    def test(self, ctx: Context) -> bool:
        return any(child.test(ctx) for child in self.children)

    def explain(self, ctx: Context, out: list[Evidence]) -> None:
        for child in self.children:
            if child.test(ctx):
                child.explain(ctx, out)

    def required_text(self) -> frozenset[int] | None:
        required: set[int] = set()
        for child in self.children:
            ids = child.required_text()
            if ids is None:
                return None
            required |= ids
        return frozenset(required) if self.children else None

    def uses_rate(self) -> bool:
        return any(c.uses_rate() for c in self.children)

    def needs_signals(self) -> bool:
        return any(c.needs_signals() for c in self.children)


class Not(Condition):
    __slots__ = ("child",)

    def __init__(self, child: Condition) -> None:
        self.child = child

    @property
    def depth_cost(self) -> int:  # type: ignore[override]
        return self.child.depth_cost

    def test(self, ctx: Context) -> bool:
        return not self.child.test(ctx)

    def uses_rate(self) -> bool:
        return self.child.uses_rate()

    def needs_signals(self) -> bool:
        return self.child.needs_signals()


class TextHit(Condition):
    """words / phrases / regex: true when the per-message text pass hit this condition's id."""

    __slots__ = ("cid",)
    depth_cost = 0

    def __init__(self, cid: int) -> None:
        self.cid = cid

    def test(self, ctx: Context) -> bool:
        return self.cid in ctx.text_hits()

    def explain(self, ctx: Context, out: list[Evidence]) -> None:
        out.extend(ctx.text_hits().get(self.cid, ()))

    def required_text(self) -> frozenset[int] | None:
        return frozenset({self.cid})


class Score(Condition):
    __slots__ = ("name", "op", "threshold")
    depth_cost = 0

    def __init__(self, name: str, op: str, threshold: float) -> None:
        self.name, self.op, self.threshold = name, op, threshold

    def test(self, ctx: Context) -> bool:
        value = ctx.facts.signals.get(self.name)
        return value is not None and OPERATORS[self.op](value, self.threshold)

    def guard(self) -> tuple[tuple[Any, ...], float] | None:
        return (("score", self.name), self.threshold) if self.op in (">=", ">") else None

    def needs_signals(self) -> bool:
        return True

    def explain(self, ctx: Context, out: list[Evidence]) -> None:
        value = ctx.facts.signals.get(self.name)
        out.append(Evidence(kind="score", name=self.name, value=value, op=self.op, threshold=self.threshold))


@dataclasses.dataclass(frozen=True, slots=True)
class FactGetter:
    name: str  # as written in the rule, for the explanation
    get: Callable[[Any], Any]


class FactIn(Condition):
    """A fact is one of the values (language, platform, channel, source, engagement, role, sentiment)."""

    __slots__ = ("fact", "kind", "values")
    depth_cost = 0

    def __init__(self, fact: FactGetter, values: frozenset[Any], kind: str = "fact") -> None:
        self.fact, self.values, self.kind = fact, values, kind

    def test(self, ctx: Context) -> bool:
        return self.fact.get(ctx.facts) in self.values

    def needs_signals(self) -> bool:
        return self.fact.name in SIGNAL_FACTS

    def explain(self, ctx: Context, out: list[Evidence]) -> None:
        out.append(
            Evidence(
                kind=self.kind,
                name=self.fact.name,
                value=self.fact.get(ctx.facts),
                expected=tuple(sorted(self.values, key=str)),
            )
        )


class FactCompare(Condition):
    """A numeric fact compared with a number (account age, strikes, mentions in this message)."""

    __slots__ = ("fact", "op", "threshold")
    depth_cost = 0

    def __init__(self, fact: FactGetter, op: str, threshold: float) -> None:
        self.fact, self.op, self.threshold = fact, op, threshold

    def test(self, ctx: Context) -> bool:
        value = self.fact.get(ctx.facts)
        return value is not None and OPERATORS[self.op](value, self.threshold)

    def explain(self, ctx: Context, out: list[Evidence]) -> None:
        out.append(
            Evidence(kind="fact", name=self.fact.name, value=self.fact.get(ctx.facts), op=self.op,
                     threshold=self.threshold)
        )  # fmt: skip


class FactIs(Condition):
    """A yes/no fact (first message, staff, bot) or a corrected classifier flag (toxic, spam, question)."""

    __slots__ = ("expected", "fact", "kind")
    depth_cost = 0

    def __init__(self, fact: FactGetter, expected: bool, kind: str = "fact") -> None:
        self.fact, self.expected, self.kind = fact, expected, kind

    def test(self, ctx: Context) -> bool:
        value = self.fact.get(ctx.facts)
        return value is not None and bool(value) is self.expected

    def needs_signals(self) -> bool:
        return self.kind == "flag"

    def explain(self, ctx: Context, out: list[Evidence]) -> None:
        out.append(Evidence(kind=self.kind, name=self.fact.name, value=self.fact.get(ctx.facts)))


class Rate(Condition):
    """A count over a sliding window of recent messages (see rate.py), compared with a threshold."""

    __slots__ = ("name", "op", "per", "seconds", "threshold")
    depth_cost = 2

    def __init__(self, name: str, op: str, threshold: float, seconds: float, per: str) -> None:
        self.name, self.op, self.threshold, self.seconds, self.per = name, op, threshold, seconds, per

    def count(self, ctx: Context) -> int | None:
        return ctx.rate_count(self.name, self.seconds, self.per)

    def guard(self) -> tuple[tuple[Any, ...], float] | None:
        if self.op not in (">=", ">"):
            return None
        return ("rate", self.name, self.seconds, self.per), self.threshold

    def test(self, ctx: Context) -> bool:
        value = self.count(ctx)
        return value is not None and OPERATORS[self.op](value, self.threshold)

    def explain(self, ctx: Context, out: list[Evidence]) -> None:
        out.append(
            Evidence(kind="rate", name=self.name, value=self.count(ctx), op=self.op, threshold=self.threshold,
                     seconds=self.seconds)
        )  # fmt: skip

    def uses_rate(self) -> bool:
        return True
