"""The pipeline on the real shipped models: the encoder always (its weights come with its package), the heads
when their weights are installed (communa/enrichment/models/weights)."""

from __future__ import annotations

import pytest

from communa.enrichment import models
from communa.enrichment.pipeline import Item, analyse
from tests.enrichment.conftest import KeywordHead, build_heads


@pytest.fixture
def real_encoder_tiny_heads(monkeypatch: pytest.MonkeyPatch) -> dict[str, KeywordHead]:
    heads = build_heads()
    monkeypatch.setattr(models, "load_head", lambda task, workspace_id=None: heads.get(task))
    return heads


def test_copies_are_duplicates_and_paraphrases_are_not(real_encoder_tiny_heads: dict[str, KeywordHead]) -> None:
    """The duplicate rule measured on the real sentence encoder, which scores paraphrases very close."""
    offer = "Limited offer for our members only, visit http://deal.example today"
    signals = analyse(
        [
            Item(text=offer, author=1),
            Item(text=offer.replace("deal.example", "other.example") + "!", author=2),  # a copy, another link
            Item(text="How do I reset my password for the forum?", author=3),
            Item(text="How can I reset the password for my forum account?", author=4),  # a paraphrase
            Item(text="Great event yesterday, thanks to everyone who came", author=5),
            Item(text="Great event yesterday, thanks to all who came", author=6),
        ]
    )
    duplicates = [
        next((r["count"] for r in s.explanation.get("spam", []) if r["code"] == "duplicate_members"), 0)
        for s in signals
    ]
    assert duplicates == [1, 1, 0, 0, 0, 0]
    assert signals[0].versions["encoder"].startswith("use-multilingual-v3")


def test_real_heads_follow_the_contract() -> None:
    missing = [task for task in models.TASKS if models.load_head(task) is None]
    if missing:
        pytest.skip(f"the trained heads are not installed in this checkout: {', '.join(missing)}")
    texts = [
        "I love this community, thank you all!",
        "You are a worthless idiot and everyone hates you",
        "How do I change the e-mail address on my account?",
        "this update is fucking awesome",
        "",
        "😀😀😀",
        "x" * 100_000,
    ]
    signals = analyse([Item(text=t) for t in texts])
    assert signals[0].sentiment == "positive"
    assert signals[1].is_toxic is True
    assert signals[2].is_question is True
    assert signals[3].is_toxic is False
    assert (signals[4].sentiment, signals[4].versions) == ("", {})
    for s in signals[:4] + signals[5:]:
        assert set(s.sentiment_scores or {}) == {"negative", "neutral", "positive"}
        assert set(s.toxicity_categories or {}) == {"insult", "threat", "identity_attack", "profanity", "sexual"}
        assert s.spam_score is not None
        assert 0.0 <= s.spam_score <= 1.0
