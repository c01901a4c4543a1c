"""Trained heads stored as compact ``.npz`` files, and the arithmetic that applies them."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from communa.enrichment.models.features import FEATURE_SETS, cues, explain_cues, lexicon, text_words
from communa.enrichment.models.ngrams import LanguageBlock, ngram_logits

FloatArray = NDArray[np.float32]
FIXED_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry
FRIENDLY_REASON = 0.5
# What a group named with a generalising claim about it scores at least, as toxic and as identity attack.
GROUP_CLAIM_FLOOR = 0.75
_SENTENCE_END = re.compile(r"[.!?;。！？\n]+")


class NpzHead:
    """A logistic-regression or one-hidden-layer head over ``[embedding | text features]``, optionally blended
    with a linear model over hashed character n-grams.

    ``activation`` is ``softmax`` for exclusive labels and ``sigmoid`` for independent ones. With n-grams, the
    probabilities are ``(1 - w) * dense + w * ngram`` where ``w`` is the manifest's ``ngram_weight`` (per label).
    A head may carry a second dense member, a linear model over the same inputs (``linear_W``, ``linear_b``):
    then ``dense = (1 - s) * layers + s * linear`` with ``s`` the meta's ``linear_share``.
    """

    def __init__(self, meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> None:
        self.task: str = meta["task"]
        self.labels: tuple[str, ...] = tuple(meta["labels"])
        self.version: str = meta["version"]
        self.activation: str = meta["activation"]
        self.feature_set: str = meta["feature_set"]
        self.meta = meta
        self._layers = [
            (arrays[f"W{i}"].astype(np.float32), arrays[f"b{i}"].astype(np.float32)) for i in range(int(meta["layers"]))
        ]
        self._feature_mean = arrays["feature_mean"].astype(np.float32)
        self._feature_scale = arrays["feature_scale"].astype(np.float32)
        self._linear: tuple[FloatArray, FloatArray, float] | None = None
        if "linear_W" in arrays:
            self._linear = (
                arrays["linear_W"].astype(np.float32),
                arrays["linear_b"].astype(np.float32),
                float(meta["linear_share"]),
            )
        # A head trained with languages reads them as a one-hot after the features, and as a per-language copy of
        # its n-grams (models.ngrams.LanguageBlock); a text in another language (or "und") gets neither.
        self.languages: tuple[str, ...] = tuple(meta.get("languages", ()))
        self._block = (
            LanguageBlock(self.languages, int(meta["ngram_language_buckets"]))
            if meta.get("ngram_language_buckets")
            else None
        )
        self._ngram_words = bool(meta.get("ngram_words", False))
        self._ngram: tuple[FloatArray, FloatArray, FloatArray] | None = None
        if "ngram_W" in arrays:
            self._ngram = (
                arrays["ngram_W"].astype(np.float32),
                arrays["ngram_b"].astype(np.float32),
                np.asarray(meta["ngram_weight"], dtype=np.float32),
            )

    def features(
        self, embeddings: FloatArray, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> FloatArray:
        """The head's input: the embeddings followed by its standardised text features (and, for a head trained
        with languages, the one-hot of each text's language among them)."""
        extra = FEATURE_SETS[self.feature_set](texts)
        extra = (extra - self._feature_mean) / self._feature_scale
        parts = [np.asarray(embeddings, dtype=np.float32), extra.astype(np.float32)]
        if self.languages:
            parts.append(language_one_hot(self.languages, languages, len(texts)))
        return np.hstack(parts)

    def predict_proba(
        self, embeddings: FloatArray, texts: Sequence[str], languages: Sequence[str] | None = None
    ) -> FloatArray:
        """Probabilities ``(len(texts), len(labels))``. ``languages``: each text's language as the pipeline
        detects it ("und" when unknown); a head trained with languages reads them, others ignore them."""
        if len(texts) != len(embeddings):
            raise ValueError(f"{len(texts)} texts for {len(embeddings)} embeddings")
        if languages is not None and len(languages) != len(texts):
            raise ValueError(f"{len(languages)} languages for {len(texts)} texts")
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        inputs = self.features(embeddings, texts, languages)
        probabilities = self.apply(inputs)
        if self._linear is not None:
            linear_weights, linear_bias, linear_share = self._linear
            linear = _activate(inputs @ linear_weights + linear_bias, self.activation)
            probabilities = ((1.0 - linear_share) * probabilities + linear_share * linear).astype(np.float32)
        if self._ngram is not None:
            weights, bias, share = self._ngram
            logits = ngram_logits(texts, weights, bias, self._ngram_words, languages, self._block)
            lexical = _activate(logits, self.activation)
            probabilities = ((1.0 - share) * probabilities + share * lexical).astype(np.float32)
        discount = self.meta.get("friendly_discount")
        if discount is not None:
            probabilities = abuse_not_banter(probabilities, self.labels, float(discount))
        if "identity_attack" in self.labels:
            probabilities = group_claims(probabilities, self.labels, texts)
        return probabilities

    def apply(self, inputs: FloatArray) -> FloatArray:
        """Run the layers on already-built inputs."""
        weights, bias = self._layers[-1]
        return _activate(self.hidden(inputs) @ weights + bias, self.activation)

    def hidden(self, inputs: FloatArray) -> FloatArray:
        """The input of the last layer (the inputs themselves for a logistic regression)."""
        hidden = inputs
        for weights, bias in self._layers[:-1]:
            hidden = np.maximum(hidden @ weights + bias, 0.0)
        return hidden

    def last_layer(self) -> tuple[FloatArray, FloatArray]:
        """Copies of the last layer's weights and bias (a workspace fine-tunes only these)."""
        weights, bias = self._layers[-1]
        return weights.copy(), bias.copy()

    def layer_count(self) -> int:
        return len(self._layers)

    def arrays(self) -> dict[str, NDArray[Any]]:
        """Every stored array, as :func:`write_head` takes them."""
        stored: dict[str, NDArray[Any]] = {"feature_mean": self._feature_mean, "feature_scale": self._feature_scale}
        for index, (weights, bias) in enumerate(self._layers):
            stored[f"W{index}"], stored[f"b{index}"] = weights, bias
        if self._ngram is not None:
            stored["ngram_W"], stored["ngram_b"] = self._ngram[0], self._ngram[1]
        if self._linear is not None:
            stored["linear_W"], stored["linear_b"] = self._linear[0], self._linear[1]
        return stored

    def explain(self, texts: Sequence[str], probabilities: FloatArray) -> list[list[dict[str, Any]]]:
        """Reasons per text as codes the pages translate (presentation.reason_text): the lexicon cues found
        in it (swearing, insult words, threats, a group named, reporting language, question words,
        promotional phrases), and, for toxicity, that swearing was read as friendly. The scores themselves
        are the caller's to show."""
        friendly = self.labels.index("friendly_profanity") if "friendly_profanity" in self.labels else None
        reasons: list[list[dict[str, Any]]] = []
        for text, row in zip(texts, probabilities, strict=True):
            found = explain_cues(self.task, text)
            if friendly is not None and row[friendly] >= FRIENDLY_REASON:
                found.append({"code": "friendly_swearing"})
            reasons.append(found)
        return reasons


