"""What the API backends (openai, vllm, anthropic, gemini) share: options, keys, the retried call,
usage with cost, and the mapping of HTTP-SDK exceptions to our typed errors.

A provider file subclasses `ApiBackend` and writes only its translation: `build_payload` (neutral
request -> SDK arguments), `send` (one SDK call), `reply_problem` (is this 200 a usable reply?),
`parse_response` (SDK reply -> ModelReply) and, where its SDK differs from the Stainless-generated
ones (openai, anthropic), `classify`.
"""

from __future__ import annotations

import abc
import json
import os
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import pydantic

from vrb_agent.judges.base import (
    Backend,
    BackendError,
    Capabilities,
    ConfigError,
    ModelReply,
    ModelRequest,
    TransientError,
    Usage,
    api_key_from_env,
    check_options,
    typed_option,
)
from vrb_agent.judges.pricing import DEFAULT_MODELS, estimate_cost
from vrb_agent.judges.retry import RetryPolicy, call_with_retries, error_for_status, redact, retry_after_seconds

COMMON_OPTIONS = ("model", "base_url", "api_key", "max_images", "timeout_s", "max_retries", "retry_base_s")


def public_url(url: str | None) -> str | None:
    """`url` without `user:password@`, query or fragment (host lowercased): safe to print and record."""
    if not url:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1].lower(), parts.path, "", ""))


