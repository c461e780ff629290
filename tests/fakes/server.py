"""A loopback HTTP server driven by a scripted policy that records every request.

Each provider fake (openai_fake.py, anthropic_fake.py, gemini_fake.py) routes its endpoints to a
policy: a list of responses served in order, or a callable that sees the recorded request. The
real SDKs reach it through their base-URL settings; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    time: float = 0.0

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    """What the server answers. `drop=True` closes the connection without a response."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


Policy = Callable[[Recorded], Reply]
Route = Callable[["FakeServer", Recorded], Reply | None]


def scripted(replies: Sequence[Reply] | Policy) -> Policy:
    """A policy from a list of replies (served in order; running out is a test failure) or a callable."""
    if callable(replies):
        return replies
    queue = list(replies)

    def next_reply(request: Recorded) -> Reply:
        if not queue:
            return Reply(500, {"error": {"message": f"fake script exhausted at {request.path}"}})
        return queue.pop(0)

    return next_reply


class FakeServer:
    """HTTP server on 127.0.0.1 with a random port. `route` answers or returns None for 404."""

    def __init__(self, route: Route, policy: Policy) -> None:
        self.route = route
        self.policy = policy
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:  # keep test output clean
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Recorded(self.command, self.path, headers, body, time.monotonic())
                reply = server.route(server, request)
                if reply is None:
                    reply = Reply(404, {"error": {"message": f"no route for {self.command} {self.path}"}})
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _serve

        return Handler
