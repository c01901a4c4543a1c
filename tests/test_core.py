"""core: secrets at rest, the HTTP client's retry policy, settings parsing, system checks, cursors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.db import connection
from django.test import override_settings
from pydantic import SecretStr

from communa.accounts.models import Workspace
from communa.config.email_url import parse_email_url
from communa.connectors.base import ConnectorConfig
from communa.connectors.models import Source
from communa.connectors.services import create_source, load_config
from communa.core import crypto, http
from communa.core.pagination import InvalidCursor, decode_cursor, encode_cursor
from communa.server.checks import communa_settings
from tests.conftest import FakeConnector


class SecretConfig(ConnectorConfig):
    platform: str = "fake"
    token: SecretStr


class SecretFake(FakeConnector):
    Config = SecretConfig


@pytest.mark.django_db
def test_connector_secrets_are_encrypted_at_rest(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from communa.connectors import registry

    monkeypatch.setitem(registry.CONNECTORS, "fake", "tests.test_core.SecretFake")
    registry.connector_class.cache_clear()
    source = create_source(
        workspace=workspace, kind="fake", name="s", config=SecretConfig(token=SecretStr("hunter2-token")), actor=None
    )

    with connection.cursor() as cursor:
        cursor.execute("SELECT config, secrets FROM connectors_source WHERE id = %s", [source.pk])
        config_column, secrets_column = cursor.fetchone()
    assert "hunter2" not in str(config_column)
    assert "hunter2" not in secrets_column
    assert "token" not in str(config_column)
    loaded = load_config(Source.objects.get(pk=source.pk))
    assert isinstance(loaded, SecretConfig)
    assert loaded.token.get_secret_value() == "hunter2-token"
    registry.connector_class.cache_clear()


def test_secret_key_rotation_keeps_old_secrets_readable() -> None:
    with override_settings(SECRET_KEY="old-key-" + "x" * 40, SECRET_KEY_FALLBACKS=[]):
        token = crypto.encrypt_json({"password": "p"})
    with override_settings(SECRET_KEY="new-key-" + "y" * 40, SECRET_KEY_FALLBACKS=["old-key-" + "x" * 40]):
        assert crypto.decrypt_json(token) == {"password": "p"}
    with (
        override_settings(SECRET_KEY="new-key-" + "y" * 40, SECRET_KEY_FALLBACKS=[]),
        pytest.raises(crypto.SecretDecryptionError),
    ):
        crypto.decrypt_json(token)


class ScriptedHandler(BaseHTTPRequestHandler):
    """Answers each request with the next (status, headers, delay) of the server's script."""

    def do_GET(self) -> None:
        status, headers, delay = self.server.script.pop(0)  # type: ignore[attr-defined]
        self.server.hits += 1  # type: ignore[attr-defined]
        time.sleep(delay)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def scripted_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedHandler)
    server.script = []  # type: ignore[attr-defined]
    server.hits = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/feed"


def test_http_retries_transient_failures_then_succeeds(scripted_server: ThreadingHTTPServer) -> None:
    scripted_server.script = [(503, {}, 0), (429, {"Retry-After": "0"}, 0), (200, {}, 0)]  # type: ignore[attr-defined]
    with http.client() as client:
        response = http.request(client, "GET", url(scripted_server), backoff=0.01)
    assert response.status_code == 200
    assert scripted_server.hits == 3  # type: ignore[attr-defined]


def test_http_gives_up_after_bounded_attempts(scripted_server: ThreadingHTTPServer) -> None:
    scripted_server.script = [(502, {}, 0)] * 5  # type: ignore[attr-defined]
    with http.client() as client, pytest.raises(http.TransientError, match="HTTP 502"):
        http.request(client, "GET", url(scripted_server), attempts=3, backoff=0.01)
    assert scripted_server.hits == 3  # type: ignore[attr-defined]


