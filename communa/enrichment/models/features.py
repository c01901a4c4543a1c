"""Text features the heads read besides the embedding (lexicon and surface cues), and the reasons they give."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray


def no_features(texts: Sequence[str]) -> NDArray[np.float32]:
    """The embedding alone."""
    return np.zeros((len(texts), 0), dtype=np.float32)


FEATURE_SETS: dict[str, Callable[[Sequence[str]], NDArray[np.float32]]] = {"none": no_features}


def explain_text(task: str, text: str) -> list[str]:
    """Human-readable cues in ``text`` that matter for ``task``."""
    return []
