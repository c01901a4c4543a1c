"""Training the shipped heads from the development sets, evaluating them, and writing weights plus manifest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from communa.enrichment.language import language_codes
from communa.enrichment.models import Encoder
from communa.enrichment.models.features import cues
from communa.enrichment.models.heads import language_one_hot, read_head, write_head
from communa.enrichment.normalize import normalize
from communa.enrichment.training.cache import EmbeddingCache
from communa.enrichment.training.data import RESEARCH_ONLY, SOURCE_LICENSES, Example, load_task
from communa.enrichment.training.evaluation import evaluate
from communa.enrichment.training.heads import (
    SPECS,
    HeadSpec,
    feature_matrix,
    fit_dense,
    fit_linear_member,
    fit_ngrams,
    language_block,
    ngram_matrix,
    standardiser,
    targets,
)
from communa.enrichment.training.report import say

MANIFEST = "manifest.json"
MODEL_CHARS = 1000  # the pipeline's ENCODER_CHARS: how much of a message the encoder and heads read
FORMAT = 1
EVALUATION_ONLY = frozenset({"tweeteval"})  # sources with no training split in the snapshot


def model_text(text: str) -> str:
    """The form the pipeline gives the heads: normalised (links and handles as placeholders, disguises undone)
    and cut to the encoder's reading length. Training on the same form keeps training and use consistent."""
    return normalize(text).text[:MODEL_CHARS]


def training_examples(task: str, data_dir: Path, *, permissive_only: bool) -> list[Example]:
    """The task's examples in model form; toxicity also learns friendly swearing from positive sentiment rows
    that swear."""
    examples = load_task(task, data_dir, permissive_only=permissive_only)
    if task == "toxicity":
        sentiment = load_task("sentiment", data_dir, permissive_only=permissive_only)
        examples += [
            example
            for example in sentiment
            if example.source not in EVALUATION_ONLY
            and example.labels["sentiment"] == 2.0
            and "profanity" in cues(example.text)
        ]
    normalised = (replace(example, text=model_text(example.text)) for example in examples)
    return [example for example in normalised if example.text]


