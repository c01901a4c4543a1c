"""From texts to signals, in batches: normalise, detect the language, encode once, run every installed head.

`analyse` is pure (no database): the ingest path (services.enrich_messages), `communa classify` and
`communa models eval` all call it, so a message and a line of a CSV file get the same answer. What the
database knows about the authors (who wrote what, how often, since when) comes in on each `Item`.
A head that is not installed leaves its signal empty; a head that fails is logged and left empty too, so
one broken model never stops the others.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from numpy.typing import NDArray

from communa.enrichment import lexicon
from communa.enrichment.backends import models_backend
from communa.enrichment.language import detect_languages
from communa.enrichment.normalize import MAX_CHARS, NormalizedText, normalize

logger = logging.getLogger(__name__)

MODEL_TASKS = ("sentiment", "toxicity", "spam", "question")
TASKS = ("language", *MODEL_TASKS)
TOXICITY_CATEGORIES = ("insult", "threat", "identity_attack", "profanity", "sexual")
ENCODER_CHARS = 1000  # a sentence encoder reads the gist; 100 KB of text would cost seconds and say no more
ENCODE_BATCH = 256
# Near-duplicates: a cheap embedding pre-filter, confirmed on the words. The sentence encoder alone would call
# paraphrases duplicates ("How do I reset my password?" / "How can I…": 0.98), while one changed link or "!"
# can drop a copy to 0.94; the words tell copies from paraphrases.
DUPLICATE_SIMILARITY = 0.9  # cosine between embeddings
DUPLICATE_OVERLAP = 0.8  # Jaccard overlap of the two texts' sets of words
DUPLICATE_MIN_WORDS = 5  # "thanks!" from twenty people is a community, not spam
PROBABILITY_DIGITS = 4

Reason = dict[str, Any]  # {"code": "links", "count": 2}: rendered (and translated) by tables.reason_text


@dataclasses.dataclass(slots=True)
class Item:
    """One text to analyse, with what is known about its author (all optional: a CSV line has none of it)."""

    text: str
    author: int | str | None = None
    created_at: datetime | None = None
    posts_last_hour: int = 0  # the author's messages in the hour before this one
    author_first_seen: datetime | None = None  # when the community first saw the author
    account_created_at: datetime | None = None  # when the platform account was made, where the platform says


@dataclasses.dataclass(slots=True)
class RecentMessages:
    """Earlier messages of the same community, for near-duplicates across batches."""

    embeddings: NDArray[np.float32]
    authors: list[int | str | None]
    texts: list[str]


@dataclasses.dataclass(slots=True)
class Signals:
    language: str = ""
    language_score: float | None = None
    sentiment: str = ""
    sentiment_scores: dict[str, float] | None = None
    toxicity_score: float | None = None
    toxicity_categories: dict[str, float] | None = None
    friendly_profanity_score: float | None = None
    is_toxic: bool | None = None
    spam_score: float | None = None
    is_spam: bool | None = None
    question_score: float | None = None
    is_question: bool | None = None
    embedding: bytes | None = None
    embedding_version: str = ""
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    explanation: dict[str, list[Reason]] = dataclasses.field(default_factory=dict)

    def explain(self, task: str, reason: Reason) -> None:
        self.explanation.setdefault(task, []).append(reason)


@dataclasses.dataclass(slots=True)
class Batch:
    """What every step reads: the items, their normalised texts, and the rows that reach the models."""

    items: Sequence[Item]
    normalized: list[NormalizedText]
    signals: list[Signals]
    readable: list[int]  # indexes of the items with text for the models
    model_texts: list[str]
    embeddings: NDArray[np.float32] | None = None
    # Near-duplicate matrices, computed once per batch on first use: readable × readable, readable × window.
    similar: NDArray[np.bool_] | None = None
    similar_recent: NDArray[np.bool_] | None = None
    words: dict[int, frozenset[str]] = dataclasses.field(default_factory=dict)  # by item index
    recent_words: dict[int, frozenset[str]] = dataclasses.field(default_factory=dict)  # by window row
    allowed_languages: Collection[str] = ()
    languages: list[str] | None = None  # per readable row, detected once for the heads that read languages


RecentLoader = Callable[[str], RecentMessages]


def analyse(
    items: Sequence[Item],
    *,
    tasks: Collection[str] = TASKS,
    workspace_id: int | None = None,
    languages: Collection[str] = (),
    recent: RecentLoader | None = None,
) -> list[Signals]:
    """The signals of each item, in order. `languages` restricts detection; `recent(encoder_version)` gives the
    community's recent messages for near-duplicate detection."""
    normalized = [normalize(item.text) for item in items]
    readable = [i for i, text in enumerate(normalized) if text.text]
    batch = Batch(
        items=items,
        normalized=normalized,
        signals=[Signals() for _ in items],
        readable=readable,
        model_texts=[normalized[i].text[:ENCODER_CHARS] for i in readable],
        allowed_languages=languages,
    )
    if "language" in tasks:
        _languages(batch)
    wanted = [task for task in MODEL_TASKS if task in tasks]
    if not wanted or not readable:
        return batch.signals
    backend = models_backend()
    encoder = backend.encoder()
    if encoder is None:
        return batch.signals
    batch.embeddings = _encode(encoder, batch.model_texts)
    for index, row in zip(readable, batch.embeddings, strict=True):
        batch.signals[index].embedding = quantise(row)
        batch.signals[index].embedding_version = encoder.version
        batch.signals[index].versions["encoder"] = f"{encoder.name} {encoder.version}"
    window = recent(encoder.version) if recent is not None and "spam" in wanted else None
    for task in wanted:
        head = backend.head(task, workspace_id)
        if head is not None:
            _run_head(batch, task, head, window)
    return batch.signals


