"""How signals read on a page: badges with their reasons, in the reader's language.

Reasons are stored as data ({"code": "links", "count": 2}) and worded here, at render time, so the same
message reads in Italian for an Italian moderator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from communa.enrichment.tables import CORRECTION_LABELS

if TYPE_CHECKING:
    from communa.enrichment.tables import MessageSignals

FRIENDLY_PROFANITY = 0.5

TASK_NAMES: dict[str, str | Promise] = {
    "sentiment": gettext_lazy("sentiment"),
    "toxicity": gettext_lazy("toxicity"),
    "spam": gettext_lazy("spam"),
    "question": gettext_lazy("question"),
}
CATEGORY_NAMES: dict[str, str | Promise] = {
    "insult": gettext_lazy("insult"),
    "threat": gettext_lazy("threat"),
    "identity_attack": gettext_lazy("identity attack / hate"),
    "profanity": gettext_lazy("profanity"),
    "sexual": gettext_lazy("sexual"),
}
SENTIMENT_NAMES: dict[str, str | Promise] = {
    "negative": gettext_lazy("Negative"),
    "neutral": gettext_lazy("Neutral"),
    "positive": gettext_lazy("Positive"),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Badge:
    kind: str  # sentiment-positive, toxic, spam, question, friendly, language, unavailable
    label: str
    title: str  # the reason, shown on hover and read by screen readers

    @property
    def css(self) -> str:
        return BADGE_CLASSES.get(self.kind, "badge-outline")


BADGE_CLASSES = {
    "toxic": "badge-danger",
    "spam": "badge-warning",
    "question": "badge-info",
    "sentiment-negative": "badge-warning",
    "sentiment-positive": "badge-success",
    "sentiment-neutral": "badge-neutral",
}


def percent(probability: float) -> str:
    return f"{round(probability * 100)}%"


# The lexicon cue categories a model reason names (enrichment.models.features.TASK_CUES).
CUE_NAMES: dict[str, str | Promise] = {
    "profanity": gettext_lazy("swearing"),
    "insult": gettext_lazy("insult word"),
    "slur": gettext_lazy("slur"),
    "identity": gettext_lazy("mentions a group"),
    "hate_claim": gettext_lazy("a sweeping claim about a group"),
    "threat": gettext_lazy("threat"),
    "sexual": gettext_lazy("sexual"),
    "condemn": gettext_lazy("reporting or condemning"),
    "negation": gettext_lazy("negation"),
    "positive": gettext_lazy("positive word"),
    "spam": gettext_lazy("promotional phrase"),
    "interrogative": gettext_lazy("question word"),
}

_REASONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "too_little_text": lambda r: _("too little text to tell"),
    "unsure": lambda r: _("the detector is unsure"),
    "model": lambda r: str(r.get("text", "")),  # plain words from a head that does not speak in codes
    "cue": lambda r: (
        _("%(cue)s: %(words)s")
        % {"cue": CUE_NAMES.get(r.get("cue", ""), r.get("cue", "")), "words": ", ".join(f"«{w}»" for w in r["words"])}
    ),
    "friendly_swearing": lambda r: _("the swearing reads as friendly, so it counts less towards toxic"),
    "category": lambda r: (
        _("%(category)s %(percent)s")
        % {
            "category": CATEGORY_NAMES.get(r.get("category", ""), r.get("category", "")),
            "percent": percent(r["probability"]),
        }
    ),
    "profanity": lambda r: _("profanity: %(words)s") % {"words": ", ".join(f"«{w}»" for w in r.get("words", []))},
    "negated": lambda r: _("negated (“not …”)"),
    "quoting": lambda r: _("quoting someone else"),
    "question_mark": lambda r: _("asks with a question mark"),
    "links": lambda r: ngettext("%(count)d link", "%(count)d links", r["count"]) % {"count": r["count"]},
    "mentions": lambda r: ngettext("%(count)d mention", "%(count)d mentions", r["count"]) % {"count": r["count"]},
    "emails": lambda r: (
        ngettext("%(count)d e-mail address", "%(count)d e-mail addresses", r["count"]) % {"count": r["count"]}
    ),
    "repeated_words": lambda r: _("the same words over and over"),
    "duplicate_members": lambda r: (
        ngettext("the same text as %(count)d other member", "the same text as %(count)d other members", r["count"])
        % {"count": r["count"]}
    ),
    "duplicate_self": lambda r: (
        ngettext("posted %(count)d time before", "posted %(count)d times before", r["count"]) % {"count": r["count"]}
    ),
    "posting_rate": lambda r: (
        ngettext("%(count)d message in the previous hour", "%(count)d messages in the previous hour", r["count"])
        % {"count": r["count"]}
    ),
    "new_member": lambda r: _("new in the community"),
    "new_account": lambda r: _("account less than a week old"),
}


def reason_text(reason: dict[str, Any]) -> str:
    """One stored reason in words; an unknown code (from a newer version) is shown as its code."""
    render = _REASONS.get(str(reason.get("code", "")))
    try:
        return render(reason) if render else str(reason.get("code", ""))
    except (KeyError, TypeError, ValueError):
        return str(reason.get("code", ""))


def reasons(signals: MessageSignals, task: str) -> list[str]:
    return [reason_text(r) for r in (signals.explanation or {}).get(task, []) if isinstance(r, dict)]


def badges(signals: MessageSignals, *, message_language: str = "", has_text: bool = True) -> list[Badge]:
    """The badges of one message, most important first."""
    out: list[Badge] = []
    if not message_language and signals.language == "und" and has_text:
        out.append(
            Badge("language", _("Language unknown"), _join([_("Language unknown")], reasons(signals, "language")))
        )
    out += _toxicity_badges(signals)
    if signals.is_spam:
        out.append(_flag(signals, "spam", _("Spam"), signals.spam_score, signals.is_spam_corrected))
    if signals.is_question:
        out.append(_flag(signals, "question", _("Question"), signals.question_score, signals.is_question_corrected))
    if signals.sentiment:
        out.append(_sentiment_badge(signals))
    missing = missing_signals(signals) if has_text else []
    if missing:
        names = ", ".join(str(TASK_NAMES[t]) for t in missing)
        out.append(
            Badge(
                "unavailable",
                _("Not available"),
                _("Not available (model not installed): %(names)s") % {"names": names},
            )
        )
    return out


def current_labels(signals: MessageSignals) -> dict[str, str]:
    """What the message is labelled now, in correction-label terms, for marking the menu's current choice."""
    labels = {"sentiment": signals.sentiment} if signals.sentiment else {}
    for task, flag in (("toxicity", signals.is_toxic), ("spam", signals.is_spam), ("question", signals.is_question)):
        if flag is not None:
            yes, no = CORRECTION_LABELS[task]
            labels[task] = yes if flag else no
    return labels


