"""Top topics: YAKE gets the stopwords of the messages' language (YAKE's list, stopwords-iso's, chat formulas),
so the keywords of a chat are what people talk about, in every language."""

from __future__ import annotations

import pytest

from communa.analytics.topics import base_language, extract_terms, stopwords_for

# A day of chat per language: greetings, thanks and function words around a few real subjects.
CHATS: dict[str, tuple[list[str], set[str], set[str]]] = {
    # language: (messages, words that must not be keywords, subjects that must be found)
    "ru": (
        [
            "Привет всем! Это очень хорошая идея, но как это сделать?",
            "Спасибо, я думаю, что это можно сделать через настройки сервера.",
            "Привет! Кто знает, как настроить сервер для встречи?",
            "Спасибо большое, это было очень полезно, давайте сделаем встречу.",
            "Когда будет следующая встреча? Я тоже хочу прийти, если это не поздно.",
            "Сервер опять не работает, это уже третий раз за неделю.",
        ],
        {"это", "привет", "спасибо", "давайте", "очень", "тоже", "когда", "если", "что", "как"},
        {"сервер", "встречу", "настройки сервера"},
    ),
    "it": (
        [
            "Ciao a tutti, perché non riesco a configurare il server?",
            "Grazie mille per l'aiuto, è stato molto utile.",
            "Ciao! Quando sarà il prossimo incontro della comunità?",
            "Il server è di nuovo lento, anche oggi. Grazie a chi lo sistema.",
            "Però io non ho capito come configurare il server, sono ancora bloccato.",
        ],
        {"ciao", "grazie", "perché", "però", "anche", "sono", "ancora", "mille", "quando", "sarà"},
        {"server", "configurare"},
    ),
    "es": (
        [
            "Hola a todos, ¿por qué no puedo configurar el servidor?",
            "Muchas gracias por la ayuda, fue muy útil también para mí.",
            "Hola, ¿cuándo será el próximo encuentro de la comunidad?",
            "El servidor está lento otra vez, pero gracias a quien lo arregle.",
            "Porque yo todavía no entiendo cómo configurar el servidor.",
        ],
        {"hola", "gracias", "porque", "pero", "también", "muy", "cuándo", "todavía", "muchas"},
        {"servidor", "configurar"},
    ),
    "en": (
        [
            "Hi everyone, thanks for the help yesterday! The firmware update bricked my grinder though.",
            "Hello, has anyone tried the new firmware update on the grinder? Thanks!",
            "Yes, the firmware update fixed the grinder noise for me, thanks",
            "Please, could someone explain how to roll back the firmware?",
        ],
        {"hi", "hello", "thanks", "please", "yes", "everyone", "the", "though"},
        {"firmware", "grinder"},
    ),
    "de": (
        [
            "Hallo zusammen, danke für die Hilfe! Das Firmware-Update hat meine Mühle blockiert.",
            "Hallo, hat jemand das neue Firmware-Update auf der Mühle probiert? Danke!",
            "Ja, das Update hat das Geräusch der Mühle behoben, danke.",
            "Bitte, kann mir jemand erklären, wie ich die Firmware zurücksetze?",
        ],
        {"hallo", "danke", "bitte", "das", "der", "die", "hat", "jemand"},
        {"mühle", "firmware"},
    ),
    "fr": (
        [
            "Bonjour à tous, merci pour l'aide ! La mise à jour du firmware a bloqué mon moulin.",
            "Salut, quelqu'un a essayé la nouvelle mise à jour du firmware sur le moulin ? Merci !",
            "Oui, la mise à jour a corrigé le bruit du moulin, merci.",
        ],
        {"bonjour", "salut", "merci", "oui", "pour", "tous", "quelqu'un"},
        {"moulin", "firmware"},
    ),
    "pt": (
        [
            "Olá pessoal, obrigado pela ajuda! A atualização do firmware travou o meu moedor.",
            "Olá, alguém testou a nova atualização do firmware no moedor? Obrigado!",
            "Sim, a atualização corrigiu o barulho do moedor, valeu.",
        ],
        {"olá", "pessoal", "obrigado", "valeu", "alguém", "sim", "pela"},
        {"moedor", "firmware"},
    ),
    # Ukrainian: no YAKE list (it used to fall back to the English one), stopwords-iso has one.
    "uk": (
        [
            "Привіт усім! Коли буде наступна зустріч спільноти? Я хочу прийти.",
            "Дякую, це було дуже корисно для нашої спільноти, і ми також хочемо зустріч.",
            "Привіт, сервер знову не працює, це вже третій раз.",
            "Дякую, сервер уже працює, зустріч буде в суботу.",
        ],
        {"привіт", "дякую", "усім", "це", "дуже", "також", "коли", "вже"},
        {"зустріч", "сервер"},
    ),
}


def keyword_words(language: str, texts: list[str]) -> tuple[list[str], set[str]]:
    terms = [term for term, _ in extract_terms(texts, language)]
    return terms, {word for term in terms for word in term.split()}


@pytest.mark.parametrize("language", sorted(CHATS))
def test_keywords_leave_out_the_languages_stopwords(language: str) -> None:
    texts, noise, subjects = CHATS[language]
    terms, words = keyword_words(language, texts)
    assert not (words & noise), terms
    assert not (words & stopwords_for(language)), terms
    assert all(any(subject in term for term in terms) for subject in subjects), terms


def test_stopword_lists_come_from_the_installed_packages() -> None:
    ru, it, uk = stopwords_for("ru"), stopwords_for("it"), stopwords_for("uk")
    assert {"это", "что", "который"} <= ru  # YAKE's and stopwords-iso's lists
    assert "a" in it  # YAKE's Italian list starts with a byte-order mark: read as utf-8-sig
    assert "\ufeffa" not in it
    assert {"це", "який"} <= uk
    assert "the" not in uk  # not the English list
    assert stopwords_for("cs") >= {"jsem", "protože"}  # YAKE names its Czech list "cz"
    assert "the" in stopwords_for("xx")  # an unknown language: the language-neutral list and a small fallback
    assert len(stopwords_for("en")) > 1000


def test_region_suffixes_are_dropped() -> None:
    assert (base_language("pt-BR"), base_language("zh_Hant"), base_language(""), base_language("RU")) == (
        "pt",
        "zh",
        "",
        "ru",
    )
    assert stopwords_for(base_language("pt-BR")) == stopwords_for("pt")
