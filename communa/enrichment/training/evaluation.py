"""Validation figures: macro-F1 for sentiment, ROC-AUC (and F1 at 0.5) for yes/no labels, per source and language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from communa.enrichment.training.data import Example

SENTIMENT_BENCHMARK_LANGUAGES = ("en", "fr", "de", "it", "pt", "es")


def macro_f1(truth: NDArray[np.int64], predicted: NDArray[np.int64], classes: int) -> float:
    """Unweighted mean of per-class F1 (a class absent from both truth and prediction is skipped)."""
    scores = []
    for label in range(classes):
        true_positive = float(np.sum((predicted == label) & (truth == label)))
        predicted_count = float(np.sum(predicted == label))
        actual_count = float(np.sum(truth == label))
        if predicted_count + actual_count:
            scores.append(2 * true_positive / (predicted_count + actual_count))
    return float(np.mean(scores)) if scores else 0.0


def binary_f1(truth: NDArray[np.float32], scores: NDArray[np.float32], threshold: float = 0.5) -> float:
    predicted = scores >= threshold
    positive = truth == 1.0
    true_positive = float(np.sum(predicted & positive))
    denominator = float(np.sum(predicted) + np.sum(positive))
    return 2 * true_positive / denominator if denominator else 0.0


def roc_auc(truth: NDArray[np.float32], scores: NDArray[np.float32]) -> float | None:
    """Area under the ROC curve by the rank statistic (ties share ranks); None without both classes."""
    positive = truth == 1.0
    n_positive, n_negative = int(positive.sum()), int((~positive).sum())
    if not n_positive or not n_negative:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return float((ranks[positive].sum() - n_positive * (n_positive + 1) / 2.0) / (n_positive * n_negative))


def group_names(examples: Sequence[Example]) -> list[str]:
    return [f"{example.source}/{example.lang}" for example in examples]


def evaluate(
    task: str,
    labels: Sequence[str],
    examples: Sequence[Example],
    target: NDArray[np.float32],
    proba: NDArray[np.float32],
) -> dict[str, Any]:
    """Figures per ``source/lang`` group of ``examples`` (all validation rows), plus the task's headline numbers."""
    groups = group_names(examples)
    report: dict[str, Any] = {"groups": {}}
    for group in sorted(set(groups)):
        rows = np.array([name == group for name in groups])
        report["groups"][group] = _group_figures(task, labels, target[rows], proba[rows])
    report["summary"] = _summary(task, report["groups"])
    if task != "sentiment":
        # Every validation row of the task at once (the spam target is one F1, not one per collection).
        pooled = _group_figures(task, labels, target, proba).get(labels[0])
        if pooled is not None:
            report["summary"][f"all sources {labels[0]} f1"] = pooled["f1"]
            report["summary"][f"all sources {labels[0]} roc_auc"] = pooled["roc_auc"]
    return report


def _group_figures(
    task: str, labels: Sequence[str], target: NDArray[np.float32], proba: NDArray[np.float32]
) -> dict[str, Any]:
    if task == "sentiment":
        truth = target[:, 0].astype(np.int64)
        return {"n": len(truth), "macro_f1": round(macro_f1(truth, proba.argmax(axis=1), len(labels)), 4)}
    figures: dict[str, Any] = {}
    for column, label in enumerate(labels):
        known = ~np.isnan(target[:, column])
        if known.sum() == 0:
            continue
        auc = roc_auc(target[known, column], proba[known, column])
        if auc is None:
            continue
        figures[label] = {
            "n": int(known.sum()),
            "positives": int(target[known, column].sum()),
            "roc_auc": round(auc, 4),
            "f1": round(binary_f1(target[known, column], proba[known, column]), 4),
        }
    return figures


def _summary(task: str, groups: dict[str, Any]) -> dict[str, float]:
    """The numbers the issue sets targets for."""
    if task == "sentiment":
        six = [
            groups[f"xlm-t/{lang}"]["macro_f1"] for lang in SENTIMENT_BENCHMARK_LANGUAGES if f"xlm-t/{lang}" in groups
        ]
        summary = {"xlm-t mean macro-F1 (en fr de it pt es)": round(float(np.mean(six)), 4)} if six else {}
        if "rusentitweet/ru" in groups:
            summary["rusentitweet macro-F1"] = groups["rusentitweet/ru"]["macro_f1"]
        return summary
    headline = {"toxicity": "toxic", "spam": "spam", "question": "question"}[task]
    metric = "f1" if task == "spam" else "roc_auc"
    return {
        f"{group} {headline} {metric}": figures[headline][metric]
        for group, figures in groups.items()
        if headline in figures
    }
