"""Benchmark statistics: accuracy per dimension with bootstrap CIs, the invalid-verdict policy,
paired agentic-vs-single comparisons (difference with CI, exact McNemar, flip tables), tool-use
statistics and what tool use fixed or broke. numpy only; every figure is computed from the records.

Scores: an `ok` judgment scores 1 when its verdict picks the chosen response, else 0. Any other
status (invalid, tie, refused, error) scores by the policy: `wrong` 0, `half` 0.5, `drop` excluded,
`random` a seeded coin flip (what lmms-eval does with an unparsable answer).
Flip tables and McNemar count a judgment as right only when it scores 1.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vrb_agent.benchmark.costs import cost_summary
from vrb_agent.benchmark.health import run_warnings
from vrb_agent.benchmark.records import UNKNOWN_SOURCE, iter_records
from vrb_agent.benchmark.rundir import RunDir
from vrb_agent.benchmark.summary import (
    AccuracyCell,
    AccuracyTable,
    Comparison,
    Condition,
    ConditionSummary,
    FlipCounts,
    GainRow,
    Gains,
    ImageBin,
    PairedComparison,
    PairedRow,
    RunSummary,
    ToolStats,
)
from vrb_agent.errors import VrbError

POLICIES = ("wrong", "drop", "half", "random")
NO_VERDICT_SCORES = {"wrong": 0.0, "half": 0.5, "drop": None}  # `random`: coin_flip
STATUSES = ("ok", "invalid", "tie", "refused", "error")
IMAGE_BINS = ((0, 1), (2, 4), (5, 8), (9, 16), (17, 32), (33, 64), (65, 128), (129, 10**9))
NO_TOOL = "(no tool)"
MODE_ORDER = {"single": 0, "agentic": 1}

Record = dict[str, Any]
Pair = tuple[float, float]  # (baseline score, treatment score) of one sample


def score(record: Record, policy: str, seed: int = 0) -> float | None:
    """The record's score under the invalid policy; None when the policy drops it."""
    if policy not in POLICIES:
        raise VrbError(f"--invalid-policy {policy!r} is unknown; choose one of: {', '.join(POLICIES)}")
    if record.get("status") == "ok":
        return 1.0 if record.get("correct") else 0.0
    return coin_flip(record, seed) if policy == "random" else NO_VERDICT_SCORES[policy]


def coin_flip(record: Record, seed: int) -> float:
    """1.0 or 0.0 by a hash of (seed, sample id, condition): the same in every process and order."""
    cond = condition_of(record)
    key = f"{seed}\x00{record['sample_id']}\x00{cond.mode}\x00{cond.frames}\x00{cond.k}"
    return float(hashlib.sha256(key.encode()).digest()[0] & 1)


# ---- statistics ---------------------------------------------------------------------------------


def mcnemar_exact(fixed: int, broken: int) -> float:
    """Two-sided exact McNemar p-value: binomial test of `fixed` vs `broken` discordant pairs at 1/2."""
    n = fixed + broken
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(fixed, broken) + 1))
    return min(1.0, 2 * tail / 2**n)


