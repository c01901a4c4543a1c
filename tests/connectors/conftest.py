"""A real HTTP server on 127.0.0.1 for connector tests: routes with ETag/Last-Modified, auth, delays."""

from __future__ import annotations

import base64
import dataclasses
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclasses.dataclass
class Route:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: str = ""
    last_modified: str = ""
    delay: float = 0.0
    basic_auth: tuple[str, str] | None = None
    location: str = ""  # for a redirect (status 30x)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (the timeout tests) leaves a broken pipe behind: expected, not news.
        pass


@dataclasses.dataclass
class Hit:
    path: str
    headers: dict[str, str]


class FeedServer:
    """Serves `routes` by path; unknown paths get an HTML 404 page, like a real web server."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[Hit] = []
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="feed-server", daemon=True)

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def serve(self, path: str, body: bytes | str, **options: object) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(body=data, **options)  # type: ignore[arg-type]
        return self.url(path)

    def serve_fixture(self, path: str, name: str, **options: object) -> str:
        return self.serve(path, (FIXTURES / "feeds" / name).read_bytes(), **options)

    def hits_on(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = server.routes.get(self.path)
                if route is None:
                    self._send(404, b"<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>", "text/html")
                    return
                if route.delay:
                    time.sleep(route.delay)
                if route.basic_auth and not self._authorized(route.basic_auth):
                    self._send(401, b"<html><body>Login required</body></html>", "text/html")
                    return
                if self._not_modified(route):
                    self._send(304, b"", "", route)
                    return
                self._send(route.status, route.body, route.content_type, route)

            def _authorized(self, credentials: tuple[str, str]) -> bool:
                expected = base64.b64encode(":".join(credentials).encode()).decode()
                return self.headers.get("Authorization", "") == f"Basic {expected}"

            def _not_modified(self, route: Route) -> bool:
                if route.status != 200:
                    return False
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    return True
                return bool(route.last_modified) and self.headers.get("If-Modified-Since") == route.last_modified

            def _send(self, status: int, body: bytes, content_type: str, route: Route | None = None) -> None:
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                if route and route.etag:
                    self.send_header("ETag", route.etag)
                if route and route.last_modified:
                    self.send_header("Last-Modified", route.last_modified)
                if route and route.location:
                    self.send_header("Location", route.location)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    yield server
    server.stop()
