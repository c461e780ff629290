"""The shared retry policy, Retry-After parsing, error mapping, redaction and the price table."""

from __future__ import annotations

import email.utils
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vrb_agent.cli import app
from vrb_agent.judges.base import AuthError, BackendError, ConfigError, RateLimitError, TransientError
from vrb_agent.judges.pricing import DEFAULT_MODELS, PRICES_CHECKED, estimate_cost, price_of
from vrb_agent.judges.registry import get_backend
from vrb_agent.judges.retry import (
    RetryPolicy,
    call_with_retries,
    duration_seconds,
    error_for_status,
    redact,
    retry_after_seconds,
)


def test_backoff_is_exponential_jittered_bounded_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay_s=1.0, max_delay_s=5.0, max_retry_after_s=60.0)
    for retry, full in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 5.0), (4, 5.0)]:
        delays = [policy.delay(retry, None) for _ in range(200)]
        assert all(full * 0.5 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full * 0.2  # jittered, not constant
    assert policy.delay(0, 7.5) == 7.5  # never sooner than the server asked
    assert policy.delay(0, 3600) == 60.0  # a hostile Retry-After is capped


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    when = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after_seconds({"retry-after": when}, now=1_000_000) == pytest.approx(30.0)
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds(None) is None
    assert duration_seconds("1.5s") == 1.5 and duration_seconds("2m") is None


def test_status_mapping() -> None:
    assert isinstance(error_for_status("p", 401, "bad", key_env="K"), AuthError)
    assert isinstance(error_for_status("p", 403, "no"), AuthError)
    assert isinstance(error_for_status("p", 404, "no model"), ConfigError)
    limited = error_for_status("p", 429, "slow", retry_after=2.0)
    assert isinstance(limited, RateLimitError) and limited.retry_after == 2.0
    for status in (408, 500, 502, 503, 529, None):
        assert isinstance(error_for_status("p", status, "x"), TransientError)
    rejected = error_for_status("p", 400, "bad request")
    assert type(rejected) is BackendError


async def test_call_with_retries_counts_attempts_and_lets_bugs_through() -> None:
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError("reset")
        return "ok"

    def classify(exc: Exception) -> BackendError | None:
        return TransientError("reset") if isinstance(exc, OSError) else None

    policy = RetryPolicy(max_attempts=3, base_delay_s=0.001)
    assert await call_with_retries(flaky, classify, policy, "test") == "ok" and len(attempts) == 3

    async def buggy() -> str:
        raise KeyError("a bug, not a provider failure")

    with pytest.raises(KeyError):
        await call_with_retries(buggy, classify, policy, "test")


def test_policy_options_and_redaction() -> None:
    policy = RetryPolicy.from_options("2", "0.5")
    assert (policy.max_attempts, policy.base_delay_s) == (3, 0.5)
    with pytest.raises(ConfigError, match="max_retries"):
        RetryPolicy.from_options("two", None)
    assert redact("key sk-abcdef leaked", ["sk-abcdef", None]) == "key *** leaked"


def test_price_table() -> None:
    assert PRICES_CHECKED
    assert price_of("gpt-4.1-mini-2025-04-14") == price_of("gpt-4.1-mini") != price_of("gpt-4.1")
    assert price_of("models/gemini-2.5-flash-lite") != price_of("gemini-2.5-flash")
    assert price_of("claude-sonnet-4-5-20250929") == price_of("claude-sonnet-4-5")
    assert price_of("gpt-4.10") is None and price_of("gpt-5-pro") is None  # variants are never guessed
    assert estimate_cost("my-own-model", 10, 10) is None
    assert estimate_cost("claude-sonnet-5-5", 1_000_000, 100_000) == pytest.approx(2.0 + 1.0)
    for backend, model in DEFAULT_MODELS.items():
        assert (price_of(model) is None) == (backend == "vllm")  # every hosted default is priced


@pytest.mark.parametrize(
    "case",
    [
        ("openai", "vrb_agent.judges.openai", "openai", "openai"),
        ("vllm", "vrb_agent.judges.openai", "openai", "openai"),
        ("anthropic", "vrb_agent.judges.anthropic", "anthropic", "anthropic"),
        ("gemini", "vrb_agent.judges.gemini", "google.genai", "google-genai"),
    ],
)
def test_a_missing_sdk_is_a_config_error_naming_what_to_install(
    monkeypatch: pytest.MonkeyPatch, square_image: Path, case: tuple[str, str, str, str]
) -> None:
    """The SDK is imported at the top of its provider module (typed); without it, choosing that
    backend is exit-code-3 material that says what to pip install, never an ImportError."""
    backend_name, module, sdk, package = case
    monkeypatch.setitem(sys.modules, sdk, None)  # `import sdk` now raises ImportError
    monkeypatch.delitem(sys.modules, module, raising=False)  # restored afterwards, so other tests keep the real one
    with pytest.raises(ConfigError, match=rf"{backend_name!r}.*pip install '{package}'"):
        get_backend(backend_name, base_url="http://127.0.0.1:9/v1", api_key="k")
    args = ["judge", str(square_image), "-q", "q", "--response-a", "a", "--response-b", "b", "--backend", backend_name]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3, result.output


def test_importing_the_package_imports_no_provider_sdk() -> None:
    """The registry stays lazy: `import vrb_agent` (and its judges) needs none of the SDKs."""
    code = (
        "import sys, vrb_agent, vrb_agent.judges, vrb_agent.cli\n"
        "loaded = [m for m in ('openai', 'anthropic', 'google.genai', 'transformers') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
