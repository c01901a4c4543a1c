"""Hashed character n-grams: the lexical half of a head (spellings, slang, emoji) that a sentence embedding blurs.

Each text becomes the L2-normalised counts of its 2- to 4-character n-grams inside word boundaries (words padded
with a space, as scikit-learn's ``char_wb`` does), hashed with CRC-32 into a fixed number of buckets. Pure Python
and stable across processes (unlike ``hash()``), so training and inference see the same buckets.

A head may also read word uni- and bigrams (``words``): a second block of as many buckets after the character
block, L2-normalised on its own, over the folded text's words and runs of punctuation / emoji.

And a head may read the text's language (a :class:`LanguageBlock`): every n-gram then also counts in a last
block, scattered there by language, so "fino" or "top" can lean one way in Italian and another in Spanish while
the shared blocks keep what all languages have in common ("frustratingly easy" domain adaptation, Daumé 2007).
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, pairwise

import numpy as np
from numpy.typing import NDArray

from communa.enrichment.models.features import fold

NGRAM_SIZES = (2, 3, 4)
MAX_NGRAM_CHARS = 1_000  # the start of a long text carries its tone; the rest would only cost time
_WORD = re.compile(r"\S+")
_TOKEN = re.compile(r"\w+|[^\w\s]+")


def ngram_buckets(text: str, buckets: int) -> Counter[int]:
    """Bucket counts of the text's padded word n-grams (in the order of their first occurrence)."""
    words = _WORD.findall(fold(text[:MAX_NGRAM_CHARS]))
    return Counter(chain.from_iterable([word_buckets(word, buckets) for word in words]))


@lru_cache(maxsize=1 << 16)
def word_buckets(word: str, buckets: int) -> tuple[int, ...]:
    """The buckets of one word's padded n-grams (cached: words recur from message to message)."""
    padded = f" {word} "
    data = padded.encode("utf-8")
    if len(data) == len(padded):  # ASCII: the character n-grams are the byte n-grams (encoded once)
        grams = [data[start : start + size] for size in NGRAM_SIZES for start in range(len(data) - size + 1)]
    else:
        grams = [
            padded[start : start + size].encode("utf-8")
            for size in NGRAM_SIZES
            for start in range(len(padded) - size + 1)
        ]
    return tuple([crc % buckets for crc in map(zlib.crc32, grams)])


def word_gram_buckets(text: str, buckets: int) -> Counter[int]:
    """Bucket counts of the folded text's word unigrams and bigrams (``w:``-prefixed before hashing)."""
    tokens = _TOKEN.findall(fold(text[:MAX_NGRAM_CHARS]))
    grams = tokens + [f"{first} {second}" for first, second in pairwise(tokens)]
    return Counter([zlib.crc32(f"w:{gram}".encode()) % buckets for gram in grams])


def _normalised(counts: Counter[int], offset: int = 0) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    index = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts)) + offset
    value = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
    norm = float(np.sqrt(value @ value)) if len(value) else 1.0
    return index, value / norm


@lru_cache(maxsize=4096)
def text_vector(text: str, buckets: int, words: bool = False) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The text's bucket indices and L2-normalised weights (cached: several heads read the same batch); with
    ``words``, the word block follows in buckets ``buckets`` to ``2 * buckets``."""
    if not words:
        return _normalised(ngram_buckets(text, buckets))
    index, value = text_vector(text, buckets)  # the character block, cached for the heads without words
    word_index, word_value = _normalised(word_gram_buckets(text, buckets), offset=buckets)
    return np.concatenate([index, word_index]), np.concatenate([value, word_value])


@dataclass(frozen=True, slots=True)
class LanguageBlock:
    """Where each language's copy of a text's n-grams goes: ``buckets`` more buckets after the shared ones.

    A shared bucket ``b`` of a text in the ``k``-th of ``languages`` lands on ``(b · MIX + k · SALT) mod buckets``
    (integer mixing of the bucket, no second hash of the strings); a text whose language is not listed ("und",
    or a language the head was not trained on) has no copy and is read by the shared blocks alone.
    """

    languages: tuple[str, ...]
    buckets: int

    MIX = 2654435761  # Knuth's multiplicative constant: neighbouring buckets land far apart
    SALT = 40503

    def scatter(self, index: NDArray[np.int64], language: str) -> NDArray[np.int64] | None:
        """The copy's buckets (relative to the block's start) of the shared buckets ``index``, or None."""
        if language not in self.languages:
            return None
        number = self.languages.index(language) + 1
        return (index * self.MIX + number * self.SALT) % self.buckets


def sparse_rows(
    texts: Sequence[str],
    buckets: int,
    words: bool = False,
    languages: Sequence[str] | None = None,
    block: LanguageBlock | None = None,
) -> tuple[list[NDArray[np.int64]], list[NDArray[np.float32]]]:
    """Per text: its bucket indices and L2-normalised weights; with ``block`` and the texts' ``languages``, each
    text's language copy follows the shared blocks (same weights, buckets from ``2 * buckets`` with words)."""
    vectors = [text_vector(text, buckets, words) for text in texts]
    indices, values = [index for index, _ in vectors], [value for _, value in vectors]
    if block is None or languages is None:
        return indices, values
    if len(languages) != len(texts):
        raise ValueError(f"{len(languages)} languages for {len(texts)} texts")
    start = buckets * 2 if words else buckets
    for row, language in enumerate(languages):
        copy = block.scatter(indices[row], language)
        if copy is not None:
            indices[row] = np.concatenate([indices[row], copy + start])
            values[row] = np.concatenate([values[row], values[row]])
    return indices, values


def ngram_logits(
    texts: Sequence[str],
    weights: NDArray[np.float32],
    bias: NDArray[np.float32],
    words: bool = False,
    languages: Sequence[str] | None = None,
    block: LanguageBlock | None = None,
) -> NDArray[np.float32]:
    """``texts``' n-gram vectors times ``weights`` (buckets × labels, twice the buckets with ``words``, then the
    language block's buckets), plus ``bias``."""
    logits = np.tile(bias.astype(np.float32), (len(texts), 1))
    shared = len(weights) - (block.buckets if block is not None else 0)
    indices, values = sparse_rows(texts, shared // 2 if words else shared, words, languages, block)
    sizes = np.fromiter(map(len, indices), dtype=np.int64, count=len(indices))
    filled = np.flatnonzero(sizes)
    if len(filled):
        # One gather and one segmented sum for the whole batch (rows without n-grams keep the bias).
        contributions = weights[np.concatenate(indices)] * np.concatenate(values)[:, None]
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))[filled]
        logits[filled] += np.add.reduceat(contributions, starts, axis=0)
    return logits