def abuse_not_banter(probabilities: FloatArray, labels: Sequence[str], discount: float) -> FloatArray:
    """Make ``toxic`` mean abuse, the way moderators read it, rather than "contains swearing".

    The training sets count any profanity as offensive, so the raw score flags "this update is f***ing awesome".
    Where the friendly-profanity signal is high and no insult is seen, ``toxic`` is discounted (by at most
    ``discount``); a threat is always at least as toxic as its threat probability. ``discount`` was chosen on the
    validation splits as the largest value that keeps every language's ROC-AUC target (see the model card).
    """
    column = {label: index for index, label in enumerate(labels)}
    adjusted = probabilities.copy()
    friendly = probabilities[:, column["friendly_profanity"]]
    insult = probabilities[:, column["insult"]]
    toxic = probabilities[:, column["toxic"]] * (1.0 - discount * friendly * (1.0 - insult))
    adjusted[:, column["toxic"]] = np.maximum(toxic, probabilities[:, column["threat"]])
    return adjusted


def group_claims(probabilities: FloatArray, labels: Sequence[str], texts: Sequence[str]) -> FloatArray:
    """Hate said politely: a group named together with a generalising or excluding claim about it.

    The training sets' toxic examples are loud (swearing, slurs), so "with all due respect, immigrants are less
    intelligent and should not vote" scores low on ``toxic`` even where ``identity_attack`` rises. When the
    lexicon finds a group (``identity`` or ``slur``) and a claim (``hate_claim``: "do not belong", "are a
    disease", "control the banks" … in every supported language), and nothing says the message reports or
    condemns it, ``toxic`` and ``identity_attack`` are raised to at least ``GROUP_CLAIM_FLOOR``. Quotation
    marks count as reporting: members quote abuse to condemn it.
    """
    column = {label: index for index, label in enumerate(labels)}
    adjusted = probabilities
    for row, text in enumerate(texts):
        # The cheapest test first (each one alone skips the text).
        if any(mark in text for mark in '"«»“”„'):
            continue
        if not any(_claims_about_a_group(sentence) for sentence in _SENTENCE_END.split(text)):
            continue
        if _condemns(text):
            continue
        if adjusted is probabilities:
            adjusted = probabilities.copy()
        for label in ("toxic", "identity_attack"):
            adjusted[row, column[label]] = max(adjusted[row, column[label]], GROUP_CLAIM_FLOOR)
    return adjusted


