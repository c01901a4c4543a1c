"""Scoring the signals against labelled data: macro-F1 for every task, ROC-AUC for the yes/no ones.

Gold labels are read leniently, because labelled sets spell them in many ways (xlm-t's 0/1/2, "ham",
"OFFENSE"); a label this module cannot read is reported, never guessed.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from communa.enrichment.pipeline import Signals

SENTIMENT_ALIASES = {
    "0": "negative", "neg": "negative", "negative": "negative",
    "1": "neutral", "neu": "neutral", "neutral": "neutral",
    "2": "positive", "pos": "positive", "positive": "positive",
}  # fmt: skip
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "toxic", "spam", "question", "offense", "offensive", "hate"})
FALSE_WORDS = frozenset({"0", "false", "no", "n", "ham", "other", "none", "neither", "not_toxic", "not_spam",
                         "not_question", "non-toxic", "clean"})  # fmt: skip
BINARY_TASKS = ("toxicity", "spam", "question")


class UnreadableLabel(ValueError):
    pass


def gold_label(task: str, value: str) -> str:
    """A gold label in the task's terms: a language code, a sentiment, or "yes"/"no"."""
    key = value.strip().lower()
    if task == "language":
        return key
    if task == "sentiment":
        if key in SENTIMENT_ALIASES:
            return SENTIMENT_ALIASES[key]
    elif key in TRUE_WORDS:
        return "yes"
    elif key in FALSE_WORDS:
        return "no"
    raise UnreadableLabel(value)


def predicted(task: str, signals: Signals) -> tuple[str, float | None]:
    """The label the signals give for `task`, and the positive class's probability for yes/no tasks."""
    if task == "language":
        return signals.language, None
    if task == "sentiment":
        return signals.sentiment, None
    flag, score = {
        "toxicity": (signals.is_toxic, signals.toxicity_score),
        "spam": (signals.is_spam, signals.spam_score),
        "question": (signals.is_question, signals.question_score),
    }[task]
    return ("yes" if flag else "no"), score


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Unweighted mean of per-class F1 over the classes seen in either list (as scikit-learn computes it)."""
    scores = []
    for label in sorted(set(gold) | set(pred)):
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p != label)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def roc_auc(positive: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted half); None with one class only."""
    y = np.asarray(positive, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_scores = s[order]
    start = 0
    while start < len(s):  # average ranks over ties
        end = start
        while end + 1 < len(s) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclasses.dataclass(frozen=True, slots=True)
class GroupScore:
    group: str
    rows: int
    macro_f1: float
    roc_auc: float | None


def score_by_group(
    task: str, groups: Sequence[str], gold: Sequence[str], signals: Sequence[Signals]
) -> list[GroupScore]:
    """Scores per group (language), then over everything ("all"), groups by size."""
    rows: dict[str, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        rows[group or "und"].append(index)
    ordered = sorted(rows, key=lambda g: (-len(rows[g]), g))
    result = [_score(task, group, rows[group], gold, signals) for group in ordered]
    if len(ordered) > 1:
        result.append(_score(task, "all", list(range(len(gold))), gold, signals))
    return result


def _score(task: str, group: str, indexes: list[int], gold: Sequence[str], signals: Sequence[Signals]) -> GroupScore:
    predictions = [predicted(task, signals[i]) for i in indexes]
    golds = [gold[i] for i in indexes]
    auc = None
    if task in BINARY_TASKS:
        auc = roc_auc([g == "yes" for g in golds], [score if score is not None else 0.0 for _, score in predictions])
    return GroupScore(group, len(indexes), macro_f1(golds, [label for label, _ in predictions]), auc)
