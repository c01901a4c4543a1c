"""Text as the rules read it, with every token mapped back to where it stands in the original text.

People hide words from filters: "ｉｄｉｏｔ" (fullwidth), "іdiot" (a Cyrillic і), "id\u200biot" (a zero-width
space), "1d10t" (leetspeak), "iiidiooot" (repeated letters), "i.d.i.o.t" (separators). `normalize` undoes
those tricks in this order:

1. Unicode NFKC (fullwidth, mathematical and circled letters, ligatures become plain letters) and case folding;
2. zero-width characters, joiners, soft hyphens, variation selectors, tag characters and bidi controls removed;
3. single letters joined across separators ("i.d.i.o.t", "i-d-i-o-t", "i d i o t" with four or more letters);
4. per token, look-alike letters folded to the token's dominant script (the table `CONFUSABLES` below, taken
   from the Unicode confusables list for the Latin, Cyrillic and Greek letters that are used for disguise;
   it ships with the code, nothing is downloaded);
5. per token, digits and symbols typed for letters read as letters (`LEET_LATIN`, `LEET_CYRILLIC`);
6. per token, runs of three or more of one letter cut to two and to one ("iiidiooot" → "iidioot", "idiot").

Text under a right-to-left override is put in display order ("\u202etoidi" shows "idiot"); a `*` inside a word
is kept: the engine reads it as any one letter ("id*ot").

Steps 4-6 produce *variants* of a token; the original form is kept as a variant too, so a rule word that is
itself written with digits ("covid19") still matches. The stored message is never changed: the rules read the
normalised form and report spans of the original text.

Every step is linear in the length of the text, which is capped at MAX_CHARS first.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

MAX_CHARS = 20_000  # a message longer than this is read up to here

# Zero-width characters, joiners, soft hyphen, filler and variation characters, tags, and bidi controls.
INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f]"
)

# Look-alike letters (from Unicode's confusables.txt, the letters used in practice): the Latin reading of
# Cyrillic and Greek letters, and the Cyrillic reading of Latin letters. Applied only inside a token that
# mixes scripts, towards the token's dominant script, so plain Russian and Greek words stay as written.
_CYRILLIC_LOOKALIKES = "аеорсухіјѕһԁԛԝӏкмтвнь"
_CYRILLIC_AS_LATIN = "aeopcyxijshdqwlkmtbhb"
_GREEK_LOOKALIKES = "οαειινρτυχκβμ"
_GREEK_AS_LATIN = "oaeiivptuxkbu"
_LATIN_LOOKALIKES = "aeopcyxkmtbh"
_LATIN_AS_CYRILLIC = "аеорсухкмтьн"
CONFUSABLES = {
    "LATIN": str.maketrans(_CYRILLIC_LOOKALIKES + _GREEK_LOOKALIKES, _CYRILLIC_AS_LATIN + _GREEK_AS_LATIN),
    "CYRILLIC": str.maketrans(_LATIN_LOOKALIKES + "3", _LATIN_AS_CYRILLIC + "з"),
    "GREEK": str.maketrans("aeiokptxyv", "αειοκρτχυν"),
}
_LOOKALIKE_CHARS = frozenset(_CYRILLIC_LOOKALIKES + _GREEK_LOOKALIKES + _LATIN_LOOKALIKES)

# Digits and symbols typed for letters, read in the token's script.
LEET_LATIN = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a", "$": "s"}
LEET_CYRILLIC = {"0": "о", "3": "з", "4": "ч", "6": "б", "@": "а"}
# "!" and "|" are letters only between letters ("b!tch", "he|| o"); elsewhere they are punctuation.
_INNER_ONLY = {"!": "i", "|": "l"}

# A token: letters and digits, with the symbols people type for letters.
_TOKEN = r"[\w@$!|*]+"  # noqa: S105 - a pattern, not a password
# Single letters joined by one kind of separator ("i.d.i.o.t") or by single spaces ("i d i o t").
_UNIT = r"[^\W_]"
_JOINED_SEP = rf"(?<![\w@$]){_UNIT}(?:[.\-_·•*/\\~+,:]{_UNIT}){{2,}}(?![\w@$])"
_JOINED_SPACE = rf"(?<![\w@$]){_UNIT}(?: {_UNIT}){{3,}}(?![\w@$])"
_TOKENS = re.compile(rf"(?P<joined>{_JOINED_SEP}|{_JOINED_SPACE})|{_TOKEN}")
_JOINED = re.compile(rf"{_JOINED_SEP}|{_JOINED_SPACE}")
_PLAIN_TOKENS = re.compile(_TOKEN)
_SEPARATORS = re.compile(r"[.\-_·•*/\\~+,: ]")
_EDGE_SYMBOLS = "!|*"
_RUN3 = re.compile(r"(\w)\1{2,}")


class Token(NamedTuple):
    """One word of a message: its folded text, its variants and where it stands in the original text."""

    text: str  # folded (NFKC, case-folded, look-alikes and leetspeak read): what the explanation shows
    variants: tuple[str, ...]  # every form the rules try, `text` first
    start: int  # span in the original text
    end: int


@dataclasses.dataclass(frozen=True, slots=True)
class NormalizedText:
    original: str
    folded: str  # NFKC, case-folded, invisible characters removed: what regular expressions read
    tokens: tuple[Token, ...]
    _starts: tuple[int, ...] | None  # original index of each folded character (None: the same index)
    _ends: tuple[int, ...] | None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that folded[start:end] came from."""
        if self._starts is None or self._ends is None:
            return start, end
        if start >= end:
            position = self._starts[start] if start < len(self._starts) else len(self.original)
            return position, position
        return original_span(self._starts, self._ends, start, end)


