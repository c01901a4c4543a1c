"""Sources settings: the list, adding (connector → generated form), editing, pausing, roles and secrets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any, Literal

import pytest
from django import forms
from django.conf import settings
from django.test import Client
from django.urls import reverse
from pydantic import Field, HttpUrl, SecretStr, StringConstraints

from communa.accounts.models import User, Workspace
from communa.audit.models import AuditEntry
from communa.connectors import registry
from communa.connectors.base import Capability, Connector, ConnectorConfig
from communa.connectors.forms import SourceForm
from communa.connectors.models import Source, SourceStatus
from communa.connectors.services import create_source, load_config, mark_transient_failure
from communa.connectors.webhook.connector import WebhookConfig
from communa.ingest.services import ingest_events
from tests.conftest import FakeConfig, login, raw

pytestmark = pytest.mark.django_db


class Level(StrEnum):
    LOW = "low"
    HIGH = "high"


Room = Annotated[str, StringConstraints(pattern=r"^#")]


class RichConfig(ConnectorConfig):
    url: HttpUrl = Field(title="Server address", description="Where the server answers.")
    rooms: list[Room] = Field(default_factory=list, max_length=3)
    limit: int = Field(default=10, ge=1, le=100)
    mode: Literal["fast", "safe"] = "safe"
    level: Level = Level.LOW
    verbose: bool = False
    token: SecretStr
    password: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class RichConnector(Connector):
    """A connector whose Config uses every kind of field the form generator supports."""

    kind = "rich"
    label = "Rich"
    description = "Every field type."
    capabilities = frozenset({Capability.POLL, Capability.REPLY})
    Config = RichConfig


@pytest.fixture
def rich(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[RichConnector]]:
    monkeypatch.setitem(registry.CONNECTORS, "rich", "tests.test_sources_views.RichConnector")
    registry.connector_class.cache_clear()
    yield RichConnector
    registry.connector_class.cache_clear()


def rich_post(**changes: str) -> dict[str, str]:
    data = {
        "name": "Rich room",
        "poll_interval": "900",
        "config_url": "https://chat.example.org",
        "config_rooms": "#general\n\n#help\n",
        "config_limit": "20",
        "config_mode": "fast",
        "config_level": "high",
        "config_verbose": "on",
        "config_token": "token-value-123",
        "config_password": "",
        "config_headers": '{"X-Team": "community"}',
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def rich_source(workspace: Workspace, rich: type[RichConnector], owner: User) -> Source:
    config = RichConfig(url="https://chat.example.org", rooms=["#general"], token=SecretStr("stored-token-456"))
    return create_source(workspace=workspace, kind="rich", name="Rich room", config=config, actor=owner)


def content(response: Any) -> str:
    return response.content.decode()


def row(html: str, source: Source) -> str:
    """One source's table row."""
    return re.search(rf'<tr id="source-{source.pk}">(.*?)</tr>', html, re.S)[1]


