"""The `cascade` mode of a bench run: judge single-pass first and escalate to agentic only when the
single pass is uncertain (benchmark.escalation says when), recorded as a cell of its own.

A cascade cell is made of the same judgments as the run's single and agentic cells of its
(frames, k): the same JudgeConfig, seed and presentation. So when the run has those cells too, the
cascade takes them over instead of judging again (the stage is marked `reused`, and spend counts it
once): a cell finished in an earlier session is read back on resume, a cell judged now is awaited
(never holding a concurrency slot while it waits). A stage the run does not have is judged by the
cascade itself. The cascade record carries the deciding stage's verdict and what that stage was
shown (so the evidence audit and failure attribution read it as the judgment that decided), the
usage, images and latency of both stages added up (what the cascade costs on its own), and the
trace of its stages.
When the escalation fails (the agentic stage ends invalid, tied, refused or in error) the record
has that status and says so: the single pass's uncertain verdict is never used in its place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vrb_agent.benchmark.escalation import CascadeStage, CascadeTrace, EscalateWhen, Signals, escalation_reason
from vrb_agent.benchmark.records import Cell, ResultRecord
from vrb_agent.judges.base import Usage

CASCADE = "cascade"
STAGE_MODES = ("single", "agentic")
VERDICT_FIELDS = frozenset(
    {
        "status",
        "preferred",
        "confidence",
        "correct",
        "rationale",
        "tool_calls",
        "votes",
        "order_agreement",
        "verdict_evidence",
        "evidence",
        "shown",
        "timings",
        "notes",
        "error",
        "backend",
        "model",
    }
)

# A cell's key without the sample: the runner's condition, (mode, frames, k, ...) as in a record's
# key after its sample id; the cascade reads only the mode in front and keeps the rest as it is.
Key = tuple[Any, ...]
StageJudge = Callable[[Key], Awaitable[ResultRecord]]  # judges one stage, writes nothing
StageRecords = dict[str, dict[Key, ResultRecord]]  # sample id -> condition -> its record


@dataclass(frozen=True)
class Stage:
    """A stage's record and whether it is the run's own cell (reused) or was judged for the cascade."""

    record: ResultRecord
    reused: bool


def stage_key(condition: Key, mode: str) -> Key:
    """The condition of a cascade's stage: the same condition (frames, k, ...) in `mode`."""
    return (mode, *condition[1:])


def reusable_stages(records: Iterable[ResultRecord], conditions: Sequence[Key]) -> StageRecords:
    """Per sample, the finished single/agentic records that a still-missing cascade cell of the same
    condition can take over on resume (only those are kept, to bound memory)."""
    cascades = {c[1:] for c in conditions if c[0] == CASCADE}
    if not cascades:
        return {}
    records = list(records)
    done = {r.key for r in records}
    kept: StageRecords = {}
    for r in records:
        condition = r.key[1:]
        wanted = r.mode in STAGE_MODES and condition[1:] in cascades
        if wanted and (r.sample_id, *stage_key(condition, CASCADE)) not in done:
            kept.setdefault(r.sample_id, {})[condition] = r
    return kept


class StageBoard:
    """One sample's stage records for its cascade cells: those finished earlier (resume) and, for
    the single/agentic cells judged now, a future each cell's record is published to."""

    def __init__(self, conditions: Sequence[Key], finished: dict[Key, ResultRecord]) -> None:
        self.finished = finished
        wanted = {stage_key(c, m) for c in conditions if c[0] == CASCADE for m in STAGE_MODES}
        loop = asyncio.get_running_loop()
        self.pending: dict[Key, asyncio.Future[ResultRecord]] = {
            c: loop.create_future() for c in conditions if c in wanted
        }

    async def track(self, condition: Key, cell: Awaitable[ResultRecord]) -> None:
        """Run a plain cell and publish its record to the cascades waiting for it."""
        future = self.pending.get(condition)
        try:
            record = await cell
        except BaseException:
            if future is not None:
                future.cancel()  # the run is stopping: a waiting cascade stops with it
            raise
        if future is not None:
            future.set_result(record)

    async def get(self, condition: Key) -> ResultRecord | None:
        """The run's own record of this stage; None when the run does not judge that cell."""
        if condition in self.pending:
            return await self.pending[condition]
        return self.finished.get(condition)


async def judge_cascade(
    cell: Cell, key: Key, board: StageBoard, judge_stage: StageJudge, *, when: EscalateWhen, threshold: float
) -> ResultRecord:
    """The cascade record of the cell `key`: the single pass, then the agentic judgment when uncertain."""
    single = await _stage(key, "single", board, judge_stage)
    signals = Signals.model_validate(single.record.model_dump(include={"status", "confidence", "order_agreement"}))
    escalate, reason = escalation_reason(signals, when, threshold)
    stages = [single]
    if escalate:
        stages.append(await _stage(key, "agentic", board, judge_stage))
    trace = CascadeTrace(escalate_when=when, threshold=threshold, reason=reason, stages=[_trace(s) for s in stages])
    return cascade_record(cell, trace, stages)


async def _stage(condition: Key, mode: str, board: StageBoard, judge_stage: StageJudge) -> Stage:
    key = stage_key(condition, mode)
    own = await board.get(key)
    return Stage(own, reused=True) if own is not None else Stage(await judge_stage(key), reused=False)


def _trace(stage: Stage) -> CascadeStage:
    r = stage.record
    return CascadeStage(
        mode=r.mode, status=r.status, preferred=r.preferred, confidence=r.confidence,
        order_agreement=r.order_agreement, votes=r.votes, usage=r.usage, images_sent=r.images_sent,
        latency_s=r.latency_s, reused=stage.reused, error=r.error,
    )  # fmt: skip


def cascade_record(cell: Cell, trace: CascadeTrace, stages: list[Stage]) -> ResultRecord:
    """The record of a cascade cell from its stages: the last stage decides; costs add up."""
    records = [s.record for s in stages]
    decider = records[-1]
    taken: dict[str, Any] = decider.model_dump(exclude_unset=True, include=set(VERDICT_FIELDS))
    escalated = len(records) > 1
    if escalated and decider.status != "ok":
        taken |= {"preferred": None, "confidence": None, "correct": None}
        taken["error"] = (
            f"escalated to agentic ({trace.reason}), which gave no verdict (status {decider.status}): "
            f"{decider.error or 'no message'}"
        )
    usage = sum((Usage.model_validate(r.usage) for r in records), Usage())
    return ResultRecord(
        **{**cell.base(sum(r.latency_s for r in records)), **taken},
        images_sent=sum(r.images_sent for r in records),
        usage=usage.model_dump(mode="json"),
        images=list(dict.fromkeys(i for r in records for i in r.images)),
        escalated=escalated,
        cascade=trace,
    )
