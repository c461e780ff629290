"""OpenAI Chat Completions with tools, and any OpenAI-compatible server (`vllm`).

Tool messages cannot carry images in this API, so a tool turn becomes the `tool` messages (text,
one per call, in call order) followed by ONE user message holding the observation images, each
preceded by its label. `--backend vllm` is the same class pointed at a self-hosted server (vLLM,
SGLang, ...): base URL required, no OpenAI key sent, hermes `<tool_call>` text parsed when the
server returned no structured calls.
"""

from __future__ import annotations

import base64
import json
from contextvars import ContextVar
from typing import Any, ClassVar

from vrb_agent.judges.base import (
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
    Usage,
    VideoPart,
    choice_option,
    flag,
    missing_sdk,
    parse_tool_arguments,
    resolve_image,
    result_text,
    typed_option,
)
from vrb_agent.judges.budget import Fit, VisionRules, fit_to_context
from vrb_agent.judges.hermes import parse_hermes_tool_calls
from vrb_agent.judges.provider import ApiBackend, body_excerpt, sdk_error_code, video_unsupported
from vrb_agent.judges.retry import refusal_from_detail
from vrb_agent.judges.thinking import split_thinking, unfinished_message
from vrb_agent.tools.evidence import EvidenceImage, encode_jpeg

try:
    import openai
except ImportError as exc:  # the registry turns this into the message: what to install
    raise missing_sdk("openai", "openai", "vllm") from exc

# Reasoning models take no temperature; over Chat Completions they call functions only with
# reasoning_effort "none" (gpt-6 family), and any other effort spends output tokens on reasoning.
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5", "gpt-6")
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
_POLICY_CODES = {"content_policy_violation", "content_filter", "invalid_prompt"}
_FINISH: dict[str, StopReason] = {
    "stop": "end",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "refusal",
}
Payload = dict[str, Any]
JPEG_QUALITY = 90  # images re-encoded after a resize for the context budget
# The pixel cap of the request being built (vllm): a context variable, so concurrent calls keep theirs.
_IMAGE_CAP: ContextVar[int | None] = ContextVar("vrb_vllm_image_cap", default=None)


def top_p(request: ModelRequest) -> Payload:
    """`top_p` when the request sets one (unset: the server's default)."""
    return {} if request.top_p is None else {"top_p": request.top_p}