def _languages(batch: Batch) -> None:
    guesses = detect_languages(batch.normalized, allowed=batch.allowed_languages)
    for signals, guess in zip(batch.signals, guesses, strict=True):
        signals.language, signals.language_score = guess.code, guess.probability
        if guess.reason:
            signals.explain("language", {"code": guess.reason.replace(" ", "_")})
    batch.languages = [guesses[index].code for index in batch.readable]


def _model_languages(batch: Batch, head: Any) -> list[str] | None:
    """The readable texts' languages for a head that reads them (the sentiment head's per-language n-grams), as
    the language signal gives them; detected here when the caller did not ask for that signal."""
    if not getattr(head, "languages", ()):
        return None
    if batch.languages is None:
        readable = [batch.normalized[index] for index in batch.readable]
        batch.languages = [guess.code for guess in detect_languages(readable, allowed=batch.allowed_languages)]
    return batch.languages


def _encode(encoder: Any, texts: Sequence[str]) -> NDArray[np.float32]:
    parts = [encoder.encode(texts[start : start + ENCODE_BATCH]) for start in range(0, len(texts), ENCODE_BATCH)]
    return np.vstack(parts).astype(np.float32, copy=False)


def quantise(vector: NDArray[np.float32]) -> bytes:
    """A unit vector as int8, one byte per dimension: cosine similarity survives to about two decimals."""
    return bytes(np.clip(np.rint(vector * 127.0), -127, 127).astype(np.int8).tobytes())


def dequantise(data: bytes) -> NDArray[np.float32]:
    return np.frombuffer(data, dtype=np.int8).astype(np.float32) / 127.0


