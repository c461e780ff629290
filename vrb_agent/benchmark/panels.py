"""The panels of a run summary beyond accuracy and the paired comparison: bias, calibration, visual
dependence, evidence audit and failure attribution. Bias, calibration and dependence build on
`metrics`' bootstrap and comparison, so `metrics` asks for them here when it summarizes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vrb_agent.benchmark.attribution import failure_attribution
from vrb_agent.benchmark.audit import evidence_audit
from vrb_agent.benchmark.bias import bias_panel
from vrb_agent.benchmark.calibration import calibration_panel
from vrb_agent.benchmark.dependence import visual_dependence
from vrb_agent.benchmark.summary import Condition

Record = dict[str, Any]


def summary_panels(  # noqa: PLR0917
    unique: Sequence[Record],
    groups: dict[Condition, list[Record]],
    ordered: Sequence[Condition],
    policy: str,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """RunSummary's panel fields: `unique` the run's records, `groups` the same by condition, `ordered`
    the conditions as the report lists them."""
    return {
        "bias": [bias_panel(c, groups[c], policy, n_boot=n_boot, seed=seed) for c in ordered],
        "calibration": [calibration_panel(c, groups[c], n_boot=n_boot, seed=seed) for c in ordered],
        "visual_dependence": visual_dependence(groups, policy, n_boot=n_boot, seed=seed),
        "evidence_audit": evidence_audit(unique, n_boot=n_boot, seed=seed),
        "failure_attribution": failure_attribution(unique, n_boot=n_boot, seed=seed),
    }