def missing_signals(signals: MessageSignals) -> list[str]:
    """The signals no model produced for this message (its head is not installed), once it was analysed."""
    if signals.computed_at is None:
        return []
    produced = signals.versions or {}
    return [task for task in TASK_NAMES if task not in produced]


def _toxicity_badges(signals: MessageSignals) -> list[Badge]:
    if signals.is_toxic:
        return [_flag(signals, "toxicity", _("Toxic"), signals.toxicity_score, signals.is_toxic_corrected, "toxic")]
    friendly = signals.friendly_profanity_score
    if friendly is not None and friendly >= FRIENDLY_PROFANITY and signals.is_toxic_corrected is None:
        title = _join(
            [_("Profane but friendly %(percent)s") % {"percent": percent(friendly)}], reasons(signals, "toxicity")
        )
        return [Badge("friendly", _("Profane, friendly"), title)]
    return []


def _flag(
    signals: MessageSignals, task: str, label: str, score: float | None, corrected: bool | None, kind: str = ""
) -> Badge:
    if corrected is not None:
        return Badge(kind or task, label, _("Set by a moderator"))
    head = f"{label} {percent(score)}" if score is not None else label
    return Badge(kind or task, label, _join([head], reasons(signals, task)))


def _sentiment_badge(signals: MessageSignals) -> Badge:
    label = str(SENTIMENT_NAMES.get(signals.sentiment, signals.sentiment))
    if signals.sentiment_corrected:
        return Badge(f"sentiment-{signals.sentiment}", label, _("Set by a moderator"))
    scores = signals.sentiment_scores or {}
    parts = [
        f"{SENTIMENT_NAMES.get(name, name)} {percent(p)}" for name, p in sorted(scores.items(), key=lambda kv: -kv[1])
    ]
    return Badge(f"sentiment-{signals.sentiment}", label, _join([" · ".join(parts)], reasons(signals, "sentiment")))


def _join(head: list[str], rest: list[str]) -> str:
    return "; ".join([*head, *rest])


# The correction menu: (task, heading, [(label, text)]); labels are tables.CORRECTION_LABELS.
CORRECTION_MENU: list[tuple[str, str | Promise, list[tuple[str, str | Promise]]]] = [
    ("sentiment", gettext_lazy("Sentiment"), [(value, name) for value, name in SENTIMENT_NAMES.items()]),
    (
        "toxicity",
        gettext_lazy("Toxicity"),
        [("toxic", gettext_lazy("Toxic")), ("not_toxic", gettext_lazy("Not toxic"))],
    ),
    ("spam", gettext_lazy("Spam"), [("spam", gettext_lazy("Spam")), ("not_spam", gettext_lazy("Not spam"))]),
    (
        "question",
        gettext_lazy("Question"),
        [("question", gettext_lazy("Needs an answer")), ("not_question", gettext_lazy("Not a question"))],
    ),
]
