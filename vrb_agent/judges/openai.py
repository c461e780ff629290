"""OpenAI Chat Completions with tools, and any OpenAI-compatible server (`vllm`).

Tool messages cannot carry images in this API, so a tool turn becomes the `tool` messages (text,
one per call, in call order) followed by ONE user message holding the observation images, each
preceded by its label. `--backend vllm` is the same class pointed at a self-hosted server (vLLM,
SGLang, ...): base URL required, no OpenAI key sent, hermes `<tool_call>` text parsed when the
server returned no structured calls.
"""

from __future__ import annotations

import json
import time
from typing import Any

from vrb_agent.judges.base import (
    Backend,
    BackendError,
    Capabilities,
    ConfigError,
    ImagePart,
    Message,
    ModelReply,
    ModelRequest,
    StopReason,
    TextPart,
    ToolCall,
    TransientError,
    Usage,
    VideoPart,
    api_key_from_env,
    check_options,
    choice_option,
    import_sdk,
    parse_tool_arguments,
    resolve_image,
    result_text,
    typed_option,
)
from vrb_agent.judges.hermes import parse_hermes_tool_calls
from vrb_agent.judges.pricing import DEFAULT_MODELS, estimate_cost
from vrb_agent.judges.retry import (
    RetryPolicy,
    call_with_retries,
    error_for_status,
    redact,
    refusal_from_detail,
    retry_after_seconds,
)

# Reasoning models accept only the default temperature and spend output tokens on reasoning.
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_POLICY_CODES = {"content_policy_violation", "content_filter", "invalid_prompt"}
_FINISH: dict[str, StopReason] = {
    "stop": "end",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "refusal",
}
Payload = dict[str, Any]


