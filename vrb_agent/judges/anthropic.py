"""Anthropic Messages API with tools, through the official `anthropic` SDK.

Tool results carry their images inside the `tool_result` block, so observations stay next to the
call that produced them. The API takes at most 100 images per request: the capability tells the
graph's visual memory window to stay under it, and a request over it fails here, before sending.
Messages API (SDK 2.x) has no sampling temperature and no top_p: k samples use the model's default
sampling. A request's top_p is therefore not sent, and every reply to one says so in its notes (so
a protocol's top_p, e.g. vlrb's 0.2, is visibly not applied).
"""

from __future__ import annotations

from typing import Any

from vrb_agent.judges.base import (
    BackendError,
    Capabilities,
    ImagePart,
    Message,
    ModelReply,
    ModelRequest,
    StopReason,
    TextPart,
    ToolCall,
    VideoPart,
    missing_sdk,
    parse_tool_arguments,
    resolve_image,
)
from vrb_agent.judges.provider import ApiBackend, body_excerpt, video_unsupported

try:
    import anthropic
except ImportError as exc:  # the registry turns this into the message: what to install
    raise missing_sdk("anthropic", "anthropic") from exc

API_IMAGE_LIMIT = 100
_STOP: dict[str, StopReason] = {
    "end_turn": "end",
    "stop_sequence": "end",
    "pause_turn": "end",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "refusal",
}
Block = dict[str, Any]


class AnthropicBackend(ApiBackend):
    """Claude through the Messages API (SDK retries off: ours apply)."""

    name = "anthropic"
    key_env = ("ANTHROPIC_API_KEY",)
    base_url_env = "ANTHROPIC_BASE_URL"
    default_max_images = API_IMAGE_LIMIT

    def __init__(self, model: str | None = None, **common: Any) -> None:
        super().__init__(model, **common)
        self.max_images = min(self.max_images, API_IMAGE_LIMIT)
        self._client = anthropic.AsyncAnthropic(
            api_key=self._api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout_s
        )

    def capabilities(self) -> Capabilities:
        return Capabilities(images_in_tool_results=True, max_images_per_request=self.max_images)

    async def aclose(self) -> None:
        await self._client.close()

    async def send(self, payload: dict[str, Any]) -> Any:
        return await self._client.messages.create(**payload)

    # ---- request ----------------------------------------------------------------------------

    async def build_payload(self, request: ModelRequest) -> dict[str, Any]:
        """The `messages.create` arguments; consecutive same-role turns are merged (tool results
        and a following user note become one user message, tool_result blocks first)."""
        images = request.image_count()
        if images > self.max_images:
            raise BackendError(
                f"{self.name}: request has {images} images, over the limit of {self.max_images}; "
                "lower the judge's max_images (visual memory window)"
            )
        messages: list[dict[str, Any]] = []
        for message in request.messages:
            role, blocks = self._turn(message, request)
            if not blocks:
                continue
            if messages and messages[-1]["role"] == role:
                messages[-1]["content"].extend(blocks)
            else:
                messages.append({"role": role, "content": blocks})
        payload: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_output_tokens,
            "messages": messages,
        }
        if request.system:
            payload["system"] = request.system
        if request.tools:
            payload["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in request.tools
            ]
            payload["tool_choice"] = _tool_choice(request.tool_choice)
        return payload

    def _turn(self, message: Message, request: ModelRequest) -> tuple[str, list[Block]]:
        if message.role == "assistant":
            blocks = self._blocks(message.parts, request)
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in message.tool_calls
            ]
            return "assistant", blocks
        if message.role == "tool":
            return "user", [
                {
                    "type": "tool_result",
                    "tool_use_id": r.call_id,
                    "content": self._blocks(r.parts, request) or [{"type": "text", "text": "(no output)"}],
                    "is_error": r.is_error,
                }
                for r in message.tool_results
            ]
        return "user", self._blocks(message.parts, request)

    def _blocks(self, parts: list[Any], request: ModelRequest) -> list[Block]:
        blocks: list[Block] = []
        for part in parts:
            if isinstance(part, TextPart):
                if part.text.strip():  # the API rejects empty text blocks
                    blocks.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                image, label = resolve_image(request, part)
                if label:
                    blocks.append({"type": "text", "text": label})
                source = {"type": "base64", "media_type": "image/jpeg", "data": image.base64}
                blocks.append({"type": "image", "source": source})
            elif isinstance(part, VideoPart):
                raise video_unsupported(self.name)
        return blocks

    # ---- reply ------------------------------------------------------------------------------

    def reply_problem(self, response: Any) -> str | None:
        if not isinstance(response, anthropic.types.Message):
            return f"not a Messages API reply ({body_excerpt(response)})"
        content: object = response.content  # Stainless builds replies unvalidated: any shape may arrive
        if not isinstance(content, list):
            return "no content in the reply"
        return None

    def parse_response(self, response: Any, request: ModelRequest, latency: float) -> ModelReply:
        model = getattr(response, "model", None) or self.model
        tokens = response.usage  # None: the reply reported no usage
        usage = self.usage(model, tokens and tokens.input_tokens, tokens and tokens.output_tokens, request)
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in response.content:
            kind = getattr(block, "type", None)
            if kind == "text":
                texts.append(block.text or "")
            elif kind == "tool_use":
                arguments, error = parse_tool_arguments(block.input)
                calls.append(ToolCall(id=block.id, name=block.name, arguments=arguments, parse_error=error))
        stop = _STOP.get(response.stop_reason or "end_turn", "end")
        if calls and stop != "refusal":
            stop = "tool_calls"
        return ModelReply(
            text="\n".join(texts).strip(),
            tool_calls=calls,
            stop_reason=stop,
            usage=usage,
            latency_s=latency,
            model=model,
            notes=[TOP_P_NOT_SENT.format(top_p=request.top_p)] if request.top_p is not None else [],
        )

    def classify(self, exc: Exception) -> BackendError | None:
        return self.classify_stainless(anthropic, exc)


TOP_P_NOT_SENT = "anthropic: top_p={top_p} not applied (the Messages API of SDK 2.x takes no sampling parameters)"


def _tool_choice(choice: str) -> dict[str, str]:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    return {"type": "tool", "name": choice}