def _boot_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `n_boot` resamples with replacement, in chunks to bound memory."""
    n = len(values)
    out = np.empty(n_boot)
    chunk = max(1, 2_000_000 // max(n, 1))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


def bootstrap_ci(
    values: Sequence[float],
    *,
    strata: Sequence[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the mean (or, with `strata`, of the unweighted mean of per-stratum
    means, resampling within each stratum). None for an empty sample."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return None
    rng = np.random.default_rng(seed)
    if strata is None:
        stats = _boot_means(x, n_boot, rng)
    else:
        labels = np.asarray(strata)
        groups = [x[labels == s] for s in sorted(set(strata))]
        stats = np.mean([_boot_means(g, n_boot, rng) for g in groups], axis=0)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return float(lo), float(hi)


# ---- records ------------------------------------------------------------------------------------


def read_results(path: str | Path) -> list[Record]:
    """Records of a results.jsonl, each read through `ResultRecord` and kept as its JSON object (a
    partial trailing line from a killed run is ignored; a corrupt line is an error naming it)."""
    return [record.to_dict() for record in iter_records(path)]


def condition_of(record: Record) -> Condition:
    mode, frames, k = str(record["mode"]), int(record.get("frames") or 0), int(record.get("k") or 1)
    return Condition(mode=mode, frames=frames, k=k, control=record.get("control") or None)


def condition_order(condition: Condition) -> tuple[int, int, int, str, str]:
    """Conditions by frames, then k, then single before agentic, each before its controls."""
    return (condition.frames, condition.k, MODE_ORDER.get(condition.mode, 9), condition.mode, condition.control or "")


def dedupe(records: Iterable[Record]) -> tuple[list[Record], int]:
    """One record per (sample, mode, frames, k, control) cell, the last one winning, in cell order (so the
    bootstrap does not depend on the order judgments finished, or on how a run was sharded); and how
    many were dropped."""
    cells: dict[tuple[str, str, int, int, str], Record] = {}
    total = 0
    for record in records:
        total += 1
        c = condition_of(record)
        cells[(str(record["sample_id"]), c.mode, c.frames, c.k, c.control or "")] = record
    return [cells[key] for key in sorted(cells)], total - len(cells)


def _cell(total: int, scores: list[float], strata: list[str] | None, n_boot: int, seed: int) -> AccuracyCell:
    n = len(scores)
    if strata is None:
        accuracy = sum(scores) / n if n else None
    else:
        per = defaultdict(list)
        for s, d in zip(scores, strata, strict=True):
            per[d].append(s)
        accuracy = float(np.mean([sum(v) / len(v) for v in per.values()])) if per else None
    ci = bootstrap_ci(scores, strata=strata, n_boot=n_boot, seed=seed)
    return AccuracyCell(n=n, total=total, correct=sum(scores), accuracy=accuracy, ci=list(ci) if ci else None)


def _scores(records: Iterable[Record], policy: str, seed: int) -> list[float]:
    return [s for s in (score(r, policy, seed) for r in records) if s is not None]


def _grouped(records: Iterable[Record], group_of: Callable[[Record], str]) -> dict[str, list[Record]]:
    groups: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        groups[group_of(record)].append(record)
    return dict(sorted(groups.items()))


def accuracy_table(records: Sequence[Record], policy: str, *, n_boot: int = 2000, seed: int = 0) -> AccuracyTable:
    """Per-dimension, overall (sample-weighted) and macro (mean of dimensions) accuracy with CIs,
    per source dataset, plus the count of every status so the policy's effect is visible."""
    by_dim = _grouped(records, lambda r: str(r["dimension"]))
    dims: dict[str, AccuracyCell] = {}
    all_scores: list[float] = []
    all_dims: list[str] = []
    for dim in by_dim:
        scores = _scores(by_dim[dim], policy, seed)
        dims[dim] = _cell(len(by_dim[dim]), scores, None, n_boot, seed)
        all_scores += scores
        all_dims += [dim] * len(scores)
    statuses = Counter(str(r.get("status")) for r in records)
    return AccuracyTable(
        overall=_cell(len(records), all_scores, None, n_boot, seed),
        macro=_cell(len(records), all_scores, all_dims, n_boot, seed),
        by_dimension=dims,
        status_counts={s: statuses.get(s, 0) for s in STATUSES},
        by_source={
            src: _cell(len(rows), _scores(rows, policy, seed), None, n_boot, seed)
            for src, rows in _grouped(records, lambda r: str(r.get("source") or UNKNOWN_SOURCE)).items()
        },
    )


# ---- tool use -----------------------------------------------------------------------------------


def tools_used(record: Record) -> list[str]:
    return sorted({str(call.get("name")) for call in record.get("tool_calls") or []})


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def tool_stats(records: Sequence[Record]) -> ToolStats:
    """Per judgment (error records excluded: they made no verdict attempt worth counting): tool calls
    by tool, invalid calls, images, tokens, latency and cost."""
    judged = [r for r in records if r.get("status") != "error"]
    n = len(judged)
    calls: Counter[str] = Counter()
    invalid = 0
    for record in judged:
        for call in record.get("tool_calls") or []:
            calls[str(call.get("name"))] += 1
            invalid += not call.get("ok", True)
    usage = [r.get("usage") or {} for r in judged]
    latency = [float(r["latency_s"]) for r in judged if r.get("latency_s") is not None]
    costs = [u["cost_usd"] for u in usage if u.get("cost_usd") is not None]
    return ToolStats(
        judgments=n,
        calls_per_verdict={name: calls[name] / n for name in sorted(calls)} if n else {},
        total_calls_per_verdict=sum(calls.values()) / n if n else None,
        invalid_call_share=invalid / sum(calls.values()) if calls else None,
        images_per_verdict=sum(int(r.get("images_sent") or 0) for r in judged) / n if n else None,
        input_tokens=sum(int(u.get("input_tokens") or 0) for u in usage),
        output_tokens=sum(int(u.get("output_tokens") or 0) for u in usage),
        model_calls=sum(int(u.get("calls") or 0) for u in usage),
        latency_mean_s=sum(latency) / len(latency) if latency else None,
        latency_p50_s=_percentile(latency, 50),
        latency_p95_s=_percentile(latency, 95),
        cost_usd=sum(costs) if costs else None,
        cost_known=len(costs),
    )


