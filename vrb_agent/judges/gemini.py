"""Google Gemini through the `google-genai` SDK (Gemini Developer API, v1beta).

Tools are function declarations with automatic function calling disabled: the judge graph runs
its own loop. Function responses answer the calls in order. Tool images go inside the function
response (`tool_images=parts`, multimodal function responses of Gemini 3) or right after the
responses in the same user turn (`tool_images=inline`, older models); `auto` picks by model.

With `video=native` the graph sends `VideoPart`s (overview and `reexamine_clip`) and they go out
as the clip itself with `VideoMetadata(start_offset, end_offset, fps)`: inline bytes when the
file is small, otherwise uploaded once through the File API.

Gemini 3 returns thought signatures on function calls and rejects a conversation that replays a
call without its signature, so the backend remembers them by call id. Call ids the backend made up
(Gemini sent none; prefix `call_`) are not sent back: Gemini pairs those responses by order.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import mimetypes
import re
import time
from pathlib import Path
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
    ToolResult,
    TransientError,
    VideoPart,
    choice_option,
    missing_sdk,
    new_call_id,
    parse_tool_arguments,
    resolve_image,
    result_text,
    typed_option,
)
from vrb_agent.judges.provider import ApiBackend
from vrb_agent.judges.retry import call_with_retries, duration_seconds, error_for_status, retry_after_seconds
from vrb_agent.lru import LRU

try:
    from google import genai
    from google.genai import errors, types
except ImportError as exc:  # the registry turns this into the message: what to install
    raise missing_sdk("google-genai", "gemini") from exc

API_IMAGE_LIMIT = 3000
# Google's documented placeholder for function calls the model did not produce in this session
# (a malformed call we report back, or a transcript from another backend).
SKIP_SIGNATURE = b"skip_thought_signature_validator"
_REFUSALS = {
    "SAFETY",
    "PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "RECITATION",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
}
_BAD_CALLS = {"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"}
_FINISH: dict[str, StopReason] = {"STOP": "end", "MAX_TOKENS": "length"}
_CALL_NAME = re.compile(r"(?:default_api\.)?([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_SIGNATURE_MEMORY = 20_000


class GeminiBackend(ApiBackend):
    """Gemini models (SDK retries off: ours apply).

    Options: `video` (frames|native), `inline_video_mb` (largest clip sent inline; bigger files
    go through the File API), `tool_images` (auto|parts|inline), `reasoning_tokens` (output budget
    added for thinking models, whose thoughts count against max_output_tokens).
    """

    name = "gemini"
    key_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    base_url_env = "GOOGLE_GEMINI_BASE_URL"
    default_max_images = API_IMAGE_LIMIT
    extra_options = ("video", "inline_video_mb", "tool_images", "reasoning_tokens")

    def __init__(
        self,
        model: str | None = None,
        *,
        video: str = "frames",
        inline_video_mb: float = 15.0,
        tool_images: str = "auto",
        reasoning_tokens: int = 8192,
        **common: Any,
    ) -> None:
        super().__init__(model, **common)
        self.video = choice_option(self.name, "video", video, ("frames", "native"), "frames")
        self.inline_video_bytes = int(inline_video_mb * 1024 * 1024)
        mode = choice_option(self.name, "tool_images", tool_images, ("auto", "parts", "inline"), "auto")
        self.tool_images = ("parts" if self._is_gemini3() else "inline") if mode == "auto" else mode
        self.reasoning_tokens = reasoning_tokens
        self._client = genai.Client(
            vertexai=False,
            api_key=self._api_key,
            http_options=types.HttpOptions(
                base_url=self.base_url,
                api_version="v1beta",
                timeout=int(self.timeout_s * 1000),
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )
        self._signatures: LRU[str, bytes] = LRU(_SIGNATURE_MEMORY)
        self._uploads: dict[tuple[str, int, int], str] = {}
        self._upload_locks: dict[tuple[str, int, int], asyncio.Lock] = {}
        self.file_poll_s = 1.0  # File API processing-state polling interval

    @classmethod
    def parse_extra_options(cls, given: dict[str, Any]) -> dict[str, Any]:
        return {
            "video": given.get("video", "frames"),
            "inline_video_mb": typed_option(cls.name, "inline_video_mb", given.get("inline_video_mb"), float, 15.0),
            "tool_images": given.get("tool_images", "auto"),
            "reasoning_tokens": typed_option(cls.name, "reasoning_tokens", given.get("reasoning_tokens"), int, 8192),
        }

    def capabilities(self) -> Capabilities:
        return Capabilities(
            images_in_tool_results=True, native_video=self.video == "native", max_images_per_request=self.max_images
        )

    async def aclose(self) -> None:
        await self._client.aio.aclose()

    def _is_gemini3(self) -> bool:
        return self.model.removeprefix("models/").startswith("gemini-3")

    def _is_thinking_model(self) -> bool:
        return self.model.removeprefix("models/").startswith(("gemini-2.5", "gemini-3"))

    async def send(self, payload: dict[str, Any]) -> Any:
        return await self._client.aio.models.generate_content(**payload)

    # ---- request ----------------------------------------------------------------------------

    async def build_payload(self, request: ModelRequest) -> dict[str, Any]:
        """`models.generate_content` arguments; consecutive same-role turns are merged."""
        contents: list[Any] = []
        for message in request.messages:
            role, parts = await self._turn(message, request)
            if not parts:
                continue
            if contents and contents[-1].role == role:
                contents[-1].parts.extend(parts)
            else:
                contents.append(types.Content(role=role, parts=parts))
        return {"model": self.model, "contents": contents, "config": self._config(request)}

    def _config(self, request: ModelRequest) -> Any:
        headroom = self.reasoning_tokens if self._is_thinking_model() else 0
        config: dict[str, Any] = {
            "system_instruction": request.system or None,
            "max_output_tokens": request.max_output_tokens + headroom,
            "seed": request.seed,
            "automatic_function_calling": types.AutomaticFunctionCallingConfig(disable=True),
        }
        if not self._is_gemini3():  # Gemini 3 is tuned for its default temperature; Google advises not to set it
            config["temperature"] = request.temperature
        if request.top_p is not None:
            config["top_p"] = request.top_p
        if request.tools:
            declarations = [
                types.FunctionDeclaration(name=t.name, description=t.description, parameters_json_schema=t.parameters)
                for t in request.tools
            ]
            config["tools"] = [types.Tool(function_declarations=declarations)]
            config["tool_config"] = types.ToolConfig(function_calling_config=self._calling_config(request.tool_choice))
        return types.GenerateContentConfig(**config)

    def _calling_config(self, choice: str) -> Any:
        modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
        if choice in modes:
            return types.FunctionCallingConfig(mode=modes[choice])
        return types.FunctionCallingConfig(mode="ANY", allowed_function_names=[choice])

    async def _turn(self, message: Message, request: ModelRequest) -> tuple[str, list[Any]]:
        if message.role == "assistant":
            parts = await self._parts(message.parts, request)
            parts += [self._call_part(call) for call in message.tool_calls]
            return "model", parts
        if message.role == "tool":
            return "user", await self._results(message.tool_results, request)
        return "user", await self._parts(message.parts, request)

    async def _parts(self, parts: list[Any], request: ModelRequest) -> list[Any]:
        out: list[Any] = []
        for part in parts:
            if isinstance(part, TextPart):
                if part.text:
                    out.append(types.Part(text=part.text))
            elif isinstance(part, ImagePart):
                image, label = resolve_image(request, part)
                if label:
                    out.append(types.Part(text=label))
                out.append(types.Part.from_bytes(data=image.jpeg, mime_type="image/jpeg"))
            elif isinstance(part, VideoPart):
                if part.label:
                    out.append(types.Part(text=part.label))
                out.append(await self._video_part(part, request))
        return out

    def _call_part(self, call: ToolCall) -> Any:
        if not call.name:  # a call Gemini could not parse: never replay it as a function call
            return types.Part(text="(my previous function call could not be parsed)")
        signature = self._signatures.get(call.id)
        if signature is None and self._is_gemini3():
            signature = SKIP_SIGNATURE
        function_call = types.FunctionCall(
            id=None if call.id.startswith("call_") else call.id, name=call.name, args=call.arguments
        )
        return types.Part(function_call=function_call, thought_signature=signature)

    async def _results(self, results: list[ToolResult], request: ModelRequest) -> list[Any]:
        """Function responses in call order, then (inline mode, or for video) their media."""
        responses: list[Any] = []
        after: list[Any] = []
        for result in results:
            if not result.name:  # answers an unparsed call, which was replayed as text
                after.append(types.Part(text=f"Function call error: {result_text(result)}"))
                continue
            images = [p for p in result.parts if isinstance(p, ImagePart)]
            media = [p for p in result.parts if not isinstance(p, TextPart)]
            labels = [resolve_image(request, p)[1] for p in images]
            body: dict[str, Any] = {"error" if result.is_error else "output": result_text(result) or "(no text)"}
            if labels:
                body["images"] = labels
            inline_parts: list[Any] = []
            if self.tool_images == "parts":
                for picture in images:
                    image, _ = resolve_image(request, picture)
                    inline_parts.append(types.FunctionResponsePart.from_bytes(data=image.jpeg, mime_type="image/jpeg"))
                media = [p for p in media if isinstance(p, VideoPart)]
            if media:
                after.append(types.Part(text=f"Media returned by {result.name}:"))
                after.extend(await self._parts(media, request))
            response = types.FunctionResponse(
                id=None if result.call_id.startswith("call_") else result.call_id,
                name=result.name,
                response=body,
                parts=inline_parts or None,
            )
            responses.append(types.Part(function_response=response))
        return responses + after

    async def _video_part(self, part: VideoPart, request: ModelRequest) -> Any:
        """The clip as inline bytes or a File API reference, with its time window.

        Inline only while every copy of the file in this request fits in `inline_video_mb`
        together (the overview and a re-examined clip are two copies): Gemini caps request size.
        """
        path = Path(part.media_path)
        if not path.is_file():
            raise BackendError(f"{self.name}: video file not found for native video: {path}")
        mime = mimetypes.guess_type(path.name)[0] or "video/mp4"
        metadata = types.VideoMetadata(
            start_offset=f"{max(0.0, part.start):.3f}s",
            end_offset=f"{max(part.start, part.end):.3f}s",
            fps=min(24.0, max(0.01, part.fps)),
        )
        if path.stat().st_size * _video_copies(request, part.media_path) <= self.inline_video_bytes:
            blob = types.Blob(data=path.read_bytes(), mime_type=mime)
            return types.Part(inline_data=blob, video_metadata=metadata)
        uri = await self._uploaded(path, mime)
        return types.Part(file_data=types.FileData(file_uri=uri, mime_type=mime), video_metadata=metadata)

    async def _uploaded(self, path: Path, mime: str) -> str:
        """Upload `path` once per run through the File API and wait until it is ACTIVE."""
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        async with self._upload_locks.setdefault(key, asyncio.Lock()):  # concurrent judgments: one upload
            if key not in self._uploads:
                self._uploads[key] = await self._upload(path, mime)
        return self._uploads[key]

    async def _upload(self, path: Path, mime: str) -> str:
        files = self._client.aio.files
        config = types.UploadFileConfig(mime_type=mime)
        uploaded = await call_with_retries(
            lambda: files.upload(file=str(path), config=config),
            self.classify_any,
            self.retry,
            f"{self.name} upload",
            self.timeout_s,
        )
        deadline = time.monotonic() + self.timeout_s
        while _state(uploaded) == "PROCESSING":
            if time.monotonic() > deadline:
                raise TransientError(
                    f"{self.name}: uploaded video {path.name} still processing after {self.timeout_s:g}s"
                )
            await asyncio.sleep(self.file_poll_s)
            if not uploaded.name:  # the SDK types it optional; a file being processed has one
                raise BackendError(f"{self.name}: the File API gave no name for the uploaded video {path.name}")
            poll = functools.partial(files.get, name=uploaded.name)
            uploaded = await call_with_retries(poll, self.classify_any, self.retry, self.name, self.timeout_s)
        if _state(uploaded) != "ACTIVE" or not uploaded.uri:
            raise BackendError(f"{self.name}: File API could not process {path.name} (state {_state(uploaded)})")
        return str(uploaded.uri)

    # ---- reply ------------------------------------------------------------------------------

    def reply_problem(self, response: Any) -> str | None:
        if not isinstance(response, types.GenerateContentResponse):
            return f"not a GenerateContentResponse ({type(response).__name__})"
        blocked = response.prompt_feedback is not None and response.prompt_feedback.block_reason
        if not response.candidates and not blocked:
            return "no candidates and no block reason in the reply"
        return None

    def parse_response(self, response: Any, request: ModelRequest, latency: float) -> ModelReply:
        model = getattr(response, "model_version", None) or self.model
        meta = response.usage_metadata
        prompt = meta.prompt_token_count if meta else None  # None: the reply reported no usage
        output = ((meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)) if meta else None
        usage = self.usage(model, prompt, output if prompt is not None else None, request)
        reply = ModelReply(usage=usage, latency_s=latency, model=model)
        if not response.candidates:
            feedback = response.prompt_feedback
            reason = _enum_name(feedback.block_reason) if feedback and feedback.block_reason else ""
            if reason:
                reply.stop_reason = "refusal"
                reply.text = f"Gemini blocked the prompt ({reason})."
            return reply
        candidate = response.candidates[0]
        finish = _enum_name(candidate.finish_reason) or "STOP"
        texts: list[str] = []
        for part in (candidate.content.parts if candidate.content else None) or []:
            if part.thought:
                continue
            if part.text:
                texts.append(part.text)
            if part.function_call:
                reply.tool_calls.append(self._tool_call(part))
        reply.text = "".join(texts).strip()
        if finish in _BAD_CALLS and not reply.tool_calls:
            reply.tool_calls.append(_unparsed_call(finish, candidate.finish_message or ""))
        if reply.tool_calls:
            reply.stop_reason = "tool_calls"
        elif finish in _REFUSALS:
            reply.stop_reason = "refusal"
            reply.text = reply.text or f"Gemini stopped the answer ({finish})."
        else:
            reply.stop_reason = _FINISH.get(finish, "end")
        return reply

    def _tool_call(self, part: Any) -> ToolCall:
        call = part.function_call
        call_id = call.id or new_call_id()
        if part.thought_signature:
            self._signatures.put(call_id, part.thought_signature)
        arguments, error = parse_tool_arguments(call.args)
        return ToolCall(id=call_id, name=call.name or "", arguments=arguments, parse_error=error)

    # ---- errors -----------------------------------------------------------------------------

    def classify(self, exc: Exception) -> BackendError | None:
        if isinstance(exc, errors.APIError):
            detail = self.redacted(str(exc.message or exc.details or exc))
            status = exc.code
            if status == 400 and "API_KEY_INVALID" in str(exc.details):  # Gemini answers a bad key with 400
                status = 401
            headers = getattr(exc.response, "headers", None)
            return error_for_status(
                self.name,
                status,
                detail,
                retry_after=retry_after_seconds(headers) or _retry_delay(exc.details),
                key_env=" or ".join(self.key_env),
                model=self.model,
            )
        if _is_transport_error(exc):
            kind = "timeout" if "Timeout" in type(exc).__name__ else "connection failed or cut off mid-reply"
            return TransientError(f"{self.name}: {kind} ({self.endpoint()})")
        if isinstance(exc, TypeError | AttributeError | LookupError):  # the SDK walking a body of another shape
            return self.unusable_reply(f"the body does not have the API's shape ({type(exc).__name__}: {exc})")
        return None


def _video_copies(request: ModelRequest, media_path: str) -> int:
    """How many VideoParts of `media_path` the request holds (tool results included)."""
    count = 0
    for message in request.messages:
        parts = [*message.parts, *(p for r in message.tool_results for p in r.parts)]
        count += sum(isinstance(p, VideoPart) and p.media_path == media_path for p in parts)
    return count


def _state(file: Any) -> str:
    return _enum_name(file.state) or "ACTIVE"


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def _unparsed_call(finish: str, message: str) -> ToolCall:
    """A function call Gemini could not parse, reported back to the model as a tool error.

    The name comes from `finish_message` when the SDK passes it on (google-genai 3.x drops it for
    the Gemini API); without a name the call is replayed as text, not as a function call.
    """
    match = _CALL_NAME.search(message)
    reason = "it was not valid" if finish == "MALFORMED_FUNCTION_CALL" else "that tool is not available"
    return ToolCall(
        id=new_call_id(),
        name=match.group(1) if match else "",
        parse_error=f"your function call could not be used ({reason}): {message[:300]}",
    )


def _retry_delay(details: Any) -> float | None:
    """`retryDelay` from a google.rpc.RetryInfo in a 429 body."""
    error = details.get("error", details) if isinstance(details, dict) else {}
    for item in error.get("details", []) if isinstance(error, dict) else []:
        if isinstance(item, dict) and "retryDelay" in item:
            return duration_seconds(item["retryDelay"])
    return None


def _is_transport_error(exc: Exception) -> bool:
    """Connection and timeout errors of httpx / httpx2 (whichever the SDK uses)."""
    for module in ("httpx2", "httpx"):
        try:
            lib = importlib.import_module(module)
        except ImportError:
            continue
        if isinstance(exc, lib.TransportError):
            return True
    return False