def _run_head(batch: Batch, task: str, head: Any, window: RecentMessages | None) -> None:
    assert batch.embeddings is not None
    try:
        languages = _model_languages(batch, head)
        if languages is None:  # called as before the languages existed: a head from a backend may not take them
            raw = head.predict_proba(batch.embeddings, batch.model_texts)
        else:
            raw = head.predict_proba(batch.embeddings, batch.model_texts, languages=languages)
        probabilities = np.asarray(raw, dtype=np.float32)
        if probabilities.shape != (len(batch.model_texts), len(head.labels)):
            raise ValueError(f"probabilities of shape {probabilities.shape} for {len(head.labels)} labels")
        reasons = _head_reasons(head, batch.model_texts, probabilities)
    except Exception:
        logger.exception("enrichment: the %s head failed on a batch of %d", task, len(batch.model_texts))
        return
    labels = tuple(head.labels)
    apply = {"sentiment": _sentiment, "toxicity": _toxicity, "spam": _spam, "question": _question}[task]
    for row, index in enumerate(batch.readable):
        signals = batch.signals[index]
        signals.versions[task] = str(head.version)
        values = probabilities[row]
        scores = {label: round(float(p), PROBABILITY_DIGITS) for label, p in zip(labels, values, strict=True)}
        apply(batch, index, row, scores, window)
        for reason in reasons[row]:
            signals.explain(task, reason)


def _head_reasons(head: Any, texts: Sequence[str], probabilities: NDArray[np.float32]) -> list[list[Reason]]:
    explain = getattr(head, "explain", None)
    if explain is None:
        return [[] for _ in texts]
    reasons = explain(texts, probabilities)
    # A head from elsewhere (a local transformer directory) may explain in plain words: kept as they are.
    return [[r if isinstance(r, dict) else {"code": "model", "text": str(r)} for r in row] for row in reasons]


def _threshold(task: str) -> float:
    return float(settings.ENRICHMENT["THRESHOLDS"][task])


# --- per task --------------------------------------------------------------------------------------


def _sentiment(batch: Batch, index: int, row: int, scores: dict[str, float], window: RecentMessages | None) -> None:
    signals = batch.signals[index]
    signals.sentiment_scores = scores
    signals.sentiment = max(scores, key=lambda label: scores[label])


def _toxicity(batch: Batch, index: int, row: int, scores: dict[str, float], window: RecentMessages | None) -> None:
    signals = batch.signals[index]
    signals.toxicity_score = scores.get("toxic")
    signals.toxicity_categories = {c: scores[c] for c in TOXICITY_CATEGORIES if c in scores}
    signals.friendly_profanity_score = scores.get("friendly_profanity")
    if signals.toxicity_score is not None:
        signals.is_toxic = signals.toxicity_score >= _threshold("toxicity")
    for category, probability in signals.toxicity_categories.items():
        if probability >= _threshold("toxicity"):
            signals.explain("toxicity", {"code": "category", "category": category, "probability": probability})
    words = batch.normalized[index].words
    cues = lexicon.profane_words(words)
    if cues:
        signals.explain("toxicity", {"code": "profanity", "words": cues[:5]})
        if lexicon.negated(words, cues):
            signals.explain("toxicity", {"code": "negated"})
        if lexicon.quoting(batch.items[index].text[:MAX_CHARS], cues):
            signals.explain("toxicity", {"code": "quoting"})


def _question(batch: Batch, index: int, row: int, scores: dict[str, float], window: RecentMessages | None) -> None:
    signals = batch.signals[index]
    signals.question_score = scores.get("question")
    if signals.question_score is not None:
        signals.is_question = signals.question_score >= _threshold("question")
    if signals.is_question and any(mark in batch.normalized[index].text for mark in "?¿؟"):
        signals.explain("question", {"code": "question_mark"})


def _spam(batch: Batch, index: int, row: int, scores: dict[str, float], window: RecentMessages | None) -> None:
    signals = batch.signals[index]
    content = scores.get("spam")
    if content is None:
        return
    boost, reasons = spam_behaviour(batch, index, row, window)
    signals.spam_score = round(_sigmoid(_logit(content) + boost), PROBABILITY_DIGITS)
    signals.is_spam = signals.spam_score >= _threshold("spam")
    for reason in reasons:
        signals.explain("spam", reason)


# --- spam behaviour --------------------------------------------------------------------------------
# Each cue adds to the content head's log-odds. The weights are set by hand, conservatively: one link or a new
# member alone never makes a message spam; a copy of what other members posted, with a link, usually does.


