"""What Communa understood about each message, and what people corrected.

`MessageSignals` holds one row per message (its primary key is the message id), written set-based by the
pipeline. A signal whose model is not installed stays empty (NULL or ""), which the page shows as "not
available". The flag columns (`sentiment`, `is_toxic`, `is_spam`, `is_question`) are what the stream shows and
filters on: the model's decision, or a moderator's correction when there is one (`*_corrected`), which the
pipeline never overwrites. `SignalLabel` keeps every correction, for the audit trail and for training a
workspace's own heads.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from communa.core.models import WorkspaceScopedModel


class Task(models.TextChoices):
    """The signals a person can correct (language is corrected on the message itself)."""

    SENTIMENT = "sentiment", _("Sentiment")
    TOXICITY = "toxicity", _("Toxicity")
    SPAM = "spam", _("Spam")
    QUESTION = "question", _("Question")


class Sentiment(models.TextChoices):
    NEGATIVE = "negative", _("Negative")
    NEUTRAL = "neutral", _("Neutral")
    POSITIVE = "positive", _("Positive")


class MessageSignals(WorkspaceScopedModel):
    """The signals of one message. Rewritten whole each time the message is (re-)enriched, except corrections."""

    message = models.OneToOneField(
        "stream.Message", primary_key=True, on_delete=models.CASCADE, related_name="signals", db_column="message_id"
    )
    # "und" when the text gives no language to detect (emoji, a link, "+1").
    language = models.CharField(max_length=12, blank=True, default="")
    language_score = models.FloatField(null=True, blank=True)
    sentiment = models.CharField(max_length=10, blank=True, default="", choices=Sentiment.choices)
    sentiment_scores = models.JSONField(null=True, blank=True)  # {"negative": p, "neutral": p, "positive": p}
    sentiment_corrected = models.CharField(max_length=10, blank=True, default="", choices=Sentiment.choices)
    toxicity_score = models.FloatField(null=True, blank=True)
    toxicity_categories = models.JSONField(null=True, blank=True)  # {"insult": p, "threat": p, ...}
    friendly_profanity_score = models.FloatField(null=True, blank=True)
    is_toxic = models.BooleanField(null=True, blank=True)
    is_toxic_corrected = models.BooleanField(null=True, blank=True)
    spam_score = models.FloatField(null=True, blank=True)
    is_spam = models.BooleanField(null=True, blank=True)
    is_spam_corrected = models.BooleanField(null=True, blank=True)
    question_score = models.FloatField(null=True, blank=True)
    is_question = models.BooleanField(null=True, blank=True)
    is_question_corrected = models.BooleanField(null=True, blank=True)
    # The sentence embedding, int8-quantised (one byte per dimension), for similarity search.
    embedding = models.BinaryField(null=True, blank=True)
    embedding_version = models.CharField(max_length=80, blank=True, default="")
    versions = models.JSONField(default=dict, blank=True)  # {"encoder": "...", "sentiment": "...", ...}
    explanation = models.JSONField(default=dict, blank=True)  # {"toxicity": ["profanity: …"], "spam": [...]}
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "message signals"
        indexes = [
            # Tiny partial indexes: the moderation views ask "what is flagged in this workspace".
            models.Index(fields=["workspace"], name="signals_toxic", condition=models.Q(is_toxic=True)),
            models.Index(fields=["workspace"], name="signals_spam", condition=models.Q(is_spam=True)),
            models.Index(fields=["workspace"], name="signals_question", condition=models.Q(is_question=True)),
        ]

    def __str__(self) -> str:
        return f"signals of message {self.pk}"


class SignalLabel(WorkspaceScopedModel):
    """A person's correction of one signal of one message ("not toxic", "sentiment is positive")."""

    message = models.ForeignKey("stream.Message", on_delete=models.CASCADE, related_name="+", db_index=False)
    task = models.CharField(max_length=20, choices=Task.choices)
    label = models.CharField(max_length=20)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "task", "-created_at"], name="signallabel_ws_task"),
            models.Index(fields=["message", "task"], name="signallabel_message"),
        ]

    def __str__(self) -> str:
        return f"{self.task}: {self.label}"


# What a correction may say, per task: the label the head would have produced, or its negation.
CORRECTION_LABELS: dict[str, tuple[str, ...]] = {
    Task.SENTIMENT: tuple(Sentiment.values),
    Task.TOXICITY: ("toxic", "not_toxic"),
    Task.SPAM: ("spam", "not_spam"),
    Task.QUESTION: ("question", "not_question"),
}
