"""Calibration of a condition's confidences: is a verdict given with confidence 0.9 right 90 % of the
time? The confidence is the judge's own (`Verdict.confidence`, agentic at k = 1) or, when a judgment
drew several votes (k > 1, `--order both`), the winning vote share. Only `ok` verdicts with a
confidence count (a single-pass verdict at k = 1 states none).

- reliability diagram: ten equal-width confidence bins, each with its mean confidence and accuracy;
- ECE: the bins' |accuracy − confidence| weighted by their share of verdicts;
- Brier score: the mean of (confidence − right)²;
- selective accuracy: accuracy on the most confident x % of verdicts; verdicts tied at the cut are
  counted by their mean, as if the tie were broken at random, so the figure does not depend on order.
ECE, Brier and every point carry a 95 % bootstrap CI over verdicts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from vrb_agent.benchmark.metrics import Record, bootstrap_ci
from vrb_agent.benchmark.resample import bootstrap_stat_ci, bootstrap_stat_cis
from vrb_agent.benchmark.summary import CalibrationPanel, Condition, CoveragePoint, ReliabilityBin

BINS = 10
COVERAGES = tuple(c / 10 for c in range(1, 11))


def confident_verdicts(records: Sequence[Record]) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, right as 0/1) of every ok verdict that has a confidence."""
    rows = [
        (float(r["confidence"]), 1.0 if r.get("correct") else 0.0)
        for r in records
        if r.get("status") == "ok" and r.get("confidence") is not None
    ]
    return np.array([c for c, _ in rows]), np.array([y for _, y in rows])


def confidence_source(records: Sequence[Record]) -> str:
    """Where the condition's confidences come from: the judge's statement or the vote share."""
    scored = [r for r in records if r.get("status") == "ok" and r.get("confidence") is not None]
    if not scored:
        return "none"
    shares = {len(r.get("votes") or []) > 1 for r in scored}
    return "mixed" if len(shares) > 1 else ("vote share" if shares == {True} else "stated")


def bin_of(confidence: np.ndarray) -> np.ndarray:
    """The reliability bin (0..9) of each confidence; 1.0 falls in the last bin."""
    return np.minimum((confidence * BINS).astype(int), BINS - 1)


def expected_calibration_errors(confidence: np.ndarray, right: np.ndarray) -> np.ndarray:
    """ECE of each row: sum over bins of |Σ right − Σ confidence| / n (rows: resamples)."""
    rows, n = confidence.shape
    flat = (np.arange(rows)[:, None] * BINS + bin_of(confidence)).ravel()
    gap = np.bincount(flat, weights=(right - confidence).ravel(), minlength=rows * BINS)
    return np.abs(gap.reshape(rows, BINS)).sum(axis=1) / n


def selective_accuracies(confidence: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Per row (a resample), the accuracy on its ceil(coverage · n) most confident verdicts at each
    of COVERAGES (one column each); verdicts tied at the cut count by their mean."""
    ranked = -np.sort(-confidence, axis=1)
    columns = []
    for coverage in COVERAGES:
        keep = kept(coverage, confidence.shape[1])
        cut = ranked[:, keep - 1 : keep]
        above, tied = confidence > cut, confidence == cut
        tied_mean = (right * tied).sum(axis=1) / tied.sum(axis=1)
        columns.append(((right * above).sum(axis=1) + (keep - above.sum(axis=1)) * tied_mean) / keep)
    return np.stack(columns, axis=1)


def kept(coverage: float, n: int) -> int:
    """How many verdicts a coverage keeps (at least one; 0.3 of 10 is 3 despite 0.3 · 10 > 3 in floats)."""
    return max(1, math.ceil(coverage * n - 1e-9))


def reliability(confidence: np.ndarray, right: np.ndarray, n_boot: int, seed: int) -> list[ReliabilityBin]:
    bins = bin_of(confidence)
    out = []
    for index in sorted(set(bins.tolist())):
        hits = right[bins == index]
        ci = bootstrap_ci(hits.tolist(), n_boot=n_boot, seed=seed)
        out.append(
            ReliabilityBin(
                bin=f"{index / BINS:.1f}-{(index + 1) / BINS:.1f}",
                n=int(hits.size),
                confidence=float(confidence[bins == index].mean()),
                accuracy=float(hits.mean()),
                ci=list(ci) if ci else None,
            )
        )
    return out


def selective(confidence: np.ndarray, right: np.ndarray, n_boot: int, seed: int) -> list[CoveragePoint]:
    values = selective_accuracies(confidence[None, :], right[None, :])[0]
    at = functools.partial(_resampled_selective, confidence, right)
    cis = bootstrap_stat_cis(confidence.size, at, n_boot=n_boot, seed=seed)
    return [
        CoveragePoint(coverage=c, n=kept(c, confidence.size), accuracy=float(v), ci=ci)
        for c, v, ci in zip(COVERAGES, values, cis, strict=True)
    ]


def _resampled_selective(confidence: np.ndarray, right: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return selective_accuracies(confidence[idx], right[idx])


def ece_at(confidence: np.ndarray, right: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return expected_calibration_errors(confidence[idx], right[idx])


def calibration_panel(condition: Condition, records: Sequence[Record], *, n_boot: int, seed: int) -> CalibrationPanel:
    """The calibration of one condition's confidences (figures None when no verdict has one)."""
    confidence, right = confident_verdicts(records)
    base = {
        **condition.model_dump(),
        "source": confidence_source(records),
        "n": int(confidence.size),
        "records": len(records),
    }
    if not confidence.size:
        return CalibrationPanel(**base)
    everyone = np.arange(confidence.size)[None]
    ece = functools.partial(ece_at, confidence, right)
    brier_ci = bootstrap_ci(((confidence - right) ** 2).tolist(), n_boot=n_boot, seed=seed)
    return CalibrationPanel(
        **base,
        mean_confidence=float(confidence.mean()),
        accuracy=float(right.mean()),
        ece=float(ece(everyone)[0]),
        ece_ci=bootstrap_stat_ci(confidence.size, ece, n_boot=n_boot, seed=seed),
        brier=float(((confidence - right) ** 2).mean()),
        brier_ci=list(brier_ci) if brier_ci else None,
        reliability=reliability(confidence, right, n_boot, seed),
        selective=selective(confidence, right, n_boot, seed),
    )
