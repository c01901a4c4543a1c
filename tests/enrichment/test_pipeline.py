"""The pure pipeline: texts in, signals out, with the tiny models served through the real contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from communa.enrichment.pipeline import ENCODER_CHARS, Item, RecentMessages, analyse, dequantise, quantise
from tests.enrichment.conftest import TinyModels

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def one(text: str, **kwargs: object) -> object:
    [signals] = analyse([Item(text=text)], **kwargs)  # type: ignore[arg-type]
    return signals


def test_every_signal_of_a_message(tiny_models: TinyModels) -> None:
    [s] = analyse([Item(text="How do I reset my password? I love this app")])
    assert (s.language, s.sentiment, s.is_toxic, s.is_spam, s.is_question) == ("en", "positive", False, False, True)
    assert s.sentiment_scores == {"negative": 0.05, "neutral": 0.15, "positive": 0.8}
    assert s.toxicity_score == 0.02
    assert s.toxicity_categories == {"insult": 0.02, "threat": 0.01, "identity_attack": 0.01, "profanity": 0.02,
                                     "sexual": 0.01}  # fmt: skip
    assert s.friendly_profanity_score == 0.01
    assert s.spam_score == 0.05
    assert s.question_score == 0.9
    assert s.versions == {"encoder": "tiny-hash t1", "sentiment": "sentiment-t1", "toxicity": "toxicity-t1",
                          "spam": "spam-t1", "question": "question-t1"}  # fmt: skip
    assert s.explanation == {"question": [{"code": "question_mark"}]}
    assert s.embedding_version == "t1"
    assert s.embedding is not None
    assert len(s.embedding) == 64


def test_encoder_runs_once_per_batch_and_heads_see_the_whole_batch(tiny_models: TinyModels) -> None:
    analyse([Item(text=f"message number {i}") for i in range(300)], workspace_id=7)
    assert tiny_models.encoder.calls == [256, 44]
    assert tiny_models.heads["sentiment"].seen == [300]
    assert ("sentiment", 7) in tiny_models.asked  # the workspace's own heads are asked for


def test_toxicity_with_categories_and_explanation(tiny_models: TinyModels) -> None:
    [s] = analyse([Item(text="You are an idiot and a b!tch")])
    assert s.is_toxic is True
    assert s.toxicity_categories is not None
    assert s.toxicity_categories["insult"] == 0.85
    assert s.explanation["toxicity"] == [
        {"code": "category", "category": "insult", "probability": 0.85},
        {"code": "profanity", "words": ["b*tch"]},
        {"code": "model", "text": 'insult: "idiot"'},  # the tiny test head explains in plain words
    ]


def test_friendly_profanity_is_not_abuse(tiny_models: TinyModels) -> None:
    [s] = analyse([Item(text="this update is fucking awesome")])
    assert (s.is_toxic, s.friendly_profanity_score, s.sentiment) == (False, 0.9, "positive")
    assert s.explanation["toxicity"] == [{"code": "category", "category": "profanity", "probability": 0.9},
                                         {"code": "profanity", "words": ["fucking"]}]  # fmt: skip


def test_negation_and_quoting_are_explained(tiny_models: TinyModels) -> None:
    negated, quoted = analyse([Item(text="I don't think she's a bitch"), Item(text='He called me "a stupid bitch"')])
    assert {"code": "negated"} in negated.explanation["toxicity"]
    assert {"code": "quoting"} in quoted.explanation["toxicity"]
    assert {"code": "quoting"} not in negated.explanation["toxicity"]


def test_disguised_words_are_read_through_normalisation(tiny_models: TinyModels) -> None:
    [s] = analyse([Item(text="you are an ｉｄｉｏｔ")])
    assert s.is_toxic is True  # the head saw "idiot": NFKC ran before classification


def test_missing_head_leaves_its_signal_empty(tiny_models: TinyModels) -> None:
    del tiny_models.heads["sentiment"], tiny_models.heads["spam"]
    [s] = analyse([Item(text="I love it, buy now")])
    assert (s.sentiment, s.sentiment_scores, s.spam_score, s.is_spam) == ("", None, None, None)
    assert s.toxicity_score == 0.02
    assert "sentiment" not in s.versions
    assert "spam" not in s.versions


def test_missing_encoder_leaves_every_model_signal_empty(
    tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    from communa.enrichment import models

    def not_installed() -> None:
        raise FileNotFoundError("weights/encoder.npz")

    monkeypatch.setattr(models, "load_encoder", not_installed)
    [s] = analyse([Item(text="I love this new version of the app")])
    assert (s.language, s.sentiment, s.toxicity_score, s.embedding, s.versions) == ("en", "", None, None, {})


def test_a_failing_head_does_not_stop_the_others(tiny_models: TinyModels, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("corrupt weights")

    tiny_models.heads["toxicity"].predict_proba = broken  # type: ignore[method-assign]
    [s] = analyse([Item(text="I love it")])
    assert (s.sentiment, s.toxicity_score, s.is_toxic) == ("positive", None, None)
    assert "the toxicity head failed" in caplog.text


def test_a_head_that_reads_languages_gets_the_detected_ones(tiny_models: TinyModels) -> None:
    tiny_models.heads["sentiment"].languages = ("en", "it")
    texts = ["Grazie mille, questa versione è davvero molto bella", "😀😀😀", "Thanks a lot, this version is great"]
    analyse([Item(text=text) for text in texts], tasks=("sentiment",))  # detected although not asked for
    analyse([Item(text=text) for text in texts])
    assert tiny_models.heads["sentiment"].seen_languages == [["it", "und", "en"], ["it", "und", "en"]]
    assert tiny_models.heads["toxicity"].seen_languages == [None]  # a head that does not read them is not given them


@pytest.mark.parametrize(
    ("text", "language"),
    [("", "und"), ("   ", "und"), ("😀😀😀", "und"), ("https://example.org", "und"), ("+1", "und")],
)
def test_bad_input_gets_sensible_labels(tiny_models: TinyModels, text: str, language: str) -> None:
    [s] = analyse([Item(text=text)])
    assert s.language == language
    assert s.is_toxic in (None, False)
    assert s.is_spam in (None, False)


def test_empty_text_is_not_sent_to_the_models(tiny_models: TinyModels) -> None:
    empty, full = analyse([Item(text=""), Item(text="I love it")])
    assert (empty.sentiment, empty.embedding, empty.versions) == ("", None, {})
    assert full.sentiment == "positive"
    assert tiny_models.encoder.calls == [1]


def test_100_kb_of_text_is_truncated_for_the_encoder(tiny_models: TinyModels) -> None:
    seen: list[str] = []
    encode = tiny_models.encoder.encode

    def spy(texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        return encode(texts)

    tiny_models.encoder.encode = spy  # type: ignore[method-assign]
    [s] = analyse([Item(text="I love this community. " * 4500)])  # ~100 KB
    assert [len(t) for t in seen] == [ENCODER_CHARS]
    assert (s.language, s.sentiment) == ("en", "positive")


def test_mixed_scripts(tiny_models: TinyModels) -> None:
    mostly_russian, jumble = analyse(
        [
            Item(text="Привет всем! Встреча завтра вечером в центре города, see you"),
            Item(text="Привет! I hate this 更新 so much مرحبا"),
        ]
    )
    assert mostly_russian.language == "ru"
    assert (jumble.language, jumble.sentiment) == ("und", "negative")  # no one language: said so, not guessed


def test_spam_behaviour_links_and_mentions(tiny_models: TinyModels) -> None:
    [s] = analyse([Item(text="hey @a @b @c look http://x.io http://y.io")])
    # content 0.05 → logit -2.944; +1.0 for two links, +1.0 for three mentions → sigmoid(-0.944)
    assert s.spam_score == 0.28
    assert s.is_spam is False
    assert s.explanation["spam"] == [{"code": "links", "count": 2}, {"code": "mentions", "count": 3}]


def test_near_duplicates_across_members_in_one_batch(tiny_models: TinyModels) -> None:
    text = "Limited offer for our members only, visit http://deal.example today"
    items = [Item(text=text, author=1, created_at=T0), Item(text=text + "!", author=2, created_at=T0),
             Item(text=text, author=3, created_at=T0), Item(text="ok thanks", author=4, created_at=T0)]  # fmt: skip
    signals = analyse(items)
    assert [s.is_spam for s in signals] == [True, True, True, False]
    assert signals[0].explanation["spam"] == [{"code": "links", "count": 1},
                                              {"code": "duplicate_members", "count": 2}]  # fmt: skip


def test_same_author_repeating_and_posting_fast(tiny_models: TinyModels) -> None:
    text = "Join my channel for free tips every single day http://tips.example"
    items = [Item(text=text, author=9, created_at=T0 + timedelta(minutes=i), posts_last_hour=12 + i) for i in range(3)]
    s = analyse(items)[0]
    assert s.explanation["spam"] == [{"code": "links", "count": 1}, {"code": "duplicate_self", "count": 2},
                                     {"code": "posting_rate", "count": 12}]  # fmt: skip
    assert s.is_spam is True


def test_short_common_replies_are_not_duplicates(tiny_models: TinyModels) -> None:
    signals = analyse([Item(text="thanks a lot!", author=a) for a in range(10)])
    assert [s.spam_score for s in signals] == [0.05] * 10


def test_near_duplicates_against_the_recent_window(tiny_models: TinyModels) -> None:
    text = "Earn money from home, message me on telegram for the details"
    window_vector = tiny_models.encoder.encode([text])

    def recent(version: str) -> RecentMessages:
        assert version == "t1"
        return RecentMessages(embeddings=window_vector, authors=[42], texts=[text])

    [s] = analyse([Item(text=text, author=7, created_at=T0)], recent=recent)
    assert {"code": "duplicate_members", "count": 1} in s.explanation["spam"]


def test_new_account_with_links(tiny_models: TinyModels) -> None:
    item = Item(text="great deals http://x.example", author=1, created_at=T0, account_created_at=T0 - timedelta(days=2))
    [s] = analyse([item])
    assert {"code": "new_account"} in s.explanation["spam"]


def test_language_only_never_loads_the_models(tiny_models: TinyModels) -> None:
    [s] = analyse([Item(text="Vielen Dank für die Hilfe")], tasks={"language"})
    assert (s.language, s.sentiment, s.embedding) == ("de", "", None)
    assert tiny_models.encoder.calls == []
    assert tiny_models.asked == []


def test_same_input_same_signals(tiny_models: TinyModels) -> None:
    items = [Item(text="How much is it? http://x.io", author=1, created_at=T0), Item(text="terrible", author=2)]
    assert analyse(items) == analyse(items)


def test_quantised_embedding_keeps_similarity() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 512)).astype(np.float32)
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    assert len(quantise(a)) == 512
    assert abs(float(dequantise(quantise(a)) @ dequantise(quantise(b))) - float(a @ b)) < 0.01
