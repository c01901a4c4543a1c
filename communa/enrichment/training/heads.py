"""Fitting the heads: targets per task, the dense part on ``[embedding | features]``, the hashed n-gram part."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from communa.enrichment.models import TASK_LABELS
from communa.enrichment.models.features import FEATURE_SETS, cues
from communa.enrichment.models.ngrams import LanguageBlock, sparse_rows
from communa.enrichment.training.data import Example

SEED = 0


@dataclass(frozen=True)
class HeadSpec:
    """How one task's head is built (fixed choices, measured on the validation splits; see the model card)."""

    task: str
    feature_set: str
    activation: str
    hidden: int = 0  # 0: logistic regression; else one ReLU layer of this width (exclusive labels only)
    members: int = 1  # MLPs trained with different seeds, merged into one wider layer
    regularisation: float = 1.0  # inverse L2 strength (C) of the logistic regressions
    ngram_buckets: int = 0  # 0: no n-gram part
    ngram_weight: dict[str, float] = field(default_factory=dict)  # label -> share of the n-gram probability
    balanced: bool = True  # weigh classes equally (rare labels); off where the 0.5 threshold must stay calibrated
    friendly_discount: float | None = None  # toxicity: see models.heads.abuse_not_banter
    # Added for sentiment (fifth session); left out of repr at their defaults so the other heads' versions stay.
    ngram_words: bool = False  # word uni- and bigrams beside the character n-grams (models.ngrams)
    ngram_regularisation: float = 2.0  # C of the softmax n-gram model
    ngram_nb: bool = False  # softmax n-grams as one-vs-rest models over NB log-count-ratio scaled inputs
    linear_share: float = 0.0  # a second dense member: a logistic regression, this share of the dense part
    linear_skip_langs: tuple[str, ...] = ()  # languages the linear member is not trained on
    # Added for sentiment (seventh session): the text's language, among these, as a one-hot input of the dense
    # part and as a per-language copy of the n-grams in a block of this many buckets (models.ngrams.LanguageBlock).
    languages: tuple[str, ...] = ()
    ngram_language_buckets: int = 0

    def __repr__(self) -> str:
        added = {
            "ngram_words",
            "ngram_regularisation",
            "ngram_nb",
            "linear_share",
            "linear_skip_langs",
            "languages",
            "ngram_language_buckets",
        }
        shown = [
            f"{item.name}={getattr(self, item.name)!r}"
            for item in fields(self)
            if item.name not in added or getattr(self, item.name) != item.default
        ]
        return f"HeadSpec({', '.join(shown)})"

    @property
    def labels(self) -> tuple[str, ...]:
        return TASK_LABELS[self.task]


SPECS: dict[str, HeadSpec] = {
    "sentiment": HeadSpec(
        "sentiment",
        "sentiment-v1",
        "softmax",
        hidden=256,
        members=3,
        ngram_buckets=2**17,
        ngram_weight={"negative": 0.4, "neutral": 0.4, "positive": 0.4},
        ngram_words=True,
        ngram_regularisation=4.0,
        ngram_nb=True,
        linear_share=0.5,
        linear_skip_langs=("hi", "ar"),
        languages=("ar", "de", "en", "es", "fr", "it", "pt", "ru"),  # hi: XLM-T's is romanised, detected as en
        ngram_language_buckets=2**18,
    ),
    "toxicity": HeadSpec(
        "toxicity",
        "toxicity-v1",
        "sigmoid",
        regularisation=1.0,
        ngram_buckets=2**17,
        ngram_weight={"toxic": 0.5, "insult": 0.5, "identity_attack": 0.5, "profanity": 0.5},
        friendly_discount=0.4,
        ngram_words=True,
    ),
    "spam": HeadSpec(
        "spam",
        "spam-v1",
        "sigmoid",
        regularisation=4.0,
        ngram_buckets=2**17,
        ngram_weight={"spam": 0.5},
        balanced=False,
    ),
    "question": HeadSpec("question", "question-v1", "sigmoid", regularisation=1.0),
}


def targets(spec: HeadSpec, examples: Sequence[Example]) -> NDArray[np.float32]:
    """``(n, labels)`` targets; NaN where the example does not say (masked in training and evaluation).

    Sentiment gives the class index in column 0. Toxicity labels a source lacks are derived from the lexicon
    where that is safe (see ``weak_toxicity``).
    """
    if spec.activation == "softmax":
        return np.array([[example.labels["sentiment"]] for example in examples], dtype=np.float32)
    rows = [weak_toxicity(example) if spec.task == "toxicity" else example.labels for example in examples]
    return np.array([[row.get(label, np.nan) for label in spec.labels] for row in rows], dtype=np.float32)


