"""The typed summary of benchmark runs: what `metrics.summarize` returns, what `report` writes to
summary.json (field order is the file's key order) and renders into report.md and report.html.

Optional top-level fields (a run's directory, run.json, warnings; the side-by-side table) are left
out of the JSON when absent rather than written as null, as summary.json has always done.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from vrb_agent.benchmark.evidence_models import EvidenceAudit, FailureAttribution


class _Dumped(BaseModel):
    """A model whose fields listed in `_OMIT_NONE` are left out of its dump when they are None."""

    _OMIT_NONE: frozenset[str] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if not (k in self._OMIT_NONE and v is None)}


class AccuracyCell(BaseModel):
    """Accuracy of one group of judgments: scored n of total, the score sum, the mean and its CI."""

    n: int
    total: int
    correct: float
    accuracy: float | None
    ci: list[float] | None


class AccuracyTable(BaseModel):
    """Sample-weighted and macro accuracy, per dimension and per source dataset, and how many
    judgments had each status."""

    overall: AccuracyCell
    macro: AccuracyCell
    by_dimension: dict[str, AccuracyCell]
    by_source: dict[str, AccuracyCell] = Field(default_factory=dict)
    status_counts: dict[str, int]


class RescoredAs(BaseModel):
    """How a rescored table voted and scored: the vote rule (`valid` | `strict`, see
    agents.verdict.VOTE_RULES), the invalid policy, which published harness scores this way, and how
    many records carried no votes to recompute (older versions; scored by their recorded status)."""

    rule: str
    policy: str
    matches: str | None = None
    without_votes: int = 0


class RescoreRow(AccuracyTable, RescoredAs):
    """A condition's records revoted under one rule and scored under one policy; its statuses are
    those the graph gives under the rule (`tie`: valid votes without a winner, e.g. no label > K/2)."""


class ToolStats(BaseModel):
    """Per-judgment tool use, images, tokens, latency and cost of one condition."""

    judgments: int
    calls_per_verdict: dict[str, float]
    total_calls_per_verdict: float | None
    invalid_call_share: float | None
    images_per_verdict: float | None
    input_tokens: int
    output_tokens: int
    model_calls: int
    latency_mean_s: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    cost_usd: float | None
    cost_known: int


class ImageBin(BaseModel):
    """Accuracy of the judgments sent a number of images in one bin, and the bin's mean count."""

    images: str
    n: int
    accuracy: float
    ci: list[float] | None
    mean_images: float


class Condition(_Dumped, frozen=True):
    """What a cell of the run varies besides the sample: the mode, overview frames and k, and the
    control (benchmark.controls; None for the normal cells, and then left out of the JSON)."""

    _OMIT_NONE = frozenset({"control"})

    mode: str
    frames: int
    k: int
    control: str | None = None


class ConditionSummary(Condition, frozen=True):
    """Everything measured for one condition."""

    overall: AccuracyCell
    macro: AccuracyCell
    by_dimension: dict[str, AccuracyCell]
    by_source: dict[str, AccuracyCell] = Field(default_factory=dict)
    status_counts: dict[str, int]
    tools: ToolStats
    accuracy_by_images: list[ImageBin]
    rescore: list[RescoreRow] = Field(default_factory=list)  # filled by `report --rescore`


class FlipCounts(BaseModel):
    """Paired judgments by whether the baseline and the treatment were right."""

    fixed: int
    broken: int
    both_right: int
    both_wrong: int


class PairedRow(BaseModel):
    """Both modes on the same pairs: accuracies, Δ with a paired bootstrap CI, exact McNemar p and
    the flip counts."""

    n_pairs: int
    baseline_accuracy: float | None
    treatment_accuracy: float | None
    difference: float | None
    ci: list[float] | None
    mcnemar_p: float
    fixed: int
    broken: int
    both_right: int
    both_wrong: int


