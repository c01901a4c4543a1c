"""Text features the heads read besides the embedding (lexicon and surface cues), and the reasons they give.

Lexicon matching runs on *folded* text so that disguises do not hide a word: full-width letters, zero-width
characters, mixed Latin/Cyrillic look-alikes, leetspeak digits ("п0шёл", "ｆｕｃｋ", "sh1t") and stretched letters
("fuuuuck") all fold to the plain spelling. A masked swear word ("f***ing", "с*ка") counts as profanity.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

LEXICON_PATH = Path(__file__).resolve().parent / "lexicons.json"
MAX_FEATURE_CHARS = 5_000  # cues beyond this point of a very long text do not change its features
MAX_PHRASE_WORDS = 4
MIN_STEM = 2
MEMO_SIZE = 1 << 16  # words remembered by Lexicon.lookup

_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\u206a\u206b\u206c\u206d\u206e\u206f\ufeff",
    )
)
_PUNCTUATION = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "ё": "е", "`": "'"})
_TO_CYRILLIC = str.maketrans("aeopcxykmthb03468@", "аеорсхукмтнвоечбва")
_TO_LATIN = str.maketrans("аеорсхукмтнв" + "01345789@$!", "aeopcxykmthb" + "oieastbgas" + "i")
# A link, including the bare "http" that normalisation leaves in place of one (the tweet corpora's convention).
_URL = re.compile(
    r"https?://\S+|www\.\S+|\bhttps?\b"
    r"|\b[\w-]+ ?\. ?(?:com|net|org|info|biz|ru|de|fr|it|es|pl|uk|br|pt|ly|io|co|me|tv)\b(?:/\S*)?",
    re.IGNORECASE,
)
_HANDLE = re.compile(r"(?<!\w)@\w+")
_TOKEN = re.compile(r"[\w@$*!]+(?:[-'][\w@$*]+)*")
_STRETCH = re.compile(r"(\w)\1{2,}")
_MASKED = re.compile(r"[^\W\d_]{1,3}\*+[^\W\d_]*")
_CYRILLIC = re.compile(r"[а-яё]")
_LATIN = re.compile(r"[a-z]")
_POSITIVE_EMOJI = re.compile("[😀😁😂😃😄😅😆😉😊😋😍😎😘🥰🤩🥳👍👏🙌💪🎉❤💕💖💯🔥✨🙏☺♥😻🤗😜😝]")
_NEGATIVE_EMOJI = re.compile("[😞😟😠😡🤬😢😭😤😩😫😒🙄👎💔😱😨😰😓😔😕🙁☹🤮🤢💩😖😣]")
_QUESTION_MARKS = "?？¿;"


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """Lower-case, NFKC-normalised text without invisible characters, with curly quotes straightened (cached:
    the cues and the n-grams fold the same texts)."""
    text = unicodedata.normalize("NFKC", text[:MAX_FEATURE_CHARS]).translate(_INVISIBLE).lower()
    return text.translate(_PUNCTUATION)


@lru_cache(maxsize=1 << 16)
def fold_token(token: str) -> str:
    """Undo look-alike and leetspeak disguises inside one word, towards the script most of its letters use."""
    # "!" stands for "i" inside a word ("sh!t") but is punctuation at its ends ("awesome!").
    token = _STRETCH.sub(r"\1", token).strip("!")
    if _MASKED.fullmatch(token):
        return token
    cyrillic = len(_CYRILLIC.findall(token))
    latin = len(_LATIN.findall(token))
    if cyrillic and cyrillic >= latin:
        return token.translate(_TO_CYRILLIC)
    if latin and (cyrillic or not token.isalpha()):
        return token.translate(_TO_LATIN)
    return token


def words(text: str) -> list[str]:
    """The folded words of ``text``, links and @handles left out."""
    plain = fold(text)
    # Every kind of link _URL knows contains "." or "http": without both, the (slow) substitution is skipped.
    if "." in plain or "http" in plain:
        plain = _URL.sub(" ", plain)
    if "@" in plain:
        plain = _HANDLE.sub(" ", plain)
    return [folded for token in _TOKEN.findall(plain) if (folded := fold_token(token))]


@lru_cache(maxsize=4096)
def text_words(text: str) -> tuple[str, ...]:
    """:func:`words`, cached (the cues, the question features and the condemnation check read them in turn)."""
    return tuple(words(text))


@dataclass
class Lexicon:
    """Exact words, stems and phrases of every category, from lexicons.json."""

    exact: dict[str, set[str]] = field(default_factory=dict)
    stems: dict[str, set[str]] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    # The first words of the entries of two words or more: a phrase starting with any other word matches nothing.
    phrase_starts: set[str] = field(default_factory=set)
    _memo: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    def add(self, category: str, entry: str) -> None:
        folded = " ".join(fold_token(part) for part in fold(entry).split())
        table = self.stems if folded.endswith("*") else self.exact
        table.setdefault(folded.rstrip("*"), set()).add(category)
        if " " in folded:
            self.phrase_starts.add(folded.partition(" ")[0])
        self.forget()

    def lookup(self, candidate: str) -> frozenset[str]:
        """Categories of a word or phrase: exact entries, then the stems that begin its last word.

        Memoised (words recur from message to message; the memo is dropped when it reaches MEMO_SIZE entries).
        """
        found = self._memo.get(candidate)
        if found is None:
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            found = self._memo[candidate] = frozenset(self._match(candidate))
        return found

    def forget(self) -> None:
        """Empty the lookup memo."""
        self._memo.clear()

    def _match(self, candidate: str) -> set[str]:
        found = set(self.exact.get(candidate, ()))
        last_word = candidate.rfind(" ") + 1
        for length in range(last_word + MIN_STEM, len(candidate) + 1):
            found |= self.stems.get(candidate[:length], set())
        return found


@cache
def lexicon() -> Lexicon:
    """The shipped lexicon (every language merged: a message's language is not known at this point)."""
    data = json.loads(LEXICON_PATH.read_text(encoding="utf-8"))
    loaded = Lexicon(categories=tuple(key for key in data if not key.startswith("_")))
    for category in loaded.categories:
        for entries in data[category].values():
            for entry in entries:
                loaded.add(category, entry)
    return loaded


@lru_cache(maxsize=4096)
def cues(text: str) -> dict[str, list[str]]:
    """The lexicon words and phrases found in ``text``, by category (masked swear words count as profanity).

    Cached: the heads of one batch ask about the same texts in turn. Callers must not modify the result.
    """
    tokens = text_words(text)
    table = lexicon()
    found: dict[str, list[str]] = {}
    lookup, phrase_starts = table.lookup, table.phrase_starts
    for start, token in enumerate(tokens):
        # A phrase (and a stem inside one) can only match an entry that starts with the same whole word.
        if token in phrase_starts:
            for end in range(start + 1, min(start + MAX_PHRASE_WORDS, len(tokens)) + 1):
                candidate = " ".join(tokens[start:end])
                for category in lookup(candidate):
                    found.setdefault(category, []).append(candidate)
        else:
            for category in lookup(token):
                found.setdefault(category, []).append(token)
        if "*" in token and _MASKED.fullmatch(token):
            found.setdefault("profanity", []).append(token)
    return found


def _count(found: dict[str, list[str]], category: str) -> float:
    return math.log1p(len(found.get(category, ())))


TOXICITY_CATEGORIES = ("profanity", "insult", "identity", "slur", "threat", "sexual", "negation", "condemn", "positive")


def toxicity_features(texts: Sequence[str]) -> NDArray[np.float32]:
    """Lexicon counts plus the combinations that tell abuse from friendly swearing, quoting and negation."""
    rows = []
    for text in texts:
        found = cues(text)
        counts = [_count(found, category) for category in TOXICITY_CATEGORIES]
        profane, insult, identity, _slur, _threat, _sexual, negation, condemn, positive = (c > 0 for c in counts)
        addressed = "second_person" in found
        quoted = any(mark in text for mark in '"«»“”„')
        rows.append(
            [
                *counts,
                float(addressed),
                float(quoted),
                float(profane and positive and not insult),
                float(insult and addressed),
                float(identity and negation),
                float((insult or identity) and (condemn or quoted)),
            ]
        )
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), len(TOXICITY_CATEGORIES) + 6)


