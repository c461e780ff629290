"""Gemini API (`POST /v1beta/models/{model}:generateContent`, plus the File API upload and
status endpoints used for large native-video clips) on a loopback server."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from tests.fakes.server import FakeServer, Policy, Recorded, Reply, scripted

_GENERATE = re.compile(r"^/v1beta/models/([^/:?]+):generateContent")


class GeminiFake(FakeServer):
    """Also keeps the bytes of files uploaded through the File API (`uploads`, by file name)."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(_route, policy)
        self.uploads: dict[str, bytes] = {}
        self.upload_calls: list[Recorded] = []
        self.status_polls = 0


def _route(server: FakeServer, request: Recorded) -> Reply | None:
    assert isinstance(server, GeminiFake)
    path = request.path.split("?")[0]
    if request.method == "POST" and _GENERATE.match(path):
        server.record(request)
        return server.policy(request)
    if request.method == "POST" and path == "/upload/v1beta/files":  # start a resumable upload
        server.upload_calls.append(request)
        name = f"files/fake{len(server.uploads) + 1}"
        server.uploads[name] = b""
        return Reply(200, {}, {"X-Goog-Upload-URL": f"{server.url}/upload-session/{name}"})
    if request.method == "POST" and path.startswith("/upload-session/"):
        server.upload_calls.append(request)
        name = path.removeprefix("/upload-session/")
        server.uploads[name] += request.body
        if "finalize" not in request.headers.get("x-goog-upload-command", ""):
            return Reply(200, {}, {"X-Goog-Upload-Status": "active"})
        return Reply(200, {"file": _file(server, name, "PROCESSING")}, {"X-Goog-Upload-Status": "final"})
    if request.method == "GET" and path.startswith("/v1beta/files/"):
        server.status_polls += 1
        name = path.removeprefix("/v1beta/")
        return Reply(200, _file(server, name, "ACTIVE"))
    return None


def _file(server: FakeServer, name: str, state: str) -> dict[str, Any]:
    return {
        "name": name,
        "mimeType": "video/mp4",
        "uri": f"{server.url}/v1beta/{name}",
        "state": state,
        "sizeBytes": str(len(getattr(server, "uploads", {}).get(name, b""))),
    }


def gemini_server(replies: Sequence[Reply] | Policy) -> GeminiFake:
    """Base URL for the SDK: `server.url`."""
    return GeminiFake(scripted(replies))


def function_call(name: str, args: Any, *, call_id: str | None = None, signature: str | None = None) -> dict[str, Any]:
    """A functionCall part; `signature` is a base64 thought signature (Gemini 3)."""
    call: dict[str, Any] = {"name": name, "args": args}
    if call_id:
        call["id"] = call_id
    part: dict[str, Any] = {"functionCall": call}
    if signature:
        part["thoughtSignature"] = signature
    return part


def generate(
    text: str | None = None,
    calls: Sequence[dict[str, Any]] = (),
    *,
    finish_reason: str = "STOP",
    finish_message: str | None = None,
    block_reason: str | None = None,
    model: str = "gemini-3.5-flash",
    usage: tuple[int, int, int] = (1200, 40, 0),
    thought: str | None = None,
) -> Reply:
    """A 200 GenerateContentResponse; `usage` is (prompt, candidates, thoughts) tokens."""
    parts: list[dict[str, Any]] = [{"text": thought, "thought": True}] if thought else []
    if text is not None:
        parts.append({"text": text})
    parts.extend(calls)
    body: dict[str, Any] = {
        "modelVersion": model,
        "usageMetadata": {
            "promptTokenCount": usage[0],
            "candidatesTokenCount": usage[1],
            "thoughtsTokenCount": usage[2],
            "totalTokenCount": sum(usage),
        },
    }
    if block_reason:
        body["promptFeedback"] = {"blockReason": block_reason}
    else:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "finishReason": finish_reason}
        if finish_message:
            candidate["finishMessage"] = finish_message
        body["candidates"] = [candidate]
    return Reply(200, body)


def error(status: int, message: str, *, state: str = "INVALID_ARGUMENT", details: list[Any] | None = None) -> Reply:
    """A google.rpc.Status error body."""
    err: dict[str, Any] = {"code": status, "message": message, "status": state}
    if details:
        err["details"] = details
    return Reply(status, {"error": err})


def sent_json(request: Recorded) -> dict[str, Any]:
    return json.loads(request.body)