class OpenAIBackend(Backend):
    """Chat Completions through the official `openai` SDK (its retries off: ours apply)."""

    name = "openai"
    key_env: tuple[str, ...] = ("OPENAI_API_KEY",)
    options = (
        "model",
        "base_url",
        "api_key",
        "detail",
        "max_images",
        "timeout_s",
        "max_retries",
        "retry_base_s",
        "reasoning_tokens",
    )

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        detail: str = "auto",
        max_images: int = 100,
        timeout_s: float = 300.0,
        retry: RetryPolicy | None = None,
        reasoning_tokens: int = 8192,
    ) -> None:
        super().__init__(model or DEFAULT_MODELS[self.name])
        sdk = import_sdk("openai", "openai", self.name)
        self._api_key = self._resolve_key(api_key)
        self.base_url = base_url
        self.detail = choice_option(self.name, "detail", detail, ("auto", "low", "high"), "auto")
        self.max_images = max_images
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.reasoning_tokens = reasoning_tokens
        self._sdk = sdk
        self._client = sdk.AsyncOpenAI(api_key=self._api_key, base_url=base_url, max_retries=0, timeout=timeout_s)

    def _resolve_key(self, explicit: str | None) -> str:
        return api_key_from_env(explicit, self.key_env, self.name)

    @classmethod
    def from_options(cls, **options: Any) -> OpenAIBackend:
        """Build from `get_backend` / `--backend-option KEY=VALUE` strings."""
        given = check_options(cls.name, options, cls.options)
        return cls(
            model=given.get("model"),
            api_key=given.get("api_key"),
            base_url=given.get("base_url"),
            detail=given.get("detail", "auto"),
            max_images=typed_option(cls.name, "max_images", given.get("max_images"), int, cls._default_max_images()),
            timeout_s=typed_option(cls.name, "timeout_s", given.get("timeout_s"), float, 300.0),
            retry=RetryPolicy.from_options(given.get("max_retries"), given.get("retry_base_s")),
            reasoning_tokens=typed_option(cls.name, "reasoning_tokens", given.get("reasoning_tokens"), int, 8192),
        )

    @staticmethod
    def _default_max_images() -> int:
        return 100

    def capabilities(self) -> Capabilities:
        return Capabilities(
            images_in_tool_results=False, native_video=False, max_images_per_request=self.max_images, native_n=True
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._client.close()

    # ---- request ----------------------------------------------------------------------------

    def _is_reasoning_model(self) -> bool:
        return self.model.rsplit("/", 1)[-1].startswith(_REASONING_PREFIXES)

    def build_payload(self, request: ModelRequest) -> Payload:
        """The `chat.completions.create` arguments for `request` (images resolved to data URLs)."""
        messages: list[Payload] = [{"role": "system", "content": request.system}] if request.system else []
        for message in request.messages:
            messages.extend(self._messages_of(message, request))
        payload: Payload = {"model": self.model, "messages": messages, "n": request.n}
        payload.update(self._sampling(request))
        if request.seed is not None:
            payload["seed"] = request.seed
        if request.tools:
            payload["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
            payload["tool_choice"] = self._tool_choice(request.tool_choice)
        return payload

    def _sampling(self, request: ModelRequest) -> Payload:
        if self._is_reasoning_model():
            return {"max_completion_tokens": request.max_output_tokens + self.reasoning_tokens}
        return {"temperature": request.temperature, "max_completion_tokens": request.max_output_tokens}

    @staticmethod
    def _tool_choice(choice: str) -> Any:
        if choice in ("auto", "none", "required"):
            return choice
        return {"type": "function", "function": {"name": choice}}

    def _image_block(self, request: ModelRequest, part: ImagePart) -> list[Payload]:
        image, label = resolve_image(request, part)
        url: Payload = {"url": image.data_url}
        if self.detail != "auto":
            url["detail"] = self.detail
        blocks: list[Payload] = [{"type": "text", "text": label}] if label else []
        return [*blocks, {"type": "image_url", "image_url": url}]

    def _content(self, parts: list[Any], request: ModelRequest) -> list[Payload]:
        blocks: list[Payload] = []
        for part in parts:
            if isinstance(part, TextPart):
                if part.text:
                    blocks.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                blocks.extend(self._image_block(request, part))
            elif isinstance(part, VideoPart):
                raise ConfigError(
                    f"backend {self.name!r} cannot take video clips; native video needs "
                    "--backend gemini --backend-option video=native"
                )
        return blocks

    def _messages_of(self, message: Message, request: ModelRequest) -> list[Payload]:
        if message.role == "assistant":
            return [self._assistant(message)]
        if message.role == "tool":
            return self._tool_turn(message, request)
        return [{"role": message.role, "content": self._content(message.parts, request)}]

    @staticmethod
    def _assistant(message: Message) -> Payload:
        out: Payload = {"role": "assistant", "content": message.text or None}
        if message.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in message.tool_calls
            ]
        return out

    def _tool_turn(self, message: Message, request: ModelRequest) -> list[Payload]:
        """One `tool` message per result (text only), then one user message with all their images."""
        out: list[Payload] = []
        images: list[Payload] = []
        for result in message.tool_results:
            pictures = [p for p in result.parts if isinstance(p, ImagePart)]
            text = result_text(result) or ("(error)" if result.is_error else "(no text)")
            if pictures:
                text += f"\n[{len(pictures)} image(s) from this call follow in the next user message]"
                images.append({"type": "text", "text": f"Images returned by {result.name} (call {result.call_id}):"})
                for picture in pictures:
                    images.extend(self._image_block(request, picture))
            out.append({"role": "tool", "tool_call_id": result.call_id, "content": text})
        if images:
            out.append({"role": "user", "content": images})
        return out

    # ---- reply ------------------------------------------------------------------------------

    def _tool_calls(self, message: Any) -> tuple[str, list[ToolCall]]:
        text = message.content or ""
        calls: list[ToolCall] = []
        for call in message.tool_calls or []:
            function = getattr(call, "function", None)
            if function is None:  # a custom (non-function) tool call: not one of ours
                continue
            arguments, error = parse_tool_arguments(function.arguments)
            calls.append(ToolCall(id=call.id, name=function.name, arguments=arguments, parse_error=error))
        return text, calls

    def _choice_reply(self, choice: Any, usage: Usage, latency: float, model: str) -> ModelReply:
        message = choice.message
        if message.refusal:
            return ModelReply(text=message.refusal, stop_reason="refusal", usage=usage, latency_s=latency, model=model)
        text, calls = self._tool_calls(message)
        stop = "tool_calls" if calls else _FINISH.get(choice.finish_reason or "stop", "end")
        return ModelReply(text=text, tool_calls=calls, stop_reason=stop, usage=usage, latency_s=latency, model=model)

    def parse_response(self, response: Any, request: ModelRequest, latency: float) -> ModelReply:
        """A ChatCompletion -> ModelReply; extra choices (n > 1) become `alternatives`."""
        model = getattr(response, "model", None) or self.model
        tokens = response.usage
        usage = Usage(
            input_tokens=tokens.prompt_tokens if tokens else 0,
            output_tokens=tokens.completion_tokens if tokens else 0,
            images=request.image_count(),
            calls=1,
        )
        usage.cost_usd = estimate_cost(model, usage.input_tokens, usage.output_tokens)
        if not response.choices:
            return ModelReply(usage=usage, latency_s=latency, model=model)
        first, *rest = (self._choice_reply(c, usage, latency, model) for c in response.choices)
        empty = Usage(calls=0)
        first.alternatives = [r.model_copy(update={"usage": empty}) for r in rest]
        return first

    # ---- call -------------------------------------------------------------------------------

    def classify(self, exc: Exception) -> BackendError | None:
        """SDK exception -> typed error (None for anything that is not a provider failure)."""
        sdk = self._sdk
        if isinstance(exc, sdk.APIStatusError):
            detail = redact(_error_message(exc), [self._api_key])
            if exc.status_code == 400 and _is_policy_error(exc):
                return refusal_from_detail(self.name, detail)
            return error_for_status(
                self.name,
                exc.status_code,
                detail,
                retry_after=retry_after_seconds(exc.response.headers),
                key_env=" or ".join(self.key_env),
                model=self.model,
            )
        if isinstance(exc, sdk.APITimeoutError):
            return TransientError(f"{self.name}: no answer within {self.timeout_s:g}s (timeout)")
        if isinstance(exc, sdk.APIConnectionError):
            return TransientError(f"{self.name}: connection failed ({self._endpoint()})")
        if isinstance(exc, sdk.APIError):
            return BackendError(f"{self.name}: unusable response: {redact(str(exc), [self._api_key])[:300]}")
        return None

    def _endpoint(self) -> str:
        return self.base_url or "default OpenAI endpoint"

    async def complete(self, request: ModelRequest) -> ModelReply:
        payload = self.build_payload(request)
        started = time.perf_counter()
        response = await call_with_retries(
            lambda: self._client.chat.completions.create(**payload), self.classify, self.retry, self.name
        )
        return self.parse_response(response, request, time.perf_counter() - started)


def _error_message(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)
    return str(getattr(exc, "message", "") or exc)


def _is_policy_error(exc: Any) -> bool:
    body = exc.body if isinstance(exc.body, dict) else {}
    code = body.get("code") or (body.get("error") or {}).get("code")
    return code in _POLICY_CODES


class VLLMBackend(OpenAIBackend):
    """Any OpenAI-compatible server (vLLM, SGLang, LM Studio...). Defaults suit Qwen2.5-VL/Qwen3-VL.

    The OpenAI key is never sent to it: a server started with `--api-key` takes `VLLM_API_KEY`.
    When the server has no tool parser enabled, hermes `<tool_call>` blocks in the text are parsed.
    """

    name = "vllm"
    key_env = ("VLLM_API_KEY",)

    def __init__(self, model: str | None = None, *, base_url: str | None = None, **kwargs: Any) -> None:
        if not base_url:
            raise ConfigError(
                "backend 'vllm' needs the server's URL: pass --base-url http://HOST:PORT/v1 "
                "(the address `vllm serve` prints, ending in /v1)"
            )
        super().__init__(model, base_url=base_url, **kwargs)

    def _resolve_key(self, explicit: str | None) -> str:
        try:
            return super()._resolve_key(explicit)
        except ConfigError:
            return "EMPTY"  # vLLM without --api-key accepts any bearer token

    @staticmethod
    def _default_max_images() -> int:
        return 64

    def _is_reasoning_model(self) -> bool:
        return False

    def _sampling(self, request: ModelRequest) -> Payload:
        # `max_tokens`: older OpenAI-compatible servers do not know `max_completion_tokens`.
        return {"temperature": request.temperature, "max_tokens": request.max_output_tokens}

    def _tool_calls(self, message: Any) -> tuple[str, list[ToolCall]]:
        text, calls = super()._tool_calls(message)
        if calls:
            return text, calls
        return parse_hermes_tool_calls(text)

    def _endpoint(self) -> str:
        return f"{self.base_url}; is the server running?"