def _condemns(text: str) -> bool:
    """Reporting or condemning words ("that is racist", "I reported it"), except in the disclaimer that
    introduces the claim instead ("I'm not racist, but …", "non sono razzista, ma …")."""
    condemning = set(cues(text).get("condemn", ()))
    if not condemning:
        return False
    tokens = text_words(text)
    table = lexicon()
    for index, token in enumerate(tokens):
        if token in condemning:
            before = tokens[max(0, index - 3) : index]
            if not any("negation" in table.lookup(word) for word in before):
                return True
    return False


def _claims_about_a_group(sentence: str) -> bool:
    found = cues(sentence)
    return "hate_claim" in found and bool({"identity", "slur"} & found.keys())


def language_one_hot(known: Sequence[str], languages: Sequence[str] | None, rows: int) -> FloatArray:
    """``(rows, len(known))``: 1 where a text's language is the column's; all zero for other languages, "und", or
    when the languages are not given."""
    one_hot = np.zeros((rows, len(known)), dtype=np.float32)
    for row, language in enumerate(languages or ()):
        if language in known:
            one_hot[row, known.index(language)] = 1.0
    return one_hot


def _activate(logits: FloatArray, activation: str) -> FloatArray:
    if activation == "softmax":
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities: FloatArray = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
    else:
        probabilities = (1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))).astype(np.float32)
    return probabilities


def read_head(path: Path) -> NpzHead:
    """Load a head written by :func:`write_head`."""
    with np.load(path, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    meta = json.loads(str(arrays.pop("meta").reshape(-1)[0]))
    return NpzHead(meta, arrays)


def write_head(path: Path, meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> None:
    """Store a head: weights as float16 (half the size, no measurable loss), metadata as JSON.

    The file is an ``.npz`` (a zip of ``.npy`` arrays) written with fixed entry dates and in a fixed order, so the
    same weights always give the same bytes and the manifest's SHA-256 can be reproduced.
    """
    compact: dict[str, NDArray[Any]] = {
        key: value.astype(np.float16) if value.dtype.kind == "f" else value for key, value in arrays.items()
    }
    compact["meta"] = np.array(json.dumps(meta, sort_keys=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.npz")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(compact):
            entry = zipfile.ZipInfo(f"{key}.npy", date_time=FIXED_ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, compact[key], allow_pickle=False)
            archive.writestr(entry, buffer.getvalue())
    temporary.replace(path)