def spam_behaviour(batch: Batch, index: int, row: int, window: RecentMessages | None) -> tuple[float, list[Reason]]:
    """Log-odds to add to the content score, and why."""
    text, item = batch.normalized[index], batch.items[index]
    boost, reasons = _surface_cues(text)
    others, own = _duplicates(batch, index, row, window)
    if others:
        boost += 2.5 if others < 3 else 3.5
        reasons.append({"code": "duplicate_members", "count": others})
    if own >= 2:
        boost += 1.5
        reasons.append({"code": "duplicate_self", "count": own})
    if item.posts_last_hour >= 10:
        boost += 1.0 if item.posts_last_hour < 30 else 2.0
        reasons.append({"code": "posting_rate", "count": item.posts_last_hour})
    boost += _newcomer(item, text, reasons)
    return boost, reasons


def _surface_cues(text: NormalizedText) -> tuple[float, list[Reason]]:
    boost, reasons = 0.0, []
    if text.urls:
        boost += min(text.urls, 3) * 0.5
        reasons.append({"code": "links", "count": text.urls})
    if text.mentions >= 3:
        boost += 1.0
        reasons.append({"code": "mentions", "count": text.mentions})
    if text.emails:
        boost += 0.5
        reasons.append({"code": "emails", "count": text.emails})
    words = text.words.split()
    if len(words) >= 8 and len(set(words)) / len(words) < 0.4:
        boost += 1.0
        reasons.append({"code": "repeated_words"})
    return boost, reasons


def _duplicates(batch: Batch, index: int, row: int, window: RecentMessages | None) -> tuple[int, int]:
    """(how many other authors posted nearly the same text, how many times this author did) in the batch and
    the recent window. Short texts and texts without a link are not compared."""
    text = batch.normalized[index]
    if batch.embeddings is None or (len(text.words.split()) < DUPLICATE_MIN_WORDS and not text.urls):
        return 0, 0
    _similarity_matrices(batch, window)
    assert batch.similar is not None
    mine = _word_set(batch.words, index, text.words)
    matches = [
        batch.items[batch.readable[j]].author
        for j in np.flatnonzero(batch.similar[row])
        if _overlap(mine, _word_set(batch.words, batch.readable[j], batch.normalized[batch.readable[j]].words))
    ]
    if batch.similar_recent is not None and window is not None:
        matches += [
            window.authors[j]
            for j in np.flatnonzero(batch.similar_recent[row])
            if _overlap(mine, _word_set(batch.recent_words, int(j), normalize(window.texts[j]).words))
        ]
    author = batch.items[index].author
    if author is None:
        return len(matches), 0
    others = {a for a in matches if a != author}
    return len(others) + sum(1 for a in matches if a is None), sum(1 for a in matches if a == author)


def _similarity_matrices(batch: Batch, window: RecentMessages | None) -> None:
    """The embedding pre-filter, once per batch: readable × readable and readable × window."""
    if batch.similar is not None or batch.embeddings is None:
        return
    batch.similar = (batch.embeddings @ batch.embeddings.T) >= DUPLICATE_SIMILARITY
    np.fill_diagonal(batch.similar, False)
    if window is not None and len(window.authors):
        batch.similar_recent = (batch.embeddings @ window.embeddings.T) >= DUPLICATE_SIMILARITY


_WORDS = re.compile(r"\w+")


def _word_set(cache: dict[int, frozenset[str]], key: int, words_form: str) -> frozenset[str]:
    if key not in cache:
        cache[key] = frozenset(_WORDS.findall(words_form))
    return cache[key]


def _overlap(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a or b) and len(a & b) / len(a | b) >= DUPLICATE_OVERLAP


def _newcomer(item: Item, text: NormalizedText, reasons: list[Reason]) -> float:
    if not (text.urls or text.mentions >= 2) or item.created_at is None:
        return 0.0
    boost = 0.0
    if item.account_created_at is not None and item.created_at - item.account_created_at < timedelta(days=7):
        boost += 1.0
        reasons.append({"code": "new_account"})
    elif item.author_first_seen is not None and item.created_at - item.author_first_seen < timedelta(days=1):
        boost += 0.5
        reasons.append({"code": "new_member"})
    return boost


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
