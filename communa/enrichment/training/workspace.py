"""A workspace's own heads, fitted on its moderators' corrections on top of the shipped ones.

Only the last layer moves, and it is pulled back towards the shipped weights (L2 towards the base, not towards
zero), so a few dozen corrections shift the decision where the community disagrees with the base model without
forgetting what the base learned. The n-gram part is kept as shipped. The result is written under the data
directory (it is derived from the workspace's own messages) and preferred by ``load_head(task, workspace_id)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from communa.enrichment.language import language_codes
from communa.enrichment.models import SENTIMENT_LABELS, load_encoder
from communa.enrichment.models.heads import NpzHead, read_head, write_head
from communa.enrichment.models.runtime import WEIGHTS_DIR, forget_heads, workspace_head_path
from communa.enrichment.training.base import model_text
from communa.enrichment.training.report import say

MIN_CORRECTIONS = 10
STEPS = 300
LEARNING_RATE = 0.5
PULL_TO_BASE = 0.05  # L2 strength towards the shipped weights, per correction-averaged loss
# The column a yes/no correction speaks about, and its positive label.
BINARY_COLUMNS = {"toxicity": ("toxic", "toxic"), "spam": ("spam", "spam"), "question": ("question", "question")}


@dataclass(frozen=True)
class FineTuned:
    task: str
    corrections: int
    accuracy_before: float
    accuracy_after: float


def train_workspace(workspace: str, tasks: Sequence[str], *, quiet: bool = False) -> int:
    """Fit ``workspace``'s heads (slug or id) for ``tasks`` that have enough corrections; 0 on success."""
    from communa.accounts.models import Workspace
    from communa.enrichment.selectors import corrections

    found = Workspace.objects.filter(slug=workspace).first()
    if found is None and workspace.isdigit():
        found = Workspace.objects.filter(pk=int(workspace)).first()
    if found is None:
        say(f"No workspace {workspace!r}.")
        return 2
    for task in tasks:
        pairs = corrections(found.pk, task)
        if len(pairs) < MIN_CORRECTIONS:
            say(f"{task}: {len(pairs)} correction(s), fewer than {MIN_CORRECTIONS}: keeping the shipped head")
            continue
        result = fine_tune(found.pk, task, [text for text, _ in pairs], [label for _, label in pairs])
        if not quiet:
            say(
                f"{task}: fitted on {result.corrections} corrections; agreement with them "
                f"{result.accuracy_before:.0%} → {result.accuracy_after:.0%}"
            )
    forget_heads()
    return 0


def fine_tune(workspace_id: int, task: str, texts: Sequence[str], labels: Sequence[str]) -> FineTuned:
    """Fit and store the workspace's head for ``task`` from (text, correction label) pairs."""
    base = read_head(WEIGHTS_DIR / f"{task}.npz")
    model_texts = [model_text(text) for text in texts]
    embeddings = load_encoder().encode(model_texts)
    languages = language_codes(model_texts) if base.languages else None
    inputs = base.hidden(base.features(embeddings, model_texts, languages))
    weights, bias = base.last_layer()
    column, targets = _targets(task, labels)
    before = _agreement(base, embeddings, model_texts, languages, column, targets)
    new_weights, new_bias = _fit_last_layer(inputs, weights, bias, column, targets, base.activation)
    arrays = base.arrays()
    last = base.layer_count() - 1
    arrays[f"W{last}"], arrays[f"b{last}"] = new_weights, new_bias
    meta = dict(base.meta, version=f"{base.version}+ws{workspace_id}.{len(texts)}")
    path = workspace_head_path(workspace_id, task)
    write_head(path, meta, arrays)
    after = _agreement(read_head(path), embeddings, model_texts, languages, column, targets)
    return FineTuned(task, len(texts), before, after)


def _targets(task: str, labels: Sequence[str]) -> tuple[int | None, NDArray[np.float32]]:
    """For sentiment: class indices (column None); else the yes/no column and 1/0 per correction."""
    if task == "sentiment":
        return None, np.array([SENTIMENT_LABELS.index(label) for label in labels], dtype=np.float32)
    label_name, positive = BINARY_COLUMNS[task]
    from communa.enrichment.models import TASK_LABELS

    return TASK_LABELS[task].index(label_name), np.array([label == positive for label in labels], dtype=np.float32)


def _agreement(
    head: NpzHead,
    embeddings: NDArray[np.float32],
    texts: Sequence[str],
    languages: Sequence[str] | None,
    column: int | None,
    targets: NDArray[np.float32],
) -> float:
    proba = head.predict_proba(embeddings, texts, languages)
    predicted = proba.argmax(axis=1) if column is None else (proba[:, column] >= 0.5)
    return float(np.mean(predicted.astype(np.float32) == targets))


def _fit_last_layer(
    inputs: NDArray[np.float32],
    weights: NDArray[np.float32],
    bias: NDArray[np.float32],
    column: int | None,
    targets: NDArray[np.float32],
    activation: str,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Gradient descent on the corrections' log-loss plus ``PULL_TO_BASE`` · ‖W − W_base‖²."""
    base_weights, new_weights, new_bias = weights.copy(), weights.copy(), bias.copy()
    rows = len(inputs)
    for _ in range(STEPS):
        logits = inputs @ new_weights + new_bias
        if column is None:
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            error = shifted / shifted.sum(axis=1, keepdims=True)
            error[np.arange(rows), targets.astype(np.int64)] -= 1.0
        else:
            error = np.zeros_like(logits)
            error[:, column] = 1.0 / (1.0 + np.exp(-logits[:, column])) - targets
        gradient = inputs.T @ error / rows + 2 * PULL_TO_BASE * (new_weights - base_weights)
        new_weights -= LEARNING_RATE * gradient
        new_bias -= LEARNING_RATE * error.mean(axis=0)
    return new_weights.astype(np.float32), new_bias.astype(np.float32)