def field_errors(html: str, key: str) -> list[str]:
    """The error messages rendered under one field."""
    block = re.search(rf'<ul class="errorlist" id="id_{key}_error">(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", block[1]) if block else []


# --- the list --------------------------------------------------------------------------------------------


def test_list_shows_status_counts_capabilities_and_escaped_last_error(
    client: Client, manager: User, workspace: Workspace, fake_source: Source
):
    ingest_events(source=fake_source, events=[raw("a"), raw("b", minutes=1)])
    broken = create_source(workspace=workspace, kind="webhook", name="Shop", config=webhook_config(), actor=None)
    mark_transient_failure(source_id=broken.pk, reason="<b>HTTP 503</b> from shop.example.org")

    html = content(login(client, manager).get("/w/acme/sources/"))

    fake_row = row(html, fake_source)
    assert '<span class="badge status-active">Active</span>' in fake_row
    assert '<td data-label="Messages" class="num">2</td>' in fake_row
    assert '<span class="badge badge-outline">Polls</span>' in fake_row
    shop_row = row(html, broken)
    assert '<span class="badge status-retrying">Retrying</span>' in shop_row
    assert "&lt;b&gt;HTTP 503&lt;/b&gt; from shop.example.org" in shop_row
    assert "<b>HTTP 503</b>" not in html
    assert '<span class="badge badge-outline">Webhook</span>' in shop_row
    assert '<td data-label="Messages" class="num">0</td>' in shop_row


def test_an_empty_list_explains_what_a_source_is(client: Client, owner: User, workspace: Workspace):
    html = content(login(client, owner).get("/w/acme/sources/"))

    assert "No sources yet" in html
    assert 'href="/w/acme/sources/new/"' in html


def test_choosing_a_connector_lists_every_registered_one(client: Client, owner: User, workspace: Workspace):
    html = content(login(client, owner).get("/w/acme/sources/new/"))

    for cls in registry.connector_classes():
        assert f'href="/w/acme/sources/new/{cls.kind}/"' in html
        assert str(cls.label) in html
    assert "Receive messages from any system that can send a signed HTTP POST." in html


# --- access ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["volunteer", "analyst"])
def test_roles_without_manage_sources_get_403_everywhere_and_change_nothing(
    client: Client, persona: str, request: pytest.FixtureRequest, fake_source: Source
):
    c = login(client, request.getfixturevalue(persona))
    audit_before = AuditEntry.objects.count()

    assert c.get("/w/acme/sources/").status_code == 403
    assert c.get("/w/acme/sources/new/").status_code == 403
    assert c.get("/w/acme/sources/new/webhook/").status_code == 403
    assert c.post("/w/acme/sources/new/webhook/", {"name": "X", "config_secret": "s" * 20}).status_code == 403
    assert c.get(f"/w/acme/sources/{fake_source.pk}/").status_code == 403
    assert c.post(f"/w/acme/sources/{fake_source.pk}/pause/").status_code == 403

    fake_source.refresh_from_db()
    assert fake_source.status == SourceStatus.ACTIVE
    assert Source.objects.count() == 1
    assert AuditEntry.objects.count() == audit_before


def test_outsider_gets_404_and_anonymous_is_sent_to_sign_in(client: Client, outsider: User, fake_source: Source):
    assert client.get("/w/acme/sources/")["Location"] == "/accounts/login/?next=/w/acme/sources/"
    c = login(client, outsider)
    assert c.get("/w/acme/sources/").status_code == 404
    assert c.post(f"/w/acme/sources/{fake_source.pk}/pause/").status_code == 404
    fake_source.refresh_from_db()
    assert fake_source.status == SourceStatus.ACTIVE


def test_a_source_of_another_workspace_is_404_even_for_a_manager(
    client: Client, owner: User, other_workspace: Workspace, fake_connector
):
    theirs = create_source(workspace=other_workspace, kind="fake", name="Theirs", config=FakeConfig(), actor=None)
    c = login(client, owner)

    assert c.get(f"/w/acme/sources/{theirs.pk}/").status_code == 404
    assert c.post(f"/w/acme/sources/{theirs.pk}/", {"name": "Mine now"}).status_code == 404
    assert c.post(f"/w/acme/sources/{theirs.pk}/pause/").status_code == 404
    theirs.refresh_from_db()
    assert (theirs.name, theirs.status) == ("Theirs", SourceStatus.ACTIVE)


def test_an_unknown_connector_kind_is_404(client: Client, owner: User, workspace: Workspace):
    assert login(client, owner).get("/w/acme/sources/new/nope/").status_code == 404


# --- adding a source -----------------------------------------------------------------------------------------


def test_create_a_feed_source(client: Client, manager: User, workspace: Workspace):
    response = login(client, manager).post(
        "/w/acme/sources/new/feeds/",
        {"name": "Barista blog", "poll_interval": "900", "config_url": " https://blog.example.org/feed.xml "},
    )

    source = Source.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/w/acme/sources/{source.pk}/"
    assert (source.workspace, source.kind, source.name) == (workspace, "feeds", "Barista blog")
    assert source.poll_interval == 900
    assert source.config == {"url": "https://blog.example.org/feed.xml", "username": ""}
    assert source.secrets == ""
    entry = AuditEntry.objects.get(action="source.created")
    assert (entry.actor, entry.target_id, entry.data) == (manager, str(source.pk), {"kind": "feeds"})
    assert "The source “Barista blog” is connected." in content(client.get(response["Location"]))


def test_a_bad_feed_address_is_explained_next_to_the_field_and_nothing_is_created(
    client: Client, owner: User, workspace: Workspace
):
    response = login(client, owner).post(
        "/w/acme/sources/new/feeds/",
        {"name": "Blog", "poll_interval": "300", "config_url": "javascript:alert(1)", "config_password": "hunter2"},
    )

    html = content(response)
    assert response.status_code == 400
    assert field_errors(html, "config_url") == ["enter an http:// or https:// address"]
    assert "hunter2" not in html
    assert Source.objects.count() == 0


def test_the_generated_form_maps_each_pydantic_error_to_its_field(client: Client, owner: User, rich, workspace):
    data = rich_post(config_url="not an address", config_rooms="#ok\nbad", config_token="", config_headers="{oops")

    html = content(login(client, owner).post("/w/acme/sources/new/rich/", data))

    assert field_errors(html, "config_headers") == ["Enter valid JSON."]
    assert Source.objects.count() == 0

    html = content(client.post("/w/acme/sources/new/rich/", {**data, "config_headers": "{}"}))
    assert field_errors(html, "config_url") == ["Enter a full web address, such as https://example.org/feed.xml."]
    assert field_errors(html, "config_rooms") == ["Line 2: This value does not have the expected format."]
    assert field_errors(html, "config_token") == ["This field is required."]
    assert Source.objects.count() == 0


def test_numbers_choices_and_list_lengths_are_checked(client: Client, owner: User, rich, workspace):
    data = rich_post(config_limit="500", config_mode="reckless", config_rooms="#a\n#b\n#c\n#d")

    html = content(login(client, owner).post("/w/acme/sources/new/rich/", data))

    assert field_errors(html, "config_limit") == ["Ensure this value is less than or equal to 100."]
    assert field_errors(html, "config_mode") == ["Select a valid choice. reckless is not one of the available choices."]
    html = content(client.post("/w/acme/sources/new/rich/", rich_post(config_rooms="#a\n#b\n#c\n#d")))
    assert field_errors(html, "config_rooms") == ["Enter at most 3 lines."]


def test_a_secret_typed_into_a_form_with_errors_is_not_sent_back(client: Client, owner: User, rich, workspace):
    html = content(
        login(client, owner).post(
            "/w/acme/sources/new/rich/", rich_post(config_url="", config_token="typed-secret-789")
        )
    )

    assert field_errors(html, "config_url") == ["This field is required."]
    assert "typed-secret-789" not in html
    assert re.search(r'<input type="password" name="config_token"[^>]*>', html)


def test_create_with_every_field_type(client: Client, owner: User, rich, workspace):
    response = login(client, owner).post("/w/acme/sources/new/rich/", rich_post())

    assert response.status_code == 302
    source = Source.objects.get()
    assert source.config == {
        "url": "https://chat.example.org/",
        "rooms": ["#general", "#help"],
        "limit": 20,
        "mode": "fast",
        "level": "high",
        "verbose": True,
        "headers": {"X-Team": "community"},
    }
    assert "token-value-123" not in source.secrets
    config = load_config(source)
    assert config.token.get_secret_value() == "token-value-123"  # type: ignore[attr-defined]
    assert config.password is None  # type: ignore[attr-defined]


def test_the_form_is_built_from_the_config_model(rich):
    form = SourceForm(connector=RichConnector)
    fields = form.fields

    assert isinstance(fields["config_url"].widget, forms.URLInput)
    assert fields["config_url"].label == "Server address"
    assert fields["config_url"].help_text == "Where the server answers."
    assert isinstance(fields["config_rooms"].widget, forms.Textarea)
    assert (fields["config_limit"].min_value, fields["config_limit"].max_value) == (1, 100)
    assert form.initial["config_limit"] == 10
    assert list(fields["config_mode"].choices) == [("", "—"), ("fast", "fast"), ("safe", "safe")]
    assert form.initial["config_mode"] == "safe"
    assert [value for value, _label in fields["config_level"].choices] == ["", "low", "high"]
    assert isinstance(fields["config_verbose"], forms.BooleanField)
    assert isinstance(fields["config_token"].widget, forms.PasswordInput)
    assert fields["config_token"].widget.render_value is False
    assert isinstance(fields["config_headers"].widget, forms.Textarea)
    assert dict(fields["poll_interval"].choices)[300] == "Every 5 minutes"


def test_every_registered_connector_gets_a_working_form():
    for cls in registry.connector_classes():
        html = SourceForm(connector=cls).as_div()
        assert 'name="name"' in html
        for name in cls.Config.model_fields:
            assert f'name="config_{name}"' in html


def test_a_source_that_is_not_polled_has_no_poll_interval(client: Client, owner: User, workspace: Workspace):
    html = content(login(client, owner).get("/w/acme/sources/new/webhook/"))

    assert 'name="poll_interval"' not in html


def test_a_new_webhook_source_gets_a_random_secret_to_copy(client: Client, owner: User, workspace: Workspace):
    first = content(login(client, owner).get("/w/acme/sources/new/webhook/"))
    second = content(client.get("/w/acme/sources/new/webhook/"))

    secret = re.search(r'<input type="text" name="config_secret" value="([^"]+)"', first)[1]
    assert len(secret) >= 32
    assert secret not in second
    assert "copy it to the sending system now" in first


# --- editing -------------------------------------------------------------------------------------------------


def test_the_edit_page_shows_stored_values_but_never_a_secret(client: Client, owner: User, rich_source: Source):
    html = content(login(client, owner).get(f"/w/acme/sources/{rich_source.pk}/"))

    assert 'value="https://chat.example.org/"' in html
    assert ">\n#general</textarea>" in html
    assert "stored-token-456" not in html
    assert "A value is stored; leave blank to keep it." in html
    assert 'name="poll_interval"' in html


def test_saving_with_a_blank_secret_keeps_the_stored_one(client: Client, owner: User, rich_source: Source):
    response = login(client, owner).post(
        f"/w/acme/sources/{rich_source.pk}/", rich_post(name="Renamed", config_token="", config_rooms="#new")
    )

    assert response.status_code == 302
    rich_source.refresh_from_db()
    config = load_config(rich_source)
    assert rich_source.name == "Renamed"
    assert config.rooms == ["#new"]  # type: ignore[attr-defined]
    assert config.token.get_secret_value() == "stored-token-456"  # type: ignore[attr-defined]
    assert AuditEntry.objects.filter(action="source.updated", actor=owner).count() == 1


def test_typing_a_new_secret_replaces_the_stored_one(client: Client, owner: User, rich_source: Source):
    login(client, owner).post(f"/w/acme/sources/{rich_source.pk}/", rich_post(config_token="new-token-000"))

    rich_source.refresh_from_db()
    assert load_config(rich_source).token.get_secret_value() == "new-token-000"  # type: ignore[attr-defined]


def test_a_bad_edit_changes_nothing(client: Client, owner: User, rich_source: Source):
    response = login(client, owner).post(
        f"/w/acme/sources/{rich_source.pk}/", rich_post(name="Renamed", config_url="ftp://files.example.org")
    )

    assert response.status_code == 400
    assert field_errors(content(response), "config_url") == ["Use an address that starts with http:// or https://."]
    rich_source.refresh_from_db()
    assert rich_source.name == "Rich room"
    assert str(load_config(rich_source).url) == "https://chat.example.org/"  # type: ignore[attr-defined]
    assert not AuditEntry.objects.filter(action="source.updated").exists()


def test_settings_that_no_longer_fit_the_connector_can_be_repaired(client: Client, owner: User, rich_source: Source):
    Source.objects.filter(pk=rich_source.pk).update(config={"url": "https://old.example.org", "speed": 3}, secrets="")

    html = content(login(client, owner).get(f"/w/acme/sources/{rich_source.pk}/"))

    assert "The stored settings no longer fit this connector" in html
    assert 'value="https://old.example.org"' in html


def test_a_webhook_source_page_shows_its_address_and_how_to_sign(client: Client, owner: User, workspace: Workspace):
    source = create_source(workspace=workspace, kind="webhook", name="Shop", config=webhook_config(), actor=owner)

    html = content(login(client, owner).get(f"/w/acme/sources/{source.pk}/"))

    assert f'value="{settings.BASE_URL}/hooks/{source.webhook_token}"' in html
    assert "X-Communa-Signature: sha256=&lt;digest&gt;" in html
    assert "x" * 20 not in html


# --- pausing -------------------------------------------------------------------------------------------------


def test_pause_and_resume(client: Client, manager: User, fake_source: Source):
    c = login(client, manager)

    response = c.post(f"/w/acme/sources/{fake_source.pk}/pause/", {"next": f"/w/acme/sources/{fake_source.pk}/"})
    fake_source.refresh_from_db()
    assert response["Location"] == f"/w/acme/sources/{fake_source.pk}/"
    assert (fake_source.status, fake_source.next_poll_at) == (SourceStatus.PAUSED, None)
    assert "Resume" in content(c.get("/w/acme/sources/"))

    response = c.post(f"/w/acme/sources/{fake_source.pk}/resume/", {"next": "https://evil.example.org/"})
    fake_source.refresh_from_db()
    assert response["Location"] == "/w/acme/sources/"
    assert fake_source.status == SourceStatus.ACTIVE
    assert list(AuditEntry.objects.filter(target_type="connectors.source").values_list("action", flat=True)) == [
        "source.resumed",
        "source.paused",
        "source.created",
    ]


def test_a_one_off_import_has_nothing_to_pause(client: Client, owner: User, workspace: Workspace):
    config = registry.connector_class("import").Config(platform="discourse:forum.example.org")
    source = create_source(workspace=workspace, kind="import", name="Old forum", config=config, actor=owner)
    c = login(client, owner)

    assert "/pause/" not in row(content(c.get("/w/acme/sources/")), source)
    assert "/pause/" not in content(c.get(f"/w/acme/sources/{source.pk}/"))


def test_pause_needs_a_post_with_a_csrf_token(manager: User, fake_source: Source):
    c = Client(enforce_csrf_checks=True)
    login(c, manager)

    assert c.get(f"/w/acme/sources/{fake_source.pk}/pause/").status_code == 405
    assert c.post(f"/w/acme/sources/{fake_source.pk}/pause/").status_code == 403
    fake_source.refresh_from_db()
    assert fake_source.status == SourceStatus.ACTIVE


def webhook_config() -> WebhookConfig:
    return WebhookConfig(secret=SecretStr("x" * 20), platform="shop")


def test_streaming_sources_have_no_poll_interval(client: Client, owner: User, workspace) -> None:
    c = login(client, owner)

    matrix = c.get(reverse("sources:create", kwargs={"workspace": workspace.slug, "kind": "matrix"}))
    feeds = c.get(reverse("sources:create", kwargs={"workspace": workspace.slug, "kind": "feeds"}))

    assert 'name="poll_interval"' not in matrix.content.decode()  # followed live by a listener
    assert 'name="poll_interval"' in feeds.content.decode()
