"""Rule sets as YAML text → CompiledRuleSet, or a RuleError that says what and where (line, column).

The text is parsed with PyYAML's safe composer, which keeps the position of every node, and validated by hand
so that every error points at the node that is wrong. Anchors and aliases are refused (they make a small
text expand into a huge one), and so are texts, rule counts, word lists, patterns and nestings beyond the
limits below. Regular expressions are compiled with google-re2 (linear time: no pattern can hang the server);
a pattern RE2 refuses is reported with RE2's reason in plain words. See docs/moderation-rules.md.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import string
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import re2
import yaml

from communa.moderation.rules.conditions import (
    AllOf,
    AnyOf,
    Condition,
    FactCompare,
    FactGetter,
    FactIn,
    FactIs,
    Not,
    Rate,
    Score,
    TextHit,
)
from communa.moderation.rules.engine import (
    CompiledRule,
    CompiledRuleSet,
    PhraseEntry,
    RegexEntry,
    RegexGroup,
    Template,
    WordEntry,
)
from communa.moderation.rules.errors import RuleError
from communa.moderation.rules.explain import Action, ActionKind, Mode
from communa.moderation.rules.normalize import normalize
from communa.moderation.rules.words import SUPPORTED_LANGUAGES, Key, word_keys

MAX_BYTES = 256 * 1024  # the whole text
MAX_RULES = 500
MAX_DEPTH = 8  # all/any/not nesting inside one rule's `when`
MAX_YAML_DEPTH = 40  # any nesting in the YAML itself
MAX_WORDS = 20_000  # words and phrases in the whole rule set
MAX_WORD_CHARS = 200
MAX_REGEXES = 300
MAX_PATTERN_CHARS = 1000
RE2_MAX_MEM = 8 << 20  # bytes of compiled program per pattern (RE2's own default)
MAX_TEMPLATE_CHARS = 4000
DEFAULT_WARNING_SHARE = 0.05
DEFAULT_MUTE_SECONDS = 3600

SCORES = (
    "toxicity", "insult", "threat", "identity_attack", "profanity", "sexual", "friendly_profanity", "spam",
    "question", "negative", "neutral", "positive",
)  # fmt: skip
FLAGS = ("toxic", "spam", "question")
SENTIMENTS = ("negative", "neutral", "positive")
PLACEHOLDERS = ("member", "rule", "guideline", "channel", "platform")
_PLACEHOLDER_LIST = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
_LANGUAGE = re.compile(r"^(?:[a-z]{2,3}|und)$")
_COMPARISON = re.compile(r"^\s*(>=|<=|==|!=|>|<|≥|≤|=)?\s*(-?\d+(?:\.\d+)?)\s*(%?)\s*$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

_TOP_KEYS = ("version", "languages", "backtest_warning", "templates", "lists", "rules")
_RULE_KEYS = ("id", "name", "description", "guideline", "mode", "priority", "stop", "exempt_staff", "when", "actions")
_CONDITION_KEYS = (
    "all", "any", "not", "words", "phrases", "regex", "score", "flag", "sentiment", "language", "platform",
    "source", "channel", "member", "mentions", "rate", "duplicates", "raid", "length",
)  # fmt: skip
_MEMBER_KEYS = ("account_age_days", "first_message", "engagement", "strikes", "role", "staff", "bot")


def compile_ruleset(text: str) -> CompiledRuleSet:
    """Parse, validate and compile a rule set; RuleError(message, line, column) on the first problem."""
    if not isinstance(text, str):
        raise RuleError("the rule set must be text", 1, 1)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise RuleError(f"the rule set is {size:,} bytes; the limit is {MAX_BYTES:,} bytes", 1, 1)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise RuleError("the text contains a NUL character", line, 1)
    _prescan(text)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        _yaml_error(error)
    except yaml.YAMLError as error:  # pragma: no cover - PyYAML marks its errors
        raise RuleError(str(error), 1, 1) from error
    return _Compiler().compile(root)


def _prescan(text: str) -> None:
    """Refuse aliases and deep nesting before composing (the composer recurses)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                _fail(event, "anchors and aliases (&name, *name) are not allowed: write each rule out in full")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    _fail(event, f"the text is nested more than {MAX_YAML_DEPTH} levels deep")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as error:
        _yaml_error(error)


def _yaml_error(error: yaml.MarkedYAMLError) -> NoReturn:
    mark = error.problem_mark or error.context_mark
    message = error.problem or "the text is not valid YAML"
    if error.context:
        message = f"{message} ({error.context})"
    hint = ""
    if "\t" in message or "tab" in message:
        hint = ": indent with spaces, not tabs"
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    raise RuleError(f"not valid YAML: {message}{hint}", line, column) from None


