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
from django.utils.translation import gettext_noop as _  # marks messages; RuleError.translated() translates them

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
from communa.moderation.rules.errors import Msg, RuleError
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
        raise RuleError(_("the rule set must be text"), 1, 1)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise RuleError(
            Msg(
                _("the rule set is %(size)s bytes; the limit is %(limit)s bytes"),
                size=f"{size:,}",
                limit=f"{MAX_BYTES:,}",
            ),
            1,
            1,
        )
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise RuleError(_("the text contains a NUL character"), line, 1)
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
                _fail(event, _("anchors and aliases (&name, *name) are not allowed: write each rule out in full"))
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    _fail(
                        event,
                        Msg(
                            _("the text is nested more than %(max_yaml_depth)s levels deep"),
                            max_yaml_depth=MAX_YAML_DEPTH,
                        ),
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as error:
        _yaml_error(error)


def _yaml_error(error: yaml.MarkedYAMLError) -> NoReturn:
    mark = error.problem_mark or error.context_mark
    problem = error.problem or "the text is not valid YAML"  # PyYAML's words, as it wrote them
    if error.context:
        problem = f"{problem} ({error.context})"
    hint = ""
    if "\t" in problem or "tab" in problem:
        hint = Msg(_(": indent with spaces, not tabs"))
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    raise RuleError(Msg(_("not valid YAML: %(problem)s%(hint)s"), problem=problem, hint=hint), line, column) from None


def _fail(node: Any, message: str) -> NoReturn:
    mark = getattr(node, "start_mark", None)
    if mark is None:
        raise RuleError(message, 1, 1)
    raise RuleError(message, mark.line + 1, mark.column + 1)


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return Msg(_(" (did you mean `%(word)s`?)"), word=close[0]) if close else ""


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
            _fail(node, _("expected a single value here, not a list or a mapping"))
        try:
            return self.constructor.construct_object(node)
        except yaml.constructor.ConstructorError as error:
            _fail(node, Msg(_("cannot read this value: %(problem)s"), problem=error.problem))

    def text(self, node: yaml.Node, what: str, limit: int = 500) -> str:
        # Text as written: YAML 1.1 would read `off`, `no`, `yes` or `1e3` as something else.
        if not isinstance(node, yaml.ScalarNode):
            _fail(node, Msg(_("%(what)s must be text, not a list or a mapping"), what=what))
        value = str(node.value)
        if len(value) > limit:
            _fail(node, Msg(_("%(what)s is longer than %(limit)s characters"), what=what, limit=limit))
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool:
        value = self.scalar(node)
        if not isinstance(value, bool):
            _fail(node, Msg(_("%(what)s must be true or false"), what=what))
        return value

    def mapping(self, node: yaml.Node, what: str, keys: Sequence[str] | None) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            _fail(node, Msg(_("%(what)s must be a mapping (`key: value` lines)"), what=what))
        seen: set[str] = set()
        out = []
        for key_node, value_node in node.value:
            # Keys are names as written: YAML 1.1 would read `on:`, `no:` or `yes:` as booleans.
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else self.scalar(key_node)
            if not isinstance(key, str):
                _fail(key_node, Msg(_("expected a name, found %(key)s"), key=repr(key)))
            if key in seen:
                _fail(key_node, Msg(_("`%(key)s` appears twice in %(what)s"), key=key, what=what))
            seen.add(key)
            if keys is not None and key not in keys:
                _fail(
                    key_node,
                    Msg(
                        _("unknown key `%(key)s` in %(what)s%(suggestion)s; expected one of: %(choices)s"),
                        key=key,
                        what=what,
                        suggestion=_suggest(key, keys),
                        choices=", ".join(keys),
                    ),
                )
            out.append((key, key_node, value_node))
        return out

    def items(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        """A list, or a single value taken as a list of one."""
        if isinstance(node, yaml.SequenceNode):
            if not node.value:
                _fail(node, Msg(_("%(what)s is an empty list"), what=what))
            return list(node.value)
        if isinstance(node, yaml.ScalarNode):
            return [node]
        _fail(node, Msg(_("%(what)s must be a value or a list of values"), what=what))

    def texts(self, node: yaml.Node, what: str, limit: int = 500) -> list[str]:
        return [self.text(item, what, limit) for item in self.items(node, what)]

    def comparison(self, node: yaml.Node, what: str, *, low: float | None = None, high: float | None = None,
                   require_op: bool = False) -> tuple[str, float]:  # fmt: skip
        value = self.scalar(node)
        if isinstance(value, bool) or value is None:
            _fail(node, Msg(_('%(what)s must be a number or a comparison such as ">= 0.8"'), what=what))
        if isinstance(value, int | float):
            if require_op:
                _fail(node, Msg(_('%(what)s needs a comparison, such as "< 7" or ">= 30"'), what=what))
            op, number = ">=", float(value)
        else:
            match = _COMPARISON.match(str(value))
            if not match:
                _fail(
                    node,
                    Msg(
                        _('%(what)s: cannot read %(value)s; write a number or a comparison such as ">= 0.8"'),
                        what=what,
                        value=f"{str(value)[:40]!r}",
                    ),
                )
            op = {"≥": ">=", "≤": "<=", "=": "=="}.get(match.group(1) or "", match.group(1) or "")
            if not op:
                if require_op:
                    _fail(node, Msg(_('%(what)s needs a comparison, such as "< 7" or ">= 30"'), what=what))
                op = ">="
            number = float(match.group(2)) / (100 if match.group(3) else 1)
        if not math.isfinite(number) or (low is not None and number < low) or (high is not None and number > high):
            _fail(
                node,
                Msg(_("%(what)s must be between %(low)s and %(high)s"), what=what, low=f"{low:g}", high=f"{high:g}")
                if high is not None
                else Msg(_("%(what)s is out of range"), what=what),
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
                forever = Msg(_(" or `permanent`")) if allow_forever else ""
                _fail(
                    node,
                    Msg(
                        _("%(what)s: cannot read %(value)s as a duration; write 30s, 10m, 2h, 7d or 2w%(forever)s"),
                        what=what,
                        value=f"{str(value)[:40]!r}",
                        forever=forever,
                    ),
                )
            seconds = int(match.group(1)) * _UNITS[match.group(2)[0]]
        if seconds <= 0 or seconds > 366 * 86400:
            _fail(node, Msg(_("%(what)s must be between 1 second and 366 days"), what=what))
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
                    root,
                    _("a rule set is a mapping with `rules:` (and optionally `templates:`, `lists:`, `languages:`)"),
                )
            for key, _key_node, value in self.mapping(root, Msg(_("the rule set")), _TOP_KEYS):
                if key == "version":
                    if self.scalar(value) != 1:
                        _fail(value, _("the only version is 1"))
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
                            _fail(name_node, _("a list name uses lower-case letters, digits, - and _"))
                        self.lists[name] = words
                elif key == "rules":
                    if isinstance(value, yaml.ScalarNode) and self.scalar(value) is None:
                        continue
                    if not isinstance(value, yaml.SequenceNode):
                        _fail(value, _("`rules` must be a list: each rule starts with `- id: ...`"))
                    if len(value.value) > MAX_RULES:
                        _fail(
                            value.value[MAX_RULES],
                            Msg(_("too many rules: the limit is %(max_rules)s"), max_rules=MAX_RULES),
                        )
                    rules = [(value, item) for item in value.value]
        compiled_rules: list[tuple[int, int, CompiledRule]] = []
        ids: dict[str, int] = {}
        for index, (_parent, node) in enumerate(rules):
            rule = self.rule(node, index, ids)
            compiled_rules.append((-rule.priority, index, rule))
        compiled_rules.sort(key=lambda item: (item[0], item[1]))
        ordered = tuple(
            dataclasses.replace(rule, order=position) for position, (*_parts, rule) in enumerate(compiled_rules)
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
            code = self.text(item, Msg(_("a language code"))).lower()
            if code not in SUPPORTED_LANGUAGES:
                _fail(
                    item,
                    Msg(
                        _("word forms are known for %(languages)s; `%(code)s` is not one of them"),
                        languages=", ".join(SUPPORTED_LANGUAGES),
                        code=code,
                    ),
                )
            languages.append(code)
        return tuple(dict.fromkeys(languages))

    def template(self, name: str, name_node: yaml.Node, node: yaml.Node) -> None:
        if not _ID.match(name):
            _fail(name_node, _("a template name uses lower-case letters, digits, - and _"))
        texts: dict[str, str] = {}
        if isinstance(node, yaml.MappingNode):
            for language, language_node, text_node in self.mapping(
                node, Msg(_("template `%(name)s`"), name=name), None
            ):
                code = "" if language == "default" else language.lower()
                if code and not _LANGUAGE.match(code):
                    _fail(
                        language_node,
                        Msg(
                            _("`%(language)s` is not a language code (write en, it, es, ru, ... or default)"),
                            language=language,
                        ),
                    )
                texts[code] = self.template_text(text_node)
        else:
            texts[""] = self.template_text(node)
        if "" not in texts:
            texts[""] = texts.get("en") or next(iter(texts.values()))
        self.templates[name] = Template(name=name, texts=texts, line=name_node.start_mark.line + 1)

    def template_text(self, node: yaml.Node) -> str:
        text = self.text(node, Msg(_("a template")), MAX_TEMPLATE_CHARS)
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as error:
            _fail(node, Msg(_("the template has a lone { or } (%(error)s); write {{ and }} for braces"), error=error))
        for _literal, field, spec, conversion in parsed:
            if field is None:
                continue
            if field not in PLACEHOLDERS or spec or conversion:
                _fail(
                    node,
                    Msg(
                        _("unknown placeholder {%(field)s} in the template; use %(placeholders)s"),
                        field=field,
                        placeholders=_PLACEHOLDER_LIST,
                    ),
                )
        return text

    # -- rules --------------------------------------------------------------------------------------------
    def rule(self, node: yaml.Node, index: int, ids: dict[str, int]) -> CompiledRule:
        fields = {key: (key_node, value) for key, key_node, value in self.mapping(node, Msg(_("a rule")), _RULE_KEYS)}
        if "id" not in fields:
            _fail(node, _("every rule needs an `id` (lower-case letters, digits, - and _), e.g. `id: no-insults`"))
        id_node = fields["id"][1]
        rule_id = self.text(id_node, Msg(_("the rule id")), 80)
        if not _ID.match(rule_id):
            _fail(id_node, _("a rule id uses lower-case letters, digits, - and _ (at most 80), e.g. `no-insults`"))
        if rule_id in ids:
            _fail(
                id_node,
                Msg(
                    _("the id `%(rule_id)s` is already used by the rule on line %(line)s"),
                    rule_id=rule_id,
                    line=ids[rule_id],
                ),
            )
        ids[rule_id] = node.start_mark.line + 1
        if "when" not in fields:
            _fail(node, Msg(_("rule `%(rule_id)s` needs `when:` (the conditions)"), rule_id=rule_id))
        if "actions" not in fields:
            _fail(
                node,
                Msg(
                    _("rule `%(rule_id)s` needs `actions:` (use `- queue` to send matches to the review queue)"),
                    rule_id=rule_id,
                ),
            )
        mode = Mode.ENABLED
        if "mode" in fields:
            value = self.text(fields["mode"][1], "mode").strip().lower().replace("-", "_").replace(" ", "_")
            if value not in Mode._value2member_map_:
                _fail(
                    fields["mode"][1],
                    Msg(
                        _("mode is one of enabled, log_only, disabled%(suggestion)s"),
                        suggestion=_suggest(value, list(Mode)),
                    ),
                )
            mode = Mode(value)
        priority = 0
        if "priority" in fields:
            raw = self.scalar(fields["priority"][1])
            if not isinstance(raw, int) or isinstance(raw, bool) or not -10_000 <= raw <= 10_000:
                _fail(
                    fields["priority"][1], _("priority is a whole number between -10000 and 10000 (higher runs first)")
                )
            priority = raw
        when = self.condition(fields["when"][1], 1)
        actions = self.actions(fields["actions"][1])
        return CompiledRule(
            rule_id=rule_id,
            name=self.text(fields["name"][1], Msg(_("the name")), 200) if "name" in fields else rule_id,
            order=index,
            priority=priority,
            mode=mode,
            stop=self.boolean(fields["stop"][1], "stop") if "stop" in fields else False,
            exempt_staff=self.boolean(fields["exempt_staff"][1], "exempt_staff") if "exempt_staff" in fields else True,
            guideline=self.text(fields["guideline"][1], Msg(_("the guideline")), 2000) if "guideline" in fields else "",
            description=self.text(fields["description"][1], Msg(_("the description")), 2000)
            if "description" in fields
            else "",
            when=when,
            actions=actions,
            line=node.start_mark.line + 1,
            required_text=when.required_text(),
        )

    # -- conditions ---------------------------------------------------------------------------------------
    def condition(self, node: yaml.Node, depth: int) -> Condition:
        if depth > MAX_DEPTH:
            _fail(
                node,
                Msg(_("conditions are nested more than %(max_depth)s levels deep (all/any/not)"), max_depth=MAX_DEPTH),
            )
        if not isinstance(node, yaml.MappingNode):
            _fail(node, _('a condition is a mapping such as `words: [idiot]` or `score: {toxicity: ">= 0.8"}`'))
        if not node.value:
            _fail(node, Msg(_("an empty condition: write at least one of %(keys)s"), keys=", ".join(_CONDITION_KEYS)))
        parts = [self.one_condition(key, key_node, value, depth) for key, key_node, value in
                 self.mapping(node, Msg(_("a condition")), _CONDITION_KEYS)]  # fmt: skip
        return parts[0] if len(parts) == 1 else AllOf(parts)

    def one_condition(self, key: str, key_node: yaml.Node, node: yaml.Node, depth: int) -> Condition:
        handler: Callable[[yaml.Node, int], Condition] = getattr(self, f"c_{key}")
        return handler(node, depth)

    def c_all(self, node: yaml.Node, depth: int) -> Condition:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            _fail(node, _("`all` takes a list of conditions (each line starts with `- `)"))
        return AllOf([self.condition(child, depth + 1) for child in node.value])

    def c_any(self, node: yaml.Node, depth: int) -> Condition:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            _fail(node, _("`any` takes a list of conditions (each line starts with `- `)"))
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
                        name = self.text(name_node, Msg(_("a list name")))
                        if name not in self.lists:
                            _fail(
                                name_node,
                                Msg(
                                    _("no list named `%(name)s` under `lists:`%(suggestion)s"),
                                    name=name,
                                    suggestion=_suggest(name, list(self.lists)),
                                ),
                            )
                        word_nodes += self.items(self.lists[name], Msg(_("list `%(name)s`"), name=name))
                elif key == "exact":
                    exact = self.boolean(value, "exact")
                elif key == "languages":
                    languages = self.language_list(value)
                    for item, code in zip(self.items(value, "languages"), languages, strict=False):
                        if code not in self.languages:
                            _fail(
                                item,
                                Msg(
                                    _("`%(code)s` is not in the rule set's `languages:`; add it there first"),
                                    code=code,
                                ),
                            )
            if not word_nodes:
                _fail(node, Msg(_("`%(what)s` needs `any: [...]` or `list: name`"), what=what))
        else:
            word_nodes = self.items(node, f"`{what}`")
        cid = self.next_cid()
        for word_node in word_nodes:
            word = self.text(word_node, Msg(_("a word")), MAX_WORD_CHARS)
            tokens = normalize(word).tokens
            if not tokens:
                _fail(word_node, Msg(_("«%(word)s» has no letters or digits to match"), word=word))
            self.word_count += 1
            if self.word_count > MAX_WORDS:
                _fail(
                    word_node,
                    Msg(
                        _("too many words and phrases: the limit is %(max_words)s for the whole rule set"),
                        max_words=f"{MAX_WORDS:,}",
                    ),
                )
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
                        _fail(value, _("`on` is `normalized` (the default: folded, lower-case text) or `original`"))
                    on_original = target == "original"
                else:
                    case_sensitive = self.boolean(value, "case_sensitive")
            if not pattern_nodes:
                _fail(node, _("`regex` needs `any: [patterns]`"))
        else:
            pattern_nodes = self.items(node, "`regex`")
        cid = self.next_cid()
        options = _re2_options(case_sensitive)
        for pattern_node in pattern_nodes:
            pattern = self.text(pattern_node, Msg(_("a regular expression")), MAX_PATTERN_CHARS)
            self.regex_count += 1
            if self.regex_count > MAX_REGEXES:
                _fail(
                    pattern_node,
                    Msg(
                        _("too many regular expressions: the limit is %(max_regexes)s for the whole rule set"),
                        max_regexes=MAX_REGEXES,
                    ),
                )
            if not pattern:
                _fail(pattern_node, _("an empty regular expression would match every message"))
            try:
                compiled = re2.compile(pattern, options)
            except re2.error as error:
                _fail(
                    pattern_node, Msg(_("RE2 refuses this regular expression: %(reason)s"), reason=_explain_re2(error))
                )
            if compiled.search("") is not None:
                _fail(pattern_node, _("this regular expression matches an empty text, so it would match every message"))
            entry = RegexEntry(cid=cid, pattern=pattern, compiled=compiled, on_original=on_original)
            self.regexes.setdefault((on_original, case_sensitive), []).append(entry)
        return TextHit(cid)

    def c_score(self, node: yaml.Node, depth: int) -> Condition:
        parts: list[Condition] = []
        for name, key_node, value in self.mapping(node, "`score`", None):
            if name not in SCORES:
                _fail(
                    key_node,
                    Msg(
                        _("unknown score `%(name)s`%(suggestion)s; scores are: %(choices)s"),
                        name=name,
                        suggestion=_suggest(name, SCORES),
                        choices=", ".join(SCORES),
                    ),
                )
            op, threshold = self.comparison(value, Msg(_("score `%(name)s`"), name=name), low=0, high=1)
            parts.append(Score(name, op, threshold))
        if not parts:
            _fail(node, _('`score` needs at least one score, e.g. `toxicity: ">= 0.8"`'))
        return parts[0] if len(parts) == 1 else AllOf(parts)

    def c_flag(self, node: yaml.Node, depth: int) -> Condition:
        parts: list[Condition] = []
        for name, _key_node, value in self.mapping(node, "`flag`", FLAGS):
            parts.append(FactIs(FactGetter(name, _flag_getter(name)), self.boolean(value, name), "flag"))
        if not parts:
            _fail(node, _("`flag` needs toxic, spam or question"))
        return parts[0] if len(parts) == 1 else AllOf(parts)

    def c_sentiment(self, node: yaml.Node, depth: int) -> Condition:
        values = self.texts(node, "sentiment")
        for item, value in zip(self.items(node, "sentiment"), values, strict=True):
            if value not in SENTIMENTS:
                _fail(
                    item,
                    Msg(
                        _("sentiment is negative, neutral or positive%(suggestion)s"),
                        suggestion=_suggest(value, SENTIMENTS),
                    ),
                )
        return FactIn(FactGetter("sentiment", lambda f: f.sentiment), frozenset(values))

    def c_language(self, node: yaml.Node, depth: int) -> Condition:
        values = [v.lower() for v in self.texts(node, "language")]
        for item, value in zip(self.items(node, "language"), values, strict=True):
            if not _LANGUAGE.match(value):
                _fail(
                    item,
                    Msg(_("`%(code)s` is not a language code (en, it, es, ru, ... or und for unknown)"), code=value),
                )
        return FactIn(FactGetter("language", lambda f: f.language), frozenset(values))

    def c_platform(self, node: yaml.Node, depth: int) -> Condition:
        values = [v.lower() for v in self.texts(node, "platform")]
        return FactIn(FactGetter("platform", lambda f: f.platform), frozenset(values))

    def c_source(self, node: yaml.Node, depth: int) -> Condition:
        ids: list[int] = []
        for item in self.items(node, "source"):
            value = self.scalar(item)
            if not isinstance(value, int) or isinstance(value, bool):
                _fail(item, _("`source` takes source numbers (as in the source's address); use `platform` for kinds"))
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
            _fail(node, Msg(_("`member` needs at least one of %(keys)s"), keys=", ".join(_MEMBER_KEYS)))
        return parts[0] if len(parts) == 1 else AllOf(parts)

    def window(self, node: yaml.Node, what: str, count_key: str, pers: Sequence[str]) -> tuple[str, float, float, str]:
        fields = {k: v for k, _kn, v in self.mapping(node, f"`{what}`", (count_key, "seconds", "per"))}
        if count_key not in fields or "seconds" not in fields:
            _fail(
                node,
                Msg(
                    _("`%(what)s` needs `%(count_key)s` and `seconds`, e.g. `{%(count_key)s: 5, seconds: 60}`"),
                    what=what,
                    count_key=count_key,
                ),
            )
        op, number = self.comparison(fields[count_key], count_key, low=0)
        seconds = float(self.duration(fields["seconds"], "seconds") or 0)
        per = pers[0]
        if "per" in fields:
            per = self.text(fields["per"], "per")
            if per not in pers:
                _fail(fields["per"], Msg(_("`per` is one of: %(choices)s"), choices=", ".join(pers)))
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
            _fail(node, _("`actions` is a list, e.g.\n  - remove\n  - warn: be-kind"))
        actions: list[Action] = []
        for item in node.value:
            if isinstance(item, yaml.ScalarNode):
                name, value = self.text(item, Msg(_("an action"))), None
                name_node = item
            elif isinstance(item, yaml.MappingNode) and len(item.value) == 1:
                name_node, value = item.value[0]
                name = self.text(name_node, Msg(_("an action")))
            else:
                _fail(item, _("an action is a name (`- remove`) or a name with a value (`- mute: 1h`)"))
            kind_name = name.strip().lower().replace("-", "_").replace(" ", "_")
            kinds = [k.value for k in ActionKind]
            if kind_name in ("hide", "delete"):
                kind_name = "remove"
            if kind_name not in kinds:
                _fail(
                    name_node,
                    Msg(
                        _("unknown action `%(name)s`%(suggestion)s; actions are: %(choices)s"),
                        name=name,
                        suggestion=_suggest(kind_name, kinds),
                        choices=", ".join(kinds),
                    ),
                )
            actions.append(self.action(ActionKind(kind_name), value, item))
        return tuple(actions)

    def action(self, kind: ActionKind, value: yaml.Node | None, item: yaml.Node) -> Action:  # noqa: C901 - one branch per kind
        if kind in (ActionKind.QUEUE, ActionKind.REMOVE, ActionKind.KICK):
            if value is not None and self.scalar(value) is not None:
                _fail(value, Msg(_("`%(action)s` takes no value"), action=kind.value))
            return Action(kind=kind)
        if kind in (ActionKind.REPLY, ActionKind.WARN):
            if value is None or (isinstance(value, yaml.ScalarNode) and self.scalar(value) is None):
                if kind is ActionKind.REPLY:
                    _fail(item, _("`reply` needs a template name (`reply: be-kind`) or `{text: ...}`"))
                return Action(kind=kind)
            if isinstance(value, yaml.MappingNode):
                fields = {k: v for k, _kn, v in self.mapping(value, f"`{kind.value}`", ("template", "text"))}
                if "template" in fields:
                    return Action(kind=kind, template=self.template_ref(fields["template"]))
                if "text" in fields:
                    return Action(kind=kind, text=self.template_text(fields["text"]))
                _fail(value, Msg(_("`%(action)s` needs `template` or `text`"), action=kind.value))
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
                _fail(item, _("`tag` needs one or more tag names, e.g. `tag: [spam, links]`"))
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
        name = self.text(node, Msg(_("a template name")))
        if name not in self.templates:
            known = list(self.templates)
            _fail(
                node,
                Msg(
                    _("no template named `%(name)s` under `templates:`%(suggestion)s"),
                    name=name,
                    suggestion=_suggest(name, known),
                ),
            )
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
    ("invalid escape sequence: \\1", _("backreferences (\\1, \\2, ...) are not supported: RE2 matches in linear time "
     "and cannot look back at what a group matched")),
    ("invalid escape sequence", _("an escape RE2 does not know")),
    ("invalid perl operator: (?<", _("lookbehind ((?<=...), (?<!...)) is not supported: RE2 matches in linear time")),
    ("invalid perl operator: (?=", _("lookahead ((?=...)) is not supported: RE2 matches in linear time")),
    ("invalid perl operator: (?!", _("negative lookahead ((?!...)) is not supported: RE2 matches in linear time")),
    ("invalid perl operator", _("a (?...) group RE2 does not support")),
    ("invalid repetition size", _("a repetition count above 1000 ({1001} or more)")),
    ("bad repetition operator", _("a repetition that repeats nothing or repeats twice (** or ++)")),
    ("missing )", _("a ( without its )")),
    ("unexpected )", _("a ) without its (")),
    ("missing ]", _("a [ without its ]")),
    ("pattern too large", _("the pattern compiles to more than RE2's memory limit: simplify it")),
)  # fmt: skip


def _explain_re2(error: Exception) -> str:
    raw = error.args[0] if error.args else str(error)
    detail = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    for prefix, reason in _RE2_REASONS:
        if detail.startswith(prefix):
            return Msg(_("%(reason)s (RE2: %(detail)s)"), reason=Msg(reason), detail=detail)
    return detail
