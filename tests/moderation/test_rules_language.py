"""The rule language: what compiles, and a clear error with line and column for everything that does not."""

# ruff: noqa: E501 - rule texts are easier to read on one line

from __future__ import annotations

import time

import pytest

from communa.moderation.rules import ActionKind, Mode, RuleError, compile_ruleset
from communa.moderation.rules.compiler import MAX_BYTES, MAX_DEPTH, MAX_RULES


def error_of(text: str) -> RuleError:
    with pytest.raises(RuleError) as caught:
        compile_ruleset(text)
    return caught.value


def test_a_full_rule_set_compiles_with_every_kind_of_condition_and_action() -> None:
    compiled = compile_ruleset(
        """
version: 1
languages: [en, it]
backtest_warning: 2%
templates:
  be-kind: {default: "Be kind, {member}.", it: "Sii gentile, {member}."}
lists:
  insults: [idiot, idiota]
rules:
  - id: everything
    name: Everything
    description: a rule that uses every condition
    guideline: Be kind
    mode: log-only
    priority: 5
    stop: true
    exempt_staff: false
    when:
      all:
        - any:
            - words: {list: insults, exact: true}
            - phrases: {any: ["shut up"], languages: [en]}
            - regex: {any: ['free\\s+nitro'], on: original, case_sensitive: true}
        - not: {member: {staff: true, bot: true}}
        - score: {toxicity: ">= 0.5", insult: 0.7}
        - flag: {toxic: true}
        - sentiment: [negative]
        - language: [en, it]
        - platform: matrix
        - source: [1, 2]
        - channel: ["#general"]
        - member: {account_age_days: "< 7", first_message: true, engagement: [new], strikes: ">= 1", role: member}
        - mentions: ">= 5"
        - mentions: {count: 10, seconds: 1m}
        - rate: {messages: 5, seconds: 10, per: channel}
        - duplicates: {channels: 3, seconds: 5m}
        - raid: {new_members: 10, seconds: 60}
        - length: "> 10"
    actions:
      - queue
      - hide
      - reply: be-kind
      - warn: {text: "Careful, {member}."}
      - mute
      - kick
      - ban: permanent
      - ban_everywhere: 30d
      - tag: [heated, insult]
      - notify: [lena]
      - escalate: {to: [seniors], note: check the thread}
"""
    )
    rule = compiled.rules[0]
    assert (rule.rule_id, rule.name, rule.mode, rule.priority, rule.stop, rule.exempt_staff) == (
        "everything", "Everything", Mode.LOG_ONLY, 5, True, False,
    )  # fmt: skip
    assert [a.kind for a in rule.actions] == [
        ActionKind.QUEUE, ActionKind.REMOVE, ActionKind.REPLY, ActionKind.WARN, ActionKind.MUTE, ActionKind.KICK,
        ActionKind.BAN, ActionKind.BAN_EVERYWHERE, ActionKind.TAG, ActionKind.NOTIFY, ActionKind.ESCALATE,
    ]  # fmt: skip
    assert rule.actions[4].duration_seconds == 3600  # the default mute
    assert rule.actions[6].duration_seconds is None  # for good
    assert rule.actions[7].duration_seconds == 30 * 86400
    assert rule.actions[10].targets == ("seniors",)
    assert rule.actions[10].note == "check the thread"
    assert compiled.warning_share == 0.02
    assert compiled.rate_horizon_seconds == 300
    assert compiled.languages == ("en", "it")


