"""The judge: a LangGraph state machine over a model backend and the visual tools (DESIGN.md §4)."""

from vrb_agent.agents.api import ajudge, judge
from vrb_agent.agents.context import JudgeContext
from vrb_agent.agents.graph import build_judge_graph, recursion_limit
from vrb_agent.agents.protocol import PROTOCOLS, Protocol, get_protocol
from vrb_agent.agents.types import EvidenceItem, JudgeConfig, Judgment, SampleOutcome, ToolCallRecord, Verdict

__all__ = [
    "PROTOCOLS",
    "EvidenceItem",
    "JudgeConfig",
    "JudgeContext",
    "Judgment",
    "Protocol",
    "SampleOutcome",
    "ToolCallRecord",
    "Verdict",
    "ajudge",
    "build_judge_graph",
    "get_protocol",
    "judge",
    "recursion_limit",
]