class OpenAIBackend(ApiBackend):
    """Chat Completions through the official `openai` SDK (its retries off: ours apply).

    Options: `detail` (auto|low|high image detail); for reasoning models (gpt-5/gpt-6/o-series,
    which get no temperature) `reasoning_effort` (default none: Chat Completions function calling
    needs it for the gpt-6 family) and `reasoning_tokens` (extra output budget when effort is not
    none); plus the common ones.
    """

    name = "openai"
    key_env = ("OPENAI_API_KEY",)
    base_url_env: ClassVar[str | None] = "OPENAI_BASE_URL"
    extra_options: ClassVar[tuple[str, ...]] = ("detail", "reasoning_effort", "reasoning_tokens")

    def __init__(
        self,
        model: str | None = None,
        *,
        detail: str = "auto",
        reasoning_effort: str = "none",
        reasoning_tokens: int = 8192,
        **common: Any,
    ) -> None:
        super().__init__(model, **common)
        self.detail = choice_option(self.name, "detail", detail, ("auto", "low", "high"), "auto")
        self.reasoning_effort = choice_option(self.name, "reasoning_effort", reasoning_effort, _EFFORTS, "none")
        self.reasoning_tokens = reasoning_tokens
        self._client = openai.AsyncOpenAI(
            api_key=self._api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout_s
        )

    @classmethod
    def parse_extra_options(cls, given: dict[str, Any]) -> dict[str, Any]:
        tokens = typed_option(cls.name, "reasoning_tokens", given.get("reasoning_tokens"), int, 8192)
        return {
            "detail": given.get("detail", "auto"),
            "reasoning_effort": given.get("reasoning_effort", "none"),
            "reasoning_tokens": tokens,
        }

    def capabilities(self) -> Capabilities:
        return Capabilities(images_in_tool_results=False, max_images_per_request=self.max_images, native_n=True)

    async def aclose(self) -> None:
        await self._client.close()

    async def send(self, payload: Payload) -> Any:
        return await self._client.chat.completions.create(**payload)

    # ---- request ----------------------------------------------------------------------------

    def _is_reasoning_model(self) -> bool:
        return self.model.rsplit("/", 1)[-1].startswith(_REASONING_PREFIXES)

    async def build_payload(self, request: ModelRequest) -> Payload:
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
            if request.top_p not in (None, 1.0):
                raise ConfigError(
                    f"{self.name}: {self.model} is a reasoning model, which accepts no top_p (nor temperature); "
                    "pass --top-p 1 (no nucleus cut) or use a model that samples"
                )
            headroom = 0 if self.reasoning_effort == "none" else self.reasoning_tokens
            return {
                "reasoning_effort": self.reasoning_effort,
                "max_completion_tokens": request.max_output_tokens + headroom,
            }
        tokens = request.max_output_tokens
        return {"temperature": request.temperature, "max_completion_tokens": tokens, **top_p(request)}

    @staticmethod
    def _tool_choice(choice: str) -> Any:
        if choice in ("auto", "none", "required"):
            return choice
        return {"type": "function", "function": {"name": choice}}

    def _image_block(self, request: ModelRequest, part: ImagePart) -> list[Payload]:
        image, label = resolve_image(request, part)
        url: Payload = {"url": self._image_url(image)}
        if self.detail != "auto":
            url["detail"] = self.detail
        blocks: list[Payload] = [{"type": "text", "text": label}] if label else []
        return [*blocks, {"type": "image_url", "image_url": url}]

    def _image_url(self, image: EvidenceImage) -> str:
        """The image as sent (a data URL of its JPEG)."""
        return image.data_url

    def _content(self, parts: list[Any], request: ModelRequest) -> list[Payload]:
        blocks: list[Payload] = []
        for part in parts:
            if isinstance(part, TextPart):
                if part.text:
                    blocks.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                blocks.extend(self._image_block(request, part))
            elif isinstance(part, VideoPart):
                raise video_unsupported(self.name)
        return blocks

    def _messages_of(self, message: Message, request: ModelRequest) -> list[Payload]:
        if message.role == "assistant":
            return [self._assistant(message)] if message.text or message.tool_calls else []
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

    def reply_problem(self, response: Any) -> str | None:
        if not isinstance(response, openai.types.chat.ChatCompletion):
            return f"not a Chat Completions reply ({body_excerpt(response)})"
        if not isinstance(response.choices, list) or not response.choices:
            return "no choices in the reply"
        if any(getattr(choice, "message", None) is None for choice in response.choices):
            return "a choice without a message"
        return None

    def parse_response(self, response: Any, request: ModelRequest, latency: float) -> ModelReply:
        """A ChatCompletion -> ModelReply; extra choices (n > 1) become `alternatives`."""
        model = getattr(response, "model", None) or self.model
        tokens = response.usage  # None: the reply reported no usage
        usage = self.usage(model, tokens and tokens.prompt_tokens, tokens and tokens.completion_tokens, request)
        first, *rest = (self._choice_reply(c, usage, latency, model) for c in response.choices)
        empty = Usage(calls=0)
        first.alternatives = [r.model_copy(update={"usage": empty}) for r in rest]
        return first

    # ---- errors -----------------------------------------------------------------------------

    def classify(self, exc: Exception) -> BackendError | None:
        return self.classify_stainless(openai, exc)

    def refusal_error(self, exc: Any, detail: str) -> BackendError | None:
        if exc.status_code == 400 and sdk_error_code(exc) in _POLICY_CODES:
            return refusal_from_detail(self.name, detail)
        return None


