"""When a cascade escalates: the rule that reads a single-pass judgment and says whether it is
certain enough to keep, and the trace a cascade record keeps of its stages.

A single-pass text verdict states no confidence of its own, so the signals are the ones the judge
graph records: whether the two presentation orders agree (`--order both`) and the vote share of the
winning side over every presentation (`--order both` or `--k` 2+). A judgment without a valid
verdict (invalid, tie, refused, error) always escalates. The rule never picks a verdict itself.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from vrb_agent.agents.types import Status

EscalateWhen = Literal["disagree", "low-confidence", "both"]
ESCALATE_WHEN: tuple[str, ...] = ("disagree", "low-confidence", "both")
DEFAULT_THRESHOLD = 1.0  # escalate unless every presentation voted the same way


class CascadeStage(BaseModel):
    """One stage of a cascade judgment: what it decided and what it cost. `reused` says it is this
    run's own cell of that mode, taken over rather than judged (and paid for) again."""

    mode: str
    status: Status
    preferred: Literal["A", "B"] | None = None
    confidence: float | None = None
    order_agreement: bool | None = None
    votes: list[Literal["A", "B"] | None] = Field(default_factory=list)
    usage: dict[str, Any] = Field(default_factory=dict)
    images_sent: int = 0
    latency_s: float = 0.0
    reused: bool = False
    error: str | None = None


class CascadeTrace(BaseModel):
    """The `cascade` field of a cascade record: the rule it ran under, why it escalated or not, and
    its stages (the single pass, then the agentic judgment when it escalated)."""

    escalate_when: EscalateWhen
    threshold: float
    reason: str
    stages: list[CascadeStage]


def paid_usages(usage: dict[str, Any], trace: CascadeTrace | None) -> list[dict[str, Any]]:
    """The usage a record paid for: its own; for a cascade record, that of the stages it judged
    itself (a reused stage is paid for by the run's own cell of that mode)."""
    return [usage] if trace is None else [s.usage for s in trace.stages if not s.reused]


class Signals(BaseModel):
    """What the rule reads from a single-pass judgment (a results.jsonl record has these fields)."""

    status: Status
    confidence: float | None = None
    order_agreement: bool | None = None


def escalation_reason(single: Signals, when: EscalateWhen, threshold: float) -> tuple[bool, str]:
    """(escalate?, why): the single pass is kept only when it gave a valid verdict and passes every
    check `when` asks for."""
    compare_orders = when in {"disagree", "both"}
    if compare_orders and single.order_agreement is False:
        return True, "the two presentation orders disagree" + (f", status {single.status}" * (single.status != "ok"))
    if single.status != "ok":
        return True, f"the single pass gave no valid verdict (status {single.status})"
    if compare_orders and single.order_agreement is None:
        return True, "one presentation order gave no valid verdict"
    if when in {"low-confidence", "both"}:
        share = single.confidence
        if share is None:
            return True, "the single pass stated no confidence or vote share"
        if share < threshold:
            return True, f"vote share {share:.2f} is below the threshold {threshold:.2f}"
    kept = {"disagree": "both orders agree", "low-confidence": "", "both": "both orders agree, "}[when]
    if when != "disagree":
        kept += f"vote share {single.confidence:.2f} >= {threshold:.2f}"
    return False, kept


def policy_problem(when: EscalateWhen, order: str, ks: list[int]) -> str | None:
    """Why `when` cannot be measured under this order and k (None when it can): the single pass
    must show both orders to compare them, or hold several votes to have a vote share."""
    if when in {"disagree", "both"} and order != "both":
        return f"{when!r} compares the two presentation orders: pass --order both"
    if when == "low-confidence" and order != "both" and min(ks) < 2:
        return (
            "'low-confidence' reads the single pass's vote share, and one single-pass vote has none: "
            "pass --order both or --k 2 or more (every --k value)"
        )
    return None
