"""The webhook connector through the real endpoint (Django's test client): every refusal and the happy path."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIRequest
from django.test import Client
from pydantic import SecretStr, ValidationError

from communa.accounts.models import Workspace
from communa.connectors.feeds.connector import FeedsConfig
from communa.connectors.models import Source, SourceStatus
from communa.connectors.services import create_source
from communa.connectors.webhook.connector import WebhookConfig, new_secret, sign
from communa.ingest.models import RawEvent, RejectedEvent
from communa.ingest.views import receive_webhook
from communa.members.models import Identity, Member
from communa.stream.models import Message, Thread
from tests.connectors.conftest import FIXTURES

pytestmark = pytest.mark.django_db

SECRET = "whsec_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.fixture
def source(workspace: Workspace) -> Source:
    config = WebhookConfig(secret=SecretStr(SECRET), platform="support:example.com")
    return create_source(workspace=workspace, kind="webhook", name="Support forum", config=config, actor=None)


def fixture_body(name: str) -> bytes:
    return (FIXTURES / "webhook" / name).read_bytes()


def push(
    client: Client,
    source: Source,
    body: bytes,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = {"X-Communa-Timestamp": str(stamp), "X-Communa-Signature": sign(secret, stamp, body)}
    return client.post(
        f"/hooks/{source.webhook_token}",
        data=body,
        content_type="application/json",
        headers=headers if headers is not None else signed,
        REMOTE_ADDR="203.0.113.7",
    )


def stored() -> dict[str, Any]:
    return {
        "raw": sorted(RawEvent.objects.values_list("external_id", "payload")),
        "messages": sorted(
            Message.objects.values_list("external_id", "kind", "text", "thread__external_id", "parent__external_id")
        ),
        "identities": sorted(Identity.objects.values_list("platform", "external_id", "display_name")),
        "members": Member.objects.count(),
        "threads": sorted(Thread.objects.values_list("external_id", "message_count")),
    }


def assert_nothing_stored() -> None:
    assert stored() == {"raw": [], "messages": [], "identities": [], "members": 0, "threads": []}


def rejection() -> tuple[int, str, str, str, int | None]:
    (event,) = RejectedEvent.objects.all()
    return event.status, event.reason, event.body_excerpt, event.remote_addr, event.source_id


# --- accepted -------------------------------------------------------------------------------------


def test_a_signed_batch_is_ingested(client: Client, source: Source) -> None:
    response = push(client, source, fixture_body("batch.json"))

    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "created": 3}
    assert stored()["messages"] == [
        ("reply-8812-1", "comment", "Same here. Rolling back to 4.1 fixed it for me.", "topic-8812", "topic-8812"),
        ("reply-8812-2", "comment", "Thanks both, we can reproduce it. A fix ships in 4.2.1 on Friday.", "topic-8812",
         "reply-8812-1"),
        ("topic-8812", "post",
         "Since updating to 4.2 my P300 jams on every second page. Anyone else?\nI tried the cleaning cycle twice.",
         "topic-8812", None),
    ]  # fmt: skip
    topic = Message.objects.get(external_id="topic-8812")
    assert topic.title == "Printer jams after firmware 4.2"
    assert topic.created_at == datetime(2026, 3, 2, 7, 15, tzinfo=UTC)
    assert topic.url == "https://support.example.com/t/8812"
    assert topic.language == "en"
    assert topic.metadata == {"category": "hardware", "votes": 3}
    assert sorted(
        Identity.objects.values_list("platform", "external_id", "handle", "display_name", "email", "url", "is_bot")
    ) == [
        ("support:example.com", "staff-3", "helpdesk", "Support Bot", "", "", True),
        ("support:example.com", "u-120", "jon_e", "Jon Eriksen", "", "", False),
        ("support:example.com", "u-4471", "mkowalska", "Marta Kowalska", "marta@example.pl",
         "https://support.example.com/u/mkowalska", False),
    ]  # fmt: skip
    assert Thread.objects.get(external_id="topic-8812").message_count == 3
    assert RejectedEvent.objects.count() == 0


def test_a_single_event_object_is_accepted(client: Client, source: Source) -> None:
    response = push(client, source, fixture_body("single.json"))

    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "created": 1}
    join = Message.objects.get(external_id="evt_01HQ7Z3K9R")
    assert (join.kind, join.text, join.metadata) == ("join", "Amara joined #newcomers", {"channel": "newcomers"})
    assert join.identity is not None
    assert join.identity.external_id == "9001"  # a numeric id is taken as text


def test_the_same_delivery_twice_leaves_the_same_rows(client: Client, source: Source) -> None:
    push(client, source, fixture_body("batch.json"))
    before = stored()

    again = push(client, source, fixture_body("batch.json"))

    assert again.status_code == 202
    assert again.json() == {"accepted": 3, "created": 0}
    assert stored() == before


def test_a_resent_event_replaces_its_text(client: Client, source: Source) -> None:
    push(client, source, fixture_body("single.json"))
    event = json.loads(fixture_body("single.json"))
    event["text"] = "Amara joined #newcomers and #events"

    response = push(client, source, json.dumps(event).encode())

    assert response.json() == {"accepted": 1, "created": 0}
    assert Message.objects.get(external_id="evt_01HQ7Z3K9R").text == "Amara joined #newcomers and #events"


# --- refused: address, size -----------------------------------------------------------------------


def test_an_unknown_token_is_404_and_recorded(client: Client, source: Source) -> None:
    response = client.post("/hooks/not-a-token", data=b'{"id": "x"}', content_type="application/json")

    assert response.status_code == 404
    assert response.json() == {"error": "no webhook source at this address"}
    assert rejection() == (404, "no webhook source at this address", '{"id": "x"}', "127.0.0.1", None)
    assert_nothing_stored()


def test_the_token_of_a_source_that_is_not_a_webhook_is_404(client: Client, workspace: Workspace) -> None:
    feed = create_source(
        workspace=workspace,
        kind="feeds",
        name="Blog",
        config=FeedsConfig(url="https://blog.example.org/feed"),
        actor=None,
    )

    response = push(client, feed, fixture_body("single.json"))

    assert response.status_code == 404
    assert_nothing_stored()


def test_a_declared_length_over_the_limit_is_413(client: Client, source: Source, settings: Any) -> None:
    settings.COMMUNA_WEBHOOK_MAX_BYTES = 1000
    body = json.dumps({"id": "big", "text": "x" * 3000, "created_at": "2026-03-02T12:00:00Z"}).encode()

    response = push(client, source, body)

    assert response.status_code == 413
    assert response.json() == {"error": "the body is larger than 1000 bytes"}
    status, reason, excerpt, _, source_id = rejection()
    assert (status, reason, source_id) == (413, "the body is larger than 1000 bytes", source.pk)
    assert excerpt == body[:2048].decode()
    assert_nothing_stored()


def test_a_body_larger_than_declared_is_413(source: Source, settings: Any) -> None:
    """Behind an ASGI server a chunked upload has no Content-Length: the body itself is measured."""
    settings.COMMUNA_WEBHOOK_MAX_BYTES = 1000
    body = json.dumps({"id": "big", "text": "x" * 3000, "created_at": "2026-03-02T12:00:00Z"}).encode()
    stamp = int(time.time())
    scope = {
        "type": "http",
        "method": "POST",
        "path": f"/hooks/{source.webhook_token}",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"x-communa-timestamp", str(stamp).encode()),
            (b"x-communa-signature", sign(SECRET, stamp, body).encode()),
        ],
        "client": ("198.51.100.4", 40112),
        "server": ("testserver", 80),
    }

    response = receive_webhook(ASGIRequest(scope, io.BytesIO(body)), source.webhook_token)

    assert response.status_code == 413
    assert rejection()[:2] == (413, "the body is larger than 1000 bytes")
    assert rejection()[3] == "198.51.100.4"
    assert_nothing_stored()


def test_get_is_not_allowed(client: Client, source: Source) -> None:
    assert client.get(f"/hooks/{source.webhook_token}").status_code == 405
    assert RejectedEvent.objects.count() == 0


# --- refused: signature ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing X-Communa-Timestamp or X-Communa-Signature header"),
        ({"X-Communa-Timestamp": "1772452800"}, "missing X-Communa-Timestamp or X-Communa-Signature header"),
        (
            {"X-Communa-Timestamp": "yesterday", "X-Communa-Signature": "sha256=" + "0" * 64},
            "X-Communa-Timestamp must be a unix time in seconds",
        ),
        (
            {"X-Communa-Timestamp": "1772452800", "X-Communa-Signature": "md5=abc"},
            "X-Communa-Signature must be sha256=<64 hex digits>",
        ),
    ],
)
def test_missing_or_malformed_signature_headers_are_401(
    client: Client, source: Source, headers: dict[str, str], reason: str
) -> None:
    response = push(client, source, fixture_body("single.json"), headers=headers)

    assert response.status_code == 401
    assert response.json() == {"error": reason}
    status, stored_reason, excerpt, remote, source_id = rejection()
    assert (status, stored_reason, remote, source_id) == (401, reason, "203.0.113.7", source.pk)
    assert excerpt == fixture_body("single.json").decode()
    assert_nothing_stored()


def test_a_signature_with_the_wrong_secret_is_401(client: Client, source: Source) -> None:
    response = push(client, source, fixture_body("single.json"), secret=new_secret())

    assert response.status_code == 401
    assert response.json() == {"error": "the signature does not match: wrong secret, or the body changed on the way"}
    assert_nothing_stored()


def test_a_body_changed_after_signing_is_401(client: Client, source: Source) -> None:
    body = fixture_body("single.json")
    stamp = int(time.time())
    headers = {"X-Communa-Timestamp": str(stamp), "X-Communa-Signature": sign(SECRET, stamp, body)}

    response = push(client, source, body.replace(b"Amara joined", b"Mallory joined"), headers=headers)

    assert response.status_code == 401
    assert_nothing_stored()


def test_an_old_timestamp_is_refused_as_a_replay(client: Client, source: Source) -> None:
    response = push(client, source, fixture_body("single.json"), timestamp=int(time.time()) - 301)

    assert response.status_code == 401
    assert response.json() == {"error": "the timestamp is more than 5 minutes old (replay protection)"}
    assert_nothing_stored()


def test_a_timestamp_far_in_the_future_is_refused(client: Client, source: Source) -> None:
    response = push(client, source, fixture_body("single.json"), timestamp=int(time.time()) + 600)

    assert response.status_code == 401
    assert response.json() == {"error": "the timestamp is more than 5 minutes in the future: check the sender's clock"}


def test_a_timestamp_within_five_minutes_is_accepted(client: Client, source: Source) -> None:
    response = push(client, source, fixture_body("single.json"), timestamp=int(time.time()) - 240)

    assert response.status_code == 202


# --- refused: payload -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            b'{"id": "a", ',
            "the body is not valid JSON (line 1, column 13: Expecting property name enclosed in double quotes)",
        ),
        (b'[{"id": "a"}]', 'the body must be a JSON object: one event, or {"events": [...]}'),
        (b'{"id": "a", "text": "hi"}', "created_at: Field required"),
        (b'{"id": "a", "created_at": "2026-03-02T12:00:00"}', "created_at: Input should have timezone info"),
        (
            b'{"id": "a", "created_at": "2026-03-02T12:00:00Z", "kind": "shout"}',
            "kind: Input should be 'post', 'comment', 'chat', 'email', 'reaction', 'join', 'leave', 'article'"
            " or 'other'",
        ),
        (
            b'{"id": "a", "created_at": "2026-03-02T12:00:00Z", "create_at": "x"}',
            "create_at: Extra inputs are not permitted",
        ),
        (b'{"id": "a", "created_at": "2026-03-02T12:00:00Z", "author": {"name": "Ann"}}', "author.id: Field required"),
        (
            b'{"id": "a", "created_at": "2026-03-02T12:00:00Z", "url": "javascript:alert(1)"}',
            "url: must be an http:// or https:// URL",
        ),
        (b'{"events": []}', "events: List should have at least 1 item after validation, not 0"),
        (
            b'{"events": [{"id": "ok", "created_at": "2026-03-02T12:00:00Z"}, {"id": "", "created_at": "soon"}]}',
            "events.1.id: String should have at least 1 character; events.1.created_at: Input should be a valid "
            "datetime or date, input is too short",
        ),
    ],
)
def test_malformed_payloads_are_400_with_the_reason(client: Client, source: Source, body: bytes, reason: str) -> None:
    response = push(client, source, body)

    assert response.status_code == 400
    assert response.json() == {"error": reason}
    assert rejection()[:3] == (400, reason, body.decode())
    assert_nothing_stored()


def test_json_nested_too_deeply_is_400_not_a_crash(client: Client, source: Source) -> None:
    response = push(client, source, b"[" * 100_000 + b"]" * 100_000)

    assert response.status_code == 400
    assert response.json() == {"error": "the body is not valid JSON (nested too deeply)"}
    assert_nothing_stored()


def test_a_rejected_body_is_kept_readable_whatever_its_bytes(client: Client, source: Source) -> None:
    body = b'{"id": "\xff\xfe", "nul": "\x00"}'

    response = push(client, source, body)

    assert response.status_code == 400
    assert rejection()[2] == '{"id": "\ufffd\ufffd", "nul": ""}'


# --- refused: the source's state ------------------------------------------------------------------


@pytest.mark.parametrize(("status", "word"), [(SourceStatus.PAUSED, "paused"), (SourceStatus.DISABLED, "disabled")])
def test_a_paused_or_disabled_source_answers_409(
    client: Client, source: Source, status: SourceStatus, word: str
) -> None:
    Source.objects.filter(pk=source.pk).update(status=status)

    response = push(client, source, fixture_body("batch.json"))

    assert response.status_code == 409
    assert response.json() == {"error": f"the source is {word} in Communa and accepts no events"}
    assert rejection()[:2] == (409, f"the source is {word} in Communa and accepts no events")
    assert_nothing_stored()


# --- configuration --------------------------------------------------------------------------------


def test_config_requires_a_long_enough_secret() -> None:
    with pytest.raises(ValidationError, match="the secret needs at least 16 characters"):
        WebhookConfig(secret=SecretStr("short"))
    assert WebhookConfig(secret=SecretStr(new_secret())).platform == "webhook"


def test_the_secret_is_stored_encrypted(source: Source) -> None:
    assert source.config == {"platform": "support:example.com"}
    assert SECRET not in source.secrets