def test_http_permanent_errors_are_not_retried(scripted_server: ThreadingHTTPServer) -> None:
    scripted_server.script = [(401, {}, 0), (200, {}, 0)]  # type: ignore[attr-defined]
    with http.client() as client, pytest.raises(http.PermanentError, match="401"):
        http.request(client, "GET", url(scripted_server), backoff=0.01)
    assert scripted_server.hits == 1  # type: ignore[attr-defined]


def test_http_long_retry_after_is_surfaced_not_slept(scripted_server: ThreadingHTTPServer) -> None:
    scripted_server.script = [(429, {"Retry-After": "120"}, 0)]  # type: ignore[attr-defined]
    started = time.monotonic()
    with http.client() as client, pytest.raises(http.TransientError) as caught:
        http.request(client, "GET", url(scripted_server))
    assert caught.value.retry_after == 120
    assert time.monotonic() - started < 5


def test_http_timeout_is_a_transient_error(scripted_server: ThreadingHTTPServer) -> None:
    scripted_server.script = [(200, {}, 2)]  # type: ignore[attr-defined]
    with http.client(timeout=0.3) as client, pytest.raises(http.TransientError, match="timed out"):
        http.request(client, "GET", url(scripted_server), attempts=1)


def test_http_unreachable_host_is_a_transient_error() -> None:
    with http.client(timeout=1) as client, pytest.raises(http.TransientError, match="could not reach"):
        http.request(client, "GET", "http://127.0.0.1:9/", attempts=1)


def test_http_client_sets_timeout_and_user_agent() -> None:
    with http.client() as client:
        assert client.timeout.read == 20
        assert client.headers["user-agent"].startswith("Communa/")
        assert isinstance(client, httpx.Client)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "smtp://u:p%40ss@mail.example:2525",
            {"EMAIL_HOST": "mail.example", "EMAIL_PORT": 2525, "EMAIL_HOST_PASSWORD": "p@ss"},
        ),
        ("smtps://mail.example", {"EMAIL_PORT": 465, "EMAIL_USE_SSL": True, "EMAIL_USE_TLS": False}),
        ("smtp+tls://mail.example", {"EMAIL_PORT": 587, "EMAIL_USE_TLS": True}),
        ("console://", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
    ],
)
def test_email_url(value: str, expected: dict[str, object]) -> None:
    parsed = parse_email_url(value)
    assert {k: parsed[k] for k in expected} == expected


def test_email_url_rejects_unknown_scheme() -> None:
    with pytest.raises(ValueError, match="unsupported scheme 'imap'"):
        parse_email_url("imap://mail.example")


def test_system_checks_explain_misconfiguration() -> None:
    with override_settings(SECRET_KEY="short"):
        ids = [m.id for m in communa_settings(None)]
    assert ids == ["communa.E002"]
    with override_settings(BASE_URL="http://community.example.com", DEBUG=False):
        assert [m.id for m in communa_settings(None)] == ["communa.W001"]
    assert communa_settings(None) == []


def test_cursor_round_trip_and_garbage() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, 42)) == (at, 42)
    for garbage in ["", "!!!", "bm9waXBl", encode_cursor(at, 1)[:-3]]:
        with pytest.raises(InvalidCursor):
            decode_cursor(garbage)


def test_http_refuses_a_body_over_the_limit(scripted_server: ThreadingHTTPServer) -> None:
    scripted_server.script = [(200, {}, 0)]  # type: ignore[attr-defined]
    with http.client() as client, pytest.raises(http.PermanentError, match="limit is 1"):
        http.request(client, "GET", url(scripted_server), max_bytes=1)


def test_http_redirect_loop_is_a_permanent_error(scripted_server: ThreadingHTTPServer) -> None:
    scripted_server.script = [(302, {"Location": "/feed"}, 0)] * 10  # type: ignore[attr-defined]
    with http.client() as client, pytest.raises(http.PermanentError, match="redirects too many times"):
        http.request(client, "GET", url(scripted_server))
