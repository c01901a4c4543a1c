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

import bisect
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from communa.moderation.rules.conditions import Condition
from communa.moderation.rules.explain import Action, Evidence, Explanation, Match, Mode, excerpt
from communa.moderation.rules.facts import MessageFacts
from communa.moderation.rules.normalize import (
    _JOINED,
    _PLAIN_TOKENS,
    NormalizedText,
    _token_info,
    fold,
    normalize,
    original_span,
)
from communa.moderation.rules.rate import RateWindow, text_key
from communa.moderation.rules.words import Key, _token_keys, token_keys

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
class Measure:
    """Rules guarded by one number (a score, a rate count): a rule runs only when the number reaches its threshold."""

    key: tuple[Any, ...]  # ("score", name) or ("rate", name, seconds, per)
    thresholds: tuple[float, ...]  # ascending
    positions: tuple[int, ...]  # the rule at each threshold


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
    # Single rule words by (length, first letter), for masked tokens ("f**k", "id*ot": `*` is any one letter).
    masked_index: Mapping[tuple[int, str], tuple[tuple[str, WordEntry], ...]] = dataclasses.field(default_factory=dict)
    # Per rule set: token variants → (keys, word entries hit). Bounded; safe to share (a dict, GIL-atomic ops).
    token_cache: dict[tuple[str, ...], tuple[frozenset[Key], tuple[WordEntry, ...]]] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )
    raw_cache: dict[str, tuple[str, frozenset[Key], tuple[WordEntry, ...], bool]] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )
    # Which rules run when, derived from `rules` (so `dataclasses.replace(compiled, rules=...)` stays right):
    by_text: Mapping[int, tuple[int, ...]] = dataclasses.field(init=False, repr=False)  # text condition → rules
    always: tuple[int, ...] = dataclasses.field(init=False, repr=False)  # rules to evaluate on every message
    measures: tuple[Measure, ...] = dataclasses.field(init=False, repr=False)  # rules guarded by a number
    staff_rules: bool = dataclasses.field(init=False, repr=False)  # some active rule applies to staff and bots

    def __post_init__(self) -> None:
        by_text, always, measures, staff_rules = _index(self.rules)
        object.__setattr__(self, "by_text", by_text)
        object.__setattr__(self, "always", always)
        object.__setattr__(self, "measures", measures)
        object.__setattr__(self, "staff_rules", staff_rules)

    def with_modes(self, modes: Mapping[str, Mode | str]) -> CompiledRuleSet:
        """The same rule set with some rules' modes changed (rule id → enabled | log_only | disabled)."""
        rules = tuple(r.with_mode(Mode(modes[r.rule_id])) if r.rule_id in modes else r for r in self.rules)
        return dataclasses.replace(self, rules=rules)

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

    __slots__ = ("_counts", "_hits", "_key", "_normalized", "compiled", "facts", "rate")

    def __init__(self, compiled: CompiledRuleSet, facts: MessageFacts, rate: RateWindow | None) -> None:
        self.compiled = compiled
        self.facts = facts
        self.rate = rate
        self._normalized: NormalizedText | None = None
        self._hits: dict[int, list[Evidence]] | None = None
        self._key: str | None = None
        self._counts: dict[tuple[str, float, str], int | None] = {}

    @property
    def normalized(self) -> NormalizedText:
        if self._normalized is None:
            self._normalized = normalize(self.facts.text)
        return self._normalized

    def text_key(self) -> str:
        if self._key is None:
            self._scan()
        return self._key  # type: ignore[return-value]

    def text_hits(self) -> dict[int, list[Evidence]]:
        if self._hits is None:
            self._scan()
        return self._hits  # type: ignore[return-value]

    def _scan(self) -> None:
        """Text hits and the text key. Most messages hit no word: they are read token by token from a cache,
        without spans; a message with a possible hit (or with spaced-out letters) is normalised in full."""
        compiled = self.compiled
        folded, starts, ends = fold(self.facts.text)
        if _JOINED.search(folded) is None:
            cache = compiled.raw_cache
            texts: list[str] = []
            possible = False
            for raw in _PLAIN_TOKENS.findall(folded):
                info = cache.get(raw)
                if info is None:
                    info = _raw_info(compiled, raw)
                if not info[0]:
                    continue
                texts.append(info[0])
                if info[2] or info[3]:
                    possible = True
            self._key = text_key(" ".join(texts))
            if not possible:
                self._hits = {}
                _regex_hits(compiled, self.facts.text, folded, starts, ends, self._hits)
                return
        normalized = self.normalized
        self._key = text_key(" ".join(t.text for t in normalized.tokens))
        self._hits = _text_hits(compiled, normalized)

    def measure(self, key: tuple[Any, ...]) -> float | None:
        if key[0] == "score":
            return self.facts.signals.get(key[1])
        return self.rate_count(key[1], key[2], key[3])

    def rate_count(self, name: str, seconds: float, per: str) -> int | None:
        memo = (name, seconds, per)
        if memo in self._counts:
            return self._counts[memo]
        count = self._rate_count(name, seconds, per)
        self._counts[memo] = count
        return count

    def _rate_count(self, name: str, seconds: float, per: str) -> int | None:
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


