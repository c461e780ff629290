"""The summary's evidence panels (fields of `RunSummary`): the evidence audit (benchmark.audit) and
failure attribution (benchmark.attribution). Shares are fractions; CIs are 95 % bootstrap."""

from __future__ import annotations

from pydantic import BaseModel


class AuditCell(BaseModel):
    """Audited verdicts by class, their cited items, and the ungrounded share of checkable items."""

    verdicts: int
    grounded: int
    ungrounded: int
    uncheckable: int
    citations: int
    checkable: int
    ungrounded_citations: int
    ungrounded_rate: float | None
    ci: list[float] | None


class BackendAudit(BaseModel):
    backend: str
    overall: AuditCell
    by_dimension: dict[str, AuditCell]


class EvidenceAudit(BaseModel):
    """Per backend; `tolerance_s` is how far a cited time may lie from a shown frame's."""

    tolerance_s: float
    backends: list[BackendAudit]


class AttributionCell(BaseModel):
    """Wrong verdicts by where they failed, and the never-shown share of the attributable ones."""

    wrong: int
    never_shown: int
    shown_misjudged: int
    not_attributable: int
    never_shown_share: float | None
    ci: list[float] | None


class ConditionAttribution(BaseModel):
    mode: str
    frames: int
    k: int
    overall: AttributionCell
    by_dimension: dict[str, AttributionCell]


class CoverageRescue(BaseModel):
    """At one (frames, k): samples whose single-pass cell never showed the decisive evidence, how many
    of them the agentic cell's tools showed it to, and how many of those it then judged right."""

    frames: int
    k: int
    single_never_shown: int
    agentic_shown: int
    agentic_shown_share: float | None
    agentic_shown_right: int


class FailureAttribution(BaseModel):
    """Over the samples that say where their decisive evidence is (`located_samples`)."""

    located_samples: int
    conditions: list[ConditionAttribution]
    rescue: list[CoverageRescue]
