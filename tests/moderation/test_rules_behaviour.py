"""Modes, order and stop, staff, scores and facts, rate windows, regular expressions and the backtest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from communa.moderation.rules import MessageFacts, Mode, backtest, compile_ruleset, describe, evaluate, signals_from

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def msg(text: str = "hello", n: int = 1, seconds: float = 0, **kwargs: object) -> MessageFacts:
    values: dict[str, object] = {
        "message_id": n, "text": text, "created_at": NOW + timedelta(seconds=seconds), "member_id": 7,
        "source_id": 1, "channel": "general", "platform": "matrix",
    }  # fmt: skip
    values.update(kwargs)
    return MessageFacts(**values)  # type: ignore[arg-type]


ORDERED = """
rules:
  - {id: logged, mode: log_only, priority: 30, stop: true, when: {words: [spam]}, actions: [queue]}
  - {id: stopper, priority: 20, stop: true, when: {words: [spam]}, actions: [remove]}
  - {id: after, priority: 10, when: {words: [spam]}, actions: [{tag: [x]}]}
  - {id: off, mode: disabled, priority: 40, when: {words: [spam]}, actions: [ban]}
"""


def test_modes_order_and_stop() -> None:
    compiled = compile_ruleset(ORDERED)
    matches = evaluate(compiled, msg("buy spam now"))
    # disabled never runs; log-only is reported but does not stop; the first enabled stopper stops the rest
    assert [(m.rule_id, m.mode, m.acts, m.stop) for m in matches] == [
        ("logged", Mode.LOG_ONLY, False, False),
        ("stopper", Mode.ENABLED, True, True),
    ]
    assert [r["rule_id"] for r in describe(compiled)] == ["off", "logged", "stopper", "after"]


def test_staff_and_bots_are_exempt_unless_the_rule_says_otherwise() -> None:
    compiled = compile_ruleset(
        "rules:\n"
        "  - {id: everyone, exempt_staff: false, when: {words: [spam]}, actions: [queue]}\n"
        "  - {id: members, when: {words: [spam]}, actions: [remove]}\n"
    )
    assert [m.rule_id for m in evaluate(compiled, msg("spam", is_staff=True))] == ["everyone"]
    assert [m.rule_id for m in evaluate(compiled, msg("spam", is_bot=True))] == ["everyone"]
    assert [m.rule_id for m in evaluate(compiled, msg("spam"))] == ["everyone", "members"]
    only_members = compile_ruleset("rules:\n  - {id: m, when: {words: [spam]}, actions: [remove]}\n")
    assert evaluate(only_members, msg("spam", is_staff=True)) == []


SCORES = """
rules:
  - id: insults
    name: no-insults
    when:
      all:
        - score: {insult: ">= 0.8"}
        - not: {member: {engagement: [champion]}}
        - member: {account_age_days: "< 30", strikes: ">= 1"}
    actions: [remove]
  - {id: toxic-flag, when: {flag: {toxic: true}, sentiment: negative}, actions: [queue]}
  - {id: low-spam, when: {score: {spam: "< 0.1"}, language: [it]}, actions: [{tag: [clean]}]}