def weak_toxicity(example: Example) -> dict[str, float]:
    """Fill the toxicity labels a source does not annotate from the lexicon, only where the answer is clear.

    - profanity: a swear word (or masked one) is present, when the source has no profanity annotation;
    - sexual / threat: on a toxic text, the sexual or threat lexicon fires; on a clean text, 0;
    - friendly_profanity: swearing in a text its annotators called clean is friendly; swearing in a text they
      called toxic (or insulting, hateful, threatening) is not; no swearing is not;
    - positive sentiment rows that swear are friendly and clean (not toxic, no insult, threat or identity attack).
    """
    labels = dict(example.labels)
    found = cues(example.text)
    swears = "profanity" in found
    labels.setdefault("profanity", float(swears))
    toxic = labels.get("toxic")
    for label, category in (("sexual", "sexual"), ("threat", "threat")):
        if label not in labels and toxic is not None:
            labels[label] = float(bool(toxic) and category in found)
    if labels.get("sentiment") == 2.0 and swears:
        # A positive message that swears (from the sentiment sets): the friendly case, not abuse.
        labels.update(toxic=0.0, insult=0.0, threat=0.0, identity_attack=0.0)
        toxic = 0.0
    hostile = toxic == 1.0 or any(labels.get(key) == 1.0 for key in ("insult", "identity_attack", "threat"))
    if not swears or hostile:
        labels["friendly_profanity"] = 0.0
    elif toxic == 0.0:
        labels["friendly_profanity"] = 1.0
    return labels


def feature_matrix(spec: HeadSpec, texts: Sequence[str]) -> NDArray[np.float32]:
    return FEATURE_SETS[spec.feature_set](texts)


def standardiser(features: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Mean and scale of the training features (a constant feature keeps scale 1)."""
    mean = features.mean(axis=0) if len(features) else np.zeros(features.shape[1], dtype=np.float32)
    scale = features.std(axis=0) if len(features) else np.ones(features.shape[1], dtype=np.float32)
    return mean.astype(np.float32), np.where(scale > 1e-3, scale, 1.0).astype(np.float32)


def fit_dense(spec: HeadSpec, inputs: NDArray[np.float32], target: NDArray[np.float32]) -> dict[str, NDArray[Any]]:
    """The dense layers: an MLP for exclusive labels when ``hidden`` is set, else one logistic regression per label."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped,unused-ignore]
    from sklearn.neural_network import MLPClassifier  # type: ignore[import-untyped]

    if spec.activation == "softmax":
        classes = target[:, 0].astype(np.int64)
        if spec.hidden:
            members = [
                MLPClassifier(
                    hidden_layer_sizes=(spec.hidden,),
                    alpha=1e-3,
                    early_stopping=True,
                    random_state=SEED + k,
                    max_iter=200,
                ).fit(inputs, classes)
                for k in range(spec.members)
            ]
            # K networks side by side are one network with K times the hidden units whose output averages their
            # logits: the ensemble ships, and runs, as a single MLP.
            return {
                "W0": np.hstack([m.coefs_[0] for m in members]),
                "b0": np.concatenate([m.intercepts_[0] for m in members]),
                "W1": np.vstack([m.coefs_[1] for m in members]) / len(members),
                "b1": np.mean([m.intercepts_[1] for m in members], axis=0),
            }
        model = LogisticRegression(C=spec.regularisation, max_iter=3000).fit(inputs, classes)
        return {"W0": model.coef_.T, "b0": model.intercept_}
    weights = np.zeros((inputs.shape[1], len(spec.labels)), dtype=np.float32)
    bias = np.zeros(len(spec.labels), dtype=np.float32)
    for column in range(len(spec.labels)):
        known = ~np.isnan(target[:, column])
        labels = target[known, column]
        if len(np.unique(labels)) < 2:
            bias[column] = -10.0 if not labels.size or labels[0] == 0 else 10.0
            continue
        model = LogisticRegression(
            C=spec.regularisation, max_iter=3000, class_weight="balanced" if spec.balanced else None
        )
        model.fit(inputs[known], labels)
        weights[:, column], bias[column] = model.coef_[0], model.intercept_[0]
    return {"W0": weights, "b0": bias}


def fit_linear_member(
    spec: HeadSpec, inputs: NDArray[np.float32], target: NDArray[np.float32]
) -> dict[str, NDArray[Any]]:
    """The second dense member of a softmax head: a multinomial logistic regression (C = 1)."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped,unused-ignore]

    model = LogisticRegression(C=1.0, max_iter=3000).fit(inputs, target[:, 0].astype(np.int64))
    return {"linear_W": model.coef_.T.astype(np.float32), "linear_b": model.intercept_.astype(np.float32)}


def language_block(spec: HeadSpec) -> LanguageBlock | None:
    return LanguageBlock(spec.languages, spec.ngram_language_buckets) if spec.ngram_language_buckets else None


def ngram_matrix(
    texts: Sequence[str],
    buckets: int,
    words: bool = False,
    languages: Sequence[str] | None = None,
    block: LanguageBlock | None = None,
) -> Any:
    """The texts' hashed n-gram vectors as a scipy CSR matrix (training only)."""
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped]

    indices, values = sparse_rows(texts, buckets, words, languages, block)
    pointers = np.concatenate([[0], np.cumsum([len(index) for index in indices])])
    flat_index = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    flat_value = np.concatenate(values) if values else np.zeros(0, dtype=np.float32)
    width = (buckets * 2 if words else buckets) + (block.buckets if block is not None else 0)
    return csr_matrix((flat_value, flat_index, pointers), shape=(len(texts), width), dtype=np.float32)