def evaluate(  # noqa: C901 - the candidate rules from each index, then the rules in order
    compiled: CompiledRuleSet, facts: MessageFacts, rate: RateWindow | None = None
) -> list[Match]:
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
    positions = list(compiled.always)
    if compiled.by_text:
        by_text = compiled.by_text
        for cid in ctx.text_hits():
            found = by_text.get(cid)
            if found:
                positions.extend(found)
    for measure in compiled.measures:
        value = ctx.measure(measure.key)
        if value is not None and value >= measure.thresholds[0]:
            positions.extend(measure.positions[: bisect.bisect_right(measure.thresholds, value)])
    if not positions:
        return []
    matches: list[Match] = []
    rules = compiled.rules
    for position in sorted(set(positions)):
        rule = rules[position]
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
    cache = compiled.token_cache
    for token in tokens:
        cached = cache.get(token.variants)
        if cached is None:
            keys = token_keys(token, languages)
            entries_hit: list[WordEntry] = []
            for key in keys:
                entries_hit.extend(word_index.get(key, ()))
            if MASK in token.text:
                entries_hit.extend(_masked(compiled, token.text))
            cached = (keys, tuple(dict.fromkeys(entries_hit)))
            if len(cache) >= TOKEN_CACHE_SIZE:
                cache.clear()
            cache[token.variants] = cached
        keys, entries = cached
        if all_keys is not None:
            all_keys.append(keys)
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
    _regex_hits(compiled, text, normalized.folded, normalized._starts, normalized._ends, hits)
    return hits


def _regex_hits(
    compiled: CompiledRuleSet,
    text: str,
    folded: str,
    starts: tuple[int, ...] | None,
    ends: tuple[int, ...] | None,
    hits: dict[int, list[Evidence]],
) -> None:
    for group in compiled.regex_groups:
        subject = text if group.on_original else folded
        if not subject:
            continue
        indices: Any = group.matcher.Match(subject) or []
        for index in indices:
            regex = group.entries[index]
            found_match = regex.compiled.search(subject)
            if found_match is None:
                continue
            start, end = found_match.span()
            if not group.on_original and starts is not None and ends is not None:
                start, end = original_span(starts, ends, start, end) if end > start else (starts[start], starts[start])
            hits.setdefault(regex.cid, []).append(
                Evidence(kind="regex", expected=regex.pattern, found=text[start:end], start=start, end=end)
            )


TOKEN_CACHE_SIZE = 200_000
MASK = "*"


def _masked(compiled: CompiledRuleSet, form: str) -> list[WordEntry]:
    """Rule words a masked token stands for: same length, same letters where it shows letters, at least two."""
    if len(form) < 3 or form[0] == MASK or sum(c != MASK for c in form) < 2:
        return []
    found: list[WordEntry] = []
    for word, entry in compiled.masked_index.get((len(form), form[0]), ()):
        if all(c in (MASK, w) for c, w in zip(form, word, strict=True)):
            found.append(entry)
    return found


RawInfo = tuple[str, frozenset[Key], tuple[WordEntry, ...], bool]
_EMPTY: RawInfo = ("", frozenset(), (), False)


def _raw_info(compiled: CompiledRuleSet, raw: str) -> RawInfo:
    """(read form, keys, word entries hit, may start a phrase) of one raw token, cached per rule set."""
    info = _token_info(raw, False)
    if info is None:
        result = _EMPTY
    else:
        variants = info[2]
        keys = _token_keys(variants, compiled.languages)
        entries: list[WordEntry] = []
        for key in keys:
            entries.extend(compiled.word_index.get(key, ()))
        starts_phrase = not compiled.phrase_index.keys().isdisjoint(keys)
        if MASK in variants[0]:
            entries.extend(_masked(compiled, variants[0]))
        result = (variants[0], keys, tuple(dict.fromkeys(entries)), starts_phrase)
    cache = compiled.raw_cache
    if len(cache) >= TOKEN_CACHE_SIZE:
        cache.clear()
    cache[raw] = result
    return result


def _index(
    rules: tuple[CompiledRule, ...],
) -> tuple[dict[int, tuple[int, ...]], tuple[int, ...], tuple[Measure, ...], bool]:
    """Sort every active rule into the index that decides when it runs: a text condition it needs, a number
    it needs to reach (a score or a rate), or every message."""
    by_text: dict[int, list[int]] = {}
    always: list[int] = []
    guarded: dict[tuple[Any, ...], list[tuple[float, int]]] = {}
    for position, rule in enumerate(rules):
        if rule.mode is Mode.DISABLED:
            continue
        if rule.required_text is not None:
            for cid in rule.required_text:
                by_text.setdefault(cid, []).append(position)
            continue
        guard = rule.when.guard()
        if guard is None:
            always.append(position)
        else:
            guarded.setdefault(guard[0], []).append((guard[1], position))
    measures = tuple(
        Measure(key=key, thresholds=tuple(t for t, _ in sorted(items)), positions=tuple(p for _, p in sorted(items)))
        for key, items in guarded.items()
    )
    staff_rules = any(not r.exempt_staff and r.mode is not Mode.DISABLED for r in rules)
    return {k: tuple(v) for k, v in by_text.items()}, tuple(always), measures, staff_rules


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