"""


def test_scores_flags_and_member_facts_with_explanations() -> None:
    compiled = compile_ruleset(SCORES)
    facts = msg(
        "sei un cretino", signals={"insult": 0.93, "spam": 0.05}, flags={"toxic": True}, sentiment="negative",
        account_age_days=3, strikes=2, engagement="new", language="it",
    )  # fmt: skip
    matches = evaluate(compiled, facts)
    assert [m.rule_id for m in matches] == ["insults", "toxic-flag", "low-spam"]
    assert matches[0].explanation.render() == (
        "matched `insult` 0.93 ≥ 0.80 and account_age_days 3 < 30 and strikes 2 ≥ 1 and rule *no-insults* "
        "on «sei un cretino»"
    )
    assert matches[1].explanation.render() == (
        "matched toxic = yes and sentiment negative and rule *toxic-flag* on «sei un cretino»"
    )
    # a champion is spared; a missing score never triggers (no model installed → no action)
    assert [m.rule_id for m in evaluate(compiled, msg("x", signals={"insult": 0.93}, engagement="champion",
                                                      account_age_days=3, strikes=2))] == []  # fmt: skip
    assert evaluate(compiled, msg("x", account_age_days=3, strikes=2)) == []
    assert evaluate(compiled, msg("x", signals={"insult": 0.93}, strikes=2)) == []  # account age unknown


def test_signals_from_an_enrichment_row() -> None:
    class Row:
        toxicity_score = 0.9
        toxicity_categories = {"insult": 0.8, "threat": 0.1}
        sentiment_scores = {"negative": 0.7, "neutral": 0.2, "positive": 0.1}
        spam_score = None
        question_score = 0.2
        friendly_profanity_score = None
        is_toxic = True
        is_toxic_corrected = False
        is_spam = None
        is_spam_corrected = None
        is_question = False
        is_question_corrected = None
        sentiment = "negative"
        sentiment_corrected = ""

    signals, flags, sentiment = signals_from(Row())
    assert signals == {"toxicity": 0.9, "question": 0.2, "insult": 0.8, "threat": 0.1, "negative": 0.7,
                       "neutral": 0.2, "positive": 0.1}  # fmt: skip
    assert flags == {"toxic": False, "question": False}  # a person's correction wins
    assert sentiment == "negative"
    assert signals_from(None) == ({}, {}, "")


RATES = """
rules:
  - {id: flood, when: {rate: {messages: 5, seconds: 10}}, actions: [{mute: 10m}]}
  - {id: cross-post, when: {duplicates: {channels: 3, seconds: 5m}}, actions: [remove]}
  - {id: mention-flood, when: {mentions: ">= 5"}, actions: [queue]}
  - {id: mention-rate, when: {mentions: {count: 8, seconds: 60}}, actions: [queue]}
  - {id: raid, when: {raid: {new_members: 3, seconds: 60}}, actions: [{tag: [raid]}]}
