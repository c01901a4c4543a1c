"""Which language a message is in, or "und" (undetermined) when the text does not say.

Emoji-only, link-only and "+1" messages have no language: fewer than MIN_LETTERS letters are left once links,
mentions and addresses are taken out, or the detector is unsure (below MIN_PROBABILITY). When a workspace
lists its languages, the answer is the likeliest of those, so a short Italian message is not called Catalan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

from communa.enrichment.backends import language_backend
from communa.enrichment.normalize import (
    EMAIL_PLACEHOLDER,
    MENTION_PLACEHOLDER,
    URL_PLACEHOLDER,
    NormalizedText,
    normalize,
)

UNDETERMINED = "und"
MIN_LETTERS = 3
MIN_PROBABILITY = 0.3
CANDIDATES = 5  # enough for a restriction to a workspace's languages to find one of them
MAX_CHARS = 1000  # the first thousand characters decide; more only costs time


@dataclasses.dataclass(frozen=True, slots=True)
class LanguageGuess:
    code: str
    probability: float | None  # None for "und" decided without asking the detector
    reason: str = ""


def detect_languages(texts: Sequence[NormalizedText], *, allowed: Collection[str] = ()) -> list[LanguageGuess]:
    """One guess per text, in order. `allowed` (ISO codes) restricts the answer when not empty."""
    readable = [_readable(text) for text in texts]
    asked = [i for i, text in enumerate(readable) if _letters(text) >= MIN_LETTERS]
    guesses = [LanguageGuess(UNDETERMINED, None, "too little text") for _ in texts]
    if not asked:
        return guesses
    allowed_set = {code.lower() for code in allowed}
    candidates = language_backend().candidates([readable[i][:MAX_CHARS] for i in asked], limit=CANDIDATES)
    for index, ranked in zip(asked, candidates, strict=True):
        eligible = [c for c in ranked if not allowed_set or c.code in allowed_set]
        best = eligible[0] if eligible else None
        if best is None or best.probability < MIN_PROBABILITY:
            guesses[index] = LanguageGuess(UNDETERMINED, round(best.probability, 4) if best else None, "unsure")
        else:
            guesses[index] = LanguageGuess(best.code, round(best.probability, 4))
    return guesses


def language_codes(texts: Sequence[str]) -> list[str]:
    """The code the pipeline detects for each raw text (no workspace restriction): what a head that reads languages
    is given in use, so what training, evaluation and the benchmark give it too."""
    return [guess.code for guess in detect_languages([normalize(text) for text in texts])]


def _readable(text: NormalizedText) -> str:
    words = text.text.split()
    kept = [w for w in words if w not in (URL_PLACEHOLDER, MENTION_PLACEHOLDER, EMAIL_PLACEHOLDER)]
    return " ".join(kept)


def _letters(text: str) -> int:
    return sum(1 for c in text if c.isalpha())
