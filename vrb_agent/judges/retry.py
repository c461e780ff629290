"""One retry policy for every provider backend: bounded exponential backoff with jitter that
honours the server's Retry-After, applied only to errors worth retrying.

The providers' SDKs are built with their own retries disabled so these are the only ones: one
place decides how long a judgment may wait, and tests can make the waits tiny.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from vrb_agent.judges.base import AuthError, BackendError, ConfigError, RateLimitError, RefusalError, TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    The n-th retry waits `min(max_delay_s, base_delay_s * 2**n)` scaled by a random factor in
    [0.5, 1.0] (jitter spreads parallel judges apart), but never less than the server's
    Retry-After, itself capped at `max_retry_after_s` so a hostile header cannot stall a run.
    """

    max_attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0

    @classmethod
    def from_options(cls, max_retries: str | int | None = None, retry_base_s: str | float | None = None) -> RetryPolicy:
        """Build from CLI-style string options (`max_retries=3`, `retry_base_s=0.5`)."""
        policy = cls()
        try:
            attempts = policy.max_attempts if max_retries is None else int(max_retries) + 1
            base = policy.base_delay_s if retry_base_s is None else float(retry_base_s)
        except ValueError:
            raise ConfigError(
                f"invalid retry option (max_retries={max_retries!r}, retry_base_s={retry_base_s!r}): "
                "max_retries must be an integer and retry_base_s a number of seconds"
            ) from None
        if attempts < 1 or base < 0:
            raise ConfigError("max_retries must be >= 0 and retry_base_s >= 0")
        return cls(max_attempts=attempts, base_delay_s=base, max_delay_s=max(policy.max_delay_s, base))

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `retry` (0-based)."""
        backoff = min(self.max_delay_s, self.base_delay_s * 2**retry) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            return max(backoff, min(retry_after, self.max_retry_after_s))
        return backoff


async def call_with_retries(
    send: Callable[[], Awaitable[T]],
    classify: Callable[[Exception], BackendError | None],
    policy: RetryPolicy,
    what: str,
    timeout_s: float | None = None,
) -> T:
    """Run `send()`; map failures with `classify` and retry rate limits and transient errors.

    `classify` returns None for exceptions that are not provider failures (bugs): those propagate.
    `timeout_s` is each attempt's deadline for the whole exchange (connect, headers, body, decoding):
    an SDK's own timeout is per socket read, so a server trickling its body would never trip it.

    Errors are raised without their SDK cause attached (`from None`): SDK exceptions carry the
    request, whose headers hold the API key.
    """
    retry = 0
    while True:
        deadline = asyncio.timeout(timeout_s)
        try:
            async with deadline:
                return await send()
        except BackendError:
            raise
        except Exception as exc:
            error = attempt_timeout(what, timeout_s) if deadline.expired() else classify(exc)
            if error is None:
                raise
        if not isinstance(error, RateLimitError | TransientError) or retry + 1 >= policy.max_attempts:
            if isinstance(error, RateLimitError | TransientError) and policy.max_attempts > 1:
                error.args = (f"{error} (gave up after {policy.max_attempts} attempts)",)
            raise error from None
        wait = policy.delay(retry, error.retry_after)
        log.warning("%s; retry %d/%d in %.1fs", named_once(what, str(error)), retry + 1, policy.max_attempts - 1, wait)
        await asyncio.sleep(wait)
        retry += 1


def attempt_timeout(what: str, timeout_s: float | None) -> TransientError:
    """The error of an attempt that ran past its deadline (retried like any timeout)."""
    provider = what.partition(" ")[0]
    return TransientError(f"{provider}: no complete answer within {timeout_s:g}s (timeout_s)")


def named_once(what: str, message: str) -> str:
    """`message` with its provider named once: our errors already start with the provider's name,
    so `what` ("gemini", "gemini upload") is added only as far as the message lacks it."""
    provider, _, operation = what.partition(" ")
    if not message.startswith(provider):
        return f"{what}: {message}"
    return f"{message} (during {operation})" if operation else message


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """The server's requested wait: `retry-after-ms`, or `retry-after` in seconds or as an HTTP date."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def duration_seconds(value: object) -> float | None:
    """A protobuf duration string such as Google's `retryDelay: "7s"` or `"1.5s"`, in seconds."""
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value)
    return float(match.group(1)) if match else None


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret value replaced, for messages built from provider error bodies."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def error_for_status(
    provider: str,
    status: int | None,
    detail: str,
    *,
    retry_after: float | None = None,
    key_env: str = "",
    model: str = "",
) -> BackendError:
    """The typed error for an HTTP failure of `provider`; `detail` must already be redacted."""
    detail = detail.strip()[:500]
    where = f"{provider} ({model})" if model else provider
    if status in (401, 403):
        hint = f"check {key_env}" if key_env else "check the API key"
        return AuthError(f"{where} rejected the credentials (HTTP {status}): {detail}; {hint}")
    if status == 404:
        return ConfigError(f"{where}: not found (HTTP 404): {detail}; check --model and --base-url")
    if status == 429:
        return RateLimitError(f"{where}: rate limited (HTTP 429): {detail}", retry_after=retry_after)
    if status is None or status in (408, 409) or status >= 500:
        label = f"HTTP {status}" if status is not None else "no response"
        return TransientError(f"{where}: temporary failure ({label}): {detail}", retry_after=retry_after)
    return BackendError(f"{where}: request rejected (HTTP {status}): {detail}")


def refusal_from_detail(provider: str, detail: str) -> RefusalError:
    """A request the provider refused on policy grounds (e.g. a 400 content-policy error)."""
    return RefusalError(f"{provider} refused the request: {detail.strip()[:500]}")
