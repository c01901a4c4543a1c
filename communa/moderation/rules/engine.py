"""Evaluating a compiled rule set on one message: one text pass, then only the rules that can match.

Per message the engine
1. skips everything for staff and bots when no rule applies to them (`exempt_staff`, on by default);
2. normalises the text once and looks every token up in one index (word/lemma key → word conditions), tries
   phrases from the same index, and runs every regular expression of the rule set in one RE2 set;
3. evaluates, in priority order, the rules whose required text was hit and the rules without text
   conditions, cheap conditions first inside each rule;
4. builds the explanation only for the rules that matched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from communa.moderation.rules.conditions import Condition
from communa.moderation.rules.explain import Action, Evidence, Explanation, Match, Mode, excerpt
from communa.moderation.rules.facts import MessageFacts
from communa.moderation.rules.normalize import NormalizedText, normalize
from communa.moderation.rules.rate import RateWindow, text_key
from communa.moderation.rules.words import Key, token_keys

if TYPE_CHECKING:
    import re2


@dataclasses.dataclass(frozen=True, slots=True)
class CompiledRule:
    rule_id: str
    name: str
    order: int  # position in evaluation order (priority, then file order)
    priority: int
    mode: Mode
    stop: bool
    exempt_staff: bool
    guideline: str
    description: str
    when: Condition
    actions: tuple[Action, ...]
    line: int  # where the rule starts in the text (1-based)
    required_text: frozenset[int] | None

    def with_mode(self, mode: Mode) -> CompiledRule:
        return dataclasses.replace(self, mode=mode)


@dataclasses.dataclass(frozen=True, slots=True)
class WordEntry:
    cid: int
    word: str  # as written in the rule


@dataclasses.dataclass(frozen=True, slots=True)
class PhraseEntry:
    cid: int
    phrase: str  # as written in the rule
    rest: tuple[frozenset[Key], ...]  # the keys of the phrase's second, third, ... token


@dataclasses.dataclass(frozen=True, slots=True)
class RegexEntry:
    cid: int
    pattern: str
    compiled: re2._Regexp[str]
    on_original: bool


@dataclasses.dataclass(frozen=True, slots=True)
class RegexGroup:
    """The patterns that read the same text with the same options, as one RE2 set."""

    on_original: bool
    matcher: re2.Set
    entries: tuple[RegexEntry, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Template:
    name: str
    texts: Mapping[str, str]  # language → text; "" is the default
    line: int

    def text_for(self, language: str) -> str:
        return self.texts.get(language) or self.texts.get("") or next(iter(self.texts.values()), "")


@dataclasses.dataclass(frozen=True, slots=True)
class CompiledRuleSet:
    """A rule set ready to evaluate. Immutable and shareable between threads; compile once per version."""

    rules: tuple[CompiledRule, ...]  # in evaluation order, disabled rules included (they never run)
    templates: Mapping[str, Template]
    languages: tuple[str, ...]
    warning_share: float  # backtest: warn when more than this share of messages would be acted on
    rate_horizon_seconds: float  # how much history rate conditions look back: seed RateWindow with this
    word_index: Mapping[Key, tuple[WordEntry, ...]]
    phrase_index: Mapping[Key, tuple[PhraseEntry, ...]]
    regex_groups: tuple[RegexGroup, ...]
    by_text: Mapping[int, tuple[int, ...]]  # text condition id → positions of rules that require it
    always: tuple[int, ...]  # positions of the rules to evaluate on every message
    staff_rules: bool  # some rule applies to staff and bots

    def rule(self, rule_id: str) -> CompiledRule | None:
        return next((r for r in self.rules if r.rule_id == rule_id), None)

    def new_rate_window(self) -> RateWindow:
        return RateWindow(horizon=max(self.rate_horizon_seconds, 1.0))

    def all_enabled(self, rule_ids: frozenset[str] | None = None) -> CompiledRuleSet:
        """The same rules, each enabled (those in `rule_ids` only, when given): what a backtest asks."""
        rules = tuple(
            r.with_mode(Mode.ENABLED) if rule_ids is None or r.rule_id in rule_ids else r.with_mode(Mode.DISABLED)
            for r in self.rules
        )
        return dataclasses.replace(self, rules=rules)

    def reply_text(
        self, action: Action, facts: MessageFacts, *, member: str = "", rule: CompiledRule | None = None
    ) -> str:
        """The text of a reply or warning for this message, in its language when the template has it."""
        if action.template:
            template = self.templates.get(action.template)
            raw = template.text_for(facts.language) if template else ""
        else:
            raw = action.text
        values = {
            "member": member,
            "rule": rule.name if rule else "",
            "guideline": rule.guideline if rule else "",
            "channel": facts.channel,
            "platform": facts.platform,
        }
        return raw.format_map(values)


class Context:
    """What one evaluation knows and has computed so far (text hits and rate counts are computed lazily)."""

    __slots__ = ("_hits", "_key", "_normalized", "compiled", "facts", "rate")

    def __init__(self, compiled: CompiledRuleSet, facts: MessageFacts, rate: RateWindow | None) -> None:
        self.compiled = compiled
        self.facts = facts
        self.rate = rate
        self._normalized: NormalizedText | None = None
        self._hits: dict[int, list[Evidence]] | None = None
        self._key: str | None = None

    @property
    def normalized(self) -> NormalizedText:
        if self._normalized is None:
            self._normalized = normalize(self.facts.text)
        return self._normalized

    def text_key(self) -> str:
        if self._key is None:
            self._key = text_key(" ".join(t.text for t in self.normalized.tokens))
        return self._key

    def text_hits(self) -> dict[int, list[Evidence]]:
        if self._hits is None:
            self._hits = _text_hits(self.compiled, self.normalized)
        return self._hits

    def rate_count(self, name: str, seconds: float, per: str) -> int | None:
        if name == "mentions" and seconds <= 0:
            return self.facts.mentions
        if self.rate is None:
            return None
        if name == "messages":
            return self.rate.messages(self.facts, seconds, per)
        if name == "duplicates":
            return self.rate.duplicates(self.facts, seconds, self.text_key())
        if name == "mentions":
            return self.rate.mentions(self.facts, seconds)
        if name == "raid":
            if not self.facts.is_first_message:
                return 0
            return self.rate.new_members(self.facts, seconds, per)
        return None


def evaluate(compiled: CompiledRuleSet, facts: MessageFacts, rate: RateWindow | None = None) -> list[Match]:
    """The rules that match this message, in evaluation order (log-only ones included, disabled ones never).

    When `rate` is given the message is added to it first (once per message_id). Without it, rate conditions
    are false (an unknown rate never triggers an action).
    """
    ctx = Context(compiled, facts, rate)
    if rate is not None:
        rate.observe(facts, ctx.text_key())
    exempt = facts.is_staff or facts.is_bot
    if exempt and not compiled.staff_rules:
        return []
    positions: set[int] = set(compiled.always)
    if compiled.by_text:
        hits = ctx.text_hits()
        for cid in hits:
            positions.update(compiled.by_text.get(cid, ()))
    matches: list[Match] = []
    for position in sorted(positions):
        rule = compiled.rules[position]
        if rule.mode is Mode.DISABLED or (exempt and rule.exempt_staff):
            continue
        if not rule.when.test(ctx):
            continue
        stops = rule.stop and rule.mode is Mode.ENABLED
        matches.append(_match(ctx, rule, stops))
        if stops:
            break
    return matches


def _match(ctx: Context, rule: CompiledRule, stops: bool) -> Match:
    evidence: list[Evidence] = []
    rule.when.explain(ctx, evidence)
    unique = list(dict.fromkeys(evidence))
    spans = [(e.start, e.end) for e in unique if e.start is not None and e.end is not None]
    explanation = Explanation(
        rule_id=rule.rule_id,
        rule_name=rule.name,
        evidence=tuple(unique),
        excerpt=excerpt(ctx.facts.text, spans),
        guideline=rule.guideline,
    )
    return Match(
        rule_id=rule.rule_id,
        rule_name=rule.name,
        mode=rule.mode,
        priority=rule.priority,
        actions=rule.actions,
        explanation=explanation,
        stop=stops,
    )


def _text_hits(  # noqa: C901 - words, phrases, then patterns
    compiled: CompiledRuleSet, normalized: NormalizedText
) -> dict[int, list[Evidence]]:
    hits: dict[int, list[Evidence]] = {}
    text = normalized.original
    word_index = compiled.word_index
    phrase_index = compiled.phrase_index
    tokens = normalized.tokens
    all_keys: list[frozenset[Key]] | None = [] if phrase_index else None
    languages = compiled.languages
    for token in tokens:
        keys = token_keys(token, languages)
        if all_keys is not None:
            all_keys.append(keys)
        for key in keys:
            entries = word_index.get(key)
            if entries:
                for entry in entries:
                    found = hits.setdefault(entry.cid, [])
                    if len(found) < 5 and not any(e.start == token.start for e in found):
                        found.append(
                            Evidence(kind="word", expected=entry.word, found=text[token.start : token.end],
                                     start=token.start, end=token.end)
                        )  # fmt: skip
    if all_keys:
        for position, keys in enumerate(all_keys):
            for key in keys:
                for phrase in phrase_index.get(key, ()):
                    end = position + len(phrase.rest)
                    if end >= len(tokens):
                        continue
                    if all(not want.isdisjoint(all_keys[position + 1 + i]) for i, want in enumerate(phrase.rest)):
                        found = hits.setdefault(phrase.cid, [])
                        start_char, end_char = tokens[position].start, tokens[end].end
                        if len(found) < 5 and not any(e.start == start_char for e in found):
                            found.append(
                                Evidence(kind="phrase", expected=phrase.phrase, found=text[start_char:end_char],
                                         start=start_char, end=end_char)
                            )  # fmt: skip
    for group in compiled.regex_groups:
        subject = text if group.on_original else normalized.folded
        if not subject:
            continue
        indices: Any = group.matcher.Match(subject) or []
        for index in indices:
            regex = group.entries[index]
            found_match = regex.compiled.search(subject)
            if found_match is None:
                continue
            start, end = found_match.span()
            if not group.on_original:
                start, end = normalized.span(start, end)
            hits.setdefault(regex.cid, []).append(
                Evidence(kind="regex", expected=regex.pattern, found=text[start:end], start=start, end=end)
            )
    return hits


def describe(compiled: CompiledRuleSet) -> list[dict[str, Any]]:
    """A summary of every rule (id, name, mode, priority, stop, actions, line), for listing pages."""
    return [
        {
            "rule_id": r.rule_id,
            "name": r.name,
            "mode": r.mode.value,
            "priority": r.priority,
            "stop": r.stop,
            "guideline": r.guideline,
            "actions": [a.as_dict() for a in r.actions],
            "line": r.line,
        }
        for r in compiled.rules
    ]
