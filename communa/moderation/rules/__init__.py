"""The moderation rule language and its engine: pure Python, no database (see docs/moderation-rules.md).

compiled = compile_ruleset(text)              # RuleError(message, line, column) when it does not validate
rate = compiled.new_rate_window()             # sliding windows for rate conditions (seed it from history)
for match in evaluate(compiled, facts, rate): # MessageFacts built by the moderation app
    match.actions, match.mode, match.explanation.render()
result = backtest(compiled, past_facts)       # counts, examples, share, warnings
"""

from communa.moderation.rules.backtest import BacktestResult, Example, RuleStats, backtest
from communa.moderation.rules.compiler import MAX_BYTES, MAX_DEPTH, MAX_RULES, compile_ruleset
from communa.moderation.rules.engine import CompiledRule, CompiledRuleSet, describe, evaluate
from communa.moderation.rules.errors import RuleError
from communa.moderation.rules.explain import Action, ActionKind, Evidence, Explanation, Match, Mode
from communa.moderation.rules.facts import MessageFacts, signals_from
from communa.moderation.rules.rate import RateWindow
from communa.moderation.rules.words import SUPPORTED_LANGUAGES, warm_up

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_RULES",
    "SUPPORTED_LANGUAGES",
    "Action",
    "ActionKind",
    "BacktestResult",
    "CompiledRule",
    "CompiledRuleSet",
    "Evidence",
    "Example",
    "Explanation",
    "Match",
    "MessageFacts",
    "Mode",
    "RateWindow",
    "RuleError",
    "RuleStats",
    "backtest",
    "compile_ruleset",
    "describe",
    "evaluate",
    "signals_from",
    "warm_up",
]