class GainRow(BaseModel):
    """Among pairs the baseline got wrong, how many the treatment fixed; among right ones, broke."""

    single_wrong: int
    fixed: int
    fixed_share: float | None
    single_right: int
    broken: int
    broken_share: float | None


class Gains(BaseModel):
    overall: GainRow
    by_dimension: dict[str, GainRow]
    by_tool: dict[str, GainRow]


class ComparedAt(BaseModel):
    """Where a comparison was made and between which modes."""

    frames: int
    k: int
    baseline: str
    treatment: str


class PairedComparison(PairedRow):
    """Treatment against baseline over all pairs, per dimension and as tool-use gains."""

    flips: FlipCounts
    by_dimension: dict[str, PairedRow]
    gains: Gains


class Comparison(PairedComparison, ComparedAt):
    """Agentic (treatment) against single-pass (baseline) at one (frames, k). (Bases in this order
    so that summary.json lists where the comparison was made before its figures.)"""


class Rate(BaseModel):
    """A share over `n` judgments (each weighing once) with its 95 % bootstrap CI; None when n is 0."""

    n: int = 0
    rate: float | None = None
    ci: list[float] | None = None


class LengthSlope(BaseModel):
    """Logistic fit of a judgment being right on the length difference (chosen − rejected): the slope
    in log-odds per 100 characters, with a bootstrap CI; None when it cannot be fitted."""

    n: int = 0
    slope: float | None = None
    ci: list[float] | None = None


class BiasGroup(BaseModel):
    """The bias figures of one group of judgments (a dimension, or all of them)."""

    first_slot: Rate = Field(default_factory=Rate)
    order_flip: Rate = Field(default_factory=Rate)
    order_agreement: Rate = Field(default_factory=Rate)
    consistent_accuracy: Rate = Field(default_factory=Rate)
    length_slope: LengthSlope = Field(default_factory=LengthSlope)


class LengthBin(BaseModel):
    """Accuracy of the judgments whose length difference (chosen − rejected, characters) lies in a bin."""

    chars: str
    n: int
    accuracy: float
    ci: list[float] | None
    mean_difference: float


class BiasPanel(Condition, frozen=True):
    """Position and length bias of one condition: overall, per dimension, and accuracy by length bin."""

    overall: BiasGroup
    by_dimension: dict[str, BiasGroup]
    length_bins: list[LengthBin]


class ReliabilityBin(BaseModel):
    """The verdicts whose confidence lies in one bin: their mean confidence and accuracy (with CI)."""

    bin: str
    n: int
    confidence: float
    accuracy: float
    ci: list[float] | None


class CoveragePoint(BaseModel):
    """Accuracy on the most confident `coverage` share of the verdicts (ties at the cut shared evenly)."""

    coverage: float
    n: int
    accuracy: float
    ci: list[float] | None


class CalibrationPanel(Condition, frozen=True):
    """How well one condition's confidences (stated by the judge, or the vote share when k > 1) predict
    being right: ECE and Brier with CIs, the reliability diagram and selective accuracy."""

    source: str
    n: int
    records: int
    mean_confidence: float | None = None
    accuracy: float | None = None
    ece: float | None = None
    ece_ci: list[float] | None = None
    brier: float | None = None
    brier_ci: list[float] | None = None
    reliability: list[ReliabilityBin] = Field(default_factory=list)
    selective: list[CoveragePoint] = Field(default_factory=list)


class ControlledAt(BaseModel):
    """The normal condition a control is measured against, and the control."""

    mode: str
    frames: int
    k: int
    control: str


class VisualDependence(PairedRow, ControlledAt):
    """How much a condition's accuracy depends on the media: the normal cells (treatment) against the
    same condition under a control (baseline) on the same samples, so `difference` is normal − control
    with a paired bootstrap CI; overall and per dimension."""

    by_dimension: dict[str, PairedRow]


