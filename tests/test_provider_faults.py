"""Provider faults through the real SDKs (openai, anthropic, gemini) against the loopback fakes:
an HTML page with HTTP 200, a 200 JSON body without a reply, a reply without usage, a body
trickled one byte per 0.5 s, and a connection reset mid-body. Each is a typed error or a usable
reply, never an AttributeError / JSONDecodeError, and `timeout_s` bounds a call whatever the server
does (issue 16, cases 6 and 7)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.fakes import anthropic_fake, gemini_fake, openai_fake
from tests.fakes.server import FakeServer, Reply, use_fake_keys
from vrb_agent.agents.api import ajudge
from vrb_agent.cli import app
from vrb_agent.judges.base import BackendError, Message, ModelReply, ModelRequest, TextPart, TransientError
from vrb_agent.judges.provider import ApiBackend
from vrb_agent.judges.registry import get_backend
from vrb_agent.judges.retry import named_once

HTML = b"<!doctype html><html><body><h1>Sign in to the hotel Wi-Fi</h1></body></html>"
Server = Callable[[list[Reply]], FakeServer]

# provider -> (fake server, a good 200 reply saying "hello", the usage key of its body, base URL of a server)
PROVIDERS: dict[str, tuple[Server, Callable[[], Reply], str, Callable[[str], str]]] = {
    "openai": (openai_fake.openai_server, lambda: openai_fake.completion("hello"), "usage", lambda u: u + "/v1"),
    "anthropic": (anthropic_fake.anthropic_server, lambda: anthropic_fake.message("hello"), "usage", lambda u: u),
    "gemini": (gemini_fake.gemini_server, lambda: gemini_fake.generate("hello"), "usageMetadata", lambda u: u),
}


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_keys(monkeypatch, "faults")


def backend(provider: str, server: FakeServer, **options: str) -> ApiBackend:
    base_url = PROVIDERS[provider][3](server.url)
    made = get_backend(provider, base_url=base_url, retry_base_s="0.001", **{"max_retries": "0", **options})
    assert isinstance(made, ApiBackend)
    return made


def hello() -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", parts=[TextPart(text="hello")])])


async def complete_once(provider: str, reply: Reply, **options: str) -> tuple[Any, float]:
    """One `complete` against a server answering `reply`: (the reply or the exception raised, seconds)."""
    with PROVIDERS[provider][0]([reply, reply]) as server:
        judge = backend(provider, server, **options)
        started = time.monotonic()
        try:
            outcome: Any = await judge.complete(hello())
        except Exception as exc:  # the test asserts on what came out, whatever it is
            outcome = exc
        return outcome, time.monotonic() - started


@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("content_type", ["text/html", "application/json"])
async def test_html_page_with_200_is_an_unusable_reply_error(provider: str, content_type: str) -> None:
    error, _ = await complete_once(provider, Reply(200, HTML, content_type=content_type))
    assert type(error) is BackendError  # not retried in the call; the cell is an error record
    assert "unusable reply" in str(error) and "Sign in to the hotel" in str(error) and "--base-url" in str(error)


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_json_200_without_a_reply_is_an_error_not_a_blank_answer(provider: str) -> None:
    error, _ = await complete_once(provider, Reply(200, {}))
    assert type(error) is BackendError
    assert "unusable reply" in str(error)


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_reply_without_usage_is_used_with_unknown_cost(provider: str) -> None:
    good = PROVIDERS[provider][1]()
    body = {k: v for k, v in good.body.items() if k != PROVIDERS[provider][2]}
    reply, _ = await complete_once(provider, Reply(200, body))
    assert not isinstance(reply, Exception), reply
    assert reply.text == "hello"
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.cost_usd) == (0, 0, None)


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_trickled_body_is_bounded_by_timeout_s_per_attempt(provider: str) -> None:
    good = PROVIDERS[provider][1]()
    trickle = Reply(200, good.body, trickle_s=0.5)  # every byte resets the SDK's read timeout
    error, took = await complete_once(provider, trickle, timeout_s="1", max_retries="1")
    assert isinstance(error, TransientError), error
    assert "within 1s" in str(error) and "gave up after 2 attempts" in str(error)
    assert took < 2 * 1.0 + 1.5  # two attempts of 1 s plus backoff and slack, never the whole body (minutes)


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_connection_reset_mid_body_is_transient(provider: str) -> None:
    good = PROVIDERS[provider][1]()
    error, _ = await complete_once(provider, Reply(200, good.body, cut_after=25))
    assert isinstance(error, TransientError), error
    assert "cut off mid-reply" in str(error)


async def test_reset_mid_body_is_retried_and_then_succeeds() -> None:
    good = openai_fake.completion("hello")
    with openai_fake.openai_server([Reply(200, good.body, cut_after=25), good]) as server:
        reply = await backend("openai", server, max_retries="2").complete(hello())
    assert reply.text == "hello" and len(server.requests) == 2


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_judgment_over_an_empty_200_has_status_error(provider: str, square_image: Path) -> None:
    """`error`, not `invalid` ("answered in plain text"): so `bench --retry-errors` judges it again."""
    with PROVIDERS[provider][0]([Reply(200, {})] * 4) as server:
        judgment = await ajudge(
            square_image, "What is red?", "A square.", "A circle.", backend=backend(provider, server), frames=2
        )
    assert judgment.status == "error" and "unusable reply" in (judgment.error or "")


def test_retry_messages_name_the_provider_once(caplog: pytest.LogCaptureFixture) -> None:
    assert named_once("gemini", "gemini: connection failed") == "gemini: connection failed"
    assert named_once("gemini", "no answer") == "gemini: no answer"
    assert named_once("gemini upload", "gemini: timeout") == "gemini: timeout (during upload)"


async def test_retry_log_line_has_no_repeated_prefix(caplog: pytest.LogCaptureFixture) -> None:
    good = gemini_fake.generate("hello")
    with gemini_fake.gemini_server([Reply(drop=True), good]) as server:
        with caplog.at_level(logging.WARNING, logger="vrb_agent.judges.retry"):
            await backend("gemini", server, max_retries="1").complete(hello())
    (line,) = [r.getMessage() for r in caplog.records if "retry 1/1" in r.getMessage()]
    assert line.startswith("gemini: ") and "gemini: gemini" not in line


def test_cli_judge_against_a_trickling_server_ends_within_the_call_deadline(square_image: Path) -> None:
    """The issue's case through the CLI: `-O timeout_s=1 -O max_retries=1` ends in seconds with
    status error (exit 5), however slowly the server sends its body."""
    trickle = Reply(200, openai_fake.completion("Overall Judgment: Answer A is better.").body, trickle_s=0.5)
    with openai_fake.openai_server([trickle] * 4) as server:
        args = ["judge", str(square_image), "-q", "Q?", "--response-a", "A.", "--response-b", "B."]
        args += ["-b", "openai", "--base-url", server.url + "/v1", "--mode", "single", "--frames", "2"]
        started = time.monotonic()
        done = CliRunner().invoke(app, [*args, "-O", "timeout_s=1", "-O", "max_retries=1", "-O", "retry_base_s=0.01"])
        took = time.monotonic() - started
    assert done.exit_code == 5, done.output
    assert "status error" in done.stdout and "within 1s" in done.stdout
    assert took < 10 and len(server.requests) == 2


json_bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


def mangled(body: Any) -> st.SearchStrategy[Any]:
    """A good reply body with one top-level field replaced, removed, or the whole body replaced."""
    keys = sorted(body)
    replace = st.tuples(st.sampled_from(keys), json_bodies).map(lambda kv: {**body, kv[0]: kv[1]})
    remove = st.sampled_from(keys).map(lambda k: {key: v for key, v in body.items() if key != k})
    return st.one_of(replace, remove, json_bodies)


async def complete_and_close(judge: ApiBackend) -> ModelReply:
    """One call on a client made for this event loop, closed before the loop ends."""
    try:
        return await judge.complete(hello())
    finally:
        await judge.aclose()


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_any_json_200_is_a_reply_or_a_backend_error(provider: str) -> None:
    """Whatever JSON a 200 carries, the backend returns a ModelReply or raises a BackendError."""
    make_server, good, _, _ = PROVIDERS[provider]
    current: list[Any] = [None]
    with make_server(lambda _request: Reply(200, current[0])) as server:

        @settings(max_examples=40, deadline=timedelta(seconds=20), suppress_health_check=[HealthCheck.too_slow])
        @given(body=mangled(good().body))
        def check(body: Any) -> None:
            current[0] = body
            try:
                reply = asyncio.run(complete_and_close(backend(provider, server, timeout_s="5")))
            except BackendError:
                return
            assert isinstance(reply, ModelReply)

        check()
