"""Accuracy against cost: what one sample costs under each condition (estimated USD, images sent,
tokens), how often a cascade escalated, and the Pareto front of accuracy against cost.

A sample's cost is its record's usage; a cascade record already holds both of its stages. The
mean is over every record of the condition, so an error record that made no model call counts as
free. USD is used only when every record that called the model was priced (judges/pricing.py): a
condition with an unpriced call has no USD figure, and then no front is drawn in USD, since a
partial sum would look cheaper than it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vrb_agent.benchmark.records import usage_tokens
from vrb_agent.benchmark.summary import (
    AccuracyCell,
    Condition,
    ConditionSummary,
    CostPoint,
    CostSummary,
    CostUnit,
    ParetoFront,
)

Record = dict[str, Any]


def pareto_front(points: Sequence[tuple[float, float | None]]) -> list[bool]:
    """For (cost, accuracy) points: True where no other point costs at most as much and is at
    least as accurate, being strictly better in one of the two. Equal points are all on the front;
    a point without an accuracy never is."""
    scored = [(c, a) for c, a in points if a is not None]

    def dominated(cost: float, acc: float) -> bool:
        return any(c <= cost and a >= acc and (c < cost or a > acc) for c, a in scored)

    return [acc is not None and not dominated(cost, acc) for cost, acc in points]


def _usd_per_sample(records: Sequence[Record]) -> float | None:
    """Mean USD of a sample, or None when a record that called the model has no price."""
    total = 0.0
    for record in records:
        usage = record.get("usage") or {}
        cost = usage.get("cost_usd")
        if cost is None and int(usage.get("calls") or 0) > 0:
            return None
        total += float(cost or 0.0)
    return total / len(records) if records else None


def _mean(records: Sequence[Record], value: Any) -> float:
    return sum(value(r) for r in records) / len(records) if records else 0.0


def _escalation(records: Sequence[Record]) -> dict[str, Any]:
    """A cascade condition's escalation counts (empty for the other modes)."""
    escalated = [r for r in records if r.get("escalated")]
    failed = sum(r.get("status") != "ok" for r in escalated)
    share = len(escalated) / len(records) if records else None
    return {"escalated": len(escalated), "escalation_failed": failed, "escalated_share": share}


def cost_point(condition: Condition, overall: AccuracyCell, records: Sequence[Record]) -> CostPoint:
    """One condition's accuracy (overall, with its CI) and its mean cost per sample."""
    return CostPoint(
        mode=condition.mode,
        frames=condition.frames,
        k=condition.k,
        accuracy=overall.accuracy,
        ci=overall.ci,
        n=overall.n,
        samples=len(records),
        usd_per_sample=_usd_per_sample(records),
        images_per_sample=_mean(records, lambda r: int(r.get("images_sent") or 0)),
        tokens_per_sample=_mean(records, lambda r: usage_tokens(r.get("usage") or {})),
        **(_escalation(records) if condition.mode == "cascade" else {}),
    )


def cost_units(points: Sequence[CostPoint]) -> list[CostUnit]:
    """USD when every point is priced; otherwise images sent and, when any were counted, tokens."""
    if points and all(p.usd_per_sample is not None for p in points):
        return ["usd"]
    return ["images", "tokens"] if any(p.tokens_per_sample for p in points) else ["images"]


def axis_values(points: Sequence[CostPoint], unit: CostUnit) -> list[float]:
    """The cost of each point in `unit`."""
    if unit == "usd":
        return [p.usd_per_sample or 0.0 for p in points]
    return [p.images_per_sample if unit == "images" else p.tokens_per_sample for p in points]


def pareto_fronts(points: Sequence[CostPoint]) -> list[ParetoFront]:
    """The Pareto front of the points along each of their cost units (`cost_units`)."""
    accuracies = [p.accuracy for p in points]
    return [
        ParetoFront(cost=unit, on_front=pareto_front(list(zip(axis_values(points, unit), accuracies, strict=True))))
        for unit in cost_units(points)
    ]


def cost_summary(conditions: Sequence[ConditionSummary], groups: Mapping[Condition, Sequence[Record]]) -> CostSummary:
    """Every normal condition's cost point and the Pareto fronts. Controls are left out: they measure
    what the judge needs, and are no judge one would pick for its cost."""
    points = [
        cost_point(c, c.overall, groups[Condition(mode=c.mode, frames=c.frames, k=c.k)])
        for c in conditions
        if c.control is None
    ]
    return CostSummary(points=points, fronts=pareto_fronts(points))
