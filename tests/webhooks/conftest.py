"""A real HTTP receiver on 127.0.0.1, started by the tests: it records requests and answers as told."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    # What to answer next: (status, body, delay seconds); the last one repeats.
    answers: list[tuple[int, bytes, float]] = field(default_factory=lambda: [(200, b"ok", 0.0)])
    extra_headers: dict[str, str] = field(default_factory=dict)

    def answer(self, status: int, body: bytes = b"", delay: float = 0.0, **headers: str) -> None:
        self.answers = [(status, body, delay)]
        self.extra_headers = headers


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            state.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            status, answer, delay = state.answers[0] if len(state.answers) == 1 else state.answers.pop(0)
            if delay:
                time.sleep(delay)
            self.send_response(status)
            for name, value in state.extra_headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/communa"
    yield state
    server.shutdown()
    server.server_close()
