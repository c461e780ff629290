"""Runs side by side: visual dependence, evidence audit, failure attribution and accuracy against cost
recomputed on the samples the runs share (hand-made records with answers worked out by hand), the
same numbers in report.md as in summary.json, and the plots opening in headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.test_report import CHROMIUM, _md_rows, chromium_clipped, chromium_console
from vrb_agent.benchmark.records import ResultRecord
from vrb_agent.benchmark.report import write_report
from vrb_agent.benchmark.report.text import ci_text, pct

FLASH = [{"start": 5.0, "end": 5.1}]  # where every sample's decisive evidence is
MISSES, SEES = [{"t": 1.0}], [{"t": 1.0}, {"t": 5.05}]  # frames that miss it, and frames that show it


def rec(sample: str, mode: str, correct: bool, **fields) -> dict:
    return {"sample_id": sample, "dimension": "d0", "mode": mode, "frames": 16, "k": 1, "backend": "scripted",
            "status": "ok", "preferred": "A", "correct": correct, "decisive_evidence": FLASH,
            "usage": {"calls": 1}, **fields}  # fmt: skip  # one unpriced call: cost in images


def run_a() -> list[dict]:
    """Six samples. Single-pass right on s0, s1, never shown the flash; blind right on s0 only; agentic
    right everywhere, shown the flash, citing a frame it saw on s0-s2 and one it never saw on s3-s5."""
    ids = [f"s{i}" for i in range(6)]
    return [
        *(rec(s, "single", s in {"s0", "s1"}, shown=MISSES, images_sent=4) for s in ids),
        *(rec(s, "single", s == "s0", control="blind") for s in ids),
        *(rec(s, "agentic", True, shown=SEES, images_sent=10,
              verdict_evidence=[{"timestamp": 1.0 if s in {"s0", "s1", "s2"} else 9.0}]) for s in ids),
    ]  # fmt: skip


def run_b() -> list[dict]:
    """s0-s3 only. Single-pass wrong everywhere though shown the flash; blind right everywhere;
    agentic right everywhere, citing a frame it saw."""
    ids = [f"s{i}" for i in range(4)]
    return [
        *(rec(s, "single", False, shown=SEES, images_sent=2) for s in ids),
        *(rec(s, "single", True, control="blind") for s in ids),
        *(rec(s, "agentic", True, shown=SEES, images_sent=6, verdict_evidence=[{"timestamp": 5.05}]) for s in ids),
    ]


def write_run(path: Path, records: list[dict]) -> Path:
    path.mkdir(parents=True)
    (path / "results.jsonl").write_text("".join(ResultRecord(**r).to_json_line() for r in records))
    return path


@pytest.fixture
def compared(tmp_path: Path) -> dict[str, Path]:
    runs = [write_run(tmp_path / "a", run_a()), write_run(tmp_path / "b", run_b())]
    return write_report(runs, tmp_path / "cmp", n_boot=200, traces=False)


def _shared(paths: dict[str, Path]) -> dict:
    return json.loads(paths["summary"].read_text())["side_by_side"]


def test_visual_dependence_is_recomputed_on_the_shared_samples(compared):
    a, b = (p["visual_dependence"] for p in _shared(compared)["panels"])
    # on s0-s3: run a 2/4 normal against 1/4 blind (+25 pts; all six would give 2/6 - 1/6); run b 0/4 against 4/4
    assert [(d["control"], d["n_pairs"], d["difference"]) for d in a] == [("blind", 4, pytest.approx(0.25))]
    assert [(d["control"], d["n_pairs"], d["difference"]) for d in b] == [("blind", 4, pytest.approx(-1.0))]


def test_evidence_audit_counts_only_the_shared_samples(compared):
    a, b = ((p["evidence_audit"]["backends"][0]["overall"]) for p in _shared(compared)["panels"])
    # run a on s0-s3: three grounded citations and one ungrounded (s3); s4, s5 would make it 3 of 6
    assert (a["verdicts"], a["grounded"], a["ungrounded"], a["ungrounded_rate"]) == (4, 3, 1, 0.25)
    assert (b["verdicts"], b["grounded"], b["ungrounded"], b["ungrounded_rate"]) == (4, 4, 0, 0.0)


def test_failure_attribution_counts_only_the_shared_samples_and_no_control(compared):
    a, b = (p["failure_attribution"] for p in _shared(compared)["panels"])
    single_a, single_b = (next(c["overall"] for c in x["conditions"] if c["mode"] == "single") for x in (a, b))
    # run a: s2, s3 wrong and never shown (the blind misses are not the single pass's); run b: all shown
    assert (single_a["wrong"], single_a["never_shown"], single_a["never_shown_share"]) == (2, 2, 1.0)
    assert (single_b["wrong"], single_b["shown_misjudged"], single_b["never_shown_share"]) == (4, 4, 0.0)
    assert [(r["single_never_shown"], r["agentic_shown"], r["agentic_shown_right"]) for r in a["rescue"]] == [(4, 4, 4)]
    assert b["rescue"] == []


def test_accuracy_against_cost_has_one_front_over_every_runs_conditions(compared):
    cost = _shared(compared)["cost"]
    points = {(p["run"], p["mode"]): p for p in cost["points"]}
    assert len(points) == len(cost["points"]) == 4  # no point for the blind control
    assert {k: (p["images_per_sample"], p["accuracy"], p["samples"]) for k, p in points.items()} == {
        (0, "single"): (4.0, 0.5, 4),
        (0, "agentic"): (10.0, 1.0, 4),
        (1, "single"): (2.0, 0.0, 4),
        (1, "agentic"): (6.0, 1.0, 4),
    }
    [front] = cost["fronts"]
    on = {(p["run"], p["mode"]): f for p, f in zip(cost["points"], front["on_front"], strict=True)}
    # run b's agentic is as accurate as run a's for 6 images, not 10; each single pass is cheapest at its accuracy
    assert front["cost"] == "images"
    assert on == {(0, "single"): True, (0, "agentic"): False, (1, "single"): True, (1, "agentic"): True}


def test_report_md_side_by_side_panels_equal_summary_json(compared):
    shared, markdown = _shared(compared), compared["markdown"].read_text()
    names = ["a (?/?)", "b (?/?)"]
    dependence = {r[0]: r for r in _md_rows(markdown, "run | normal − control |") if r[2] == "**all**"}
    for name, panel in zip(names, shared["panels"], strict=True):
        (dep,) = panel["visual_dependence"]
        assert dependence[name][3:7] == [str(dep["n_pairs"]), pct(dep["treatment_accuracy"]),
                                         pct(dep["baseline_accuracy"]), pct(dep["difference"])]  # fmt: skip
        assert dependence[name][7] == ci_text(dep["ci"])
    audit = {r[0]: r for r in _md_rows(markdown, "run | backend | dimension |") if r[2] == "**all**"}
    for name, panel in zip(names, shared["panels"], strict=True):
        cell = panel["evidence_audit"]["backends"][0]["overall"]
        assert audit[name][3:6] == [str(cell["verdicts"]), str(cell["grounded"]), str(cell["ungrounded"])]
        assert audit[name][10] == pct(cell["ungrounded_rate"])
    wrong = {
        (r[0], r[1]): r for r in _md_rows(markdown, "run | condition | dimension | wrong verdicts") if r[2] == "**all**"
    }
    for name, panel in zip(names, shared["panels"], strict=True):
        for c in panel["failure_attribution"]["conditions"]:
            cell, row = c["overall"], wrong[(name, f"{c['mode']} f=16 k=1")]
            assert row[3:7] == [str(cell[k]) for k in ("wrong", "never_shown", "shown_misjudged", "not_attributable")]
            assert row[7] == pct(cell["never_shown_share"])
    rescued = _md_rows(markdown, "run | frames | k | single-pass never shown")
    assert [r[0] for r in rescued] == ["a (?/?)"] and rescued[0][3:5] == ["4", "4"]
    cost = {r[0]: r for r in _md_rows(markdown, "run · condition |")}
    for point, on in zip(shared["cost"]["points"], shared["cost"]["fronts"][0]["on_front"], strict=True):
        row = cost[f"{names[point['run']]} · {point['mode']} f=16 k=1"]
        assert row[1] == f"{pct(point['accuracy'])} {ci_text(point['ci'])} (n={point['n']})"
        assert row[3] == f"{point['images_per_sample']:.1f}" and row[6] == ("images" if on else "no")


def test_side_by_side_plots_are_in_the_html(compared):
    html = compared["html"].read_text()
    for title in (
        "Visual dependence, runs side by side (95% CI)",
        "Ungrounded cited items, runs side by side (% of checkable, 95% CI)",
        "Wrong verdicts never shown the evidence, runs side by side (%, 95% CI)",
        "Runs side by side, accuracy against cost: images sent per sample (95% CI, Pareto front)",
    ):
        assert f'aria-label="{title}"' in html, title
    legend = re.search(r'aria-label="Runs side by side, accuracy against cost.*?</svg>', html, re.S)
    assert legend and "a (?/?) · agentic f=16 k=1" in legend.group(0) and "Pareto front" in legend.group(0)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_side_by_side_panels_open_in_chromium_unclipped(compared):
    dom, console = chromium_console(compared["html"])
    assert console == [] and "Accuracy against cost side by side" in dom
    assert chromium_clipped(compared["html"]) == []