def accuracy_by_images(records: Sequence[Record], policy: str, *, n_boot: int = 2000, seed: int = 0) -> list[ImageBin]:
    """Accuracy of judgments grouped by how many images they were sent (power-of-two bins), with a
    bootstrap CI and the bin's mean image count: the x a plot should use, since a bin's centre can
    lie far from its data (single-pass is always sent exactly the overview frames)."""
    rows = []
    for lo, hi in IMAGE_BINS:
        scored = [
            (int(r.get("images_sent") or 0), s)
            for r in records
            if r.get("status") != "error" and lo <= int(r.get("images_sent") or 0) <= hi
            for s in [score(r, policy, seed)]
            if s is not None
        ]
        if scored:
            scores = [s for _, s in scored]
            ci = bootstrap_ci(scores, n_boot=n_boot, seed=seed)
            rows.append(
                ImageBin(
                    images=f"{lo}-{hi}" if hi < 10**9 else f"{lo}+",
                    n=len(scores),
                    accuracy=sum(scores) / len(scores),
                    ci=list(ci) if ci else None,
                    mean_images=sum(n for n, _ in scored) / len(scored),
                )
            )
    return rows


# ---- paired comparison --------------------------------------------------------------------------


def _flip_counts(pairs: Sequence[Pair]) -> FlipCounts:
    counts = {"fixed": 0, "broken": 0, "both_right": 0, "both_wrong": 0}
    for base, treat in pairs:
        key = {(False, True): "fixed", (True, False): "broken", (True, True): "both_right"}.get(
            (base == 1.0, treat == 1.0), "both_wrong"
        )
        counts[key] += 1
    return FlipCounts(**counts)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _gain_row(pairs: Sequence[Pair]) -> GainRow:
    flips = _flip_counts(pairs)
    base_wrong = flips.fixed + flips.both_wrong
    base_right = flips.broken + flips.both_right
    return GainRow(
        single_wrong=base_wrong,
        fixed=flips.fixed,
        fixed_share=_share(flips.fixed, base_wrong),
        single_right=base_right,
        broken=flips.broken,
        broken_share=_share(flips.broken, base_right),
    )


def _paired_row(pairs: Sequence[Pair], n_boot: int, seed: int) -> PairedRow:
    """Accuracy of both modes on the same pairs, their difference with a paired bootstrap CI, the
    flip counts and the exact McNemar p-value."""
    n = len(pairs)
    diffs = [t - b for b, t in pairs]
    flips = _flip_counts(pairs)
    ci = bootstrap_ci(diffs, n_boot=n_boot, seed=seed)
    return PairedRow(
        n_pairs=n,
        baseline_accuracy=sum(b for b, _ in pairs) / n if n else None,
        treatment_accuracy=sum(t for _, t in pairs) / n if n else None,
        difference=sum(diffs) / n if n else None,
        ci=list(ci) if ci else None,
        mcnemar_p=mcnemar_exact(flips.fixed, flips.broken),
        **flips.model_dump(),
    )


def _scored_pairs(base: Sequence[Record], treat: Sequence[Record], policy: str, seed: int) -> list[tuple[Record, Pair]]:
    """Each treatment record whose sample the baseline also scored, with both scores."""
    base_by_id = {str(r["sample_id"]): r for r in base}
    pairs: list[tuple[Record, Pair]] = []
    for record in treat:
        other = base_by_id.get(str(record["sample_id"]))
        if other is None:
            continue
        s_base, s_treat = score(other, policy, seed), score(record, policy, seed)
        if s_base is not None and s_treat is not None:
            pairs.append((record, (s_base, s_treat)))
    return pairs


