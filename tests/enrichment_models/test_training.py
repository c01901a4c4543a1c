"""Training helpers with exact expected values: metrics, the fixed split, label mappings, weak labels, the
n-gram hashing, and a workspace fine-tune on corrections."""

from __future__ import annotations

import numpy as np
import pytest

from communa.enrichment.models import load_encoder
from communa.enrichment.models.heads import read_head
from communa.enrichment.models.ngrams import LanguageBlock, ngram_buckets, sparse_rows, text_vector
from communa.enrichment.models.runtime import WEIGHTS_DIR, workspace_head_path
from communa.enrichment.training.data import GERMEVAL_FINE, Example, held_out, split_of
from communa.enrichment.training.evaluation import binary_f1, macro_f1, roc_auc
from communa.enrichment.training.heads import SPECS, ngram_matrix, targets, weak_toxicity
from communa.enrichment.training.workspace import fine_tune


def test_roc_auc_counts_ranked_pairs_and_shares_ties():
    truth = np.array([0, 0, 1, 1], dtype=np.float32)
    assert roc_auc(truth, np.array([0.1, 0.4, 0.35, 0.8], dtype=np.float32)) == 0.75
    assert roc_auc(truth, np.array([0.5, 0.5, 0.5, 0.5], dtype=np.float32)) == 0.5
    assert roc_auc(np.ones(3, dtype=np.float32), np.zeros(3, dtype=np.float32)) is None


def test_macro_f1_and_binary_f1():
    truth = np.array([0, 1, 2, 2])
    predicted = np.array([0, 2, 2, 2])
    # class 0: F1 1; class 1: 0; class 2: 2·2/(3+2) = 0.8
    assert macro_f1(truth, predicted, 3) == pytest.approx((1 + 0 + 0.8) / 3)
    assert binary_f1(np.array([1, 0, 1], dtype=np.float32), np.array([0.9, 0.6, 0.2], dtype=np.float32)) == 0.5


def test_the_fixed_split_depends_on_the_key_only():
    assert split_of("Hello there") == split_of("  hello there ")
    shares = [held_out(f"row {i}") for i in range(10_000)]
    assert 0.18 < sum(shares) / len(shares) < 0.22


def test_germeval_fine_labels_map_to_categories():
    assert GERMEVAL_FINE["INSULT"]["insult"] == 1.0
    assert GERMEVAL_FINE["ABUSE"]["identity_attack"] == 1.0
    assert GERMEVAL_FINE["PROFANITY"] == {
        "toxic": 1.0,
        "profanity": 1.0,
        "insult": 0.0,
        "identity_attack": 0.0,
        "threat": 0.0,
    }


def test_weak_labels_tell_friendly_swearing_from_abuse():
    friendly = weak_toxicity(Example("this is fucking great", "en", "t", "train", {"toxic": 0.0}))
    hostile = weak_toxicity(Example("fuck you", "en", "t", "train", {"toxic": 1.0}))
    positive_tweet = weak_toxicity(Example("holy shit I love it", "en", "xlm-t", "train", {"sentiment": 2.0}))
    clean = weak_toxicity(Example("see you tomorrow", "en", "t", "train", {"toxic": 0.0}))
    assert (friendly["profanity"], friendly["friendly_profanity"]) == (1.0, 1.0)
    assert (hostile["profanity"], hostile["friendly_profanity"], hostile["threat"]) == (1.0, 0.0, 0.0)
    assert positive_tweet["toxic"] == 0.0
    assert positive_tweet["friendly_profanity"] == 1.0
    assert (clean["profanity"], clean["friendly_profanity"]) == (0.0, 0.0)


def test_unknown_labels_are_masked_not_guessed():
    rows = targets(
        SPECS["spam"], [Example("hi", "en", "s", "train", {}), Example("win", "en", "s", "train", {"spam": 1.0})]
    )
    assert np.isnan(rows[0, 0])
    assert rows[1, 0] == 1.0


def test_ngram_hashing_is_stable_and_normalised():
    assert ngram_buckets("ab", 1000) == ngram_buckets("AB", 1000)
    # " ab " gives 2-grams " a", "ab", "b "; 3-grams " ab", "ab "; the 4-gram " ab ".
    assert sum(ngram_buckets("ab", 1000).values()) == 6
    index, value = text_vector("hello world", 2**17)
    assert float(value @ value) == pytest.approx(1.0)
    assert index.max() < 2**17


def test_a_language_copy_of_the_ngrams_goes_to_its_own_block():
    block = LanguageBlock(("en", "it"), 2**10)
    index, value = text_vector("ciao bella", 2**17)
    texts = ["ciao bella"] * 4
    indices, values = sparse_rows(texts, 2**17, languages=["it", "en", "und", "nl"], block=block)
    assert [len(row) for row in indices] == [2 * len(index)] * 2 + [len(index)] * 2  # und, nl: shared only
    italian, english = indices[0][len(index) :], indices[1][len(index) :]
    assert italian.min() >= 2**17
    assert italian.max() < 2**17 + 2**10
    assert not np.array_equal(italian, english)
    np.testing.assert_array_equal(values[0][len(index) :], value)  # the copy weighs what the shared n-grams weigh
    np.testing.assert_array_equal(sparse_rows(texts, 2**17, languages=["it"] * 4, block=block)[0][0], indices[0])
    assert ngram_matrix(texts, 2**17, languages=["it"] * 4, block=block).shape == (4, 2**17 + 2**10)
    with pytest.raises(ValueError, match="1 languages for 4 texts"):
        sparse_rows(texts, 2**17, languages=["it"], block=block)


@pytest.mark.django_db
def test_a_workspace_fine_tune_moves_towards_its_corrections(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    # A community where talking about "crypto giveaways" is on topic (a trading club), corrected as not spam.
    texts = [f"crypto giveaway number {i} for club members, join the call tonight" for i in range(12)]
    result = fine_tune(3, "spam", texts, ["not_spam"] * 12)
    stored = read_head(workspace_head_path(3, "spam"))
    base = read_head(WEIGHTS_DIR / "spam.npz")
    assert stored.version == f"{base.version}+ws3.12"
    assert result.corrections == 12
    assert result.accuracy_after >= result.accuracy_before
    assert result.accuracy_after == 1.0
    embeddings = load_encoder().encode(texts[:1])
    assert stored.predict_proba(embeddings, texts[:1])[0, 0] < base.predict_proba(embeddings, texts[:1])[0, 0]