def original_span(starts: tuple[int, ...], ends: tuple[int, ...], start: int, end: int) -> tuple[int, int]:
    """The original span of folded[start:end] (a right-to-left override reverses the order inside it)."""
    first, last = starts[start], starts[end - 1]
    if first <= last:
        return first, ends[end - 1]
    return last, ends[start]


def fold(text: str) -> tuple[str, tuple[int, ...] | None, tuple[int, ...] | None]:  # noqa: C901 - fast paths, one pass
    """NFKC, case folding and removal of invisible characters, with the original index of every character."""
    text = text[:MAX_CHARS]
    if text.isascii():
        folded = text.lower()
        return folded, None, None
    if unicodedata.is_normalized("NFKC", text) and not INVISIBLE.search(text):
        folded = text.casefold()
        if len(folded) == len(text):  # case folding never shortens, so equal length means one for one
            return folded, None, None
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    index = 0
    length = len(text)
    override: int | None = None  # where a right-to-left override started in `chars`
    while index < length:
        end = index + 1
        while end < length and unicodedata.combining(text[end]):
            end += 1
        unit = text[index:end]
        if unit[0] == "\u202e" and override is None:
            override = len(chars)
        elif override is not None and unit[0] in _OVERRIDE_ENDS:
            _reverse_from(override, chars, starts, ends)
            override = None
        if not INVISIBLE.match(unit):
            unit = INVISIBLE.sub("", unit)
            for char in unicodedata.normalize("NFKC", unit).casefold():
                chars.append(char)
                starts.append(index)
                ends.append(end)
        index = end
    if override is not None:
        _reverse_from(override, chars, starts, ends)
    return "".join(chars), tuple(starts), tuple(ends)


# A right-to-left override ("\u202ekcuf" shows "fuck") lasts until a pop, an isolate's end or a new line.
_OVERRIDE_ENDS = frozenset("\u202c\u2069\n\u2029")


def _reverse_from(position: int, chars: list[str], starts: list[int], ends: list[int]) -> None:
    """Put what a right-to-left override displayed in reading order."""
    chars[position:] = chars[position:][::-1]
    starts[position:] = starts[position:][::-1]
    ends[position:] = ends[position:][::-1]


def normalize(text: str) -> NormalizedText:
    """The folded text and its tokens (see the module docstring)."""
    folded, starts, ends = fold(text)
    tokens: list[Token] = []
    mapped = starts is not None and ends is not None
    pattern = _TOKENS if _JOINED.search(folded) else _PLAIN_TOKENS
    for match in pattern.finditer(folded):
        info = _token_info(match.group(), match.lastgroup == "joined")
        if info is None:
            continue
        lead, trail, variants = info
        start, end = match.span()
        start += lead
        end -= trail
        if mapped:
            start, end = original_span(starts, ends, start, end)  # type: ignore[arg-type]
        tokens.append(Token(variants[0], variants, start, end))
    return NormalizedText(original=text, folded=folded, tokens=tuple(tokens), _starts=starts, _ends=ends)


