"""What the rules know about a message: built by the moderation app from the database, read by the engine.

The engine never touches the database: `MessageFacts` is everything a rule can ask about. The moderation app
builds one per message (see `signals_from` for the enrichment part); the backtest builds them from history.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class MessageFacts:
    """One message and what is known about it and its author when the rules run.

    A fact that is not known is None (or empty): a condition on an unknown fact is false, so a rule never acts
    on a guess (a toxicity threshold does not fire when no toxicity model is installed).
    """

    message_id: int | str  # stream.Message.pk; shown in examples and used to de-duplicate rate windows
    text: str  # Message.text as typed (the rules normalise it; spans in explanations refer to this text)
    created_at: datetime  # Message.created_at (aware); rate windows are measured on it
    member_id: int | None = None  # members.Member.pk of the author (None: not resolved yet)
    language: str = ""  # MessageSignals.language (ISO 639-1, "und" when no language could be detected)
    # Classifier scores in [0, 1] by name (see `signals_from`): "toxicity", its categories ("insult",
    # "threat", "identity_attack", "profanity", "sexual"), "friendly_profanity", "spam", "question", and the
    # sentiment probabilities "negative", "neutral", "positive". A score the model did not produce is absent.
    signals: Mapping[str, float] = dataclasses.field(default_factory=dict)
    # The decisions after people's corrections: "toxic", "spam", "question" (MessageSignals.is_*_corrected
    # when set, else is_*); absent when unknown.
    flags: Mapping[str, bool] = dataclasses.field(default_factory=dict)
    sentiment: str = ""  # "negative" | "neutral" | "positive" (corrected when corrected), "" when unknown
    source_id: int | None = None  # connectors.Source.pk
    platform: str = ""  # Source.kind: "matrix", "irc", "discourse", "email", "bluesky", ...
    channel: str = ""  # the room/channel/thread's external id or name the message was posted in
    mentions: int = 0  # how many people the message mentions (@name, Matrix pills, ...)
    # Author facts, as of the message's time where the app can tell, else as of now.
    account_age_days: float | None = None  # days since the author's identity was first seen on this platform
    is_first_message: bool = False  # the author's first message in this workspace
    engagement: str = ""  # Member engagement level, e.g. "new", "casual", "regular", "champion"
    strikes: int = 0  # the author's active (unexpired) strikes
    role: str = ""  # the author's role on the platform, e.g. "member", "moderator", "admin"
    is_staff: bool = False  # Member.is_staff: speaks for the brand
    is_bot: bool = False  # the identity is a bot


def signals_from(row: Any) -> tuple[dict[str, float], dict[str, bool], str]:
    """(signals, flags, sentiment) for MessageFacts from an enrichment MessageSignals row (or None)."""
    if row is None:
        return {}, {}, ""
    signals: dict[str, float] = {}
    for name, attribute in (
        ("toxicity", "toxicity_score"),
        ("friendly_profanity", "friendly_profanity_score"),
        ("spam", "spam_score"),
        ("question", "question_score"),
    ):
        value = getattr(row, attribute, None)
        if value is not None:
            signals[name] = float(value)
    for mapping in (getattr(row, "toxicity_categories", None), getattr(row, "sentiment_scores", None)):
        for name, value in (mapping or {}).items():
            if isinstance(value, int | float):
                signals[str(name)] = float(value)
    flags: dict[str, bool] = {}
    for name in ("toxic", "spam", "question"):
        corrected = getattr(row, f"is_{name}_corrected", None)
        value = corrected if corrected is not None else getattr(row, f"is_{name}", None)
        if value is not None:
            flags[name] = bool(value)
    sentiment = getattr(row, "sentiment_corrected", "") or getattr(row, "sentiment", "") or ""
    return signals, flags, str(sentiment)
