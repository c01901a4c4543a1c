"""The models behind message understanding: one sentence encoder and small classification heads.

This module is the contract between the enrichment pipeline and the models; everything else in this package is
how it is fulfilled.

- ``load_encoder()`` returns the shared :class:`Encoder`: ``encode(texts)`` gives an ``(n, d)`` float32 array of
  L2-normalised embeddings, the same vectors that similarity search stores.
- ``load_head(task, workspace_id=None)`` returns the :class:`Head` for one of :data:`TASKS`, or ``None`` when no
  weights exist for it. ``predict_proba(embeddings, texts, languages=None)`` gives ``(n, len(labels))``
  probabilities: one distribution over the labels for sentiment, independent probabilities for the toxicity
  categories, spam and question. ``languages`` are the texts' detected languages ("und" when unknown); a head may
  read them (the sentiment head does) or ignore them. With a ``workspace_id``, the workspace's own head
  (fine-tuned on its moderators' corrections and stored under the data directory, never in the package) is
  preferred when present.

Loading is lazy and cached per process. Nothing is ever downloaded: the encoder's weights and the heads ship
inside installed packages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

SENTIMENT_LABELS: Final = ("negative", "neutral", "positive")
TOXICITY_LABELS: Final = ("toxic", "insult", "threat", "identity_attack", "profanity", "sexual", "friendly_profanity")
SPAM_LABELS: Final = ("spam",)
QUESTION_LABELS: Final = ("question",)

TASK_LABELS: Final[dict[str, tuple[str, ...]]] = {
    "sentiment": SENTIMENT_LABELS,
    "toxicity": TOXICITY_LABELS,
    "spam": SPAM_LABELS,
    "question": QUESTION_LABELS,
}
TASKS: Final = tuple(TASK_LABELS)
# Sentiment labels are exclusive (rows sum to 1); the other tasks give one independent probability per label.
EXCLUSIVE_TASKS: Final = frozenset({"sentiment"})


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into L2-normalised sentence embeddings."""

    name: str
    version: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed ``texts`` as an ``(len(texts), dimension)`` float32 array whose rows have unit length."""
        ...


@runtime_checkable
class Head(Protocol):
    """A trained classifier for one task, reading the encoder's embeddings (and the raw texts for lexicons)."""

    task: str
    labels: tuple[str, ...]
    version: str

    def predict_proba(
        self, embeddings: NDArray[np.float32], texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> NDArray[np.float32]:
        """Probabilities of shape ``(len(texts), len(labels))`` for embeddings computed from ``texts``, whose
        detected languages are ``languages`` when the caller knows them."""
        ...

    def explain(self, texts: Sequence[str], probabilities: NDArray[np.float32]) -> list[list[dict[str, Any]]]:
        """Reasons per text as codes (e.g. {"code": "cue", "cue": "profanity", "words": ["f***ing"]}), rendered
        and translated by enrichment.presentation; empty when there is nothing to say."""
        ...


def load_encoder() -> Encoder:
    """The process-wide sentence encoder (loaded on first use, then cached)."""
    from communa.enrichment.models import runtime

    return runtime.shared_encoder()


def load_head(task: str, workspace_id: int | None = None) -> Head | None:
    """The head for ``task``: the workspace's own when it has one, else the shipped one; None without weights.

    Raises ValueError for a task outside :data:`TASKS`.
    """
    from communa.enrichment.models import runtime

    return runtime.head_for(task, workspace_id)


def clear_cache() -> None:
    """Forget loaded heads (after training a workspace head, or in tests); the encoder stays loaded."""
    from communa.enrichment.models import runtime

    runtime.forget_heads()


__all__ = [
    "EXCLUSIVE_TASKS",
    "QUESTION_LABELS",
    "SENTIMENT_LABELS",
    "SPAM_LABELS",
    "TASKS",
    "TASK_LABELS",
    "TOXICITY_LABELS",
    "Encoder",
    "Head",
    "clear_cache",
    "load_encoder",
    "load_head",
]
