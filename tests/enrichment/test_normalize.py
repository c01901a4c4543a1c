"""Normalisation before classification: each trick people use, undone; the stored text never changes."""

from __future__ import annotations

import time

import pytest

from communa.enrichment.normalize import MAX_CHARS, normalize, squeeze


@pytest.mark.parametrize(
    ("raw", "text", "words"),
    [
        pytest.param("ｆｕｃｋ this", "fuck this", "fuck this", id="fullwidth letters (NFKC)"),
        pytest.param("ﬁne ①", "fine 1", "fine 1", id="ligatures and circled digits (NFKC)"),
        pytest.param("f\u200bu\u200cc\u200dk\ufeff", "fuck", "fuck", id="zero-width characters"),
        pytest.param("idi\u00adot", "idiot", "idiot", id="soft hyphen"),
        pytest.param("\u202ekcuf\u202c off", "fuck off", "fuck off", id="right-to-left override read in display order"),
        pytest.param("a\u2066b\u2069c", "abc", "abc", id="bidi isolates"),
        pytest.param("hеllo wоrld", "hello world", "hello world", id="Cyrillic look-alikes in Latin words"),
        pytest.param("пpивет", "привет", "привет", id="Latin look-alike in a Cyrillic word"),
        pytest.param("СУКА", "СУКА", "сука", id="all-Cyrillic word untouched"),
        pytest.param("Ναι οk", "Ναι ok", "ναι ok", id="Greek look-alike in a Latin word"),
        pytest.param("п0шёл вон", "пошёл вон", "п*шёл вон", id="digit as a letter in Cyrillic"),
        pytest.param("f4ck you", "fack you", "f*ck you", id="digit as a letter in Latin"),
        pytest.param("a$$hole b!tch", "asshole bitch", "a**hole b*tch", id="symbols as letters"),
        pytest.param("f***ing great", "f***ing great", "f***ing great", id="masks keep their length"),
        pytest.param("2nd place, 4you, 100%", "2nd place, 4you, 100%", "2nd place, 4you, 100%", id="numbers stay"),
        pytest.param("sooooo goooood!!!!!", "soo good!!", "soo good!!", id="runs squeezed to two"),
        pytest.param("see https://x.io/a?b=1 now", "see http now", "see http now", id="URL placeholder"),
        pytest.param("visit casino.top/win", "visit http", "visit http", id="bare domain"),
        pytest.param("@ana thanks", "@user thanks", "@user thanks", id="mention placeholder"),
        pytest.param("@bob:matrix.org hi", "@user hi", "@user hi", id="Matrix id is one mention"),
        pytest.param("write to ana@example.org", "write to email", "write to email", id="e-mail placeholder"),
        pytest.param("  many \n\n spaces\t", "many spaces", "many spaces", id="whitespace collapsed"),
        pytest.param("", "", "", id="empty"),
    ],
)
def test_normalize_cases(raw: str, text: str, words: str) -> None:
    result = normalize(raw)
    assert (result.text, result.words) == (text, words)


def test_counts_links_mentions_and_addresses() -> None:
    result = normalize("@a @b hi http://x.com www.y.org bit.ly/z me@x.it")
    assert (result.urls, result.mentions, result.emails) == (3, 2, 1)
    assert result.text == "@user @user hi http http http email"


@pytest.mark.parametrize(
    ("raw", "has_letters"),
    [("😀😀😀", False), ("+1", False), ("https://x.io", False), ("@ana", False), ("ok!", True), ("привет", True)],
)
def test_has_letters(raw: str, has_letters: bool) -> None:
    assert normalize(raw).has_letters is has_letters


def test_emoji_runs_are_squeezed_but_kept() -> None:
    assert normalize("😂😂😂😂").text == "😂😂"


def test_squeeze_to_one() -> None:
    assert squeeze("fuuuuck  yeaaah", keep=1) == "fuck yeah"


def test_long_text_is_capped_and_fast() -> None:
    huge = ("word https://spam.example/x " * 5000) + "tail"  # ~150 KB
    started = time.perf_counter()
    result = normalize(huge)
    assert time.perf_counter() - started < 1.0
    assert len(result.text) <= MAX_CHARS
    assert "tail" not in result.text


def test_the_original_string_is_not_changed() -> None:
    original = "hеllo ｆｕｃｋ"
    normalize(original)
    assert original == "hеllo ｆｕｃｋ"
