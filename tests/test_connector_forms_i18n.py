"""Every connector's settings form in Italian, Spanish and Russian: labels, help texts and validation messages."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.test import Client

from communa.accounts.models import User, Workspace
from communa.connectors import registry
from communa.connectors.models import Source
from tests.conftest import login

pytestmark = pytest.mark.django_db

LANGUAGES = ["it", "es", "ru"]
KINDS = list(registry.CONNECTORS)

# Labels that are spelt the same in the translation as in English (they are still in the catalogue).
SAME_AS_ENGLISH = {
    "it": {"Password", "Server", "Nick"},
    "es": {"Nick"},
    "ru": set(),
}


def content(response: Any) -> str:
    return response.content.decode()


def config_labels(page: str) -> dict[str, str]:
    """The connector's own field labels as the page shows them, by input name."""
    labels = {}
    for key, inner in re.findall(r'<label for="id_(config_\w+)">(.*?)</label>', page, re.S):
        span = re.search(r"<span>(.*?)</span>", inner, re.S)  # a checkbox's label wraps its input
        labels[key] = html.unescape((span[1] if span else inner).strip())
    return labels


def config_help(page: str) -> dict[str, str]:
    """The help text under each of the connector's fields, by input name."""
    found = re.findall(r'<p class="helptext" id="id_(config_\w+)_helptext">(.*?)</p>', page, re.S)
    return {key: html.unescape(text) for key, text in found}


def field_errors(page: str, key: str) -> list[str]:
    block = re.search(rf'<ul class="errorlist" id="id_{key}_error">(.*?)</ul>', page, re.S)
    return [html.unescape(error) for error in re.findall(r"<li>(.*?)</li>", block[1])] if block else []


def form_errors(page: str) -> list[str]:
    """The errors about the settings as a whole, shown above the fields."""
    block = re.search(r'<div class="alert alert-error" role="alert">(.*?)</div>', page, re.S)
    return [html.unescape(error) for error in re.findall(r"<p>(.*?)</p>", block[1])] if block else []


def add_page(client: Client, owner: User, kind: str, language: str) -> str:
    c = login(client, owner)
    c.cookies["django_language"] = language
    response = c.get(f"/w/acme/sources/new/{kind}/")
    assert response.status_code == 200
    return content(response)


def post_in(client: Client, owner: User, kind: str, language: str, data: dict[str, str]) -> str:
    c = login(client, owner)
    c.cookies["django_language"] = language
    response = c.post(f"/w/acme/sources/new/{kind}/", data)
    assert response.status_code == 400
    return content(response)


@pytest.mark.parametrize("kind", KINDS)
def test_every_config_field_has_a_title(kind: str):
    fields = registry.connector_class(kind).Config.model_fields

    # Without a title the form falls back to the English field name, which no catalogue can translate.
    assert [name for name, info in fields.items() if not info.title] == []


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_the_add_form_shows_no_english_label_or_help(
    client: Client, owner: User, workspace: Workspace, kind: str, language: str
):
    fields = registry.connector_class(kind).Config.model_fields

    page = add_page(client, owner, kind, language)

    labels = config_labels(page)
    assert set(labels) == {f"config_{name}" for name in fields}
    untranslated = {
        key: label
        for key, label in labels.items()
        if label == fields[key.removeprefix("config_")].title and label not in SAME_AS_ENGLISH[language]
    }
    assert untranslated == {}
    helps = config_help(page)
    english_help = {
        key: info.description
        for key, info in ((f"config_{name}", info) for name, info in fields.items())
        if info.description and info.description in helps.get(key, "")
    }
    assert english_help == {}
    assert f'<html lang="{language}">' in page


def test_the_matrix_form_in_italian(client: Client, owner: User, workspace: Workspace):
    page = add_page(client, owner, "matrix", "it")

    assert list(config_labels(page).values()) == [
        "Indirizzo dell'homeserver",
        "ID Matrix del bot",
        "Token di accesso del bot",
        "Password del bot",
        "Stanze da seguire",
        "Attesa di nuovi messaggi (secondi)",
    ]
    assert (
        config_help(page)["config_rooms"] == "ID di stanza (!…) o alias (#nome:server), uno per riga. Il bot vi entra."
    )


def test_the_irc_form_in_russian(client: Client, owner: User, workspace: Workspace):
    page = add_page(client, owner, "irc", "ru")

    assert list(config_labels(page).values()) == [
        "Сервер",
        "Порт",
        "Использовать TLS",
        "Проверять сертификат",
        "Ник",
        "Имя пользователя (ident)",
        "Настоящее имя",
        "Пароль сервера",
        "Аккаунт SASL",
        "Пароль SASL",
        "Пароль NickServ",
        "Каналы",
        "Лимит отправки (сообщений)",
        "Лимит отправки (секунд)",
    ]


def test_validator_messages_of_fields_are_translated(client: Client, owner: User, workspace: Workspace):
    data = {"name": "Stanze", "config_homeserver": "matrix.example.org", "config_user_id": "communa-bot"}
    data |= {"config_rooms": "#ok:example.org\ncommunity", "config_access_token": "syt_token"}

    page = post_in(client, owner, "matrix", "it", data)

    assert field_errors(page, "config_homeserver") == ["inserisci un indirizzo http:// o https://"]
    assert field_errors(page, "config_user_id") == ["un ID Matrix è del tipo @nome:example.org"]
    assert field_errors(page, "config_rooms") == ["non è un ID di stanza (!…) né un alias (#nome:server): community"]
    assert Source.objects.count() == 0


def test_validator_messages_about_the_whole_config_are_translated(client: Client, owner: User, workspace: Workspace):
    data = {"name": "Canales", "config_host": "irc.libera.chat", "config_port": "6697", "config_tls": "on"}
    data |= {"config_nick": "communa", "config_channels": "#community", "config_flood_messages": "4"}
    data |= {"config_flood_seconds": "8", "config_sasl_account": "communa"}

    page = post_in(client, owner, "irc", "es", data)

    assert form_errors(page) == ["indica la contraseña de la cuenta SASL"]
    assert Source.objects.count() == 0


def test_a_counted_validator_message_uses_the_plural_of_the_language(client: Client, owner: User, workspace: Workspace):
    data = {"name": "Магазин", "config_secret": "short", "config_platform": "shop:example.com"}

    page = post_in(client, owner, "webhook", "ru", data)

    assert field_errors(page, "config_secret") == ["секрет должен содержать не меньше 16 символов"]
    assert Source.objects.count() == 0


def test_validator_messages_are_english_by_default(client: Client, owner: User, workspace: Workspace):
    data = {"name": "Shop", "config_secret": "short", "config_platform": "shop:example.com"}

    page = content(login(client, owner).post("/w/acme/sources/new/webhook/", data))

    assert field_errors(page, "config_secret") == ["the secret needs at least 16 characters"]
    assert Source.objects.count() == 0
