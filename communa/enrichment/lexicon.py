"""Word-list cues that explain a toxicity score to a moderator: profanity found, negation, quoting.

These are reasons shown beside the score, not the score itself (the toxicity head decides). The profanity
lists are glin-profanity's (MIT) for en/it/es/fr/de/pt; its Russian list is transliterated, so Russian is
matched on the Cyrillic roots below. Words are read in normalize's `words` form, where "f4ck" is "f*ck":
a `*` matches any one letter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from importlib.resources import files

from communa.enrichment.normalize import WILDCARD, fold_word, normalize, squeeze

GLIN_LANGUAGES = ("english", "italian", "spanish", "french", "german", "portuguese")

# Obscene Russian roots (мат), matched at the start of a word after an optional verb prefix.
_RUSSIAN_ROOTS = re.compile(
    r"^(?:вы|за|на|об|от|отъ|по|под|подъ|раз|разъ|съ|у|до|при|про|долбо)?"
    r"(?:[её]б(?:а|и|у|ну|ло|ал|ан|ат|ит|ёт|ет|ыр)|хуй|хуе|хуё|хуя|хуи|пизд|бля|мудак|мудил|пидор|пидар|залуп|"
    r"гандон|шлюх|сука|суки|сучк|сучар|говн|дерьм)",
)
_TOKEN = re.compile(r"[\w*]+")
_NEGATION_TOKEN = re.compile(r"[\w*']+")  # keeps "don't" whole
# Words that turn a statement around when they come just before the cue ("I don't hate", "non è un idiota").
NEGATIONS = frozenset({
    "not", "no", "never", "don't", "doesn't", "didn't", "isn't", "wasn't", "aren't", "weren't", "won't", "can't",
    "cannot", "non", "mai", "nessuno", "nunca", "jamás", "ni", "ne", "pas", "jamais", "nicht", "kein", "keine",
    "nie", "não", "nem", "не", "ни", "нет", "никогда",
})  # fmt: skip
_NEGATION_WINDOW = 5
_QUOTE_MARKS = re.compile('["“”«»„]')  # not ’: it is the apostrophe of "don’t"


@cache
def _profanity() -> tuple[frozenset[str], dict[tuple[int, str], list[str]], dict[str, list[str]]]:
    """(single words, wildcard index by (length, first letter), phrases by first word), read once per process."""
    folder = files("glin_profanity").joinpath("data", "dictionaries")
    words: set[str] = set()
    phrases: set[str] = set()
    for language in GLIN_LANGUAGES:
        data = json.loads(folder.joinpath(f"{language}.json").read_text(encoding="utf-8"))
        for entry in data["words"]:
            folded = " ".join(fold_word(part)[1] for part in entry.casefold().split())
            (phrases if " " in folded else words).add(folded)
    index: dict[tuple[int, str], list[str]] = {}
    for word in words:
        index.setdefault((len(word), word[0]), []).append(word)
    by_first_word: dict[str, list[str]] = {}
    for phrase in sorted(phrases):
        by_first_word.setdefault(phrase.split(" ", 1)[0], []).append(phrase)
    return frozenset(words), index, by_first_word


def profane_words(words_form: str) -> list[str]:
    """The profane words in a text's `words` form, in order, each once."""
    single, index, phrases = _profanity()
    tokens = _TOKEN.findall(words_form)
    found: list[str] = []
    for token in tokens:
        if _is_profane(token, single, index) and token not in found:
            found.append(token)
    candidates = [phrase for token in dict.fromkeys(tokens) for phrase in phrases.get(token, ())]
    if candidates:
        joined = f" {' '.join(tokens)} "
        found += [p for p in candidates if f" {p} " in joined and p not in found]
    return found


def _is_profane(token: str, single: frozenset[str], index: dict[tuple[int, str], list[str]]) -> bool:
    if token in single:
        return True
    cyrillic = not token.isascii() and any("\u0400" <= c <= "\u04ff" for c in token)
    for candidate in (token, squeeze(token, keep=1)):
        if candidate in single or (cyrillic and _RUSSIAN_ROOTS.match(candidate)):
            return True
        if WILDCARD in candidate and _wildcard_match(candidate, index):
            return True
    return False


def _wildcard_match(token: str, index: dict[tuple[int, str], list[str]]) -> bool:
    """ "f*ck" against the list: `*` stands for one letter; at least two real letters must agree."""
    if token[0] == WILDCARD or sum(c != WILDCARD for c in token) < 2:
        return False
    for word in index.get((len(token), token[0]), []):
        if all(t in (WILDCARD, w) for t, w in zip(token, word, strict=True)):
            return True
    # Russian roots are patterns, not a list: try the vowels a symbol usually hides ("н@хуй", "п*зда").
    return any(_RUSSIAN_ROOTS.match(token.replace(WILDCARD, vowel)) for vowel in "аоеиуя")


def negated(words_form: str, cues: Iterable[str]) -> bool:
    """Whether a negation comes within five words before one of `cues` ("don't think she's a …")."""
    tokens = _NEGATION_TOKEN.findall(words_form.replace("’", "'"))
    wanted = set(cues)
    for i, token in enumerate(tokens):
        if token in wanted and NEGATIONS.intersection(tokens[max(0, i - _NEGATION_WINDOW) : i]):
            return True
    return False


def quoting(text: str, cues: Iterable[str]) -> bool:
    """Whether a cue sits inside quotation marks or on a quoted line ("> …"): reporting, not saying.

    `text` is the original message (its lines matter); `cues` are in the `words` form.
    """
    wanted = list(cues)
    for line in text.splitlines():
        if line.lstrip().startswith(">") and any(cue in normalize(line).words for cue in wanted):
            return True
    pieces = _QUOTE_MARKS.split(normalize(text).words)
    return any(cue in piece for piece in pieces[1::2] for cue in wanted)  # odd pieces sit between two marks