def split_masks(examples: Sequence[Example]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Training rows, and validation rows whose text was not also seen in training (duplicates across sets)."""
    train = np.array([e.split == "train" and e.source not in EVALUATION_ONLY for e in examples])
    seen = {e.text for e, is_train in zip(examples, train, strict=True) if is_train}
    val = np.array([e.split == "val" and e.text not in seen for e in examples])
    return train, val


def fit_task(
    spec: HeadSpec, examples: Sequence[Example], cache: EmbeddingCache, out: Path, progress: bool = False
) -> dict[str, Any]:
    """Fit, write and evaluate one head; returns its manifest entry."""
    texts = [example.text for example in examples]
    target = targets(spec, examples)
    train, val = split_masks(examples)
    embeddings = cache.embed(texts, say=say if progress else None)
    features = feature_matrix(spec, texts)
    mean, scale = standardiser(features[train])
    # Trained on the data sets' own languages (cleaner than detection, and as good in cross-validation even when
    # use gives the detected ones; see the model card); a language outside ``spec.languages`` reads as none.
    languages = [example.lang for example in examples] if spec.languages else None
    parts = [embeddings, (features - mean) / scale]
    if spec.languages:
        parts.append(language_one_hot(spec.languages, languages, len(texts)))
    inputs = np.hstack(parts).astype(np.float32)
    trainable = train & ~np.all(np.isnan(target), axis=1)
    arrays: dict[str, NDArray[Any]] = {"feature_mean": mean, "feature_scale": scale}
    arrays.update(fit_dense(spec, inputs[trainable], target[trainable]))
    if spec.linear_share:
        member = trainable & ~np.isin([example.lang for example in examples], spec.linear_skip_langs)
        arrays.update(fit_linear_member(spec, inputs[member], target[member]))
    if spec.ngram_buckets:
        matrix = ngram_matrix(texts, spec.ngram_buckets, spec.ngram_words, languages, language_block(spec))
        arrays.update(fit_ngrams(spec, matrix[trainable], target[trainable]))
    meta = _meta(spec, cache.encoder, arrays)
    path = out / f"{spec.task}.npz"
    write_head(path, meta, arrays)
    head = read_head(path)
    val_examples = [example for example, keep in zip(examples, val, strict=True) if keep]
    val_texts = [example.text for example in val_examples]
    # Validation reads the languages the pipeline would detect, not the data set's: the figures are the product's.
    proba = head.predict_proba(embeddings[val], val_texts, language_codes(val_texts) if spec.languages else None)
    report = evaluate(spec.task, spec.labels, val_examples, target[val], proba)
    return {
        "file": path.name,
        "version": meta["version"],
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "bytes": path.stat().st_size,
        "head": {key: meta[key] for key in ("activation", "feature_set", "layers", "ngram_buckets", "ngram_weight")},
        "data": _data_summary(examples, trainable, val),
        "validation": report,
    }


def _meta(spec: HeadSpec, encoder: Encoder, arrays: dict[str, NDArray[Any]]) -> dict[str, Any]:
    layers = sum(1 for key in arrays if key.startswith("W") and key[1:].isdigit())
    digest = hashlib.sha256(repr(spec).encode())  # the recipe, then the weights
    for key in sorted(arrays):
        digest.update(key.encode())
        digest.update(
            np.ascontiguousarray(
                arrays[key].astype(np.float16 if arrays[key].dtype.kind == "f" else arrays[key].dtype)
            ).tobytes()
        )
    return {
        "task": spec.task,
        "labels": list(spec.labels),
        "version": f"{spec.task}-{FORMAT}.{digest.hexdigest()[:10]}",
        "activation": spec.activation,
        "feature_set": spec.feature_set,
        "layers": layers,
        "ngram_buckets": spec.ngram_buckets,
        "ngram_weight": [spec.ngram_weight.get(label, 0.0) for label in spec.labels] if spec.ngram_buckets else [],
        "encoder": {"name": encoder.name, "version": encoder.version},
        **({"ngram_words": True} if spec.ngram_words else {}),
        **({"linear_share": spec.linear_share} if spec.linear_share else {}),
        **({"languages": list(spec.languages)} if spec.languages else {}),
        **({"ngram_language_buckets": spec.ngram_language_buckets} if spec.ngram_language_buckets else {}),
        **({"friendly_discount": spec.friendly_discount} if spec.friendly_discount is not None else {}),
    }


def _data_summary(
    examples: Sequence[Example], trainable: NDArray[np.bool_], val: NDArray[np.bool_]
) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for example, is_train, is_val in zip(examples, trainable, val, strict=True):
        entry = summary.setdefault(
            example.source,
            {
                "license": SOURCE_LICENSES[example.source],
                "research_only": example.source in RESEARCH_ONLY,
                "train_rows": 0,
                "val_rows": 0,
            },
        )
        entry["train_rows"] += int(is_train)
        entry["val_rows"] += int(is_val)
    return summary


def train_base(
    tasks: Sequence[str], data_dir: Path, out: Path, cache: EmbeddingCache, *, permissive_only: bool, progress: bool
) -> dict[str, Any]:
    """Train ``tasks`` into ``out`` and merge their entries into ``out``/manifest.json."""
    manifest_path = out / MANIFEST
    manifest: dict[str, Any] = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest.update(
        {
            "format": FORMAT,
            "encoder": {"name": cache.encoder.name, "version": cache.encoder.version},
            "reproduce": "communa models train --data-dir ../shared/data",
        }
    )
    heads = manifest.setdefault("heads", {})
    for task in tasks:
        if progress:
            say(f"{task}: loading data")
        examples = training_examples(task, data_dir, permissive_only=permissive_only)
        if not any(example.split == "train" and example.source not in EVALUATION_ONLY for example in examples):
            say(f"{task}: no training data left (permissive-only leaves none for this task); not trained")
            continue
        spec = SPECS[task]
        heads[task] = fit_task(spec, examples, cache, out, progress=progress)
        heads[task]["permissive_only"] = permissive_only
        if progress:
            say(json.dumps({task: heads[task]["validation"]["summary"]}, indent=2))
    out.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


__all__ = ["fit_task", "train_base"]
