"""Metrics against hand-computed tables; McNemar and bootstrap against known values."""

from __future__ import annotations

import random

import pytest

from vrb_agent.benchmark.metrics import (
    accuracy_table,
    bootstrap_ci,
    compare,
    mcnemar_exact,
    paired_direction,
    summarize,
    tool_stats,
)
from vrb_agent.benchmark.summary import PairedRow
from vrb_agent.errors import VrbError


def rec(sid, dim, mode, status, correct=None, *, tools=(), images=16, latency=1.0, cost=None):
    calls = [{"name": t, "arguments": {}, "ok": ok} for t, ok in tools]
    usage = {"input_tokens": 1000, "output_tokens": 50, "calls": 3, "cost_usd": cost}
    cell = {"sample_id": sid, "dimension": dim, "mode": mode, "frames": 16, "k": 1, "status": status}
    return {
        **cell,
        "correct": correct,
        "tool_calls": calls,
        "images_sent": images,
        "usage": usage,
        "latency_s": latency,
    }


SINGLE = [
    rec("a1", "a", "single", "ok", True),
    rec("a2", "a", "single", "ok", False),
    rec("a3", "a", "single", "invalid"),
    rec("a4", "a", "single", "ok", True),
    rec("b1", "b", "single", "error"),
    rec("b2", "b", "single", "ok", True),
]
Z, S = ("zoom", True), ("select_frames", True)
AGENTIC = [
    rec("a1", "a", "agentic", "ok", True, images=16, latency=1, cost=0.01),
    rec("a2", "a", "agentic", "ok", True, tools=[Z], images=20, latency=2, cost=0.01),
    rec("a3", "a", "agentic", "ok", True, tools=[S, Z], images=24, latency=3, cost=0.01),
    rec("a4", "a", "agentic", "tie", tools=[Z], images=18, latency=4),
    rec("b1", "b", "agentic", "ok", False, tools=[S, ("select_frames", False)], images=32, latency=5),
    rec("b2", "b", "agentic", "ok", True, images=16, latency=6),
]


# Hand-computed: (policy, mode) -> (acc a, acc b, overall, macro, n overall)
EXPECTED = {
    ("wrong", "single"): (2 / 4, 1 / 2, 3 / 6, 0.5, 6),
    ("wrong", "agentic"): (3 / 4, 1 / 2, 4 / 6, 0.625, 6),
    ("drop", "single"): (2 / 3, 1.0, 3 / 4, 5 / 6, 4),
    ("drop", "agentic"): (1.0, 1 / 2, 4 / 5, 0.75, 5),
    ("half", "single"): (2.5 / 4, 1.5 / 2, 4 / 6, (0.625 + 0.75) / 2, 6),
    ("half", "agentic"): (3.5 / 4, 1 / 2, 4.5 / 6, (0.875 + 0.5) / 2, 6),
}


@pytest.mark.parametrize(("policy", "mode"), list(EXPECTED))
def test_accuracy_table_matches_hand_computed(policy, mode):
    table = accuracy_table(SINGLE if mode == "single" else AGENTIC, policy, n_boot=200).model_dump()
    acc_a, acc_b, overall, macro, n = EXPECTED[(policy, mode)]
    assert table["by_dimension"]["a"]["accuracy"] == pytest.approx(acc_a)
    assert table["by_dimension"]["b"]["accuracy"] == pytest.approx(acc_b)
    assert table["overall"]["accuracy"] == pytest.approx(overall)
    assert table["macro"]["accuracy"] == pytest.approx(macro)
    assert table["overall"]["n"] == n and table["overall"]["total"] == 6
    lo, hi = table["overall"]["ci"]
    assert lo <= overall <= hi


def test_status_counts_are_reported():
    assert accuracy_table(SINGLE, "drop").model_dump()["status_counts"] == {
        "ok": 4,
        "invalid": 1,
        "tie": 0,
        "refused": 0,
        "error": 1,
    }
    assert accuracy_table(AGENTIC, "wrong").model_dump()["status_counts"]["tie"] == 1


def test_unknown_policy_is_an_error():
    with pytest.raises(VrbError, match="--invalid-policy 'maybe'"):
        summarize(SINGLE, "maybe")


