"""Tiny models built here, served through the real contract (communa.enrichment.models.load_encoder/load_head).

The encoder hashes words into 64 dimensions (the same words give the same unit vector, so near-duplicates are
exact); each head answers from keywords with fixed probabilities, so tests can assert exact values. They are
real implementations of the Encoder and Head protocols, not mocks of the pipeline under test.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest
from numpy.typing import NDArray

from communa.enrichment import models
from communa.enrichment.models import SENTIMENT_LABELS, TOXICITY_LABELS

DIMENSION = 64


class TinyEncoder:
    name = "tiny-hash"
    version = "t1"
    dimension = DIMENSION

    def __init__(self) -> None:
        self.calls: list[int] = []  # batch sizes, to check that encoding is batched

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower()) or [text]
            for word in words:
                out[row, zlib.crc32(word.encode()) % DIMENSION] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


Rule = Callable[[str], list[float]]


class KeywordHead:
    def __init__(self, task: str, labels: tuple[str, ...], rule: Rule, reasons: Callable[[str], list[str]]) -> None:
        self.task, self.labels, self.version = task, labels, f"{task}-t1"
        self._rule, self._reasons = rule, reasons
        self.seen: list[int] = []
        self.languages: tuple[str, ...] = ()  # set by a test: the head then reads the texts' languages
        self.seen_languages: list[list[str] | None] = []

    def predict_proba(
        self, embeddings: NDArray[np.float32], texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> NDArray[np.float32]:
        assert embeddings.ndim == 2
        assert embeddings.shape[0] == len(texts)
        self.seen.append(len(texts))
        self.seen_languages.append(None if languages is None else list(languages))
        return np.array([self._rule(text.lower()) for text in texts], dtype=np.float32).reshape(len(texts), -1)

    def explain(self, texts: Sequence[str], probabilities: NDArray[np.float32]) -> list[list[str]]:
        return [self._reasons(text.lower()) for text in texts]


def _has(text: str, *words: str) -> bool:
    return any(re.search(rf"\b{re.escape(w)}\b", text) for w in words)


def sentiment(text: str) -> list[float]:
    if _has(text, "love", "great", "awesome", "grazie", "bello"):
        return [0.05, 0.15, 0.8]
    if _has(text, "hate", "terrible", "awful", "schifo"):
        return [0.8, 0.15, 0.05]
    return [0.1, 0.8, 0.1]


def toxicity(text: str) -> list[float]:
    # labels: toxic, insult, threat, identity_attack, profanity, sexual, friendly_profanity
    if _has(text, "idiot", "bitch"):
        return [0.9, 0.85, 0.05, 0.05, 0.3, 0.05, 0.05]
    if _has(text, "kill"):
        return [0.92, 0.2, 0.88, 0.05, 0.05, 0.05, 0.02]
    if _has(text, "fucking", "fuck") and _has(text, "awesome", "love"):
        return [0.2, 0.05, 0.01, 0.01, 0.9, 0.02, 0.9]
    return [0.02, 0.02, 0.01, 0.01, 0.02, 0.01, 0.01]


def spam(text: str) -> list[float]:
    return [0.9] if _has(text, "casino", "buy") else [0.05]


def question(text: str) -> list[float]:
    return [0.9] if "?" in text or _has(text, "how", "what") else [0.1]


def no_reasons(text: str) -> list[str]:
    return []


def toxicity_reasons(text: str) -> list[str]:
    return ['insult: "idiot"'] if _has(text, "idiot") else []


def build_heads() -> dict[str, KeywordHead]:
    return {
        "sentiment": KeywordHead("sentiment", SENTIMENT_LABELS, sentiment, no_reasons),
        "toxicity": KeywordHead("toxicity", TOXICITY_LABELS, toxicity, toxicity_reasons),
        "spam": KeywordHead("spam", ("spam",), spam, no_reasons),
        "question": KeywordHead("question", ("question",), question, no_reasons),
    }


@dataclass
class TinyModels:
    encoder: TinyEncoder = field(default_factory=TinyEncoder)
    heads: dict[str, KeywordHead] = field(default_factory=build_heads)
    asked: list[tuple[str, int | None]] = field(default_factory=list)

    def load_encoder(self) -> TinyEncoder:
        return self.encoder

    def load_head(self, task: str, workspace_id: int | None = None) -> KeywordHead | None:
        self.asked.append((task, workspace_id))
        return self.heads.get(task)


@pytest.fixture
def tiny_models(monkeypatch: pytest.MonkeyPatch) -> TinyModels:
    served = TinyModels()
    monkeypatch.setattr(models, "load_encoder", served.load_encoder)
    monkeypatch.setattr(models, "load_head", served.load_head)
    return served