def sentiment_features(texts: Sequence[str]) -> NDArray[np.float32]:
    """Emoji polarity, exclamations and the polar lexicon words (sarcasm and negation are the embedding's job)."""
    rows = []
    for text in texts:
        found = cues(text)
        rows.append(
            [
                math.log1p(len(_POSITIVE_EMOJI.findall(text))),
                math.log1p(len(_NEGATIVE_EMOJI.findall(text))),
                math.log1p(text.count("!")),
                float(any(mark in text for mark in _QUESTION_MARKS)),
                *(_count(found, category) for category in ("positive", "profanity", "insult", "negation")),
            ]
        )
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), 8)


_DIGITS = re.compile(r"\d")
_PHONE = re.compile(r"(?:\+?\d[\d\s().-]{7,}\d)")
_MONEY = re.compile(r"[£$€₽]\s?\d|\d\s?(?:[£$€₽]|usd|eur|gbp|руб)", re.IGNORECASE)


def spam_features(texts: Sequence[str]) -> NDArray[np.float32]:
    """Links, handles, phone numbers, money, shouting, digits and promotional phrases."""
    rows = []
    for text in texts:
        sample = text[:MAX_FEATURE_CHARS]
        letters = list(filter(str.isalpha, sample))
        upper = sum(map(str.isupper, letters)) / len(letters) if letters else 0.0
        rows.append(
            [
                math.log1p(len(_URL.findall(sample))),
                math.log1p(len(_HANDLE.findall(sample))),
                float(bool(_PHONE.search(sample))),
                float(bool(_MONEY.search(sample))),
                upper,
                len(_DIGITS.findall(sample)) / max(len(sample), 1),
                math.log1p(sample.count("!")),
                math.log1p(len(sample)),
                _count(cues(sample), "spam"),
            ]
        )
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), 9)