@pytest.mark.parametrize("policy", ["wrong", "drop", "half"])
def test_overall_is_the_sample_weighted_mean_of_dimensions(policy):
    rng = random.Random(7)
    statuses = ["ok", "ok", "ok", "invalid", "tie", "refused", "error"]
    records = [
        rec(
            f"s{i}",
            rng.choice("abcde"),
            "single",
            (st := rng.choice(statuses)),
            rng.random() < 0.6 if st == "ok" else None,
        )
        for i in range(300)
    ]
    table = accuracy_table(records, policy, n_boot=100).model_dump()
    dims = table["by_dimension"].values()
    weighted = sum(d["accuracy"] * d["n"] for d in dims) / sum(d["n"] for d in dims)
    assert table["overall"]["accuracy"] == pytest.approx(weighted, abs=1e-12)
    assert table["macro"]["accuracy"] == pytest.approx(sum(d["accuracy"] for d in dims) / len(dims), abs=1e-12)
    assert table["overall"]["n"] == sum(d["n"] for d in dims)


def test_paired_comparison_flip_table_and_mcnemar():
    result = compare(SINGLE, AGENTIC, "wrong", n_boot=200).model_dump()
    assert result["flips"] == {"fixed": 2, "broken": 1, "both_right": 2, "both_wrong": 1}
    assert result["n_pairs"] == 6 and result["difference"] == pytest.approx(1 / 6)
    assert result["baseline_accuracy"] == pytest.approx(0.5) and result["treatment_accuracy"] == pytest.approx(4 / 6)
    assert result["mcnemar_p"] == pytest.approx(1.0)  # 2 * (C(3,0) + C(3,1)) / 2^3
    a = result["by_dimension"]["a"]
    assert (a["fixed"], a["broken"], a["both_right"], a["both_wrong"], a["n_pairs"]) == (2, 1, 1, 0, 4)
    assert a["difference"] == pytest.approx(0.25)
    b = result["by_dimension"]["b"]
    assert (b["fixed"], b["broken"], b["both_right"], b["both_wrong"]) == (0, 0, 1, 1)


def test_paired_comparison_under_drop_and_half():
    dropped = compare(SINGLE, AGENTIC, "drop", n_boot=200).model_dump()
    assert dropped["n_pairs"] == 3 and dropped["flips"] == {"fixed": 1, "broken": 0, "both_right": 2, "both_wrong": 0}
    assert dropped["difference"] == pytest.approx(1 / 3)
    half = compare(SINGLE, AGENTIC, "half", n_boot=200).model_dump()
    assert half["n_pairs"] == 6 and half["difference"] == pytest.approx(0.5 / 6)
    assert half["flips"] == {"fixed": 2, "broken": 1, "both_right": 2, "both_wrong": 1}


def test_tool_use_gains_per_dimension_and_per_tool():
    gains = compare(SINGLE, AGENTIC, "wrong", n_boot=100).model_dump()["gains"]
    assert gains["overall"] == {"single_wrong": 3, "fixed": 2, "fixed_share": 2 / 3, "single_right": 3, "broken": 1,
                                "broken_share": 1 / 3}  # fmt: skip
    assert gains["by_dimension"]["a"]["fixed_share"] == 1.0 and gains["by_dimension"]["a"]["broken_share"] == 0.5
    zoom = gains["by_tool"]["zoom"]
    assert (zoom["single_wrong"], zoom["fixed"], zoom["single_right"], zoom["broken"]) == (2, 2, 1, 1)
    select = gains["by_tool"]["select_frames"]
    assert (select["single_wrong"], select["fixed"], select["fixed_share"], select["broken_share"]) == (2, 1, 0.5, None)
    none = gains["by_tool"]["(no tool)"]
    assert (none["single_wrong"], none["fixed_share"], none["single_right"], none["broken_share"]) == (0, None, 2, 0.0)


def test_tool_statistics():
    stats = tool_stats(AGENTIC).model_dump()
    assert stats["judgments"] == 6
    assert stats["calls_per_verdict"] == {"select_frames": 0.5, "zoom": 0.5}
    assert stats["total_calls_per_verdict"] == 1.0 and stats["invalid_call_share"] == pytest.approx(1 / 6)
    assert stats["images_per_verdict"] == pytest.approx(21.0)
    assert (stats["input_tokens"], stats["output_tokens"], stats["model_calls"]) == (6000, 300, 18)
    assert stats["latency_mean_s"] == 3.5 and stats["latency_p50_s"] == 3.5 and stats["latency_p95_s"] == 5.75
    assert stats["cost_usd"] == pytest.approx(0.03) and stats["cost_known"] == 3
    assert tool_stats(SINGLE).model_dump()["judgments"] == 5  # the error record made no verdict attempt


