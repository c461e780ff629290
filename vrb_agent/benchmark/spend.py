"""`--budget-usd`: stop a run before its estimated spend passes a budget, keeping what is finished.

The spend is the estimated USD of the run's model calls (the backends price each reply from
judges/pricing.py): what RUN_DIR's records already cost, plus every priced reply of this session.
Before each model call, the next call is estimated at the mean cost of the calls so far, and every
call in flight is counted at that mean too; when that estimate would pass the budget, the call is
refused with BudgetReachedError, which stops the run like a configuration error does. The judgments
in flight are left unwritten, so a resume (with a higher budget, or none) redoes them. A reply with
no price (a model the table does not know, a local server) makes the budget meaningless: the run
stops with a ConfigError naming the model rather than spending blind.
"""

from __future__ import annotations

from collections.abc import Iterable

from vrb_agent.benchmark.escalation import paid_usages
from vrb_agent.benchmark.records import ResultRecord
from vrb_agent.benchmark.wrapped import WrappedBackend
from vrb_agent.judges.base import Backend, ConfigError, ModelReply, ModelRequest


class BudgetReachedError(ConfigError):
    """The next model call would take the estimated spend past --budget-usd (CLI exit 8)."""


def record_spend(record: ResultRecord) -> tuple[float, int]:
    """(USD, priced model calls) this record paid for. A cascade record's stages that were the run's
    own single/agentic cells are paid for by those cells' records, so they are not counted twice."""
    priced = [u for u in paid_usages(record.usage, record.cascade) if u.get("cost_usd") is not None]
    return sum(float(u["cost_usd"]) for u in priced), sum(int(u.get("calls") or 1) for u in priced)


def recorded_spend(records: Iterable[ResultRecord]) -> tuple[float, int]:
    """(USD, priced model calls) of every record of a RUN_DIR."""
    spent, calls = 0.0, 0
    for record in records:
        usd, n = record_spend(record)
        spent, calls = spent + usd, calls + n
    return spent, calls


class SpendMeter(WrappedBackend):
    """Passes calls to `inner`, adding up the estimated cost of its replies; refuses a call when the
    spend so far plus the calls in flight and this one, each at the mean cost per call, would pass
    `budget_usd` (see the module docstring)."""

    def __init__(self, inner: Backend, budget_usd: float) -> None:
        super().__init__(inner)
        self.budget_usd = budget_usd
        self.spent_usd = 0.0
        self.priced_calls = 0
        self.in_flight = 0
        self.stopped: BudgetReachedError | None = None

    def start_from(self, spent_usd: float, priced_calls: int) -> None:
        """Count what RUN_DIR's records already spent (a resumed run)."""
        self.spent_usd, self.priced_calls = spent_usd, priced_calls

    @property
    def mean_call_usd(self) -> float:
        return self.spent_usd / self.priced_calls if self.priced_calls else 0.0

    def _refuse(self) -> BudgetReachedError:
        estimate = self.spent_usd + (self.in_flight + 1) * self.mean_call_usd
        return BudgetReachedError(
            f"stopped the run: the estimated spend would pass --budget-usd {self.budget_usd:g} "
            f"(${self.spent_usd:.4f} spent, ${estimate:.4f} with the next call and the {self.in_flight} in flight, "
            f"at ${self.mean_call_usd:.4f} a call); finished results are kept: run the same command with a higher "
            "--budget-usd (or without it) to resume"
        )

    async def complete(self, request: ModelRequest) -> ModelReply:
        if self.stopped is None and self.spent_usd + (self.in_flight + 1) * self.mean_call_usd > self.budget_usd:
            self.stopped = self._refuse()
        if self.stopped is not None:
            raise self.stopped
        self.in_flight += 1
        try:
            reply = await self.inner.complete(request)
        finally:
            self.in_flight -= 1
        cost = reply.usage.cost_usd
        if cost is None:
            raise ConfigError(
                f"--budget-usd {self.budget_usd:g}: model {reply.model or self.model!r} has no price "
                "(not in vrb_agent/judges/pricing.py, or a local server), so the spend cannot be "
                "estimated; run without --budget-usd"
            )
        self.spent_usd += cost
        self.priced_calls += max(1, reply.usage.calls)
        return reply
