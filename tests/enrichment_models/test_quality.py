"""Minimum quality, so that a regression fails: the functional toxicity cases in every supported language, and a
fixed sample of the validation splits in ../shared/data (skipped, with a message, where that folder is absent).

Thresholds sit just below what the shipped heads measure on these samples (the first 200 validation rows of each
source and language); docs/model-card.md has the figures on the full splits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from communa.enrichment import models
from communa.enrichment.language import language_codes
from communa.enrichment.training.base import model_text, split_masks, training_examples
from communa.enrichment.training.evaluation import binary_f1, macro_f1, roc_auc
from communa.enrichment.training.functional import accuracy_table, passes, read_cases

CASES = Path(__file__).with_name("toxicity_cases.csv")
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LANGUAGES = ("en", "it", "es", "ru", "fr", "de", "pt")


def probabilities(task: str, texts: list[str]) -> np.ndarray:
    head = models.load_head(task)
    assert head is not None
    model_texts = [model_text(text) for text in texts]
    return head.predict_proba(models.load_encoder().encode(model_texts), model_texts, language_codes(model_texts))


@pytest.fixture(scope="module")
def functional():
    cases = read_cases(CASES)
    labels = models.TOXICITY_LABELS
    scores = probabilities("toxicity", [case.text for case in cases])
    outcomes = [passes(case, dict(zip(labels, row, strict=True))) for case, row in zip(cases, scores, strict=True)]
    return accuracy_table(cases, outcomes)


def test_the_cases_cover_every_language_and_distinction():
    cases = read_cases(CASES)
    assert {case.lang for case in cases} == set(LANGUAGES)
    for lang in LANGUAGES:
        kinds = {case.case_type for case in cases if case.lang == lang}
        assert kinds == {
            "friendly_profanity", "quoting_condemnation", "negation", "reclaimed", "polite_identity_attack",
            "profanity_not_hate", "hate_without_profanity", "insult", "threat",
        }  # fmt: skip


# (passed, of) measured for the shipped heads; a case type may not lose more than one case.
MEASURED = {
    "friendly_profanity": 13,
    "threat": 7,
    "reclaimed": 13,
    "profanity_not_hate": 11,
    "insult": 6,
    "polite_identity_attack": 14,
    "hate_without_profanity": 14,
}


@pytest.mark.parametrize(("case_type", "measured"), MEASURED.items())
def test_functional_cases_hold(functional, case_type, measured):
    passed, _total = functional[case_type]["all"]
    assert passed >= measured - 1


def test_functional_cases_overall(functional):
    passed, total = functional["all"]["all"]
    assert total == 112
    assert passed >= 91


def test_held_out_group_cases():
    """Cases written after the group-claim lexicon, to see it generalise (and where it over-reaches)."""
    cases = read_cases(CASES.with_name("toxicity_cases_heldout.csv"))
    labels = models.TOXICITY_LABELS
    scores = probabilities("toxicity", [case.text for case in cases])
    outcomes = [passes(case, dict(zip(labels, row, strict=True))) for case, row in zip(cases, scores, strict=True)]
    table = accuracy_table(cases, outcomes)
    assert table["polite_identity_attack"]["all"][0] >= 13
    assert table["group_words_benign"]["all"][0] >= 12


def test_question_cases_in_every_language():
    cases = read_cases(CASES.with_name("question_cases.csv"))
    scores = probabilities("question", [case.text for case in cases])
    outcomes = [passes(case, {"question": float(row[0])}) for case, row in zip(cases, scores, strict=True)]
    table = accuracy_table(cases, outcomes)
    assert {case.lang for case in cases} == set(LANGUAGES)
    assert table["all"]["all"] == (35, 35)


@pytest.fixture(scope="module")
def validation():
    if not DATA.is_dir():
        pytest.skip(f"no development data at {DATA} (a user's clone has none)")
    samples = {}
    for task in models.TASKS:
        examples = training_examples(task, DATA, permissive_only=False)
        _train, val = split_masks(examples)
        rows = [example for example, keep in zip(examples, val, strict=True) if keep]
        by_group: dict[str, list] = {}
        for example in rows:
            by_group.setdefault(f"{example.source}/{example.lang}", []).append(example)
        samples[task] = {group: items[:200] for group, items in by_group.items()}
    return samples


def _scores(task, examples):
    head = models.load_head(task)
    texts = [example.text for example in examples]
    return head.predict_proba(models.load_encoder().encode(texts), texts, language_codes(texts))


@pytest.mark.parametrize(
    ("group", "minimum"),
    [("xlm-t/en", 0.64), ("xlm-t/fr", 0.63), ("xlm-t/de", 0.70), ("xlm-t/it", 0.62), ("xlm-t/pt", 0.62),
     ("xlm-t/es", 0.58), ("rusentitweet/ru", 0.70)],
)  # fmt: skip
def test_sentiment_sample(validation, group, minimum):
    assert _sentiment_f1(validation, group) >= minimum


def test_sentiment_mean_of_six_samples(validation):
    # The measure (mean over en fr de it pt es) on the 200-row samples: .666 when this was written.
    six = [_sentiment_f1(validation, f"xlm-t/{lang}") for lang in ("en", "fr", "de", "it", "pt", "es")]
    assert np.mean(six) >= 0.65


def _sentiment_f1(validation, group):
    examples = validation["sentiment"][group]
    truth = np.array([int(example.labels["sentiment"]) for example in examples])
    return macro_f1(truth, _scores("sentiment", examples).argmax(axis=1), 3)


@pytest.mark.parametrize(
    ("group", "minimum"),
    [("davidson/en", 0.95), ("germeval/de", 0.80), ("told-br/pt", 0.75), ("ru-distorted/ru", 0.87)],
)
def test_toxicity_sample(validation, group, minimum):
    examples = [example for example in validation["toxicity"][group] if "toxic" in example.labels]
    truth = np.array([example.labels["toxic"] for example in examples], dtype=np.float32)
    assert roc_auc(truth, _scores("toxicity", examples)[:, 0]) >= minimum


@pytest.mark.parametrize(("group", "minimum"), [("sms-spam/en", 0.96), ("youtube-spam/en", 0.88)])
def test_spam_sample(validation, group, minimum):
    examples = validation["spam"][group]
    truth = np.array([example.labels["spam"] for example in examples], dtype=np.float32)
    assert binary_f1(truth, _scores("spam", examples)[:, 0]) >= minimum


@pytest.mark.parametrize(("group", "minimum"), [("semeval-cqa/en", 0.95), ("stackexchange/en", 0.98)])
def test_question_sample(validation, group, minimum):
    examples = validation["question"][group]
    truth = np.array([example.labels["question"] for example in examples], dtype=np.float32)
    assert roc_auc(truth, _scores("question", examples)[:, 0]) >= minimum
