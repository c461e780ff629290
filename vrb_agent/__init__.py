"""vrb-agent: agentic judging of multimodal answers (select frames, zoom, re-examine, then judge)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vrb_agent.judges.registry import register_backend

__version__ = "0.1.0"

# Public names, imported on first use so `import vrb_agent` stays cheap (no LangGraph, no SDKs).
_EXPORTS = {
    "judge": "vrb_agent.agents.api",
    "ajudge": "vrb_agent.agents.api",
    "Judgment": "vrb_agent.agents.types",
    "Verdict": "vrb_agent.agents.types",
    "JudgeConfig": "vrb_agent.agents.types",
    "Protocol": "vrb_agent.agents.protocol",
    "get_protocol": "vrb_agent.agents.protocol",
    "build_judge_graph": "vrb_agent.agents.graph",
}

__all__ = [
    "JudgeConfig",
    "Judgment",
    "Protocol",
    "Verdict",
    "__version__",
    "ajudge",
    "build_judge_graph",
    "get_protocol",
    "judge",
]

if TYPE_CHECKING:
    from vrb_agent.agents.api import ajudge, judge
    from vrb_agent.agents.graph import build_judge_graph
    from vrb_agent.agents.protocol import Protocol, get_protocol
    from vrb_agent.agents.types import JudgeConfig, Judgment, Verdict


# Backends defined above the backend layer register here, lazily (imported when first asked for), so
# `--backend sim` and `judge(..., backend="sim")` work however vrb_agent is entered.
register_backend("sim", "vrb_agent.benchmark.sim:SimBackend")


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vrb_agent' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