@lru_cache(maxsize=131_072)
def _token_info(raw: str, joined: bool) -> tuple[int, int, tuple[str, ...]] | None:
    """(characters cut at the start, at the end, variants) of one matched token; None when nothing is left."""
    if joined:
        return 0, 0, token_variants(_SEPARATORS.sub("", raw))
    stripped = raw.strip(_EDGE_SYMBOLS)
    if not stripped:
        return None
    lead = len(raw) - len(raw.lstrip(_EDGE_SYMBOLS))
    trail = len(raw) - len(raw.rstrip(_EDGE_SYMBOLS))
    return lead, trail, token_variants(stripped)


@lru_cache(maxsize=131_072)
def token_variants(raw: str) -> tuple[str, ...]:
    """The forms of one folded token the rules try: read (look-alikes, leetspeak), squeezed, and as typed."""
    if raw.isalpha() and (raw.isascii() or _single_script(raw)) and not _RUN3.search(raw):
        return (raw,)  # the common case: a plain word
    read = read_token(raw)
    variants = [read]
    if read != raw:
        variants.append(raw)
    if _RUN3.search(read):
        variants.append(_RUN3.sub(r"\1\1", read))
        variants.append(squeeze_all(read))
    return tuple(dict.fromkeys(v for v in variants if v))


def squeeze_all(word: str) -> str:
    """Every run of one letter cut to one ("iidiioot" → "idiot")."""
    out: list[str] = []
    for char in word:
        if not out or out[-1] != char:
            out.append(char)
    return "".join(out)


def read_token(raw: str) -> str:
    """One token with look-alike letters folded to its dominant script and leetspeak read as letters."""
    letters = [c for c in raw if c.isalpha()]
    if not letters:
        return raw  # "2024", "$100": numbers stay numbers
    script = _dominant_script(raw)
    word = raw
    if len({_script(c) for c in letters}) > 1 and script in CONFUSABLES:
        word = word.translate(CONFUSABLES[script])
    leet = LEET_CYRILLIC if script == "CYRILLIC" else LEET_LATIN
    if not any(c in leet or c in _INNER_ONLY for c in word):
        return word
    out: list[str] = []
    last = len(word) - 1
    for index, char in enumerate(word):
        if char in _INNER_ONLY and 0 < index < last and word[index - 1].isalpha() and word[index + 1].isalnum():
            out.append(_INNER_ONLY[char])
        elif char in leet:
            out.append(leet[char])
        else:
            out.append(char)
    return "".join(out)


def strip_accents(word: str) -> str:
    """Latin letters without their accents ("estúpido" → "estupido"); other scripts keep theirs, except ё."""
    if word.isascii():
        return word
    out: list[str] = []
    for char in unicodedata.normalize("NFD", word):
        if unicodedata.combining(char) and out and out[-1].isascii():
            continue
        out.append(char)
    return unicodedata.normalize("NFC", "".join(out)).replace("ё", "е")


def _single_script(word: str) -> bool:
    first = _script(word[0])
    return all(_script(c) == first for c in word)


def _dominant_script(word: str) -> str:
    """The script of the letters that cannot be look-alikes ("пpивет" → Cyrillic); by count when all can."""
    distinctive: dict[str, int] = {}
    counts: dict[str, int] = {}
    for char in word:
        if not char.isalpha():
            continue
        script = _script(char)
        counts[script] = counts.get(script, 0) + 1
        if char not in _LOOKALIKE_CHARS:
            distinctive[script] = distinctive.get(script, 0) + 1
    chosen = distinctive or counts
    best = max(chosen.values())
    # Ties go to Latin: most disguised words are Latin words with a Cyrillic letter or two.
    return "LATIN" if chosen.get("LATIN") == best else max(chosen, key=lambda s: chosen[s])


@lru_cache(maxsize=4096)
def _script(char: str) -> str:
    if char.isascii():
        return "LATIN" if char.isalpha() else ""
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else ""
