"""Rescoring: the same records under every invalid policy and both vote rules, side by side, so a
number can be matched to the harness that published it.

Harnesses differ in two places. How K draws become one verdict: vrb-agent takes the majority of the
valid draws; VL-RewardBench's cal.py counts a label only when it has more than K/2 of all K draws,
unparsable ones included (`agents.verdict.VOTE_RULES`). And what a judgment without a verdict
scores (`metrics.POLICIES`): cal.py drops it from the denominator, VLMEvalKit counts it wrong,
lmms-eval guesses at random. Each record's winner is recomputed from its `votes` (sample A/B terms,
None for an invalid draw) read in chosen/rejected terms through its `chosen_position`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from vrb_agent.agents.verdict import VOTE_RULES, VoteRule, decide
from vrb_agent.benchmark.metrics import POLICIES, Record, accuracy_table, condition_of, dedupe
from vrb_agent.benchmark.summary import Condition, RescoreRow, RunSummary

HARNESSES: dict[tuple[VoteRule, str], str] = {
    ("strict", "drop"): "VL-RewardBench official (cal.py)",
    ("valid", "wrong"): "VLMEvalKit",
    ("valid", "random"): "lmms-eval",
}


def draws_of(record: Record) -> list[str | None] | None:
    """The record's draws as "chosen" / "rejected" (None: an invalid draw); None when it has no
    votes or no chosen position to read them by (records of older versions)."""
    votes = record.get("votes") or []
    chosen = record.get("chosen_position")
    if not votes or chosen not in ("A", "B"):
        return None
    return [None if v is None else ("chosen" if v == chosen else "rejected") for v in votes]


def revoted(record: Record, rule: VoteRule) -> Record:
    """The record with status and correctness as `rule` decides its draws. An error record stays an
    error (its draws may be unfinished) and a record without votes keeps its recorded verdict.
    Without a winner the status is the graph's: `tie`, unless no draw voted or (strict rule) most
    did not; then the recorded failure (invalid, refused), or `invalid` where the record had a verdict."""
    draws = draws_of(record)
    status = record.get("status")
    if status == "error" or draws is None:
        return record
    winner = decide(draws, rule)
    if winner is not None:
        return {**record, "status": "ok", "correct": winner == "chosen"}
    unvoted = draws.count(None)
    if unvoted == len(draws) or (rule == "strict" and 2 * unvoted > len(draws)):
        status = "invalid" if status in ("ok", "tie") else status
    else:
        status = "tie"
    return {**record, "status": status, "correct": None}


def rescore_rows(records: Sequence[Record], *, n_boot: int = 2000, seed: int = 0) -> list[RescoreRow]:
    """One condition's records under each vote rule and each invalid policy (rule-major order)."""
    without_votes = sum(1 for r in records if r.get("status") != "error" and draws_of(r) is None)
    rows = []
    for rule in VOTE_RULES:
        voted = [revoted(r, rule) for r in records]
        for policy in POLICIES:
            table = accuracy_table(voted, policy, n_boot=n_boot, seed=seed)
            matches = HARNESSES.get((rule, policy))
            rows.append(
                RescoreRow(rule=rule, policy=policy, matches=matches, without_votes=without_votes, **dict(table))
            )
    return rows


def with_rescore(summary: RunSummary, records: Sequence[Record], *, n_boot: int = 2000, seed: int = 0) -> RunSummary:
    """The summary with every condition's rescore table filled from the run's records (one per cell,
    as the summary counts them)."""
    groups: dict[Condition, list[Record]] = defaultdict(list)
    for record in dedupe(records)[0]:
        groups[condition_of(record)].append(record)
    keys = [Condition(mode=c.mode, frames=c.frames, k=c.k) for c in summary.conditions]
    conditions = [
        c.model_copy(update={"rescore": rescore_rows(groups[key], n_boot=n_boot, seed=seed)})
        for c, key in zip(summary.conditions, keys, strict=True)
    ]
    return summary.model_copy(update={"conditions": conditions})