def test_empty_text_is_an_empty_rule_set() -> None:
    assert compile_ruleset("").rules == ()
    assert compile_ruleset("rules:\n").rules == ()


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("rules:\n  - id: a\n    when: {words: [x]\n    actions: [queue]\n", 4, 5, "not valid YAML"),
        ("rules:\n\t- id: a\n", 2, 1, "not valid YAML"),
        ("rule:\n  - id: a\n", 1, 1, "unknown key `rule` in the rule set (did you mean `rules`?)"),
        ("rules:\n  - id: A B\n    when: {words: [x]}\n    actions: [queue]\n", 2, 9, "a rule id uses lower-case"),
        ("rules:\n  - name: x\n    when: {words: [x]}\n    actions: [queue]\n", 2, 5, "every rule needs an `id`"),
        ("rules:\n  - id: a\n    actions: [queue]\n", 2, 5, "rule `a` needs `when:`"),
        ("rules:\n  - id: a\n    when: {words: [x]}\n", 2, 5, "rule `a` needs `actions:`"),
        (
            "rules:\n  - id: a\n    when: {words: [x]}\n    actions: [queue]\n  - id: a\n    when: {words: [y]}\n"
            "    actions: [queue]\n",
            5, 9, "the id `a` is already used by the rule on line 2",
        ),
        ("rules:\n  - id: a\n    when: {wrods: [x]}\n    actions: [queue]\n", 3, 12, "(did you mean `words`?)"),
        ("rules:\n  - id: a\n    when: {score: {toxicty: 0.8}}\n    actions: [queue]\n", 3, 20, "did you mean `toxicity`"),
        ("rules:\n  - id: a\n    when: {score: {toxicity: 1.5}}\n    actions: [queue]\n", 3, 30, "between 0 and 1"),
        ("rules:\n  - id: a\n    when: {score: {toxicity: 'about 0.8'}}\n    actions: [queue]\n", 3, 30, "cannot read"),
        ("rules:\n  - id: a\n    when: {words: [x]}\n    actions: [mutte]\n", 4, 15, "unknown action `mutte` (did you mean `mute`?)"),
        ("rules:\n  - id: a\n    when: {words: [x]}\n    actions: [{mute: 10 years}]\n", 4, 22, "as a duration"),
        ("rules:\n  - id: a\n    when: {words: [x]}\n    actions: [{reply: nope}]\n", 4, 23, "no template named `nope`"),
        ("rules:\n  - id: a\n    when: {words: [x]}\n    actions: []\n", 4, 14, "`actions` is a list"),
        ("rules:\n  - id: a\n    mode: sometimes\n    when: {words: [x]}\n    actions: [queue]\n", 3, 11, "mode is one of"),
        ("rules:\n  - id: a\n    when: {words: {list: nope}}\n    actions: [queue]\n", 3, 26, "no list named `nope`"),
        ("rules:\n  - id: a\n    when: {words: ['!!!']}\n    actions: [queue]\n", 3, 20, "has no letters or digits"),
        ("rules:\n  - id: a\n    when: {member: {account_age_days: 7}}\n    actions: [queue]\n", 3, 39, "needs a comparison"),
        ("rules:\n  - id: a\n    when: {rate: {messages: 5}}\n    actions: [queue]\n", 3, 18, "needs `messages` and `seconds`"),
        ("rules:\n  - id: a\n    when: {language: [english]}\n    actions: [queue]\n", 3, 23, "not a language code"),
        ("rules:\n  - id: a\n    when: {words: {any: [x], languages: [xx]}}\n    actions: [queue]\n", 3, 42, "word forms are known for"),
        ("templates:\n  t: 'Hi {user}'\nrules: []\n", 2, 6, "unknown placeholder {user}"),
        ("templates:\n  t: 'Hi {member:>99999999}'\nrules: []\n", 2, 6, "unknown placeholder"),
        ("templates:\n  t: 'Hi {member.__class__}'\nrules: []\n", 2, 6, "unknown placeholder"),
        ("templates:\n  t: 'Hi {'\nrules: []\n", 2, 6, "lone {"),
        ("x: &a [1]\ny: *a\n", 1, 4, "anchors and aliases"),
        ("- just\n- a list\n", 1, 1, "a rule set is a mapping"),
        ("rules:\n  - id: a\n    when: []\n    actions: [queue]\n", 3, 11, "a condition is a mapping"),
        ("rules:\n  - id: a\n    when: {}\n    actions: [queue]\n", 3, 11, "an empty condition"),
    ],
)  # fmt: skip
def test_errors_say_what_and_where(text: str, line: int, column: int, message: str) -> None:
    error = error_of(text)
    assert message in error.message
    assert (error.line, error.column) == (line, column), str(error)
    assert str(error).startswith(f"line {line}, column {column}: ")
    assert error.as_dict() == {"message": error.message, "line": line, "column": column}


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "backreferences (\\1, \\2, ...) are not supported"),
        (r"(?<=a)b", "lookbehind"),
        (r"a(?=b)", "lookahead"),
        (r"a(?!b)", "negative lookahead"),
        (r"(ab", "a ( without its )"),
        (r"a{2000}", "repetition count above 1000"),
        (r"((((a{100}){100}){100}){100})", "RE2"),
        (r"x*", "matches an empty text"),
    ],
)
def test_regular_expressions_re2_refuses_say_why(pattern: str, reason: str) -> None:
    text = f"rules:\n  - id: a\n    when:\n      regex: '{pattern}'\n    actions: [queue]\n"
    error = error_of(text)
    assert reason in error.message
    assert (error.line, error.column) == (4, 14)