def test_summary_conditions_comparisons_and_image_bins():
    summary = summarize(SINGLE + AGENTIC, "wrong", n_boot=100).model_dump()
    assert [(c["mode"], c["frames"], c["k"]) for c in summary["conditions"]] == [("single", 16, 1), ("agentic", 16, 1)]
    assert summary["samples"] == 6 and summary["records"] == 12 and summary["duplicates_ignored"] == 0
    assert len(summary["comparisons"]) == 1 and summary["comparisons"][0]["flips"]["fixed"] == 2
    bins = summary["conditions"][1]["accuracy_by_images"]
    assert [{k: b[k] for k in ("images", "n", "accuracy", "mean_images")} for b in bins] == [
        {"images": "9-16", "n": 2, "accuracy": 1.0, "mean_images": 16.0},  # a1, b2: exactly 16, not 12.5
        {"images": "17-32", "n": 4, "accuracy": 0.5, "mean_images": (20 + 24 + 18 + 32) / 4},
    ]
    assert bins[0]["ci"] == [1.0, 1.0]  # two right answers: every resample is right
    lo, hi = bins[1]["ci"]
    assert 0.0 <= lo < 0.5 < hi <= 1.0


def test_single_pass_images_sit_at_their_exact_count():
    """Single-pass judgments are always sent the overview: their bin's x is that count, whatever the bin."""
    summary = summarize(SINGLE, "wrong", n_boot=100).model_dump()
    (only,) = summary["conditions"][0]["accuracy_by_images"]
    assert only["mean_images"] == 16.0 and only["n"] == 5  # the error record is left out


@pytest.mark.parametrize(
    ("row", "direction"),
    [
        ({"ci": [0.05, 0.3], "mcnemar_p": 0.01}, 1),
        ({"ci": [-0.3, -0.05], "mcnemar_p": 0.01}, -1),
        ({"ci": [0.05, 0.3], "mcnemar_p": 0.25}, 0),  # CI above 0 but McNemar not significant
        ({"ci": [-0.05, 0.3], "mcnemar_p": 0.01}, 0),  # significant p but the CI includes 0
        ({"ci": [0.05, 0.3], "mcnemar_p": 0.05}, 0),  # p must be below 0.05
        ({"ci": None, "mcnemar_p": 1.0}, 0),
    ],
)
def test_paired_direction_needs_both_the_test_and_the_ci(row, direction):
    counts = {"n_pairs": 10, "fixed": 0, "broken": 0, "both_right": 0, "both_wrong": 0}
    figures = {"baseline_accuracy": 0.5, "treatment_accuracy": 0.6, "difference": 0.1}
    assert paired_direction(PairedRow(**counts, **figures, **row)) == direction


def test_duplicate_cells_keep_the_last_record():
    later = {**SINGLE[1], "correct": True}
    summary = summarize([*SINGLE, later], "wrong", n_boot=100).model_dump()
    assert summary["duplicates_ignored"] == 1 and summary["conditions"][0]["overall"]["accuracy"] == pytest.approx(
        4 / 6
    )


# ---- McNemar and bootstrap ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixed", "broken", "p"),
    [
        (10, 2, 158 / 4096),  # 2 * (C(12,0)+C(12,1)+C(12,2)) / 2^12 = 0.038574...
        (2, 10, 158 / 4096),
        (0, 6, 2 / 64),
        (1, 12, 28 / 8192),
        (5, 5, 1.0),
        (0, 0, 1.0),
        (3, 0, 0.25),
    ],
)
def test_mcnemar_exact_known_values(fixed, broken, p):
    assert mcnemar_exact(fixed, broken) == pytest.approx(p, rel=1e-12)


def test_mcnemar_exact_large_counts_stay_finite():
    p = mcnemar_exact(600, 500)
    assert 0.002 < p < 0.004  # normal approximation: z = 100/sqrt(1100) = 3.015 -> p = 0.0026


def test_bootstrap_known_values():
    # n = 2, values {0, 1}: bootstrap means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4.
    assert bootstrap_ci([0, 1], n_boot=4000, seed=1) == (0.0, 1.0)
    assert bootstrap_ci([1, 1, 1], n_boot=500) == (1.0, 1.0)
    assert bootstrap_ci([], n_boot=500) is None
    # Strata always average to 0.5 whatever is resampled.
    assert bootstrap_ci([1, 1, 1, 0, 0, 0], strata=list("aaabbb"), n_boot=500) == (0.5, 0.5)


def test_bootstrap_matches_the_normal_approximation_and_is_seeded():
    values = [1] * 70 + [0] * 30  # p = 0.7, n = 100: 0.7 ± 1.96 * sqrt(0.21 / 100) = (0.610, 0.790)
    lo, hi = bootstrap_ci(values, n_boot=8000, seed=0)
    assert lo == pytest.approx(0.61, abs=0.011) and hi == pytest.approx(0.79, abs=0.011)
    assert bootstrap_ci(values, n_boot=500, seed=5) == bootstrap_ci(values, n_boot=500, seed=5)
    assert bootstrap_ci(values, n_boot=500, seed=5) != bootstrap_ci(values, n_boot=500, seed=6)
