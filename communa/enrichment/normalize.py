"""Text normalisation before classification: the form the models and the word lists read.

People hide words from filters ("ｆｕｃｋ", "f\u200buck", "hеllo" with a Cyrillic е, "п0шёл", "f4ck") and repeat
letters for emphasis ("sooooo"); links, handles and addresses say more as "a link" than as their characters.
`normalize` undoes those tricks and returns two forms of the text:
- `text`, for the encoder and the heads: NFKC, invisible and bidi control characters removed (a right-to-left
  override is read in display order), look-alike letters folded to the word's own script, digits used as
  letters inside a word read as letters, runs of one character cut to two, URLs, e-mail addresses and
  mentions replaced by placeholders, whitespace collapsed;
- `words`, for word lists: the same, case-folded, with runs cut to two and the characters that stood in for
  letters kept as a `*` wildcard, so "f4ck" and "f*ck" both read "f*ck".
The stored message is never changed: normalisation happens in memory, for classification only.
Every step is linear in the length of the text, which is capped at MAX_CHARS first.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from functools import lru_cache
from typing import Any

MAX_CHARS = 20_000  # beyond this a message is not read further (the encoder reads far less anyway)

URL_PLACEHOLDER = "http"  # the convention of the tweet corpora the heads learn from (XLM-T, TweetEval)
MENTION_PLACEHOLDER = "@user"
EMAIL_PLACEHOLDER = "email"
WILDCARD = "*"

# Zero-width characters, joiners, soft hyphen, filler and variation characters, tags, and bidi controls.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f]"
)
# A right-to-left override shows the characters after it reversed ("\u202ekcuf" reads "fuck" on screen).
_RTL_OVERRIDE = re.compile("\u202e([^\u202a-\u202e\u2066-\u2069\n]*)")

_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
_URL = re.compile(r"(?:https?://|www\.)\S{1,2000}", re.IGNORECASE)
# Bare domains spammers write to dodge link filters ("bit.ly/x", "casino.top"), read after mentions so that a
# Matrix id ("@bob:example.org") stays one mention.
_BARE_DOMAIN = re.compile(
    r"\b[a-z0-9-]{1,63}\.(?:com|net|org|io|ly|gl|me|co|ru|info|biz|xyz|top|click|link|site|online|shop)"
    r"\b(?:/\S{0,2000})?",
    re.IGNORECASE,
)
# @name, and Matrix-style @name:server.
_MENTION = re.compile(r"(?<![\w@])@[\w.-]{1,64}(?::[\w.-]{1,255})?")
# Private-use stand-ins while words are folded, so the placeholders themselves are never folded.
_SENTINELS = {"\ue000": URL_PLACEHOLDER, "\ue001": MENTION_PLACEHOLDER, "\ue002": EMAIL_PLACEHOLDER}
_SENTINEL_RE = re.compile("[\ue000-\ue002]")

# A word: letters and digits, with the symbols people type for letters inside it (a$$, b!tch, f*ck).
_WORD = re.compile(r"[\w@$!*|]+")
# Masks ("f***ing") keep their length: each `*` stands for one letter.
_RUN = re.compile(r"([^*])\1{2,}", re.DOTALL)
_RUN_ANY = re.compile(r"([^*])\1+", re.DOTALL)
_SPACE = re.compile(r"\s+")

# Look-alike letters, per target script. Only words that mix scripts (or use digits as letters) are folded,
# so Russian, Greek and every other script stay as written.
_CYRILLIC_TO_LATIN = str.maketrans(
    "аеорсухіјѕһԁԛԝӏкмтАВЕКМНОРСТХУІЈЅ",
    "aeopcyxijshdqwlkmtABEKMHOPCTXYIJS",
)
_GREEK_TO_LATIN = str.maketrans("οαειινρτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧκ", "oaeiivptuxABEZHIKMNOPTYXk")
_LATIN_TO_CYRILLIC = str.maketrans(
    "aeopcyxkmtbAEKMHOPCTXYB",
    "аеорсухкмтьАЕКМНОРСТХУВ",
)
# Digits and symbols typed for letters, read in the word's script.
_LEET_LATIN = str.maketrans("013457@$!|", "oieastasil")
_LEET_CYRILLIC = str.maketrans("0346@", "озчба")
_LEET_CHARS = frozenset("013457@$!|6*")


@dataclasses.dataclass(frozen=True, slots=True)
class NormalizedText:
    text: str
    words: str
    urls: int = 0
    mentions: int = 0
    emails: int = 0

    @property
    def has_letters(self) -> bool:
        """Whether anything but placeholders, digits, emoji and punctuation is left to read."""
        stripped = self.text
        for placeholder in (URL_PLACEHOLDER, MENTION_PLACEHOLDER, EMAIL_PLACEHOLDER):
            stripped = stripped.replace(placeholder, " ")
        return any(c.isalpha() for c in stripped)


def normalize(text: str) -> NormalizedText:
    """Both readable forms of `text` (see the module docstring), with counts of links, mentions and addresses."""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS])
    text = _RTL_OVERRIDE.sub(lambda m: m.group(1)[::-1], text)
    text = _INVISIBLE.sub("", text)
    text, emails = _EMAIL.subn("\ue002", text)
    text, urls = _URL.subn("\ue000", text)
    text, mentions = _MENTION.subn("\ue001", text)
    text, bare_urls = _BARE_DOMAIN.subn("\ue000", text)
    urls += bare_urls
    model_words: list[str] = []
    list_words: list[str] = []
    position = 0
    for match in _WORD.finditer(text):
        gap = text[position : match.start()]
        model_word, list_word = fold_word(match.group())
        model_words += [gap, model_word]
        list_words += [gap, list_word]
        position = match.end()
    model_words.append(text[position:])
    list_words.append(text[position:])
    return NormalizedText(
        text=_finish("".join(model_words)),
        words=_finish("".join(list_words)).casefold(),
        urls=urls,
        mentions=mentions,
        emails=emails,
    )


def _finish(text: str) -> str:
    text = squeeze(text)
    text = _SENTINEL_RE.sub(lambda m: f" {_SENTINELS[m.group()]} ", text)
    return _SPACE.sub(" ", text).strip()


def squeeze(text: str, keep: int = 2) -> str:
    """Cut every run of one character to `keep` ("sooooo" → "soo" with 2, "so" with 1)."""
    if keep == 1:
        return _RUN_ANY.sub(r"\1", text)
    return _RUN.sub(lambda m: m.group(1) * keep, text)


def fold_word(word: str) -> tuple[str, str]:
    """One word as the models read it and as the word lists read it (with `*` for symbols typed as letters)."""
    if word.isalpha() and (word.isascii() or len({_script(c) for c in word}) == 1):
        return word, word  # most words: one script, no symbols (checked in C, so the common case stays cheap)
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return word, word
    target = _dominant_script(word)
    folded = word
    if len({_script(c) for c in letters}) > 1:
        folded = folded.translate(_LATIN_TO_CYRILLIC if target == "CYRILLIC" else _to_latin_table(word))
    if not any(c in _LEET_CHARS for c in folded) or not _has_inner_leet(folded):
        return folded, folded
    leet = _LEET_CYRILLIC if target == "CYRILLIC" else _LEET_LATIN
    model = "".join(c.translate(leet) if _is_inner(folded, i) else c for i, c in enumerate(folded))
    listed = "".join(WILDCARD if _is_inner(folded, i) and c in _LEET_CHARS else c for i, c in enumerate(folded))
    return model, listed


def _to_latin_table(word: str) -> dict[int, Any]:
    return _GREEK_TO_LATIN if any(_script(c) == "GREEK" for c in word) else _CYRILLIC_TO_LATIN


def _has_inner_leet(word: str) -> bool:
    return any(_is_inner(word, i) for i, c in enumerate(word) if c in _LEET_CHARS)


def _is_inner(word: str, index: int) -> bool:
    """A symbol inside a word that has letters on both sides of it (within the run of symbols): "f4ck", "f**k"."""
    if word[index] not in _LEET_CHARS:
        return False
    before = word[:index].rstrip("".join(_LEET_CHARS))
    after = word[index + 1 :].lstrip("".join(_LEET_CHARS))
    return bool(before) and before[-1].isalpha() and bool(after) and after[0].isalpha()


_CONFUSABLE_CYRILLIC = frozenset("аеорсухіјѕһԁԛԝӏкмтАВЕКМНОРСТХУІЈЅ")
_CONFUSABLE_LATIN = frozenset("aeopcyxkmtbijshdqwlABEKMHOPCTXYIJS")


def _dominant_script(word: str) -> str:
    """The script of the letters that cannot be look-alikes ("пpивет" → Cyrillic); by count when all can."""
    distinctive: dict[str, int] = {}
    counts: dict[str, int] = {}
    for c in word:
        if not c.isalpha():
            continue
        script = _script(c)
        counts[script] = counts.get(script, 0) + 1
        if c not in _CONFUSABLE_CYRILLIC and c not in _CONFUSABLE_LATIN:
            distinctive[script] = distinctive.get(script, 0) + 1
    chosen = distinctive or counts
    best = max(chosen.values())
    # Ties go to Latin: the tricks that matter most (brand names, spam links) disguise Latin words.
    return "LATIN" if chosen.get("LATIN") == best else max(chosen, key=lambda s: chosen[s])


@lru_cache(maxsize=4096)
def _script(char: str) -> str:
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else ""
