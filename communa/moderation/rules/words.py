"""Word-form matching: a rule word matches the forms of the same word ("idiota" matches "idioti", "idiotas").

Both sides are reduced to *keys* and a rule word matches a token when they share one:
- ("", form): the form as written (accents removed from Latin letters, so "estupido" matches "estúpido");
- (lang, lemma): its lemma in one language, by simplemma's dictionaries, so "idioti" (it → idiota) matches
  the rule word "idiota" (it → idiota), and "идиотов" (ru → идиот) matches "идиот". A lemma is compared with
  lemmas of the same language only;
- ("~", squeezed): every run of one letter cut to one, on the rule word always and on a token only when it
  repeated a letter three times or more ("caaazzzzo" → "cazo" matches "cazzo", but "pala" never matches
  "palla").

Tokens are looked up in simplemma's dictionaries only (a dictionary probe per language, cached per token);
rule words also go through simplemma's full lemmatiser (rules and affixes), once, when the rules compile.
Each language's dictionary is read the first time it is needed (a few seconds for all seven) and stays:
streamed by default (about 85 MB for all seven, ~70 µs a lookup, paid once per distinct token thanks to the
caches), or fully in memory with COMMUNA_RULES_WORD_FORMS=memory (about 535 MB, ~1 µs a lookup). A rule set's
`languages:` setting keeps the languages a community does not use out of memory altogether.
"""

from __future__ import annotations

import os
from functools import lru_cache

from simplemma import Lemmatizer
from simplemma.strategies import DefaultStrategy
from simplemma.strategies.dictionaries.dictionary_factory import DEFAULT_DICTIONARY_FACTORY, DictionaryFactory
from simplemma.strategies.dictionaries.stream_dictionary_factory import StreamDictionaryFactory
from simplemma.strategies.dictionary_lookup import DictionaryLookupStrategy

from communa.moderation.rules.normalize import _RUN3, Token, squeeze_all, strip_accents

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "it", "es", "fr", "de", "pt", "ru")

Key = tuple[str, str]
SURFACE = ""
SQUEEZED = "~"

# Frugal by default: simplemma's front-coded stream (about 12 MB per language, ~70 µs a lookup, paid once per
# distinct token thanks to the caches) rather than its in-memory dicts (25-140 MB per language, ~1 µs a lookup).
# COMMUNA_RULES_WORD_FORMS=memory trades the memory for the speed of the first sight of each token.
_FACTORY: DictionaryFactory = (
    DEFAULT_DICTIONARY_FACTORY
    if os.environ.get("COMMUNA_RULES_WORD_FORMS", "").lower() == "memory"
    else StreamDictionaryFactory(cache_max_size=len(SUPPORTED_LANGUAGES))
)
_DICTIONARY = DictionaryLookupStrategy(_FACTORY)
_LEMMATIZER = Lemmatizer(lemmatization_strategy=DefaultStrategy(dictionary_factory=_FACTORY))


def token_keys(token: Token, languages: tuple[str, ...]) -> frozenset[Key]:
    """Every key of a message token (see the module docstring)."""
    return _token_keys(token.variants, languages)


@lru_cache(maxsize=262_144)
def _token_keys(variants: tuple[str, ...], languages: tuple[str, ...]) -> frozenset[Key]:
    keys: set[Key] = set()
    for variant in variants:
        keys.add((SURFACE, strip_accents(variant)))
        if not variant.isalpha():
            continue
        for lang in languages:
            lemma = _DICTIONARY.get_lemma(variant, lang)
            if lemma is not None:
                keys.add((lang, strip_accents(lemma.casefold())))
    if _RUN3.search(variants[0]):
        keys.add((SQUEEZED, squeeze_all(strip_accents(variants[0]))))
    return frozenset(keys)


def word_keys(form: str, languages: tuple[str, ...], *, exact: bool = False) -> frozenset[Key]:
    """Every key of one rule word, already normalised to a token's first variant."""
    return _word_keys(form, languages, exact)


@lru_cache(maxsize=65_536)
def _word_keys(form: str, languages: tuple[str, ...], exact: bool) -> frozenset[Key]:
    plain = strip_accents(form)
    keys: set[Key] = {(SURFACE, plain)}
    squeezed = squeeze_all(plain)
    keys.add((SQUEEZED, squeezed))
    if exact or not form.isalpha():
        return frozenset(keys)
    for lang in languages:
        for lemma in (_DICTIONARY.get_lemma(form, lang), _LEMMATIZER.lemmatize(form, lang)):
            if lemma:
                keys.add((lang, strip_accents(lemma.casefold())))
    return frozenset(keys)


def warm_up(languages: tuple[str, ...] = SUPPORTED_LANGUAGES) -> None:
    """Read the word-form dictionaries now (a few seconds), e.g. when a worker starts, not on the first message."""
    for lang in languages:
        _DICTIONARY.get_lemma("warm", lang)