class VLLMBackend(OpenAIBackend):
    """Any OpenAI-compatible server (vLLM, SGLang, LM Studio...). Defaults suit Qwen2.5-VL/Qwen3-VL.

    The OpenAI key is never sent to it: a server started with `--api-key` takes `VLLM_API_KEY`.
    When the server has no tool parser enabled, hermes `<tool_call>` blocks in the text are parsed.
    Thinking checkpoints (`thinking`: auto = the model name says "thinking") served without
    `--reasoning-parser` are split at `</think>`; a reply without it is unfinished, never an answer.
    With `max_model_len` (the server's `--max-model-len`) requests are fitted to it first, images
    costed by Qwen-VL's resize rules (`patch_size` 14 for Qwen2.5-VL, else 16; `min_pixels` /
    `max_pixels`) and resized here to the pixel cap that fits.
    """

    name = "vllm"
    key_env = ("VLLM_API_KEY",)
    base_url_env: ClassVar[str | None] = None
    extra_options: ClassVar[tuple[str, ...]] = (
        *OpenAIBackend.extra_options,
        "thinking",
        "max_model_len",
        "min_pixels",
        "max_pixels",
        "patch_size",
    )

    default_max_images = 64

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        thinking: bool | None = None,
        max_model_len: int | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        patch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        if not base_url:
            raise ConfigError(
                "backend 'vllm' needs the server's URL: pass --base-url http://HOST:PORT/v1 "
                "(the address `vllm serve` prints, ending in /v1)"
            )
        super().__init__(model, base_url=base_url, **kwargs)
        self.thinking = "thinking" in self.model.lower() if thinking is None else thinking
        self.max_model_len = max_model_len
        self.pixel_options = bool(min_pixels or max_pixels)
        self.rules = _server_rules(self.model, patch_size, min_pixels, max_pixels)

    @classmethod
    def parse_extra_options(cls, given: dict[str, Any]) -> dict[str, Any]:
        numbers = {
            key: typed_option(cls.name, key, given.get(key), int, None)
            for key in ("max_model_len", "min_pixels", "max_pixels", "patch_size")
        }
        thinking = typed_option(cls.name, "thinking", given.get("thinking"), flag, None)
        return {**super().parse_extra_options(given), **numbers, "thinking": thinking}

    def resolve_key(self, explicit: str | None) -> str:
        try:
            return super().resolve_key(explicit)
        except ConfigError:
            return "EMPTY"  # vLLM without --api-key accepts any bearer token

    def _is_reasoning_model(self) -> bool:
        return False

    def _sampling(self, request: ModelRequest) -> Payload:
        # `max_tokens`: older OpenAI-compatible servers do not know `max_completion_tokens`.
        return {"temperature": request.temperature, "max_tokens": request.max_output_tokens, **top_p(request)}

    async def complete(self, request: ModelRequest) -> ModelReply:
        """The request fitted to `max_model_len` (when known), its images resized here to the pixel
        limits (vLLM refuses per-request processor options unless started with
        --trust-request-mm-kwargs, so the limits are applied before sending)."""
        fit = self.fit(request)
        limited = fit.notes or self.pixel_options
        token = _IMAGE_CAP.set(fit.max_pixels if limited else None)
        try:
            payload = await self.build_payload(fit.request)
        finally:
            _IMAGE_CAP.reset(token)
        reply = await self.exchange(payload, fit.request)
        return reply.model_copy(update={"notes": fit.notes})

    def fit(self, request: ModelRequest) -> Fit:
        """Fitted to the server's context when `max_model_len` is given (text estimated at 3 characters
        a token, a safe margin for Qwen's tokenizer), else unchanged: the server then checks it."""
        if self.max_model_len is None:
            return Fit(request, self.rules.max_pixels)
        where = "option max_model_len, the server's --max-model-len"
        return fit_to_context(request, self.rules, _estimated_text_tokens, self.max_model_len, where)

    def _image_url(self, image: EvidenceImage) -> str:
        """Resized to the size the server's processor gives it under the current pixel cap."""
        cap = _IMAGE_CAP.get()
        if cap is None:
            return image.data_url
        height, width = self.rules.resized(image.height, image.width, cap)
        if (height, width) == (image.height, image.width):
            return image.data_url
        import cv2  # noqa: PLC0415

        pixels = cv2.resize(image.to_array(), (width, height), interpolation=cv2.INTER_AREA)
        return "data:image/jpeg;base64," + base64.b64encode(encode_jpeg(pixels, JPEG_QUALITY)).decode("ascii")

    @staticmethod
    def _assistant(message: Message) -> Payload:
        out = OpenAIBackend._assistant(message)
        if message.reasoning:  # thinking templates re-render it between tool turns
            out["reasoning_content"] = message.reasoning
        return out

    def _choice_reply(self, choice: Any, usage: Usage, latency: float, model: str) -> ModelReply:
        """Reasoning apart from the answer (the server's reasoning parser, else `</think>`); calls
        structured by the server's tool parser, else hermes blocks parsed from the answer."""
        message = choice.message
        if message.refusal:
            return super()._choice_reply(choice, usage, latency, model)
        parsed = _server_reasoning(message)
        thought = split_thinking(message.content or "", self.thinking and parsed is None)
        _, structured = OpenAIBackend._tool_calls(self, message)
        finish = _FINISH.get(choice.finish_reason or "stop", "end")
        base: dict[str, Any] = {
            "usage": usage,
            "latency_s": latency,
            "model": model,
            "reasoning": parsed or thought.reasoning,
        }
        if not thought.finished or (parsed and not thought.answer and not structured):
            why = unfinished_message(finish == "length")
            return ModelReply(stop_reason="length" if finish == "length" else "end", unfinished=why, **base)
        text, calls = (thought.answer, structured) if structured else parse_hermes_tool_calls(thought.answer)
        stop = "tool_calls" if calls else finish
        return ModelReply(text=text, tool_calls=calls, stop_reason=stop, **base)

    def endpoint(self) -> str:
        return f"{super().endpoint()}; is the server running?"


