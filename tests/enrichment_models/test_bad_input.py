"""Bad input reaches the models without a crash and with sensible labels; disguised words are still read."""

from __future__ import annotations

import numpy as np
import pytest

from communa.enrichment import models
from communa.enrichment.models.features import cues, words
from communa.enrichment.presentation import reason_text

BAD = [
    "",
    "🎉🔥👍",
    "x" * 100_000,
    ("Bonjour " * 5_000) + "привет мир " * 5_000,
    "Это просто mixed текст with two scripts, 混合 too",
    "f\u200bu\u200bc\u200bk",
    "\u202ekcuf uoy",
]


@pytest.mark.parametrize("task", models.TASKS)
def test_no_crash_and_valid_probabilities(task):
    embeddings = models.load_encoder().encode(BAD)
    head = models.load_head(task)
    assert head is not None
    probabilities = head.predict_proba(embeddings, BAD)
    assert probabilities.shape == (len(BAD), len(head.labels))
    assert np.isfinite(probabilities).all()
    assert len(head.explain(BAD, probabilities)) == len(BAD)


def test_duplicates_in_a_batch_get_the_same_vector():
    vectors = models.load_encoder().encode(["+1", "thanks!", "+1"])
    np.testing.assert_array_equal(vectors[0], vectors[2])


def test_emoji_only_and_empty_are_not_flagged():
    texts = ["", "🎉🔥👍"]
    toxicity = models.load_head("toxicity").predict_proba(models.load_encoder().encode(texts), texts)
    spam = models.load_head("spam").predict_proba(models.load_encoder().encode(texts), texts)
    assert (toxicity[:, 0] < 0.5).all()
    assert (spam[:, 0] < 0.5).all()


@pytest.mark.parametrize(
    ("disguised", "plain"),
    [("п0шёл", "пошел"), ("д3бил", "дебил"), ("sh1t", "shit"), ("fuuuuck", "fuck"), ("hеllo", "hello")],
)
def test_disguises_fold_to_the_plain_word(disguised, plain):
    assert words(disguised) == [plain]


def test_full_width_zero_width_and_masked_swearing_are_found():
    assert words("ｆｕｃｋ this") == ["fuck", "this"]
    assert cues("f\u200bu\u200bc\u200bk you")["profanity"] == ["fuck"]
    assert cues("this update is f***ing awesome") == {
        "interrogative": ["is"],
        "profanity": ["f***ing"],
        "positive": ["awesome"],
    }
    assert cues("Ich bringe dich um")["threat"] == ["ich bringe dich um"]
    assert "http" not in words("see https://example.com and http now @someone")


def test_exclamation_marks_end_words_but_stand_for_i_inside_them():
    assert words("спасибо! awesome!! sh!t") == ["спасибо", "awesome", "shit"]


def test_reasons_are_words_a_moderator_reads():
    texts = ["this update is f***ing awesome", "Ich weiß wo du wohnst und ich bringe dich um"]
    toxicity = models.load_head("toxicity")
    reasons = toxicity.explain(texts, toxicity.predict_proba(models.load_encoder().encode(texts), texts))
    assert reasons == [
        [{"code": "cue", "cue": "profanity", "words": ["f***ing"]}, {"code": "friendly_swearing"}],
        [{"code": "cue", "cue": "threat", "words": ["ich bringe dich um"]}],
    ]
    spam_text = ["WIN a FREE iPhone now!! click http"]
    spam = models.load_head("spam")
    assert spam.explain(spam_text, spam.predict_proba(models.load_encoder().encode(spam_text), spam_text)) == [
        [{"code": "cue", "cue": "spam", "words": ["win", "free", "click"]}]
    ]
    assert [reason_text(r) for r in reasons[0]] == [
        "swearing: «f***ing»",
        "the swearing reads as friendly, so it counts less towards toxic",
    ]
