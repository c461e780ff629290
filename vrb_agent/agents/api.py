"""The Python API: `judge(...)` / `ajudge(...)` run the judge graph on one pair and return a Judgment."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from pydantic import ValidationError

from vrb_agent.agents.context import JudgeContext
from vrb_agent.agents.graph import build_judge_graph
from vrb_agent.agents.judgment import judgment_of
from vrb_agent.agents.types import JudgeConfig, Judgment, Mode
from vrb_agent.errors import VrbError
from vrb_agent.judges.base import Backend
from vrb_agent.judges.registry import get_backend
from vrb_agent.tools.evidence import EvidenceStore
from vrb_agent.tools.media import Media, open_media

EventHandler = Callable[[dict[str, Any]], None]


def resolve_config(config: JudgeConfig | None, mode: Mode | None, overrides: dict[str, Any]) -> JudgeConfig:
    """`config` with `mode` and keyword overrides applied and validated; unknown keys are named."""
    base = config or JudgeConfig()
    unknown = sorted(set(overrides) - set(JudgeConfig.model_fields))
    if unknown:
        raise TypeError(
            f"unknown JudgeConfig field(s): {', '.join(unknown)}; known: {', '.join(JudgeConfig.model_fields)}"
        )
    update = {**overrides, **({"mode": mode} if mode is not None else {})}
    try:
        return JudgeConfig.model_validate({**base.model_dump(exclude_unset=True), **update})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise VrbError(f"invalid judge configuration: {problems}") from None


async def ajudge(
    media: str | os.PathLike[str] | Media,
    question: str,
    response_a: str,
    response_b: str,
    *,
    backend: str | Backend,
    mode: Mode | None = None,
    config: JudgeConfig | None = None,
    store: EvidenceStore | None = None,
    on_event: EventHandler | None = None,
    **overrides: Any,
) -> Judgment:
    """Judge which response is better for the media and question (async).

    `backend` is a registry name or a Backend; `mode` defaults to `config.mode` (agentic); other
    keywords override `JudgeConfig` fields. `store` shares/exposes the evidence store; `on_event`
    receives the graph's stream events (tool_call, observation, verdict). Raises MediaError for
    unusable media and ConfigError/AuthError for configuration problems; everything else that can
    go wrong with a model is a Judgment status.
    """
    cfg = resolve_config(config, mode, overrides)
    owned = isinstance(backend, str)
    model = get_backend(backend) if isinstance(backend, str) else backend
    try:
        opened = media if isinstance(media, Media) else await asyncio.to_thread(open_media, media)
        ctx = JudgeContext.create(model, cfg, store=store, media=opened)
        inputs = {"media": str(opened.path), "question": question, "response_a": response_a, "response_b": response_b}
        return await _run(ctx, inputs, on_event)
    finally:
        if owned:
            await model.aclose()


@functools.cache
def _shared_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    """One compiled judge graph for every API judgment; each run passes its context (compiling per
    judgment is a measurable CPU cost)."""
    return build_judge_graph().compile()


async def _run(ctx: JudgeContext, inputs: dict[str, str], on_event: EventHandler | None) -> Judgment:
    """Run the graph with the judgment's context. At the deadline, the presentations still in flight
    are reported as they were (their evidence kept). Custom events are streamed only to a listener:
    each one costs a cross-thread wake-up."""
    started = time.time()
    try:
        async with asyncio.timeout(ctx.config.timeout_s):
            if on_event is None:
                await _shared_graph().ainvoke(inputs, context=ctx)
            else:
                async for event in _shared_graph().astream(inputs, stream_mode="custom", context=ctx):
                    on_event(event)
    except TimeoutError:
        return judgment_of(ctx.tracked(), ctx, started, error=f"timed out after {ctx.config.timeout_s:g}s")
    if ctx.finished is None:  # finalize always runs unless the graph raised
        raise RuntimeError("the judge graph ended without a judgment")
    return ctx.finished


def judge(
    media: str | os.PathLike[str] | Media,
    question: str,
    response_a: str,
    response_b: str,
    *,
    backend: str | Backend,
    mode: Mode | None = None,
    config: JudgeConfig | None = None,
    store: EvidenceStore | None = None,
    on_event: EventHandler | None = None,
    **overrides: Any,
) -> Judgment:
    """Judge which response is better (blocking). See `ajudge`; callable inside a running event loop."""
    call = ajudge(
        media,
        question,
        response_a,
        response_b,
        backend=backend,
        mode=mode,
        config=config,
        store=store,
        on_event=on_event,
        **overrides,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(call)
    return _run_in_thread(call)


def _run_in_thread(call: Any) -> Judgment:
    """Run a coroutine to completion on a fresh loop in a worker thread (for callers inside a loop)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(call)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target)
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