def test_catastrophic_patterns_run_in_linear_time() -> None:
    from datetime import UTC, datetime

    from communa.moderation.rules import MessageFacts, evaluate

    compiled = compile_ruleset("rules:\n  - id: a\n    when: {regex: '(a+)+$'}\n    actions: [queue]\n")
    text = "a" * 15_000 + "!"
    started = time.perf_counter()
    matches = evaluate(compiled, MessageFacts(message_id=1, text=text, created_at=datetime.now(UTC)))
    assert time.perf_counter() - started < 1.0  # Python's re takes centuries on this
    assert matches == []


def test_huge_rule_sets_are_refused_with_the_limit() -> None:
    error = error_of("#" * (MAX_BYTES + 1))
    assert error.message == f"the rule set is {MAX_BYTES + 1:,} bytes; the limit is {MAX_BYTES:,} bytes"
    rules = "".join(f"  - id: r{i}\n    when: {{words: [w{i}]}}\n    actions: [queue]\n" for i in range(MAX_RULES + 1))
    error = error_of("rules:\n" + rules)
    assert error.message == f"too many rules: the limit is {MAX_RULES}"
    assert error.line == 2 + 3 * MAX_RULES


def test_deep_nesting_is_refused() -> None:
    condition = "{words: [x]}"
    for _ in range(MAX_DEPTH):
        condition = "{not: " + condition + "}"
    error = error_of(f"rules:\n  - id: a\n    when: {condition}\n    actions: [queue]\n")
    assert error.message == f"conditions are nested more than {MAX_DEPTH} levels deep (all/any/not)"
    assert error.line == 3
    deep_yaml = "x: " + "[" * 10_000 + "]" * 10_000
    error = error_of(deep_yaml)
    assert "nested more than 40 levels" in error.message
    assert (error.line, error.column) == (1, 43)  # the 40th [ is the 41st level (the top mapping is one)


def test_billion_laughs_is_refused_before_expansion() -> None:
    text = 'a: &a ["lol","lol"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nrules: [*c]\n'
    assert "anchors and aliases" in error_of(text).message


def test_nul_and_non_text() -> None:
    assert error_of("rules:\n\x00").line == 2
    with pytest.raises(RuleError):
        compile_ruleset(b"rules: []")  # type: ignore[arg-type]


def test_priority_orders_rules_and_ties_keep_the_file_order() -> None:
    compiled = compile_ruleset(
        "rules:\n"
        "  - {id: low, priority: -1, when: {words: [x]}, actions: [queue]}\n"
        "  - {id: first, when: {words: [x]}, actions: [queue]}\n"
        "  - {id: high, priority: 10, when: {words: [x]}, actions: [queue]}\n"
        "  - {id: second, when: {words: [x]}, actions: [queue]}\n"
    )
    assert [r.rule_id for r in compiled.rules] == ["high", "first", "second", "low"]
    assert [r.line for r in compiled.rules] == [4, 3, 5, 2]


def test_every_rule_set_in_the_documentation_compiles() -> None:
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "moderation-rules.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", page, re.DOTALL) if "rules:" in b]
    assert len(blocks) >= 2
    for block in blocks:
        compiled = compile_ruleset(block)
        assert compiled.rules