def _server_reasoning(message: Any) -> str | None:
    """The reasoning a server's reasoning parser returned (`reasoning`, or the older
    `reasoning_content`), or None when it has no parser."""
    for name in ("reasoning", "reasoning_content"):
        value = getattr(message, name, None)
        if isinstance(value, str):
            return value
    return None


def _server_rules(model: str, patch_size: int | None, min_pixels: int | None, max_pixels: int | None) -> VisionRules:
    """Qwen-VL resize rules of the served model: Qwen2.5-VL's (patch 14) or Qwen3-VL's (patch 16)."""
    older = any(tag in model.lower() for tag in ("qwen2.5", "qwen2_5", "qwen2-vl"))
    defaults = (14, 3136, 12845056) if older else (16, 65536, 16777216)
    return VisionRules(
        patch_size=patch_size or defaults[0],
        min_pixels=min_pixels or defaults[1],
        max_pixels=max_pixels or defaults[2],
    )


def _estimated_text_tokens(request: ModelRequest) -> int:
    """Text tokens of a request without its tokenizer: ~3 characters a token plus each message's and
    image's template tokens; tools as the JSON the template writes."""
    characters = len(request.system) + sum(len(json.dumps(t.model_dump())) + 2 for t in request.tools)
    count = 0
    for message in request.messages:
        characters += len(message.text) + len(message.reasoning)
        characters += sum(len(json.dumps(c.arguments)) + len(c.name) + 30 for c in message.tool_calls)
        characters += sum(len(result_text(r)) + 40 for r in message.tool_results)
        count += 1
    return characters // 3 + 8 * count + 4 * request.image_count() + 300
