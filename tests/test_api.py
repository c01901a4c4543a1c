"""REST API v1: every endpoint, the filters, cursor pages, bad input, and the OpenAPI document."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from openapi_spec_validator import validate
from pydantic import SecretStr

from communa.accounts.models import User, Workspace
from communa.accounts.roles import Role
from communa.accounts.services import add_member, create_api_token, create_workspace
from communa.audit.models import AuditEntry
from communa.connectors import registry
from communa.connectors.base import Capability
from communa.connectors.models import Source, SourceStatus
from communa.connectors.services import load_config
from communa.ingest.services import ingest_events
from communa.members.models import Member
from communa.stream.models import Message, Thread
from tests.conftest import T0, FakeConfig, FakeConnector, make_user, raw

pytestmark = pytest.mark.django_db


class VaultConfig(FakeConfig):
    url: str
    token: SecretStr


class VaultConnector(FakeConnector):
    """A connector with a secret setting and webhooks, to test write-only secrets and the webhook URL."""

    kind = "vault"
    capabilities = frozenset({Capability.WEBHOOK})
    Config = VaultConfig


@pytest.fixture
def vault_connector(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.CONNECTORS, "vault", "tests.test_api.VaultConnector")
    registry.connector_class.cache_clear()
    yield
    registry.connector_class.cache_clear()


@pytest.fixture
def messages(fake_source: Source) -> dict[str, Message]:
    """Six messages in acme, one minute apart: two threads, three people, two languages, one deleted."""
    ingest_events(
        source=fake_source,
        events=[
            raw("m1", "ana", "How do I get a refund?", 0, language="en"),
            raw("m2", "ben", "Open a ticket for the refund", 1, language="en", parent="m1"),
            raw("m3", "ana", "Grazie mille!", 2, language="it", parent="m2"),
            raw("m4", "cleo", "New release is out", 3, language="en", kind="post"),
            raw("m5", "ben", "Ciao a tutti", 4, language="it"),
            raw("m6", "cleo", "oops, wrong room", 5, language="en"),
        ],
    )
    deletion = raw("m6", "cleo", "", 5, language="en", deleted=True, edited=(T0 + timedelta(minutes=6)).isoformat())
    ingest_events(source=fake_source, events=[deletion])
    return {m.external_id: m for m in Message.objects.all()}


def bearer(user: User) -> dict[str, str]:
    _token, plaintext = create_api_token(user=user, name="tests")
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def get(client: Client, user: User, url: str, **params: Any) -> Any:
    return client.get(url, params, **bearer(user))


def send(client: Client, user: User, method: str, url: str, body: dict[str, Any]) -> Any:
    call = getattr(client, method)
    return call(url, data=json.dumps(body), content_type="application/json", **bearer(user))


# --- workspaces ---------------------------------------------------------------------------------


def test_workspaces_lists_mine_with_my_role(client: Client, owner: User, workspace: Workspace) -> None:
    second = create_workspace(name="Beta", owner=make_user("bob"), slug="beta")
    add_member(workspace=second, user=owner, role=Role.ANALYST)

    response = get(client, owner, "/api/v1/workspaces")

    assert response.status_code == 200
    assert [(w["slug"], w["name"], w["role"], w["time_zone"]) for w in response.json()] == [
        ("acme", "Acme Community", "owner", "UTC"),
        ("beta", "Beta", "analyst", "UTC"),
    ]
    assert response.json()[1]["permissions"] == ["view_analytics", "view_members", "view_stream"]


def test_workspace_may_be_omitted_only_when_there_is_one(client: Client, owner: User, fake_source: Source) -> None:
    assert get(client, owner, "/api/v1/sources").status_code == 200

    add_member(workspace=create_workspace(name="Beta", owner=make_user("bob")), user=owner, role=Role.ANALYST)
    response = get(client, owner, "/api/v1/sources")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "workspace"]
    assert "several workspaces" in response.json()["detail"][0]["msg"]
    assert get(client, owner, "/api/v1/sources", workspace="acme").status_code == 200


def test_unknown_workspace_is_404(client: Client, owner: User, workspace: Workspace) -> None:
    response = get(client, owner, "/api/v1/messages", workspace="nope")
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})


def test_a_user_without_workspace_is_told_to_name_one(client: Client, db: None) -> None:
    response = get(client, make_user("nobody"), "/api/v1/messages")
    assert response.status_code == 422
    assert "do not belong to any workspace" in response.json()["detail"][0]["msg"]


# --- sources ------------------------------------------------------------------------------------


def test_list_and_get_sources(client: Client, manager: User, fake_source: Source) -> None:
    listed = get(client, manager, "/api/v1/sources", workspace="acme")
    detail = get(client, manager, f"/api/v1/sources/{fake_source.pk}", workspace="acme")

    assert listed.status_code == detail.status_code == 200
    assert listed.json() == [detail.json()]
    body = detail.json()
    assert {k: body[k] for k in ("id", "kind", "name", "status", "paused", "poll_interval", "config")} == {
        "id": fake_source.pk,
        "kind": "fake",
        "name": "Fake room",
        "status": "active",
        "paused": False,
        "poll_interval": 300,
        "config": {"platform": "fake"},
    }
    assert (body["secret_fields"], body["webhook_url"], body["last_error"]) == ([], None, "")


def test_settings_are_hidden_from_roles_that_cannot_manage_sources(
    client: Client, analyst: User, fake_source: Source
) -> None:
    body = get(client, analyst, f"/api/v1/sources/{fake_source.pk}").json()
    assert (body["name"], body["config"], body["webhook_url"]) == ("Fake room", None, None)


def test_create_source_stores_secrets_encrypted_and_never_returns_them(
    client: Client, manager: User, workspace: Workspace, vault_connector: None
) -> None:
    body = {"kind": "vault", "name": " Vault ", "config": {"url": "https://x.example", "token": "s3cr3t-value"}}

    response = send(client, manager, "post", "/api/v1/sources?workspace=acme", body)

    assert response.status_code == 201
    assert "s3cr3t-value" not in response.content.decode()
    created = response.json()
    source = Source.objects.get(pk=created["id"])
    assert (created["name"], created["config"], created["secret_fields"]) == (
        "Vault",
        {"platform": "fake", "url": "https://x.example"},
        ["token"],
    )
    assert created["webhook_url"] == f"http://127.0.0.1:8000/hooks/{source.webhook_token}"
    assert (source.workspace_id, source.poll_interval, source.config) == (workspace.pk, 300, created["config"])
    assert "s3cr3t-value" not in source.secrets
    config = load_config(source)
    assert isinstance(config, VaultConfig)
    assert config.token.get_secret_value() == "s3cr3t-value"
    entry = AuditEntry.objects.get(action="source.created")
    assert (entry.actor, entry.workspace, entry.target_id) == (manager, workspace, str(source.pk))


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"kind": "nope", "name": "X"}, ["body", "kind"]),
        ({"kind": "vault", "name": "X", "config": {"url": "https://x.example"}}, ["body", "config", "token"]),
        ({"kind": "vault", "name": "X", "config": {"url": 3, "token": "t0p"}}, ["body", "config", "url"]),
        (
            {"kind": "vault", "name": "X", "config": {"url": "u", "token": "t0p", "extra": 1}},
            ["body", "config", "extra"],
        ),
        ({"kind": "vault", "name": "", "config": {"url": "u", "token": "t0p"}}, ["body", "name"]),
        ({"kind": "vault", "name": "X", "poll_interval": 5}, ["body", "poll_interval"]),
        ({"kind": "vault", "name": "X", "status": "active"}, ["body", "status"]),
    ],
)
def test_create_source_rejects_bad_input_with_the_reason(
    client: Client, manager: User, workspace: Workspace, vault_connector: None, body: dict[str, Any], loc: list[str]
) -> None:
    response = send(client, manager, "post", "/api/v1/sources", body)

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [loc]
    assert "t0p" not in response.content.decode()  # a rejected secret is never echoed
    assert Source.objects.count() == 0


def test_patch_source_renames_changes_interval_and_pauses(client: Client, manager: User, fake_source: Source) -> None:
    url = f"/api/v1/sources/{fake_source.pk}"

    renamed = send(client, manager, "patch", url, {"name": "Lobby", "poll_interval": 900})
    paused = send(client, manager, "patch", url, {"paused": True})
    resumed = send(client, manager, "patch", url, {"paused": False})

    assert [r.status_code for r in (renamed, paused, resumed)] == [200, 200, 200]
    assert (renamed.json()["name"], renamed.json()["poll_interval"], renamed.json()["paused"]) == ("Lobby", 900, False)
    assert (paused.json()["status"], paused.json()["paused"]) == ("paused", True)
    assert (resumed.json()["status"], resumed.json()["paused"]) == ("active", False)
    fake_source.refresh_from_db()
    assert (fake_source.name, fake_source.poll_interval, fake_source.status) == ("Lobby", 900, SourceStatus.ACTIVE)
    actions = list(
        AuditEntry.objects.filter(actor=manager, action__startswith="source.")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["source.updated", "source.paused", "source.resumed"]


def test_patch_with_nothing_changes_nothing(client: Client, manager: User, fake_source: Source) -> None:
    response = send(client, manager, "patch", f"/api/v1/sources/{fake_source.pk}", {})

    assert (response.status_code, response.json()["name"]) == (200, "Fake room")
    assert not AuditEntry.objects.filter(actor=manager, action__startswith="source.").exists()


@pytest.mark.parametrize(
    "body", [{"config": {"platform": "x"}}, {"name": ""}, {"poll_interval": 10}, {"paused": "sometimes"}]
)
def test_patch_rejects_what_cannot_be_changed(
    client: Client, manager: User, fake_source: Source, body: dict[str, Any]
) -> None:
    response = send(client, manager, "patch", f"/api/v1/sources/{fake_source.pk}", body)

    assert response.status_code == 422
    fake_source.refresh_from_db()
    assert (fake_source.name, fake_source.poll_interval, fake_source.config) == ("Fake room", 300, {"platform": "fake"})


def test_unknown_source_id_is_404(client: Client, manager: User, fake_source: Source) -> None:
    assert get(client, manager, f"/api/v1/sources/{fake_source.pk + 1000}").status_code == 404
    assert get(client, manager, "/api/v1/sources/abc").status_code == 422


# --- messages -----------------------------------------------------------------------------------


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [Message.objects.get(pk=item["id"]).external_id for item in response.json()["items"]]


def test_messages_newest_first_without_deleted(client: Client, analyst: User, messages: dict[str, Message]) -> None:
    response = get(client, analyst, "/api/v1/messages")

    assert ids(response) == ["m5", "m4", "m3", "m2", "m1"]
    assert response.json()["next_cursor"] is None


def test_message_fields(client: Client, analyst: User, messages: dict[str, Message]) -> None:
    m3 = messages["m3"]

    item = get(client, analyst, "/api/v1/messages", limit=3).json()["items"][2]

    assert item == {
        "id": m3.pk,
        "source_id": m3.source_id,
        "kind": "chat",
        "external_id": "m3",
        "title": "",
        "text": "Grazie mille!",
        "language": "it",
        "url": "",
        "created_at": "2026-03-02T09:02:00Z",
        "edited_at": None,
        "author": {
            "identity_id": m3.identity_id,
            "platform": "fake",
            "handle": "",
            "display_name": "Ana",
            "is_bot": False,
        },
        "member_id": m3.member_id,
        "thread_id": m3.thread_id,
        "parent_id": messages["m2"].pk,
        "signals": None,  # not analysed in this test
    }


def test_message_detail(client: Client, analyst: User, messages: dict[str, Message]) -> None:
    response = get(client, analyst, f"/api/v1/messages/{messages['m4'].pk}")

    assert response.status_code == 200
    assert (response.json()["text"], response.json()["kind"], response.json()["metadata"]) == (
        "New release is out",
        "post",
        {},
    )


def test_deleted_and_unknown_messages_are_404(client: Client, analyst: User, messages: dict[str, Message]) -> None:
    assert get(client, analyst, f"/api/v1/messages/{messages['m6'].pk}").status_code == 404
    assert get(client, analyst, "/api/v1/messages/999999").status_code == 404


def test_filters(client: Client, analyst: User, messages: dict[str, Message], fake_source: Source) -> None:
    ana = Member.objects.get(identities__external_id="ana")
    thread = Thread.objects.get(external_id="m1")
    url = "/api/v1/messages"

    assert ids(get(client, analyst, url, language="it")) == ["m5", "m3"]
    assert ids(get(client, analyst, url, kind="post")) == ["m4"]
    assert ids(get(client, analyst, url, kind=["post", "chat"], language="en")) == ["m4", "m2", "m1"]
    assert ids(get(client, analyst, url, source=fake_source.pk)) == ["m5", "m4", "m3", "m2", "m1"]
    assert ids(get(client, analyst, url, source=fake_source.pk + 1000)) == []
    assert ids(get(client, analyst, url, member=ana.pk)) == ["m3", "m1"]
    assert ids(get(client, analyst, url, thread=thread.pk)) == ["m3", "m2", "m1"]
    assert ids(get(client, analyst, url, q="refund")) == ["m2", "m1"]
    assert ids(get(client, analyst, url, since="2026-03-02", until="2026-03-02")) == ["m5", "m4", "m3", "m2", "m1"]
    assert ids(get(client, analyst, url, since="2026-03-03")) == []
    assert ids(get(client, analyst, url, until="2026-03-01")) == []


def test_since_and_until_are_days_in_the_users_time_zone(
    client: Client, analyst: User, messages: dict[str, Message]
) -> None:
    # 09:00 UTC on 2 March is already 2 March in Tokyo, but 09:00 UTC is 18:00 there: still the same day.
    # In Honolulu (UTC-10) it is 23:00 on 1 March, so "since 2 March" leaves everything out.
    analyst.time_zone = "Pacific/Honolulu"
    analyst.save(update_fields=["time_zone"])

    assert ids(get(client, analyst, "/api/v1/messages", since="2026-03-02")) == []
    assert ids(get(client, analyst, "/api/v1/messages", until="2026-03-01")) == ["m5", "m4", "m3", "m2", "m1"]


def test_cursor_pages_walk_everything_once(client: Client, analyst: User, messages: dict[str, Message]) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = get(client, analyst, "/api/v1/messages", **params)
        seen += ids(response)
        pages += 1
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break

    assert (seen, pages) == (["m5", "m4", "m3", "m2", "m1"], 3)


def test_a_cursor_keeps_its_place_when_new_messages_arrive(
    client: Client, analyst: User, messages: dict[str, Message], fake_source: Source
) -> None:
    first = get(client, analyst, "/api/v1/messages", limit=2).json()
    ingest_events(source=fake_source, events=[raw("m7", "dan", "late", 60, language="en")])

    second = get(client, analyst, "/api/v1/messages", limit=2, cursor=first["next_cursor"])

    assert ids(second) == ["m3", "m2"]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 201}, ["query", "limit"]),
        ({"limit": 0}, ["query", "limit"]),
        ({"cursor": "not-a-cursor"}, ["query", "cursor"]),
        ({"kind": "shout"}, ["query", "kind", 0]),
        ({"source": "first"}, ["query", "source", 0]),
        ({"since": "yesterday"}, ["query", "since"]),
        ({"until": "2026-02-30"}, ["query", "until"]),
        ({"since": "2026-03-05", "until": "2026-03-01"}, ["query", "since"]),
        ({"member": "ana"}, ["query", "member"]),
        ({"q": "x" * 201}, ["query", "q"]),
    ],
)
def test_bad_filters_are_422_with_the_reason(
    client: Client, analyst: User, messages: dict[str, Message], params: dict[str, Any], loc: list[Any]
) -> None:
    response = get(client, analyst, "/api/v1/messages", **params)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == loc
    assert error["msg"]


def test_list_messages_query_count_does_not_grow_with_the_page(
    client: Client,
    analyst: User,
    messages: dict[str, Message],
    django_assert_max_num_queries: Any,
) -> None:
    headers = bearer(analyst)
    # token lookup + last-used update + membership + the page query (related rows are joined in).
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/messages", {"limit": 200}, **headers)
    assert response.status_code == 200


# --- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer cmn_wrong", "Basic b2xnYTpwdw==", "Token cmn_x"])
def test_requests_without_a_valid_token_are_401(client: Client, owner: User, workspace: Workspace, header: str) -> None:
    headers = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/api/v1/workspaces", **headers)
    assert (response.status_code, response.json()) == (401, {"detail": "Unauthorized"})


def test_a_session_cookie_is_not_enough(client: Client, owner: User, workspace: Workspace) -> None:
    client.force_login(owner)
    assert client.get("/api/v1/workspaces").status_code == 401


# --- OpenAPI and docs ---------------------------------------------------------------------------


def test_openapi_document_is_valid_and_complete(client: Client, db: None) -> None:
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    operations = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert operations == {
        ("GET", "/api/v1/workspaces"),
        ("GET", "/api/v1/sources"),
        ("POST", "/api/v1/sources"),
        ("GET", "/api/v1/sources/{source_id}"),
        ("PATCH", "/api/v1/sources/{source_id}"),
        ("GET", "/api/v1/messages"),
        ("GET", "/api/v1/messages/{message_id}"),
        ("GET", "/api/v1/conversations"),
        ("GET", "/api/v1/conversations/{conversation_id}"),
        ("POST", "/api/v1/conversations/{conversation_id}/assign"),
        ("POST", "/api/v1/conversations/{conversation_id}/state"),
        ("POST", "/api/v1/conversations/{conversation_id}/replies"),
        ("GET", "/api/v1/conversations/{conversation_id}/suggestions"),
        ("GET", "/api/v1/members"),
        ("GET", "/api/v1/members/suggestions"),
        ("GET", "/api/v1/members/{member_id}"),
        ("POST", "/api/v1/members/{member_id}/merge"),
        ("POST", "/api/v1/merges/{merge_id}/undo"),
        ("GET", "/api/v1/moderation/rules"),
        ("POST", "/api/v1/moderation/rules"),
        ("POST", "/api/v1/moderation/rules/validate"),
        ("POST", "/api/v1/moderation/rules/{version}/enable"),
        ("GET", "/api/v1/moderation/queue"),
        ("POST", "/api/v1/moderation/queue/{item_id}/resolve"),
        ("GET", "/api/v1/moderation/decisions"),
        ("GET", "/api/v1/moderation/decisions/{decision_id}"),
        ("GET", "/api/v1/moderation/appeals"),
        ("POST", "/api/v1/moderation/appeals/{appeal_id}/decide"),
        ("GET", "/api/v1/members/segments"),
        ("POST", "/api/v1/members/segments"),
        ("GET", "/api/v1/members/segments/{segment_id}"),
        ("PATCH", "/api/v1/members/segments/{segment_id}"),
        ("DELETE", "/api/v1/members/segments/{segment_id}"),
        ("GET", "/api/v1/members/segments/{segment_id}/members"),
        ("GET", "/api/v1/members/imports/{import_id}"),
        ("GET", "/api/v1/members/{member_id}/tags"),
        ("POST", "/api/v1/members/{member_id}/tags"),
        ("DELETE", "/api/v1/members/{member_id}/tags/{tag_id}"),
        ("GET", "/api/v1/members/{member_id}/notes"),
        ("POST", "/api/v1/members/{member_id}/notes"),
        ("PATCH", "/api/v1/members/{member_id}/notes/{note_id}"),
        ("DELETE", "/api/v1/members/{member_id}/notes/{note_id}"),
        ("GET", "/api/v1/members/{member_id}/fields"),
        ("PATCH", "/api/v1/members/{member_id}/fields"),
        ("GET", "/api/v1/members/{member_id}/data"),
        ("POST", "/api/v1/members/{member_id}/erase"),
        ("GET", "/api/v1/members/key-people"),
        ("GET", "/api/v1/members/{member_id}/engagement"),
        ("GET", "/api/v1/analytics/metrics"),
        ("GET", "/api/v1/analytics/series"),
        ("GET", "/api/v1/analytics/goals"),
        ("POST", "/api/v1/analytics/goals"),
        ("GET", "/api/v1/analytics/goals/{goal_id}"),
        ("PATCH", "/api/v1/analytics/goals/{goal_id}"),
        ("DELETE", "/api/v1/analytics/goals/{goal_id}"),
        ("GET", "/api/v1/analytics/reports"),
        ("GET", "/api/v1/analytics/reports/{report_id}"),
        ("GET", "/api/v1/analytics/reports/{report_id}/pdf"),
    }
    assert schema["components"]["securitySchemes"] == {"ApiTokenAuth": {"type": "http", "scheme": "bearer"}}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation["security"] == [{"ApiTokenAuth": []}], (method, path)
            assert operation["summary"], (method, path)
            params = {p["name"] for p in operation.get("parameters", [])}
            if path != "/api/v1/workspaces":
                assert {"403", "404", "422"} <= set(operation["responses"]), (method, path)
                assert "workspace" in params, (method, path)
    message_params = {p["name"] for p in schema["paths"]["/api/v1/messages"]["get"]["parameters"]}
    assert message_params == {
        "workspace", "source", "language", "kind", "since", "until", "q", "member", "thread", "sentiment", "toxic",
        "spam", "question", "cursor", "limit"
    }  # fmt: skip


def test_source_schema_documents_no_secret_values(client: Client, db: None) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    properties = set(schema["components"]["schemas"]["SourceOut"]["properties"])
    assert "secrets" not in properties
    assert {"config", "secret_fields", "webhook_url"} <= properties


def test_interactive_docs_work_offline(client: Client, db: None) -> None:
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    html = response.content.decode()
    references = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert references  # the page does load its assets...
    assert all(ref.startswith("/static/") for ref in references), references  # ...from this server only
    assert not re.search(r"https?://|//cdn", html)
    for ref in references:
        assert client.get(ref).status_code == 200, ref
