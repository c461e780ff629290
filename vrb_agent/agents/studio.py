"""The judge graph for `langgraph dev` / LangGraph Studio (see langgraph.json).

The backend and configuration come from the environment, because the LangGraph server builds
graphs without arguments:
  VRB_BACKEND          backend name (required), e.g. gemini, openai, anthropic, qwen, sim
  VRB_MODEL            model id (optional; the backend's default otherwise)
  VRB_BACKEND_OPTIONS  JSON object of extra backend options (optional), e.g. {"base_url": "..."}
  VRB_JUDGE_CONFIG     JSON object of JudgeConfig fields (optional), e.g. {"mode": "single", "k": 3}
"""

from __future__ import annotations

import json
import os
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from vrb_agent.agents.api import resolve_config
from vrb_agent.agents.graph import compile_judge_graph
from vrb_agent.errors import VrbError
from vrb_agent.judges.base import ConfigError
from vrb_agent.judges.registry import backend_names, get_backend


def _json_env(name: str) -> dict[str, Any]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f'{name} is not valid JSON ({exc.msg}); expected an object such as {{"k": 3}}') from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def make_graph() -> CompiledStateGraph:
    """The compiled judge graph, configured from the environment (see the module docstring)."""
    name = os.environ.get("VRB_BACKEND", "").strip()
    if not name:
        raise ConfigError(f"set VRB_BACKEND to one of: {', '.join(backend_names())}")
    options = _json_env("VRB_BACKEND_OPTIONS")
    if os.environ.get("VRB_MODEL"):
        options["model"] = os.environ["VRB_MODEL"]
    try:
        config = resolve_config(None, None, _json_env("VRB_JUDGE_CONFIG"))
    except (TypeError, VrbError) as exc:
        raise ConfigError(f"VRB_JUDGE_CONFIG: {exc}") from None
    return compile_judge_graph(get_backend(name, **options), config)
