"""The judge graph for `langgraph dev` / LangGraph Studio (see langgraph.json).

The server imports this module when it loads its graphs, and the environment gives the defaults:
  VRB_BACKEND          default backend name (required: checked when the server loads the graph)
  VRB_MODEL            default model id (optional; the backend's own default otherwise)
  VRB_BACKEND_OPTIONS  JSON object of backend options (optional), e.g. {"base_url": "..."}
  VRB_JUDGE_CONFIG     JSON object of JudgeConfig fields (optional), e.g. {"mode": "single", "k": 3}

Each run may choose its own backend, model and judge options: the fields of `StudioOptions`,
given as the run's `context` (Studio shows them as a form) or in `config["configurable"]`. Run
options replace the environment's; `backend_options` and `judge` are merged over theirs.
With `show_images` (on by default here) the stream events carry the images the judge saw as
JPEG data URLs: an `observation` event named `overview` before the first call, and every tool
observation. The graph state never holds pixels.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph_sdk.runtime import ServerRuntime
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vrb_agent.agents.api import resolve_config
from vrb_agent.agents.graph import build_judge_graph
from vrb_agent.agents.types import JudgeConfig
from vrb_agent.errors import VrbError
from vrb_agent.judges.base import Backend, ConfigError
from vrb_agent.judges.registry import backend_names, get_backend


class StudioConfigError(ConfigError, ValueError):
    """A Studio option or environment variable is wrong. Also a ValueError, so the LangGraph server
    shows clients this message rather than a generic internal error."""


class StudioOptions(BaseModel):
    """Options of one judge run in Studio (its context form) or `config["configurable"]`."""

    model_config = ConfigDict(extra="forbid")

    backend: str | None = Field(default=None, description="backend name (default: VRB_BACKEND)")
    model: str | None = Field(default=None, description="model id (default: VRB_MODEL or the backend's own)")
    backend_options: dict[str, Any] = Field(
        default_factory=dict, description='backend options over VRB_BACKEND_OPTIONS, e.g. {"base_url": "..."}'
    )
    judge: dict[str, Any] = Field(
        default_factory=dict, description='JudgeConfig fields over VRB_JUDGE_CONFIG, e.g. {"mode": "single", "k": 3}'
    )
    show_images: bool = Field(default=True, description="send the images the judge saw as data URLs in the events")


def _json_env(name: str) -> dict[str, Any]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        example = '{"k": 3}'
        raise StudioConfigError(f"{name} is not valid JSON ({exc.msg}); expected an object such as {example}") from None
    if not isinstance(value, dict):
        raise StudioConfigError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def environment_options() -> StudioOptions:
    """The defaults from the environment; a missing VRB_BACKEND is named here, when the server
    loads the graph, rather than at the first run."""
    name = os.environ.get("VRB_BACKEND", "").strip()
    if not name:
        raise StudioConfigError(
            f"set VRB_BACKEND to the judge's default backend, one of: {', '.join(backend_names())} "
            "(e.g. `VRB_BACKEND=gemini langgraph dev`); a run can still choose another with the `backend` option"
        )
    return StudioOptions(
        backend=name,
        model=os.environ.get("VRB_MODEL") or None,
        backend_options=_json_env("VRB_BACKEND_OPTIONS"),
        judge=_checked_judge(_json_env("VRB_JUDGE_CONFIG"), "VRB_JUDGE_CONFIG").model_dump(exclude_defaults=True),
    )


def _checked_judge(fields: dict[str, Any], source: str) -> JudgeConfig:
    try:
        return resolve_config(None, None, fields)
    except (TypeError, VrbError) as exc:
        raise StudioConfigError(f"{source}: {exc}") from None


def run_options(defaults: StudioOptions, configurable: Mapping[str, Any], context: Any) -> StudioOptions:
    """The run's options over the defaults: context fields, else the option keys of configurable."""
    given = context.model_dump(exclude_unset=True) if isinstance(context, StudioOptions) else dict(context or {})
    if not given:
        given = {k: v for k, v in configurable.items() if k in StudioOptions.model_fields}
    try:
        chosen = StudioOptions.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise StudioConfigError(f"run options: {problems}; known: {', '.join(StudioOptions.model_fields)}") from None
    merged = {**defaults.model_dump(), **chosen.model_dump(exclude_unset=True)}
    merged["backend_options"] = {**defaults.backend_options, **chosen.backend_options}
    merged["judge"] = {**defaults.judge, **chosen.judge}
    return StudioOptions.model_validate(merged)


def backend_for(options: StudioOptions) -> Backend:
    settings = {**options.backend_options, **({"model": options.model} if options.model else {})}
    try:
        return get_backend(options.backend or "", **settings)
    except ConfigError as exc:
        raise StudioConfigError(str(exc)) from None


DEFAULTS = environment_options()


@contextlib.asynccontextmanager
async def make_graph(
    config: RunnableConfig, runtime: ServerRuntime
) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
    """The judge graph for one server access. A run gets a fresh runtime (backend, evidence store)
    built from its options, closed when the run ends; other accesses (schemas, state reads) get
    the same topology without a backend."""
    execution = runtime.execution_runtime
    if execution is None:
        yield build_judge_graph(context_schema=StudioOptions).compile()
        return
    options = run_options(DEFAULTS, config.get("configurable") or {}, execution.context)
    judge_config = _checked_judge(options.judge, "judge")
    backend = await asyncio.to_thread(backend_for, options)  # may read files (a script, credentials)
    try:
        graph = build_judge_graph(backend, judge_config, show_images=options.show_images, context_schema=StudioOptions)
        yield graph.compile()
    finally:
        await backend.aclose()
