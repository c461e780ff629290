"""The Python API: `judge(...)` / `ajudge(...)` run the judge graph on one pair and return a Judgment."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from pydantic import ValidationError

from vrb_agent.agents.graph import JudgeRuntime, JudgeState, graph_for, recursion_limit, summarize
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
        return JudgeConfig.model_validate({**base.model_dump(), **update})
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
        rt = JudgeRuntime.create(model, cfg, store=store, media=opened)
        inputs = {"media": str(opened.path), "question": question, "response_a": response_a, "response_b": response_b}
        return await _run(rt, inputs, on_event)
    finally:
        if owned:
            await model.aclose()


@functools.cache
def _shared_graph() -> CompiledStateGraph:
    """One compiled judge graph for every API judgment; each run passes its runtime as context."""
    return graph_for(None).compile()


async def _run(rt: JudgeRuntime, inputs: dict[str, str], on_event: EventHandler | None) -> Judgment:
    """Stream the graph, keeping the latest state so a timeout still reports what was done.
    Custom events are streamed only to a listener: each one costs a cross-thread wake-up."""
    latest: JudgeState = {}  # type: ignore[typeddict-item]
    run_config = {"recursion_limit": recursion_limit(rt.config)}
    modes = ["values", "custom"] if on_event is not None else ["values"]
    try:
        async with asyncio.timeout(rt.config.timeout_s):
            async for mode, chunk in _shared_graph().astream(inputs, run_config, stream_mode=modes, context=rt):
                if mode == "values":
                    latest = chunk
                elif on_event is not None:
                    on_event(chunk)
    except TimeoutError:
        return summarize(latest, rt, error=f"timed out after {rt.config.timeout_s:g}s")
    if rt.finished is None:  # finalize always runs unless the graph raised
        raise RuntimeError("the judge graph ended without a judgment")
    return rt.finished


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