def compare(
    base: Sequence[Record],
    treat: Sequence[Record],
    policy: str,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> PairedComparison:
    """Treatment (agentic) vs baseline (single) on the samples both scored: mean paired difference with
    a bootstrap CI, exact McNemar, flip tables and tool-use gains per dimension and per tool."""
    pairs = _scored_pairs(base, treat, policy, seed)
    every = [pair for _, pair in pairs]
    by_dim: dict[str, list[Pair]] = defaultdict(list)
    by_tool: dict[str, list[Pair]] = defaultdict(list)
    for record, pair in pairs:
        by_dim[str(record["dimension"])].append(pair)
        for tool in tools_used(record) or [NO_TOOL]:
            by_tool[tool].append(pair)
    return PairedComparison(
        **_paired_row(every, n_boot, seed).model_dump(),
        flips=_flip_counts(every),
        by_dimension={dim: _paired_row(v, n_boot, seed) for dim, v in sorted(by_dim.items())},
        gains=Gains(
            overall=_gain_row(every),
            by_dimension={dim: _gain_row(v) for dim, v in sorted(by_dim.items())},
            by_tool={tool: _gain_row(v) for tool, v in sorted(by_tool.items())},
        ),
    )


SIGNIFICANCE = 0.05


def paired_direction(row: PairedRow, alpha: float = SIGNIFICANCE) -> int:
    """+1 when the treatment is significantly better (McNemar p < alpha and the paired CI above 0),
    -1 when significantly worse (p < alpha, CI below 0), else 0: no significant difference."""
    ci, p = row.ci, row.mcnemar_p
    if not ci or p >= alpha:
        return 0
    if ci[0] > 0:
        return 1
    if ci[1] < 0:
        return -1
    return 0


# ---- whole runs ---------------------------------------------------------------------------------


def _condition_summary(
    condition: Condition, rows: Sequence[Record], policy: str, n_boot: int, seed: int
) -> ConditionSummary:
    table = accuracy_table(rows, policy, n_boot=n_boot, seed=seed)
    return ConditionSummary(
        **condition.model_dump(),
        **dict(table),
        tools=tool_stats(rows),
        accuracy_by_images=accuracy_by_images(rows, policy, n_boot=n_boot, seed=seed),
    )


def _summarize_records(records: Sequence[Record], policy: str, n_boot: int, seed: int) -> RunSummary:
    """Every condition's accuracy and tool statistics, agentic-vs-single comparisons at each
    (frames, k) where both modes ran, each condition's bias and calibration panels, and the visual
    dependence of each condition run with controls."""
    from vrb_agent.benchmark.panels import summary_panels  # noqa: PLC0415 - the panels build on this module

    score({"status": "ok"}, policy)  # validates the policy name
    unique, duplicates = dedupe(records)
    groups: dict[Condition, list[Record]] = defaultdict(list)
    for record in unique:
        groups[condition_of(record)].append(record)
    ordered = sorted(groups, key=condition_order)
    comparisons = []
    for cond in sorted(groups, key=lambda c: (c.frames, c.k)):
        base = Condition(mode="single", frames=cond.frames, k=cond.k)
        if cond.mode == "agentic" and not cond.control and base in groups:
            result = compare(groups[base], groups[cond], policy, n_boot=n_boot, seed=seed)
            at = {"frames": cond.frames, "k": cond.k, "baseline": "single", "treatment": "agentic"}
            comparisons.append(Comparison.model_validate({**at, **dict(result)}))
    conditions = [_condition_summary(c, groups[c], policy, n_boot, seed) for c in ordered]
    return RunSummary(
        invalid_policy=policy,
        records=len(unique),
        duplicates_ignored=duplicates,
        samples=len({str(r["sample_id"]) for r in unique}),
        conditions=conditions,
        comparisons=comparisons,
        **summary_panels(unique, groups, ordered, policy, n_boot, seed),
        cost=cost_summary(conditions, groups) if conditions else None,
    )


def read_run(run_dir: Path) -> tuple[list[Record], dict[str, Any]]:
    """A RUN_DIR's records and its run.json (empty when missing)."""
    files = RunDir(run_dir)
    if not files.results.is_file():
        raise VrbError(f"{run_dir}: no {RunDir.RESULTS} here (is this a RUN_DIR written by `vrb-agent bench`?)")
    return read_results(files.results), files.read_manifest() or {}


def summarize(
    source: str | Path | Sequence[Record],
    invalid_policy: str = "wrong",
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> RunSummary:
    """Summarize a run directory (its results.jsonl and run.json, with the run's warnings) or a list
    of records."""
    if not isinstance(source, str | Path):
        return _summarize_records(list(source), invalid_policy, n_boot, seed)
    records, run = read_run(Path(source))
    summary = _summarize_records(records, invalid_policy, n_boot, seed)
    warnings = run_warnings(dedupe(records)[0], run.get("cells"))
    return summary.model_copy(update={"run_dir": str(source), "run": run, "warnings": warnings})