class CostPoint(Condition, frozen=True):
    """One condition on the accuracy-vs-cost plane: overall accuracy with its CI, and the mean
    cost of one sample (USD when every judgment that called the model was priced, images sent,
    tokens); for cascade, how many samples escalated to agentic and how many escalations failed."""

    accuracy: float | None
    ci: list[float] | None
    n: int
    samples: int
    usd_per_sample: float | None
    images_per_sample: float
    tokens_per_sample: float
    escalated: int | None = None
    escalation_failed: int | None = None
    escalated_share: float | None = None


CostUnit = Literal["usd", "images", "tokens"]


class ParetoFront(BaseModel):
    """Which points (same order as `CostSummary.points`) are on the accuracy-vs-`cost` Pareto front."""

    cost: CostUnit
    on_front: list[bool]


class CostSummary(BaseModel):
    """Accuracy against cost for every condition, with the Pareto front in USD when every point is
    priced, else in images sent and (when any were counted) tokens."""

    points: list[CostPoint]
    fronts: list[ParetoFront]


class RunSummary(_Dumped):
    """One run: its RUN_DIR (several when shards were merged), run.json, warnings and figures."""

    _OMIT_NONE = frozenset({"run_dir", "run_dirs", "run", "warnings", "visual_dependence", "cost"})

    run_dir: str | None = None
    run_dirs: list[str] | None = None
    run: dict[str, Any] | None = None
    warnings: list[str] | None = None
    invalid_policy: str
    records: int
    duplicates_ignored: int
    samples: int
    conditions: list[ConditionSummary]
    comparisons: list[Comparison]
    bias: list[BiasPanel] = Field(default_factory=list)
    calibration: list[CalibrationPanel] = Field(default_factory=list)
    visual_dependence: list[VisualDependence] | None = None  # with controls (benchmark.controls)
    evidence_audit: EvidenceAudit | None = None  # benchmark.audit
    failure_attribution: FailureAttribution | None = None  # benchmark.attribution
    cost: CostSummary | None = None

    @property
    def is_sweep(self) -> bool:
        """Whether the run varies frames or k (then every condition is labelled with them)."""
        return len({(c.frames, c.k) for c in self.conditions}) > 1

    @property
    def dirs(self) -> list[str]:
        """The RUN_DIRs whose records this summary counts."""
        return self.run_dirs or ([self.run_dir] if self.run_dir else [])


class SharedCondition(Condition, frozen=True):
    """One condition's overall accuracy in each run (None where a run lacks it) on shared samples,
    and its bias and calibration figures on the same samples."""

    shared: int
    cells: list[AccuracyCell | None]
    bias: list[BiasGroup | None] = Field(default_factory=list)
    calibration: list[CalibrationPanel | None] = Field(default_factory=list)


class RunCostPoint(CostPoint, frozen=True):
    """A condition of one run on the accuracy-vs-cost plane; `run` is its index in `Report.runs`."""

    run: int


class SharedCost(BaseModel):
    """Every run's conditions (controls left out) on the accuracy-vs-cost plane, each on its shared
    samples, and the Pareto fronts over all of them together: which run and condition give the most
    accuracy for what they cost."""

    points: list[RunCostPoint]
    fronts: list[ParetoFront]


class SharedPanels(BaseModel):
    """One run's visual dependence, evidence audit and failure attribution, each condition's records
    kept to its shared samples."""

    visual_dependence: list[VisualDependence] | None = None
    evidence_audit: EvidenceAudit | None = None
    failure_attribution: FailureAttribution | None = None


class SideBySide(BaseModel):
    """Several runs compared on the samples they share: per condition, and the panels of each run
    (`panels`, in run order) and accuracy against cost on the same samples."""

    samples: list[int]
    shared_samples: int
    same_samples: bool
    conditions: list[SharedCondition]
    panels: list[SharedPanels] = Field(default_factory=list)
    cost: SharedCost | None = None


class Report(_Dumped):
    """summary.json: when and under which policy it was made, each run, and runs side by side."""

    _OMIT_NONE = frozenset({"side_by_side"})

    generated: str
    invalid_policy: str
    runs: list[RunSummary]
    side_by_side: SideBySide | None = None