def fit_nb_ngrams(spec: HeadSpec, matrix: Any, classes: NDArray[np.int64]) -> dict[str, NDArray[Any]]:
    """NB-LR: per class, the log-count ratio ``r`` of n-gram presence (add-one) in the class against the rest
    scales the inputs of a one-vs-rest logistic regression; its weights times ``r`` are that class's logit, so
    the head stays one linear map (softmax over the three one-vs-rest logits)."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped,unused-ignore]

    present = matrix.copy()
    present.data[:] = 1.0
    weights = np.zeros((matrix.shape[1], len(spec.labels)), dtype=np.float32)
    bias = np.zeros(len(spec.labels), dtype=np.float32)
    for column in range(len(spec.labels)):
        inside = np.asarray(present[classes == column].sum(axis=0)).ravel() + 1.0
        outside = np.asarray(present[classes != column].sum(axis=0)).ravel() + 1.0
        ratio = np.log((inside / inside.sum()) / (outside / outside.sum())).astype(np.float32)
        model = LogisticRegression(C=spec.ngram_regularisation, max_iter=3000)
        model.fit(matrix.multiply(ratio).tocsr(), (classes == column).astype(np.int64))
        weights[:, column], bias[column] = model.coef_[0] * ratio, model.intercept_[0]
    return {"ngram_W": weights, "ngram_b": bias}


def fit_ngrams(spec: HeadSpec, matrix: Any, target: NDArray[np.float32]) -> dict[str, NDArray[Any]]:
    """Linear n-gram models: multinomial for exclusive labels, one per weighted label otherwise (others zero)."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped,unused-ignore]

    if spec.activation == "softmax" and spec.ngram_nb:
        return fit_nb_ngrams(spec, matrix, target[:, 0].astype(np.int64))
    if spec.activation == "softmax":
        model = LogisticRegression(C=spec.ngram_regularisation, max_iter=3000).fit(
            matrix, target[:, 0].astype(np.int64)
        )
        # scikit-learn's multinomial model; its probabilities are the softmax of these logits
        return {"ngram_W": model.coef_.T.astype(np.float32), "ngram_b": model.intercept_.astype(np.float32)}
    weights = np.zeros((matrix.shape[1], len(spec.labels)), dtype=np.float32)
    bias = np.zeros(len(spec.labels), dtype=np.float32)
    for column, label in enumerate(spec.labels):
        known = ~np.isnan(target[:, column])
        if spec.ngram_weight.get(label, 0.0) == 0.0 or len(np.unique(target[known, column])) < 2:
            continue
        model = LogisticRegression(C=8.0, max_iter=3000, class_weight="balanced" if spec.balanced else None)
        model.fit(matrix[known], target[known, column])
        weights[:, column], bias[column] = model.coef_[0], model.intercept_[0]
    return {"ngram_W": weights, "ngram_b": bias}