"""


def ids(matches: list) -> list[str]:  # type: ignore[type-arg]
    return [m.rule_id for m in matches]


def test_flood_counts_messages_of_one_member_in_the_window() -> None:
    compiled = compile_ruleset(RATES)
    rate = compiled.new_rate_window()
    results = [ids(evaluate(compiled, msg(f"line {i}", n=i, seconds=i), rate)) for i in range(6)]
    assert results == [[], [], [], [], ["flood"], ["flood"]]
    # evaluated twice (a retried task): the same message counts once
    assert ids(evaluate(compiled, msg("line 5", n=5, seconds=5), rate)) == ["flood"]
    # 20 seconds later the window has emptied; another member is counted apart
    assert ids(evaluate(compiled, msg("later", n=10, seconds=25), rate)) == []
    assert ids(evaluate(compiled, msg("other", n=11, seconds=5, member_id=8), rate)) == []
    # without a window, rate conditions are false
    assert evaluate(compiled, msg("x", n=12)) == []


def test_duplicates_across_channels_and_mentions() -> None:
    compiled = compile_ruleset(RATES)
    rate = compiled.new_rate_window()
    text = "Join my crypto group now!!! t.me/pump"
    assert ids(evaluate(compiled, msg(text, n=1, channel="a"), rate)) == []
    assert ids(evaluate(compiled, msg(text.upper(), n=2, seconds=30, channel="b"), rate)) == []
    (match,) = evaluate(compiled, msg(text, n=3, seconds=60, channel="c"), rate)
    assert match.rule_id == "cross-post"
    assert match.explanation.render().startswith("matched duplicates 3 in 5m ≥ 3 and rule *cross-post*")
    short = compile_ruleset(RATES).new_rate_window()
    for n, channel in enumerate("abc"):  # short texts ("hi") are not duplicates worth counting
        assert ids(evaluate(compiled, msg("hi", n=n, channel=channel), short)) == []
    assert ids(evaluate(compiled, msg("hey @a @b @c @d @e", n=20, mentions=5))) == ["mention-flood"]
    window = compiled.new_rate_window()
    assert ids(evaluate(compiled, msg("@a @b @c @d", n=30, mentions=4), window)) == []
    assert ids(evaluate(compiled, msg("@a @b @c @d", n=31, seconds=5, mentions=4), window)) == ["mention-rate"]


def test_raid_of_first_time_members() -> None:
    compiled = compile_ruleset(RATES)
    rate = compiled.new_rate_window()
    out = [
        ids(evaluate(compiled, msg("hello", n=i, seconds=i, member_id=100 + i, is_first_message=True), rate))
        for i in range(4)
    ]
    assert out == [[], [], ["raid"], ["raid"]]
    # a regular member posting during the raid is not part of it
    assert ids(evaluate(compiled, msg("hello", n=50, seconds=4, member_id=7), rate)) == []
    # on another source there is no raid
    assert ids(evaluate(compiled, msg("hi", n=51, seconds=4, member_id=200, source_id=2, is_first_message=True),
                        rate)) == []  # fmt: skip


def test_seeded_window_answers_as_of_each_message() -> None:
    compiled = compile_ruleset(RATES)
    history = [msg(f"m{i}", n=i, seconds=i) for i in range(10)]
    rate = compiled.new_rate_window()
    rate.seed(reversed(history))  # any order
    assert compiled.rate_horizon_seconds == 300
    assert ids(evaluate(compiled, history[2], rate)) == []  # only 3 messages up to its own time
    assert ids(evaluate(compiled, history[9], rate)) == ["flood"]


def test_regex_spans_point_at_the_original_text() -> None:
    compiled = compile_ruleset(
        "rules:\n"
        "  - {id: invite, when: {regex: 'discord\\.gg/\\w+'}, actions: [remove]}\n"
        "  - {id: shout, when: {regex: {any: ['[A-Z]{10,}'], on: original, case_sensitive: true}}, actions: [queue]}\n"
    )
    text = "ＪＯＩＮ → ｄｉｓｃｏｒｄ.ｇｇ/ＦＲＥＥ now"
    (match,) = evaluate(compiled, msg(text))
    (evidence,) = match.explanation.evidence
    assert evidence.found == "ｄｉｓｃｏｒｄ.ｇｇ/ＦＲＥＥ"
    assert text[evidence.start : evidence.end] == evidence.found
    assert ids(evaluate(compiled, msg("WHY IS NOBODY ANSWERING"))) == []  # 10 capitals in a row, not spaced
    assert ids(evaluate(compiled, msg("WHYISNOBODYANSWERING"))) == ["shout"]
    assert ids(evaluate(compiled, msg("whyisnobodyanswering"))) == []


def test_unicode_tricks_in_phrases_and_words() -> None:
    compiled = compile_ruleset(
        "rules:\n  - {id: threat, when: {phrases: ['ti ammazzo', 'убью тебя', 'kill you']}, actions: [remove]}\n"
    )
    for text in ["io ti ammazzo", "TI AMMAZZO!!", "ti  amm4zzo", "Я убью тебя", "I will k\u200bill y\u043eu",
                 "ｋｉｌｌ ｙｏｕ", "kiiiill you"]:  # fmt: skip
        (match,) = evaluate(compiled, msg(text))
        (evidence,) = match.explanation.evidence
        assert evidence.kind == "phrase"
        assert text[evidence.start : evidence.end] == evidence.found
    assert evaluate(compiled, msg("ti amo")) == []
    assert evaluate(compiled, msg("you kill")) == []
    # a right-to-left override is read as displayed; tags and variation selectors hide nothing
    assert ids(evaluate(compiled, msg("I \u202euoy llik\u202c!"))) == ["threat"]
    assert ids(evaluate(compiled, msg("k\u202eill\u202c you"))) == []  # shows "klli you"
    assert ids(evaluate(compiled, msg("ki\ufe0fll you"))) == ["threat"]
    assert ids(evaluate(compiled, msg("k\U000e0041ill you"))) == ["threat"]


def test_backtest_counts_examples_and_warns() -> None:
    compiled = compile_ruleset(ORDERED.replace("mode: disabled, ", ""))
    history = [msg("all good", n=i, seconds=i) for i in range(90)]
    history += [msg(f"spam offer {i}", n=100 + i, seconds=100 + i) for i in range(10)]
    result = backtest(compiled, history, examples=2)
    assert (result.total, result.acted) == (100, 10)
    assert result.share == 0.1
    # every rule runs as if enabled: the log-only rule now stops the ones after it
    assert {k: (s.matched, s.acted) for k, s in result.rules.items()} == {
        "off": (10, 10), "logged": (10, 0), "stopper": (0, 0), "after": (0, 0),
    }  # fmt: skip
    assert result.actions == {"ban": 10, "queue": 10}
    assert [e.message_id for e in result.rules["off"].examples] == [100, 101]
    assert result.rules["off"].examples[0].explanation == "matched word «spam» and rule *off* on «spam offer 0»"
    assert result.too_broad
    assert result.warnings == [
        "the rules would act on 10.0% of 100 messages (more than 5%): check the examples for false positives "
        "before enabling",
        "rule *off* alone would act on 10.0% of the messages (more than 5%)",
        "rule *logged* alone would act on 10.0% of the messages (more than 5%)",
    ]
    one = backtest(compiled, history, rule_ids=["after"], warning_share=0.2)
    assert list(one.rules) == ["after"]
    assert one.rules["after"].matched == 10
    assert not one.too_broad
    assert one.warnings == []
    data = one.as_dict()
    assert data["rules"][0]["examples"][0]["evidence"] == [
        {"kind": "word", "expected": "spam", "found": "spam", "start": 0, "end": 4}
    ]
    assert backtest(compiled, []).share == 0.0


def test_backtest_reports_history_out_of_order() -> None:
    compiled = compile_ruleset("rules:\n  - {id: a, when: {words: [x]}, actions: [queue]}\n")
    result = backtest(compiled, [msg("a", n=1, seconds=10), msg("b", n=2, seconds=0)])
    assert result.out_of_order == 1
    assert result.warnings == ["1 messages were not in time order: rate conditions may be off"]


def test_modes_changed_after_compiling_keep_the_indexes_right() -> None:
    compiled = compile_ruleset(ORDERED)
    assert ids(evaluate(compiled, msg("spam"))) == ["logged", "stopper"]
    changed = compiled.with_modes({"off": "enabled", "stopper": Mode.DISABLED, "logged": "disabled"})
    assert ids(evaluate(changed, msg("spam"))) == ["off", "after"]
    # the moderation app may also replace the rules itself
    import dataclasses

    rules = tuple(r.with_mode(Mode.DISABLED) if r.rule_id == "after" else r for r in changed.rules)
    assert ids(evaluate(dataclasses.replace(changed, rules=rules), msg("spam"))) == ["off"]
    assert ids(evaluate(compiled, msg("spam"))) == ["logged", "stopper"]  # the original is unchanged


def test_raid_window_seeded_newest_first() -> None:
    compiled = compile_ruleset(RATES)
    arrivals = [msg("hello", n=i, seconds=i * 10, member_id=100 + i, is_first_message=True) for i in range(5)]
    rate = compiled.new_rate_window()
    rate.seed(reversed(arrivals))  # as a query ordered by -ingested_at returns them
    assert [ids(evaluate(compiled, m, rate)) for m in arrivals] == [[], [], ["raid"], ["raid"], ["raid"]]
    late = msg("hello", n=99, seconds=200, member_id=300, is_first_message=True)
    assert ids(evaluate(compiled, late, rate)) == []  # the others are more than a minute old


def test_which_rules_need_enrichment_signals() -> None:
    extra = (
        "  - {id: words-only, when: {words: [x], member: {strikes: 1}}, actions: [queue]}\n"
        "  - {id: lang, when: {not: {language: [en]}}, actions: [queue]}\n"
    )
    compiled = compile_ruleset(SCORES + extra)
    assert {r.rule_id: r.when.needs_signals() for r in compiled.rules} == {
        "insults": True, "toxic-flag": True, "low-spam": True, "words-only": False, "lang": True,
    }  # fmt: skip