def _fail(node: Any, message: str) -> NoReturn:
    mark = getattr(node, "start_mark", None)
    if mark is None:
        raise RuleError(message, 1, 1)
    raise RuleError(message, mark.line + 1, mark.column + 1)


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


@dataclasses.dataclass
class _RuleDraft:
    position: int
    rule: CompiledRule


class _Compiler:
    def __init__(self) -> None:
        self.constructor = yaml.constructor.SafeConstructor()
        self.cid = 0
        self.words: dict[Key, list[WordEntry]] = {}
        self.phrases: dict[Key, list[PhraseEntry]] = {}
        self.masked: dict[tuple[int, str], list[tuple[str, WordEntry]]] = {}
        self.regexes: dict[tuple[bool, bool], list[RegexEntry]] = {}
        self.word_count = 0
        self.regex_count = 0
        self.languages: tuple[str, ...] = SUPPORTED_LANGUAGES
        self.lists: dict[str, yaml.Node] = {}
        self.templates: dict[str, Template] = {}
        self.horizon = 0.0

    # -- YAML helpers -------------------------------------------------------------------------------------
    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            _fail(node, "expected a single value here, not a list or a mapping")
        try:
            return self.constructor.construct_object(node)
        except yaml.constructor.ConstructorError as error:
            _fail(node, f"cannot read this value: {error.problem}")

    def text(self, node: yaml.Node, what: str, limit: int = 500) -> str:
        # Text as written: YAML 1.1 would read `off`, `no`, `yes` or `1e3` as something else.
        if not isinstance(node, yaml.ScalarNode):
            _fail(node, f"{what} must be text, not a list or a mapping")
        value = str(node.value)
        if len(value) > limit:
            _fail(node, f"{what} is longer than {limit} characters")
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool:
        value = self.scalar(node)
        if not isinstance(value, bool):
            _fail(node, f"{what} must be true or false")
        return value

    def mapping(self, node: yaml.Node, what: str, keys: Sequence[str] | None) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            _fail(node, f"{what} must be a mapping (`key: value` lines)")
        seen: set[str] = set()
        out = []
        for key_node, value_node in node.value:
            # Keys are names as written: YAML 1.1 would read `on:`, `no:` or `yes:` as booleans.
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else self.scalar(key_node)
            if not isinstance(key, str):
                _fail(key_node, f"expected a name, found {key!r}")
            if key in seen:
                _fail(key_node, f"`{key}` appears twice in {what}")
            seen.add(key)
            if keys is not None and key not in keys:
                _fail(
                    key_node, f"unknown key `{key}` in {what}{_suggest(key, keys)}; expected one of: {', '.join(keys)}"
                )
            out.append((key, key_node, value_node))
        return out

    def items(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        """A list, or a single value taken as a list of one."""
        if isinstance(node, yaml.SequenceNode):
            if not node.value:
                _fail(node, f"{what} is an empty list")
            return list(node.value)
        if isinstance(node, yaml.ScalarNode):
            return [node]
        _fail(node, f"{what} must be a value or a list of values")

    def texts(self, node: yaml.Node, what: str, limit: int = 500) -> list[str]:
        return [self.text(item, what, limit) for item in self.items(node, what)]

    def comparison(self, node: yaml.Node, what: str, *, low: float | None = None, high: float | None = None,
                   require_op: bool = False) -> tuple[str, float]:  # fmt: skip
        value = self.scalar(node)
        if isinstance(value, bool) or value is None:
            _fail(node, f'{what} must be a number or a comparison such as ">= 0.8"')
        if isinstance(value, int | float):
            if require_op:
                _fail(node, f'{what} needs a comparison, such as "< 7" or ">= 30"')
            op, number = ">=", float(value)
        else:
            match = _COMPARISON.match(str(value))
            if not match:
                _fail(node, f'{what}: cannot read {str(value)[:40]!r}; write a number or a comparison such as ">= 0.8"')
            op = {"≥": ">=", "≤": "<=", "=": "=="}.get(match.group(1) or "", match.group(1) or "")
            if not op:
                if require_op:
                    _fail(node, f'{what} needs a comparison, such as "< 7" or ">= 30"')
                op = ">="
            number = float(match.group(2)) / (100 if match.group(3) else 1)
        if not math.isfinite(number) or (low is not None and number < low) or (high is not None and number > high):
            _fail(
                node, f"{what} must be between {low:g} and {high:g}" if high is not None else f"{what} is out of range"
            )
        return op, number

    def duration(self, node: yaml.Node, what: str, *, allow_forever: bool = False) -> int | None:
        value = self.scalar(node)
        if allow_forever and isinstance(value, str) and value.strip().lower() in ("permanent", "forever"):
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            seconds = value
        else:
            match = _DURATION.match(str(value).lower())
            if not match:
                forever = " or `permanent`" if allow_forever else ""
                _fail(
                    node,
                    f"{what}: cannot read {str(value)[:40]!r} as a duration; write 30s, 10m, 2h, 7d or 2w{forever}",
                )
            seconds = int(match.group(1)) * _UNITS[match.group(2)[0]]
        if seconds <= 0 or seconds > 366 * 86400:
            _fail(node, f"{what} must be between 1 second and 366 days")
        return seconds

    def next_cid(self) -> int:
        self.cid += 1
        return self.cid

    # -- the rule set -------------------------------------------------------------------------------------
    def compile(self, root: yaml.Node | None) -> CompiledRuleSet:  # noqa: C901 - one branch per top-level key
        warning_share = DEFAULT_WARNING_SHARE
        rules: list[tuple[yaml.Node, yaml.Node]] = []
        if root is not None:
            if not isinstance(root, yaml.MappingNode):
                _fail(
                    root, "a rule set is a mapping with `rules:` (and optionally `templates:`, `lists:`, `languages:`)"
                )
            for key, _key_node, value in self.mapping(root, "the rule set", _TOP_KEYS):
                if key == "version":
                    if self.scalar(value) != 1:
                        _fail(value, "the only version is 1")
                elif key == "languages":
                    self.languages = self.language_list(value)
                elif key == "backtest_warning":
                    warning_share = self.comparison(value, "backtest_warning", low=0, high=1)[1]
                elif key == "templates":
                    for name, name_node, template in self.mapping(value, "templates", None):
                        self.template(name, name_node, template)
                elif key == "lists":
                    for name, name_node, words in self.mapping(value, "lists", None):
                        if not _ID.match(name):
                            _fail(name_node, "a list name uses lower-case letters, digits, - and _")
                        self.lists[name] = words
                elif key == "rules":
                    if isinstance(value, yaml.ScalarNode) and self.scalar(value) is None:
                        continue
                    if not isinstance(value, yaml.SequenceNode):
                        _fail(value, "`rules` must be a list: each rule starts with `- id: ...`")
                    if len(value.value) > MAX_RULES:
                        _fail(value.value[MAX_RULES], f"too many rules: the limit is {MAX_RULES}")
                    rules = [(value, item) for item in value.value]
        compiled_rules: list[tuple[int, int, CompiledRule]] = []
        ids: dict[str, int] = {}
        for index, (_parent, node) in enumerate(rules):
            rule = self.rule(node, index, ids)
            compiled_rules.append((-rule.priority, index, rule))
        compiled_rules.sort(key=lambda item: (item[0], item[1]))
        ordered = tuple(
            dataclasses.replace(rule, order=position) for position, (_, _, rule) in enumerate(compiled_rules)
        )
        groups = tuple(
            self.regex_group(on_original, case_sensitive, entries)
            for (on_original, case_sensitive), entries in self.regexes.items()
        )
        return CompiledRuleSet(
            rules=ordered,
            templates=dict(self.templates),
            languages=self.languages,
            warning_share=warning_share,
            rate_horizon_seconds=self.horizon,
            word_index={k: tuple(v) for k, v in self.words.items()},
            phrase_index={k: tuple(v) for k, v in self.phrases.items()},
            regex_groups=groups,
            masked_index={k: tuple(v) for k, v in self.masked.items()},
        )

    def regex_group(self, on_original: bool, case_sensitive: bool, entries: list[RegexEntry]) -> RegexGroup:
        options = _re2_options(case_sensitive)
        matcher = re2.Set.SearchSet(options)
        for entry in entries:
            matcher.Add(entry.pattern)
        matcher.Compile()
        return RegexGroup(on_original=on_original, matcher=matcher, entries=tuple(entries))

    def language_list(self, node: yaml.Node) -> tuple[str, ...]:
        languages = []
        for item in self.items(node, "languages"):
            code = self.text(item, "a language code").lower()
            if code not in SUPPORTED_LANGUAGES:
                _fail(item, f"word forms are known for {', '.join(SUPPORTED_LANGUAGES)}; `{code}` is not one of them")
            languages.append(code)
        return tuple(dict.fromkeys(languages))

    def template(self, name: str, name_node: yaml.Node, node: yaml.Node) -> None:
        if not _ID.match(name):
            _fail(name_node, "a template name uses lower-case letters, digits, - and _")
        texts: dict[str, str] = {}
        if isinstance(node, yaml.MappingNode):
            for language, language_node, text_node in self.mapping(node, f"template `{name}`", None):
                code = "" if language == "default" else language.lower()
                if code and not _LANGUAGE.match(code):
                    _fail(language_node, f"`{language}` is not a language code (write en, it, es, ru, ... or default)")
                texts[code] = self.template_text(text_node)
        else:
            texts[""] = self.template_text(node)
        if "" not in texts:
            texts[""] = texts.get("en") or next(iter(texts.values()))
        self.templates[name] = Template(name=name, texts=texts, line=name_node.start_mark.line + 1)

    def template_text(self, node: yaml.Node) -> str:
        text = self.text(node, "a template", MAX_TEMPLATE_CHARS)
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as error:
            _fail(node, f"the template has a lone {{ or }} ({error}); write {{{{ and }}}} for braces")
        for _literal, field, spec, conversion in parsed:
            if field is None:
                continue
            if field not in PLACEHOLDERS or spec or conversion:
                _fail(
                    node,
                    f"unknown placeholder {{{field}}} in the template; use {_PLACEHOLDER_LIST}",
                )
        return text

    # -- rules --------------------------------------------------------------------------------------------
    def rule(self, node: yaml.Node, index: int, ids: dict[str, int]) -> CompiledRule:
        fields = {key: (key_node, value) for key, key_node, value in self.mapping(node, "a rule", _RULE_KEYS)}
        if "id" not in fields:
            _fail(node, "every rule needs an `id` (lower-case letters, digits, - and _), e.g. `id: no-insults`")
        id_node = fields["id"][1]
        rule_id = self.text(id_node, "the rule id", 80)
        if not _ID.match(rule_id):
            _fail(id_node, "a rule id uses lower-case letters, digits, - and _ (at most 80), e.g. `no-insults`")
        if rule_id in ids:
            _fail(id_node, f"the id `{rule_id}` is already used by the rule on line {ids[rule_id]}")
        ids[rule_id] = node.start_mark.line + 1
        if "when" not in fields:
            _fail(node, f"rule `{rule_id}` needs `when:` (the conditions)")
        if "actions" not in fields:
            _fail(node, f"rule `{rule_id}` needs `actions:` (use `- queue` to send matches to the review queue)")
        mode = Mode.ENABLED
        if "mode" in fields:
            value = self.text(fields["mode"][1], "mode").strip().lower().replace("-", "_").replace(" ", "_")
            if value not in Mode._value2member_map_:
                _fail(fields["mode"][1], f"mode is one of enabled, log_only, disabled{_suggest(value, list(Mode))}")
            mode = Mode(value)
        priority = 0
        if "priority" in fields:
            raw = self.scalar(fields["priority"][1])
            if not isinstance(raw, int) or isinstance(raw, bool) or not -10_000 <= raw <= 10_000:
                _fail(fields["priority"][1], "priority is a whole number between -10000 and 10000 (higher runs first)")
            priority = raw
        when = self.condition(fields["when"][1], 1)
        actions = self.actions(fields["actions"][1])
        return CompiledRule(
            rule_id=rule_id,
            name=self.text(fields["name"][1], "the name", 200) if "name" in fields else rule_id,
            order=index,
            priority=priority,
            mode=mode,
            stop=self.boolean(fields["stop"][1], "stop") if "stop" in fields else False,
            exempt_staff=self.boolean(fields["exempt_staff"][1], "exempt_staff") if "exempt_staff" in fields else True,
            guideline=self.text(fields["guideline"][1], "the guideline", 2000) if "guideline" in fields else "",
            description=self.text(fields["description"][1], "the description", 2000) if "description" in fields else "",
            when=when,
            actions=actions,
            line=node.start_mark.line + 1,
            required_text=when.required_text(),
        )

    # -- conditions ---------------------------------------------------------------------------------------
    def condition(self, node: yaml.Node, depth: int) -> Condition:
        if depth > MAX_DEPTH:
            _fail(node, f"conditions are nested more than {MAX_DEPTH} levels deep (all/any/not)")
        if not isinstance(node, yaml.MappingNode):
            _fail(node, 'a condition is a mapping such as `words: [idiot]` or `score: {toxicity: ">= 0.8"}`')
        if not node.value:
            _fail(node, "an empty condition: write at least one of " + ", ".join(_CONDITION_KEYS))
        parts = [self.one_condition(key, key_node, value, depth) for key, key_node, value in
                 self.mapping(node, "a condition", _CONDITION_KEYS)]  # fmt: skip
        return parts[0] if len(parts) == 1 else AllOf(parts)

    def one_condition(self, key: str, key_node: yaml.Node, node: yaml.Node, depth: int) -> Condition:
        handler: Callable[[yaml.Node, int], Condition] = getattr(self, f"c_{key}")
        return handler(node, depth)

    def c_all(self, node: yaml.Node, depth: int) -> Condition:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            _fail(node, "`all` takes a list of conditions (each line starts with `- `)")
        return AllOf([self.condition(child, depth + 1) for child in node.value])

    def c_any(self, node: yaml.Node, depth: int) -> Condition:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            _fail(node, "`any` takes a list of conditions (each line starts with `- `)")
        return AnyOf([self.condition(child, depth + 1) for child in node.value])

    def c_not(self, node: yaml.Node, depth: int) -> Condition:
        return Not(self.condition(node, depth + 1))

    def c_words(self, node: yaml.Node, depth: int) -> Condition:
        return self.word_condition(node, "words")

    def c_phrases(self, node: yaml.Node, depth: int) -> Condition:
        return self.word_condition(node, "phrases")

    def word_condition(self, node: yaml.Node, what: str) -> Condition:  # noqa: C901 - options, then words
        exact = False
        languages = self.languages
        word_nodes: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            fields = self.mapping(node, f"`{what}`", ("any", "list", "exact", "languages"))
            for key, _key_node, value in fields:
                if key == "any":
                    word_nodes += self.items(value, f"`{what}`")
                elif key == "list":
                    for name_node in self.items(value, "list"):
                        name = self.text(name_node, "a list name")
                        if name not in self.lists:
                            _fail(name_node, f"no list named `{name}` under `lists:`{_suggest(name, list(self.lists))}")
                        word_nodes += self.items(self.lists[name], f"list `{name}`")
                elif key == "exact":
                    exact = self.boolean(value, "exact")
                elif key == "languages":
                    languages = self.language_list(value)
                    for item, code in zip(self.items(value, "languages"), languages, strict=False):
                        if code not in self.languages:
                            _fail(item, f"`{code}` is not in the rule set's `languages:`; add it there first")
            if not word_nodes:
                _fail(node, f"`{what}` needs `any: [...]` or `list: name`")
        else:
            word_nodes = self.items(node, f"`{what}`")
        cid = self.next_cid()
        for word_node in word_nodes:
            word = self.text(word_node, "a word", MAX_WORD_CHARS)
            tokens = normalize(word).tokens
            if not tokens:
                _fail(word_node, f"«{word}» has no letters or digits to match")
            self.word_count += 1
            if self.word_count > MAX_WORDS:
                _fail(word_node, f"too many words and phrases: the limit is {MAX_WORDS:,} for the whole rule set")
            first: frozenset[Key] = frozenset().union(
                *(word_keys(v, languages, exact=exact) for v in tokens[0].variants)
            )
            if len(tokens) == 1:
                entry = WordEntry(cid=cid, word=word)
                for variant in tokens[0].variants:
                    if variant.isalpha() and len(variant) >= 3:
                        self.masked.setdefault((len(variant), variant[0]), []).append((variant, entry))
                for word_key in first:
                    bucket = self.words.setdefault(word_key, [])
                    if not bucket or bucket[-1].cid != cid:
                        bucket.append(entry)
            else:
                rest = tuple(
                    frozenset().union(*(word_keys(v, languages, exact=exact) for v in token.variants))
                    for token in tokens[1:]
                )
                phrase = PhraseEntry(cid=cid, phrase=word, rest=rest)
                for phrase_key in first:
                    self.phrases.setdefault(phrase_key, []).append(phrase)
        return TextHit(cid)

    def c_regex(self, node: yaml.Node, depth: int) -> Condition:  # noqa: C901 - options, then patterns
        on_original = False
        case_sensitive = False
        pattern_nodes: list[yaml.Node]
        if isinstance(node, yaml.MappingNode):
            pattern_nodes = []
            for key, _key_node, value in self.mapping(node, "`regex`", ("any", "on", "case_sensitive")):
                if key == "any":
                    pattern_nodes = self.items(value, "`regex`")
                elif key == "on":
                    target = self.text(value, "`on`")
                    if target not in ("normalized", "original"):
                        _fail(value, "`on` is `normalized` (the default: folded, lower-case text) or `original`")
                    on_original = target == "original"
                else:
                    case_sensitive = self.boolean(value, "case_sensitive")
            if not pattern_nodes:
                _fail(node, "`regex` needs `any: [patterns]`")
        else:
            pattern_nodes = self.items(node, "`regex`")
        cid = self.next_cid()
        options = _re2_options(case_sensitive)
        for pattern_node in pattern_nodes:
            pattern = self.text(pattern_node, "a regular expression", MAX_PATTERN_CHARS)
            self.regex_count += 1
            if self.regex_count > MAX_REGEXES:
                _fail(pattern_node, f"too many regular expressions: the limit is {MAX_REGEXES} for the whole rule set")
            if not pattern:
                _fail(pattern_node, "an empty regular expression would match every message")
            try:
                compiled = re2.compile(pattern, options)
            except re2.error as error:
                _fail(pattern_node, f"RE2 refuses this regular expression: {_explain_re2(error)}")
            if compiled.search("") is not None:
                _fail(pattern_node, "this regular expression matches an empty text, so it would match every message")
            entry = RegexEntry(cid=cid, pattern=pattern, compiled=compiled, on_original=on_original)
            self.regexes.setdefault((on_original, case_sensitive), []).append(entry)
        return TextHit(cid)

    def c_score(self, node: yaml.Node, depth: int) -> Condition:
        parts: list[Condition] = []
        for name, key_node, value in self.mapping(node, "`score`", None):
            if name not in SCORES:
                _fail(key_node, f"unknown score `{name}`{_suggest(name, SCORES)}; scores are: {', '.join(SCORES)}")
            op, threshold = self.comparison(value, f"score `{name}`", low=0, high=1)
            parts.append(Score(name, op, threshold))
        if not parts:
            _fail(node, '`score` needs at least one score, e.g. `toxicity: ">= 0.8"`')
        return parts[0] if len(parts) == 1 else AllOf(parts)

    def c_flag(self, node: yaml.Node, depth: int) -> Condition:
        parts: list[Condition] = []
        for name, _key_node, value in self.mapping(node, "`flag`", FLAGS):
            parts.append(FactIs(FactGetter(name, _flag_getter(name)), self.boolean(value, name), "flag"))
        if not parts:
            _fail(node, "`flag` needs toxic, spam or question")
        return parts[0] if len(parts) == 1 else AllOf(parts)

    def c_sentiment(self, node: yaml.Node, depth: int) -> Condition:
        values = self.texts(node, "sentiment")
        for item, value in zip(self.items(node, "sentiment"), values, strict=True):
            if value not in SENTIMENTS:
                _fail(item, f"sentiment is negative, neutral or positive{_suggest(value, SENTIMENTS)}")
        return FactIn(FactGetter("sentiment", lambda f: f.sentiment), frozenset(values))

    def c_language(self, node: yaml.Node, depth: int) -> Condition:
        values = [v.lower() for v in self.texts(node, "language")]
        for item, value in zip(self.items(node, "language"), values, strict=True):
            if not _LANGUAGE.match(value):
                _fail(item, f"`{value}` is not a language code (en, it, es, ru, ... or und for unknown)")
        return FactIn(FactGetter("language", lambda f: f.language), frozenset(values))

    def c_platform(self, node: yaml.Node, depth: int) -> Condition:
        values = [v.lower() for v in self.texts(node, "platform")]
        return FactIn(FactGetter("platform", lambda f: f.platform), frozenset(values))

    def c_source(self, node: yaml.Node, depth: int) -> Condition:
        ids: list[int] = []
        for item in self.items(node, "source"):
            value = self.scalar(item)
            if not isinstance(value, int) or isinstance(value, bool):
                _fail(item, "`source` takes source numbers (as in the source's address); use `platform` for kinds")
            ids.append(value)
        return FactIn(FactGetter("source", lambda f: f.source_id), frozenset(ids))

    def c_channel(self, node: yaml.Node, depth: int) -> Condition:
        return FactIn(FactGetter("channel", lambda f: f.channel), frozenset(self.texts(node, "channel")))

    def c_length(self, node: yaml.Node, depth: int) -> Condition:
        op, number = self.comparison(node, "length", low=0)
        return FactCompare(FactGetter("length", lambda f: len(f.text)), op, number)

    def c_member(self, node: yaml.Node, depth: int) -> Condition:
        parts: list[Condition] = []
        for key, _key_node, value in self.mapping(node, "`member`", _MEMBER_KEYS):
            if key == "account_age_days":
                op, number = self.comparison(value, "account_age_days", low=0, require_op=True)
                parts.append(FactCompare(FactGetter(key, lambda f: f.account_age_days), op, number))
            elif key == "strikes":
                op, number = self.comparison(value, "strikes", low=0)
                parts.append(FactCompare(FactGetter(key, lambda f: f.strikes), op, number))
            elif key == "first_message":
                parts.append(FactIs(FactGetter(key, lambda f: f.is_first_message), self.boolean(value, key)))
            elif key == "staff":
                parts.append(FactIs(FactGetter(key, lambda f: f.is_staff), self.boolean(value, key)))
            elif key == "bot":
                parts.append(FactIs(FactGetter(key, lambda f: f.is_bot), self.boolean(value, key)))
            elif key == "engagement":
                values = frozenset(v.lower() for v in self.texts(value, "engagement"))
                parts.append(FactIn(FactGetter(key, lambda f: f.engagement), values))
            else:
                values = frozenset(v.lower() for v in self.texts(value, "role"))
                parts.append(FactIn(FactGetter(key, lambda f: f.role), values))
        if not parts:
            _fail(node, "`member` needs at least one of " + ", ".join(_MEMBER_KEYS))
        return parts[0] if len(parts) == 1 else AllOf(parts)

    def window(self, node: yaml.Node, what: str, count_key: str, pers: Sequence[str]) -> tuple[str, float, float, str]:
        fields = {k: v for k, _kn, v in self.mapping(node, f"`{what}`", (count_key, "seconds", "per"))}
        if count_key not in fields or "seconds" not in fields:
            _fail(node, f"`{what}` needs `{count_key}` and `seconds`, e.g. `{{{count_key}: 5, seconds: 60}}`")
        op, number = self.comparison(fields[count_key], count_key, low=0)
        seconds = float(self.duration(fields["seconds"], "seconds") or 0)
        per = pers[0]
        if "per" in fields:
            per = self.text(fields["per"], "per")
            if per not in pers:
                _fail(fields["per"], f"`per` is one of: {', '.join(pers)}")
        self.horizon = max(self.horizon, seconds)
        return op, number, seconds, per

    def c_rate(self, node: yaml.Node, depth: int) -> Condition:
        op, number, seconds, per = self.window(node, "rate", "messages", ("member", "channel"))
        return Rate("messages", op, number, seconds, per)

    def c_duplicates(self, node: yaml.Node, depth: int) -> Condition:
        op, number, seconds, per = self.window(node, "duplicates", "channels", ("member",))
        return Rate("duplicates", op, number, seconds, per)

    def c_raid(self, node: yaml.Node, depth: int) -> Condition:
        op, number, seconds, per = self.window(node, "raid", "new_members", ("source", "channel"))
        return Rate("raid", op, number, seconds, per)

    def c_mentions(self, node: yaml.Node, depth: int) -> Condition:
        if isinstance(node, yaml.MappingNode):
            op, number, seconds, per = self.window(node, "mentions", "count", ("member",))
            return Rate("mentions", op, number, seconds, per)
        op, number = self.comparison(node, "mentions", low=0)
        return Rate("mentions", op, number, 0, "message")

    # -- actions ------------------------------------------------------------------------------------------
    def actions(self, node: yaml.Node) -> tuple[Action, ...]:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            _fail(node, "`actions` is a list, e.g.\n  - remove\n  - warn: be-kind")
        actions: list[Action] = []
        for item in node.value:
            if isinstance(item, yaml.ScalarNode):
                name, value = self.text(item, "an action"), None
                name_node = item
            elif isinstance(item, yaml.MappingNode) and len(item.value) == 1:
                name_node, value = item.value[0]
                name = self.text(name_node, "an action")
            else:
                _fail(item, "an action is a name (`- remove`) or a name with a value (`- mute: 1h`)")
            kind_name = name.strip().lower().replace("-", "_").replace(" ", "_")
            kinds = [k.value for k in ActionKind]
            if kind_name in ("hide", "delete"):
                kind_name = "remove"
            if kind_name not in kinds:
                _fail(
                    name_node, f"unknown action `{name}`{_suggest(kind_name, kinds)}; actions are: {', '.join(kinds)}"
                )
            actions.append(self.action(ActionKind(kind_name), value, item))
        return tuple(actions)

    def action(self, kind: ActionKind, value: yaml.Node | None, item: yaml.Node) -> Action:  # noqa: C901 - one branch per kind
        if kind in (ActionKind.QUEUE, ActionKind.REMOVE, ActionKind.KICK):
            if value is not None and self.scalar(value) is not None:
                _fail(value, f"`{kind.value}` takes no value")
            return Action(kind=kind)
        if kind in (ActionKind.REPLY, ActionKind.WARN):
            if value is None or (isinstance(value, yaml.ScalarNode) and self.scalar(value) is None):
                if kind is ActionKind.REPLY:
                    _fail(item, "`reply` needs a template name (`reply: be-kind`) or `{text: ...}`")
                return Action(kind=kind)
            if isinstance(value, yaml.MappingNode):
                fields = {k: v for k, _kn, v in self.mapping(value, f"`{kind.value}`", ("template", "text"))}
                if "template" in fields:
                    return Action(kind=kind, template=self.template_ref(fields["template"]))
                if "text" in fields:
                    return Action(kind=kind, text=self.template_text(fields["text"]))
                _fail(value, f"`{kind.value}` needs `template` or `text`")
            return Action(kind=kind, template=self.template_ref(value))
        if kind is ActionKind.MUTE:
            if value is None or self.scalar(value) is None:
                return Action(kind=kind, duration_seconds=DEFAULT_MUTE_SECONDS)
            return Action(kind=kind, duration_seconds=self.duration(value, "mute"))
        if kind in (ActionKind.BAN, ActionKind.BAN_EVERYWHERE):
            if value is None or self.scalar(value) is None:
                return Action(kind=kind)
            return Action(kind=kind, duration_seconds=self.duration(value, kind.value, allow_forever=True))
        if kind is ActionKind.TAG:
            if value is None:
                _fail(item, "`tag` needs one or more tag names, e.g. `tag: [spam, links]`")
            return Action(kind=kind, tags=tuple(self.texts(value, "tag", 60)))
        if kind is ActionKind.NOTIFY:
            targets = (
                ("moderators",)
                if value is None or self.scalar_or_none(value)
                else tuple(self.texts(value, "notify", 100))
            )
            return Action(kind=kind, targets=targets)
        # escalate
        if value is None or self.scalar_or_none(value):
            return Action(kind=kind, targets=("moderators",))
        if isinstance(value, yaml.MappingNode):
            fields = {k: v for k, _kn, v in self.mapping(value, "`escalate`", ("to", "note"))}
            targets = tuple(self.texts(fields["to"], "to", 100)) if "to" in fields else ("moderators",)
            note = self.text(fields["note"], "note", 1000) if "note" in fields else ""
            return Action(kind=kind, targets=targets, note=note)
        return Action(kind=kind, targets=("moderators",), note=self.text(value, "note", 1000))

    def scalar_or_none(self, node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and self.scalar(node) is None

    def template_ref(self, node: yaml.Node) -> str:
        name = self.text(node, "a template name")
        if name not in self.templates:
            known = list(self.templates)
            _fail(node, f"no template named `{name}` under `templates:`{_suggest(name, known)}")
        return name


def _flag_getter(name: str) -> Callable[[Any], Any]:
    return lambda facts: facts.flags.get(name)


def _re2_options(case_sensitive: bool) -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = RE2_MAX_MEM
    options.case_sensitive = case_sensitive
    return options


_RE2_REASONS = (
    ("invalid escape sequence: \\1", "backreferences (\\1, \\2, ...) are not supported: RE2 matches in linear time "
     "and cannot look back at what a group matched"),
    ("invalid escape sequence", "an escape RE2 does not know"),
    ("invalid perl operator: (?<", "lookbehind ((?<=...), (?<!...)) is not supported: RE2 matches in linear time"),
    ("invalid perl operator: (?=", "lookahead ((?=...)) is not supported: RE2 matches in linear time"),
    ("invalid perl operator: (?!", "negative lookahead ((?!...)) is not supported: RE2 matches in linear time"),
    ("invalid perl operator", "a (?...) group RE2 does not support"),
    ("invalid repetition size", "a repetition count above 1000 ({1001} or more)"),
    ("bad repetition operator", "a repetition that repeats nothing or repeats twice (** or ++)"),
    ("missing )", "a ( without its )"),
    ("unexpected )", "a ) without its ("),
    ("missing ]", "a [ without its ]"),
    ("pattern too large", "the pattern compiles to more than RE2's memory limit: simplify it"),
)  # fmt: skip


def _explain_re2(error: Exception) -> str:
    raw = error.args[0] if error.args else str(error)
    detail = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    for prefix, reason in _RE2_REASONS:
        if detail.startswith(prefix):
            return f"{reason} (RE2: {detail})"
    return detail
