"""A backend that replays scripted replies: the test model for the graph, examples and CI."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from vrb_agent.errors import VrbError
from vrb_agent.judges.base import Backend, Capabilities, ConfigError, ModelReply, ModelRequest

Policy = Callable[[ModelRequest], ModelReply]
SCRIPT_ENV = "VRB_SCRIPT"


class ScriptExhaustedError(VrbError):
    """The script ran out of replies: the graph asked for more calls than the test planned."""


class ScriptedBackend(Backend):
    """Answers each request with the next scripted reply, or with `policy(request)`.

    Every request is recorded in `requests` so tests can check what the model was sent.
    """

    name = "scripted"

    def __init__(
        self,
        replies: Sequence[ModelReply] | Policy | None = None,
        model: str = "scripted",
        capabilities: Capabilities | None = None,
        **_: Any,
    ) -> None:
        super().__init__(model)
        self._policy: Policy | None = replies if callable(replies) else None
        self._replies = list(replies) if replies is not None and not callable(replies) else []
        self._caps = capabilities or Capabilities()
        self.requests: list[ModelRequest] = []

    @classmethod
    def from_options(cls, script: str | None = None, model: str = "scripted", **options: Any) -> ScriptedBackend:
        """Build from command-line options: a test and example aid, so `vrb-agent judge --backend
        scripted` can replay a conversation. `script` (or the VRB_SCRIPT env var) is a JSON file
        holding a list of ModelReply objects, e.g. `[{"tool_calls": [{"id": "c1", "name":
        "submit_verdict", "arguments": {...}}]}]`. `native_video` and `max_images_per_request`
        set the capabilities the graph sees."""
        caps = {k: options.pop(k) for k in ("native_video", "max_images_per_request") if k in options}
        options.pop("base_url", None)
        if options:
            raise ConfigError(f"scripted backend: unknown option(s) {', '.join(sorted(options))}; known: script, model")
        path = script or os.environ.get(SCRIPT_ENV)
        if not path:
            hint = f"--backend-option script=FILE.json or {SCRIPT_ENV}=FILE.json"
            raise ConfigError(f"scripted backend needs a script of replies: {hint}")
        return cls(load_script(Path(path)), model=model, capabilities=Capabilities.model_validate(caps))

    def capabilities(self) -> Capabilities:
        return self._caps

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        if self._policy is not None:
            reply = self._policy(request)
        elif self._replies:
            reply = self._replies.pop(0)
        else:
            raise ScriptExhaustedError(f"scripted backend has no reply left for call {len(self.requests)}")
        return reply.model_copy(update={"model": reply.model or self.model})


def load_script(path: Path) -> list[ModelReply]:
    """The replies of a JSON script file; problems name the file and what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"scripted backend: cannot read script {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"scripted backend: {path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        return TypeAdapter(list[ModelReply]).validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"scripted backend: {path}: reply {where}: {first['msg']}") from None
