"""A loopback HTTP server driven by a scripted policy that records every request.

Each provider fake (openai_fake.py, anthropic_fake.py, gemini_fake.py) routes its endpoints to a
policy: a list of responses served in order, or a callable that sees the recorded request. The
real SDKs reach it through their base-URL settings; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import struct
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
    """What the server answers. `drop=True` closes the connection without a response.

    Faults for provider tests: `content_type` other than JSON (with `body` as bytes, e.g. an HTML
    page), `trickle_s` (send the body one byte per that many seconds), `cut_after` (announce the
    full Content-Length, send only that many body bytes, then reset the connection).
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    content_type: str = "application/json"
    trickle_s: float = 0.0
    cut_after: int | None = None


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
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self._write_body(reply, payload)

            def _write_body(self, reply: Reply, payload: bytes) -> None:
                """The body as the reply's fault says: whole, trickled, or cut off by a reset."""
                sent = payload if reply.cut_after is None else payload[: reply.cut_after]
                try:
                    if reply.trickle_s:
                        for i in range(len(sent)):
                            self.wfile.write(sent[i : i + 1])
                            self.wfile.flush()
                            time.sleep(reply.trickle_s)
                    else:
                        self.wfile.write(sent)
                        self.wfile.flush()
                except OSError:  # the client gave up: nothing more to send
                    self.close_connection = True
                    return
                if reply.cut_after is not None:
                    self.close_connection = True
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()

            do_GET = do_POST = do_DELETE = _serve

        return Handler


def use_fake_keys(monkeypatch: Any, tag: str) -> None:
    """Fake keys for the three providers (`tag` tells tests' keys apart) and no base-URL variables,
    so every SDK reaches only the loopback fake it is pointed at."""
    monkeypatch.setenv("OPENAI_API_KEY", f"sk-{tag}-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", f"sk-ant-{tag}-test")
    monkeypatch.setenv("GEMINI_API_KEY", f"AIza-{tag}-test")
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
