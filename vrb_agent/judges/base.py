"""The neutral conversation model and the one interface every model backend implements.

Providers translate these types to their wire format inside their own file; nothing outside
`vrb_agent/judges/<provider>.py` knows a provider's format. Images travel as evidence ids and are
resolved to encoded bytes only while a backend builds its request (DESIGN.md §1, §3).
"""

from __future__ import annotations

import abc
import asyncio
import json
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from vrb_agent.errors import VrbError

if TYPE_CHECKING:
    from vrb_agent.tools.evidence import EvidenceImage, EvidenceStore

T = TypeVar("T")

Role = Literal["system", "user", "assistant", "tool"]
StopReason = Literal["end", "tool_calls", "length", "refusal"]


class TextPart(BaseModel):
    """Plain text inside a message."""

    type: Literal["text"] = "text"
    text: str


class ImagePart(BaseModel):
    """An image held in the evidence store, referenced by its content-addressed id."""

    type: Literal["image"] = "image"
    evidence_id: str
    label: str = ""
    unlabelled: bool = Field(default=False, description="sent without any label (a protocol's official layout)")


class VideoPart(BaseModel):
    """A clip of a video file, sent natively by backends that accept video (Gemini)."""

    type: Literal["video"] = "video"
    media_path: str
    start: float
    end: float
    fps: float
    label: str = ""


Part = Annotated[TextPart | ImagePart | VideoPart, Field(discriminator="type")]


class ToolCall(BaseModel):
    """A tool call requested by the model.

    `parse_error` is set when the provider returned arguments that are not valid JSON; the graph
    answers such a call with a corrective tool error instead of running it.
    """

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    parse_error: str | None = None


def new_call_id() -> str:
    """A fresh tool-call id, for providers (or text formats) that do not assign one."""
    return f"call_{uuid.uuid4().hex[:16]}"


def parse_tool_arguments(raw: object) -> tuple[dict[str, Any], str | None]:
    """Decode a provider's tool-call arguments into a dict, or say why they are unusable.

    Returns `(arguments, None)` on success and `({}, reason)` when the text is not a JSON object,
    so the caller can build `ToolCall(parse_error=reason)` instead of crashing the judgment.
    """
    if raw is None or raw == "":
        return {}, None
    if isinstance(raw, dict):
        return raw, None
    if not isinstance(raw, str):
        return {}, f"arguments must be a JSON object, got {type(raw).__name__}: {str(raw)[:200]!r}"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return {}, f"arguments are not valid JSON ({exc.msg} at char {exc.pos}): {raw[:200]!r}"
    if not isinstance(value, dict):
        return {}, f"arguments must be a JSON object, got {type(value).__name__}: {str(raw)[:200]!r}"
    return value, None


class ToolResult(BaseModel):
    """The answer to one tool call: text and/or images, or an error message."""

    call_id: str
    name: str
    parts: list[Part] = Field(default_factory=list)
    is_error: bool = False


class Message(BaseModel):
    """One turn of the conversation.

    Assistant messages may carry `tool_calls`; a `tool` message carries the `tool_results` that
    answer every call of the assistant message before it, in the same order.
    """

    role: Role
    parts: list[Part] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_results: list[ToolResult] = Field(default_factory=list)
    reasoning: str = Field(
        default="", description="a thinking model's reasoning (assistant turns), resent as its template expects"
    )

    @property
    def text(self) -> str:
        """The concatenated text parts."""
        return "\n".join(p.text for p in self.parts if isinstance(p, TextPart))


class ToolSpec(BaseModel):
    """A tool as shown to the model: name, description and a JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


ToolChoice = Literal["auto", "none", "required"] | str


class ModelRequest(BaseModel):
    """Everything a backend needs for one model call.

    `evidence` resolves `ImagePart` ids to encoded images; it is excluded from serialisation so a
    dumped request (for caches and traces) holds ids, never pixels.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    system: str = ""
    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    temperature: float = 0.0
    top_p: float | None = Field(default=None, description="nucleus sampling; None leaves the provider's default")
    max_output_tokens: int = 2048
    n: int = 1
    seed: int | None = None
    evidence: Any = Field(default=None, exclude=True)

    def evidence_store(self) -> EvidenceStore:
        """The store that resolves image ids; a request with images but no store is a bug."""
        if self.evidence is None:
            raise VrbError("ModelRequest has ImageParts but no evidence store to resolve them")
        return self.evidence

    def image_count(self) -> int:
        """Number of images in the conversation (counting those inside tool results)."""
        count = 0
        for message in self.messages:
            parts = list(message.parts)
            for result in message.tool_results:
                parts.extend(result.parts)
            count += sum(isinstance(p, ImagePart) for p in parts)
        return count


class Usage(BaseModel):
    """Tokens, images and estimated cost of one or more model calls."""

    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0
    cost_usd: float | None = None
    calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        cost = None
        if self.cost_usd is not None or other.cost_usd is not None:
            cost = (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            images=self.images + other.images,
            cost_usd=cost,
            calls=self.calls + other.calls,
        )