class ApiBackend(Backend):
    """A hosted (or self-hosted) model behind an HTTP API, called through its official SDK.

    The SDK client is built with its own retries off, so `vrb_agent.judges.retry` is the only
    retry policy. The API key is kept only to build the client and to redact it from messages.
    """

    key_env: ClassVar[tuple[str, ...]] = ()
    base_url_env: ClassVar[str | None] = None
    default_max_images: ClassVar[int] = 100
    extra_options: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        max_images: int | None = None,
        timeout_s: float = 300.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(model or DEFAULT_MODELS[self.name])
        self._api_key = self.resolve_key(api_key)
        self.base_url = base_url or (os.environ.get(self.base_url_env) if self.base_url_env else None) or None
        self.max_images = max_images or self.default_max_images
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()

    def resolve_key(self, explicit: str | None) -> str:
        """The API key (explicit, else from `key_env`); missing is a ConfigError naming the variable."""
        return api_key_from_env(explicit, self.key_env, self.name)

    @classmethod
    def from_options(cls, **options: Any) -> ApiBackend:
        """Build from `get_backend(name, **options)`: CLI strings (`--backend-option KEY=VALUE`)."""
        given = check_options(cls.name, options, (*COMMON_OPTIONS, *cls.extra_options))
        common: dict[str, Any] = {
            "model": given.get("model"),
            "api_key": given.get("api_key"),
            "base_url": given.get("base_url"),
            "max_images": typed_option(cls.name, "max_images", given.get("max_images"), int, None),
            "timeout_s": typed_option(cls.name, "timeout_s", given.get("timeout_s"), float, 300.0),
            "retry": RetryPolicy.from_options(given.get("max_retries"), given.get("retry_base_s")),
        }
        return cls(**common, **cls.parse_extra_options(given))

    @classmethod
    def parse_extra_options(cls, given: dict[str, Any]) -> dict[str, Any]:
        """Constructor arguments from the backend's own options (strings from the CLI)."""
        return {}

    def capabilities(self) -> Capabilities:
        return Capabilities(max_images_per_request=self.max_images)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.public_url()!r})"

    # ---- the call ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def build_payload(self, request: ModelRequest) -> dict[str, Any]:
        """The SDK call's keyword arguments for `request` (images resolved to bytes here only)."""

    @abc.abstractmethod
    async def send(self, payload: dict[str, Any]) -> Any:
        """One SDK call, no retries."""

    @abc.abstractmethod
    def parse_response(self, response: Any, request: ModelRequest, latency: float) -> ModelReply:
        """The SDK's reply as a ModelReply."""

    @abc.abstractmethod
    def classify(self, exc: Exception) -> BackendError | None:
        """An SDK exception as a typed error; None for exceptions that are bugs, not provider failures."""

    @abc.abstractmethod
    def reply_problem(self, response: Any) -> str | None:
        """What makes an HTTP 200 unusable (not this API's reply, or no answer in it); None if usable."""

    async def complete(self, request: ModelRequest) -> ModelReply:
        return await self.exchange(await self.build_payload(request), request)

    async def exchange(self, payload: dict[str, Any], request: ModelRequest) -> ModelReply:
        """Send `payload` (retried, each attempt under `timeout_s`) and read the reply to `request`;
        a 200 without a usable reply is an error, never a blank answer."""
        started = time.perf_counter()
        response = await call_with_retries(
            lambda: self.send(payload), self.classify_any, self.retry, self.name, self.timeout_s
        )
        problem = self.reply_problem(response)
        if problem is not None:
            raise self.unusable_reply(problem)
        try:
            return self.parse_response(response, request, time.perf_counter() - started)  # latency incl. retries
        except (AttributeError, TypeError, ValueError, LookupError) as exc:
            # The Stainless SDKs build replies without validating them: `"usage": true` arrives as is.
            raise self.unusable_reply(f"a field of unexpected type ({type(exc).__name__}: {exc})") from None

    def classify_any(self, exc: Exception) -> BackendError | None:
        """`classify`, then the failures every SDK shares: a 200 whose body does not decode
        (an HTML page, truncated JSON) or does not fit the SDK's response model."""
        error = self.classify(exc)
        if error is not None:
            return error
        if isinstance(exc, UnicodeDecodeError | json.JSONDecodeError):
            return self.unusable_reply(f"the body is not JSON ({body_excerpt(getattr(exc, 'doc', ''))})")
        if isinstance(exc, pydantic.ValidationError):
            first: dict[str, Any] = dict(exc.errors()[0]) if exc.errors() else {}
            where = ".".join(str(part) for part in first.get("loc", ())) or "the body"
            return self.unusable_reply(f"{where} does not fit the API ({first.get('msg', exc)})")
        return None

    def unusable_reply(self, problem: str) -> BackendError:
        """An HTTP 200 that holds no usable answer: an error status (so `--retry-errors` redoes the
        cell), never an `invalid` verdict; usually a wrong base URL or a proxy's page."""
        return BackendError(
            self.redacted(f"{self.name}: unusable reply from {self.endpoint()}: {problem}; check --base-url")
        )

    def usage(self, model: str, input_tokens: int | None, output_tokens: int | None, request: ModelRequest) -> Usage:
        """Usage of one call with its estimated cost, priced by the model the provider reports
        (a dated snapshot) or else the one requested; None when neither has a price, or when the
        reply did not report its tokens (None here: unknown, never priced as zero)."""
        cost = None
        if input_tokens is not None and output_tokens is not None:
            cost = estimate_cost(model, input_tokens, output_tokens)
            if cost is None:
                cost = estimate_cost(self.model, input_tokens, output_tokens)
        return Usage(
            input_tokens=input_tokens or 0,
            output_tokens=output_tokens or 0,
            images=request.image_count(),
            cost_usd=cost,
            calls=1,
        )

    # ---- errors -----------------------------------------------------------------------------

    def redacted(self, text: str) -> str:
        return redact(text, [self._api_key])

    def public_url(self) -> str | None:
        """The base URL without credentials, query or fragment: safe to print."""
        return public_url(self.base_url) or None

    def endpoint(self) -> str:
        """Where requests go, for connection-error messages."""
        return self.public_url() or f"the default {self.name} endpoint"

    def refusal_error(self, exc: Any, detail: str) -> BackendError | None:
        """A provider-specific policy rejection hidden in an HTTP error, if `exc` is one."""
        return None

    def classify_stainless(self, sdk: Any, exc: Exception) -> BackendError | None:
        """Exceptions of the Stainless-generated SDKs (openai, anthropic), which share their shape."""
        if isinstance(exc, sdk.APIStatusError):
            detail = self.redacted(sdk_error_message(exc))
            refusal = self.refusal_error(exc, detail)
            if refusal is not None:
                return refusal
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
            return TransientError(f"{self.name}: connection failed or cut off mid-reply ({self.endpoint()})")
        if isinstance(exc, sdk.APIError):
            return BackendError(f"{self.name}: unusable response: {self.redacted(str(exc))[:300]}")
        return None


def video_unsupported(backend: str) -> ConfigError:
    """The explicit error for a VideoPart sent to a backend without native video."""
    return ConfigError(
        f"backend {backend!r} cannot take video clips; "
        "native video needs --backend gemini --backend-option video=native"
    )


def body_excerpt(body: object, limit: int = 80) -> str:
    """The start of a reply body on one line, for messages about replies that are not the API's."""
    text = " ".join(str(body or "").split())
    if not text:
        return "empty body"
    return f"starts {text[:limit]!r}" + ("..." if len(text) > limit else "")


def sdk_error_message(exc: Any) -> str:
    """The provider's own error message from an SDK exception's decoded body."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
        if inner.get("message"):
            return str(inner["message"])
    return str(getattr(exc, "message", "") or exc)


def sdk_error_code(exc: Any) -> str | None:
    """`error.code` (OpenAI) or `error.type` from an SDK exception's decoded body."""
    body = getattr(exc, "body", None)
    if not isinstance(body, dict):
        return None
    inner: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
    code = inner.get("code") or inner.get("type")
    return str(code) if code else None