def question_features(texts: Sequence[str]) -> NDArray[np.float32]:
    """Question marks (where they are), interrogative openings and length."""
    rows = []
    for text in texts:
        stripped = text.strip()
        tokens = text_words(stripped)
        found = cues(text)
        table = lexicon()
        opening = " ".join(tokens[:2])
        starts_interrogative = bool(tokens) and (
            "interrogative" in table.lookup(tokens[0]) or "interrogative" in table.lookup(opening)
        )
        asks = set(found.get("interrogative", ()))
        rows.append(
            [
                float(stripped[-1:] in _QUESTION_MARKS) if stripped else 0.0,
                math.log1p(sum(stripped.count(mark) for mark in _QUESTION_MARKS)),
                float("¿" in stripped),
                float(starts_interrogative),
                float(any(token in asks for token in tokens[:6])),
                float("second_person" in found),
                math.log1p(len(tokens)),
            ]
        )
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), 7)


def no_features(texts: Sequence[str]) -> NDArray[np.float32]:
    """The embedding alone."""
    return np.zeros((len(texts), 0), dtype=np.float32)


FEATURE_SETS: dict[str, Callable[[Sequence[str]], NDArray[np.float32]]] = {
    "none": no_features,
    "toxicity-v1": toxicity_features,
    "sentiment-v1": sentiment_features,
    "spam-v1": spam_features,
    "question-v1": question_features,
}

# The lexicon cues that matter to each task, in the order they are reported.
TASK_CUES: dict[str, tuple[str, ...]] = {
    "toxicity": ("profanity", "insult", "slur", "identity", "hate_claim", "threat", "sexual", "condemn", "negation"),
    "sentiment": ("positive", "profanity", "insult"),
    "spam": ("spam",),
    "question": ("interrogative",),
}


def explain_cues(task: str, text: str) -> list[dict[str, Any]]:
    """The lexicon cues in ``text`` that matter for ``task``, as codes the pages translate:
    ``{"code": "cue", "cue": "threat", "words": ["kill you"]}``. Links and question marks are reported by the
    pipeline's own checks, not here."""
    found = cues(text)
    return [
        {"code": "cue", "cue": category, "words": list(dict.fromkeys(found[category]))[:5]}
        for category in TASK_CUES.get(task, ())
        if category in found
    ]