class ModelReply(BaseModel):
    """One model answer. With `n > 1`, extra samples are in `alternatives` (each a full reply)."""

    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    stop_reason: StopReason = "end"
    latency_s: float = 0.0
    model: str = ""
    alternatives: list[ModelReply] = Field(default_factory=list)
    reasoning: str = Field(default="", description="a thinking model's reasoning, kept apart from the answer")
    unfinished: str | None = Field(
        default=None,
        description="why the reply holds no answer at all (e.g. cut off inside its reasoning): the judge "
        "records the sample invalid with this message and never reads a verdict or a tool call from it",
    )
    notes: list[str] = Field(
        default_factory=list, description="what the backend changed to fit the request (e.g. into the context)"
    )


class Capabilities(BaseModel):
    """What a backend can accept, so the graph can adapt requests to it."""

    images_in_tool_results: bool = True
    native_video: bool = False
    max_images_per_request: int = 100
    native_n: bool = False


# ---- typed errors -------------------------------------------------------------------------------


class BackendError(VrbError):
    """Base class for errors raised by model backends."""


class ConfigError(BackendError):
    """Missing key, SDK or model: the user must change configuration (CLI exit 3)."""


class AuthError(BackendError):
    """The provider rejected the credentials (401/403). Never retried."""


class RateLimitError(BackendError):
    """429: retried with backoff, honouring `retry_after` seconds when the provider sends it."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(BackendError):
    """5xx, timeouts, connection resets: retried with bounded backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RefusalError(BackendError):
    """The provider refused or blocked the request for safety reasons (status `refused`)."""


# ---- the interface ------------------------------------------------------------------------------


class Backend(abc.ABC):
    """A model behind the one interface the judge graph talks to."""

    name: str = "backend"

    def __init__(self, model: str) -> None:
        self.model = model

    def capabilities(self) -> Capabilities:
        """Defaults suit an API that takes images in tool results; override where it differs."""
        return Capabilities()

    @abc.abstractmethod
    async def complete(self, request: ModelRequest) -> ModelReply:
        """Run one model call; raise the typed errors above on failure."""

    async def complete_n(self, request: ModelRequest) -> list[ModelReply]:
        """`request.n` independent samples: one call where the backend supports it, else n calls."""
        if request.n <= 1:
            return [await self.complete(request)]
        if self.capabilities().native_n:
            reply = await self.complete(request)
            replies = [reply.model_copy(update={"alternatives": []}), *reply.alternatives]
            if len(replies) >= request.n:
                return replies[: request.n]
        single = request.model_copy(update={"n": 1})
        return list(await asyncio.gather(*(self.complete(single) for _ in range(request.n))))

    async def aclose(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release clients and connections; a no-op by default."""

    def describe(self) -> dict[str, Any]:
        """Identity for results and run manifests (never includes secrets)."""
        return {"backend": self.name, "model": self.model}


# ---- helpers shared by the provider backends ----------------------------------------------------


def missing_sdk(package: str, *backends: str) -> ConfigError:
    """The error a provider module raises at import when its SDK is not installed: it names the
    package to install. The registry imports a provider module only when its backend is chosen."""
    names = " and ".join(repr(name) for name in backends)
    verb = "needs" if len(backends) == 1 else "need"
    return ConfigError(f"backend {names} {verb} the {package} package: pip install '{package}'")


def api_key_from_env(explicit: str | None, env_vars: Sequence[str], backend: str) -> str:
    """The API key passed explicitly or found in the first set variable of `env_vars`.

    Raised at backend construction, before any media is decoded, naming the variable to set.
    """
    if explicit:
        return explicit
    for name in env_vars:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    raise ConfigError(f"backend {backend!r} needs an API key: set {' or '.join(env_vars)}")


def check_options(backend: str, options: Mapping[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """Options with None values dropped; an unknown name (a typo) is a configuration error."""
    given = {k: v for k, v in options.items() if v is not None}
    allowed = set(known)
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ConfigError(
            f"backend {backend!r} has no option {', '.join(unknown)}; its options are: {', '.join(sorted(allowed))}"
        )
    return given


def typed_option(backend: str, name: str, value: Any, convert: Callable[[Any], T], default: T) -> T:
    """Convert a CLI string option (`max_images=64`) or return the default when it is absent."""
    if value is None:
        return default
    try:
        return convert(value)
    except (TypeError, ValueError):
        kind = getattr(convert, "__name__", "value")
        raise ConfigError(f"backend {backend!r}: option {name}={value!r} is not a valid {kind}") from None


def flag(value: Any) -> bool:
    """A boolean option: JSON true/false from the CLI, or a real bool from Python."""
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes"):
        return True
    if str(value).lower() in ("false", "0", "no"):
        return False
    raise ValueError(value)


def choice_option(backend: str, name: str, value: Any, choices: Sequence[str], default: str) -> str:
    """A string option restricted to `choices`."""
    if value is None:
        return default
    if value not in choices:
        raise ConfigError(f"backend {backend!r}: option {name}={value!r}; choose one of: {', '.join(choices)}")
    return str(value)


def resolve_image(request: ModelRequest, part: ImagePart) -> tuple[EvidenceImage, str]:
    """The encoded image behind `part` and the label to show next to it."""
    image = request.evidence_store().get(part.evidence_id)
    return image, "" if part.unlabelled else part.label or image.label


def result_text(result: ToolResult) -> str:
    """The text of a tool result (its images are placed by each provider as it can)."""
    return "\n".join(p.text for p in result.parts if isinstance(p, TextPart))


ModelReply.model_rebuild()
