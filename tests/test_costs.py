"""Accuracy against cost: the Pareto front, the cost of a sample per unit (USD only when every
model call was priced), escalation counts, and the report's table equal to summary.json."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from tests.cascade_support import bench
from tests.test_report import _md_rows
from vrb_agent.benchmark.costs import pareto_front
from vrb_agent.benchmark.metrics import summarize
from vrb_agent.benchmark.report import headline, write_report
from vrb_agent.benchmark.report.tradeoff import cascade_lines

SVG = "{http://www.w3.org/2000/svg}"


def test_pareto_front_on_hand_made_points():
    points = [
        (1.0, 0.50),  # A: as accurate as E, which costs less
        (2.0, 0.70),  # B: on the front
        (3.0, 0.60),  # C: B is cheaper and more accurate
        (2.0, 0.70),  # D: equal to B, so both stay on the front
        (0.5, 0.50),  # E: the cheapest
        (4.0, 0.90),  # F: the most accurate
        (0.1, None),  # G: no accuracy (every record dropped): never on the front
        (4.0, 0.80),  # H: F costs the same and is more accurate
    ]
    assert pareto_front(points) == [False, True, False, True, True, True, False, False]
    assert pareto_front([]) == []
    assert pareto_front([(5.0, 0.0)]) == [True]


def record(sample: int, mode: str, correct: bool, usd: float | None, images: int, **extra) -> dict:
    usage = {"calls": 1, "input_tokens": 0, "output_tokens": 0, "images": images, "cost_usd": usd}
    return {
        "sample_id": f"s{sample}", "dimension": "d", "mode": mode, "frames": 16, "k": 1, "status": "ok",
        "correct": correct, "preferred": "A", "images_sent": images, "usage": usage, **extra,
    }  # fmt: skip


def priced_records() -> list[dict]:
    """single: 3 of 4 right at $0.01; agentic: 4 of 4 at $0.05; cascade: samples 0 and 1 escalated
    ($0.06, right), 2 and 3 kept ($0.01; 3 wrong)."""
    rows = [record(i, "single", i != 3, 0.01, 16) for i in range(4)]
    rows += [record(i, "agentic", True, 0.05, 60) for i in range(4)]
    rows += [record(i, "cascade", True, 0.06, 76, escalated=True) for i in (0, 1)]
    rows += [record(2, "cascade", True, 0.01, 16, escalated=False), record(3, "cascade", False, 0.01, 16)]
    return rows


def test_cost_in_usd_when_every_call_is_priced():
    cost = summarize(priced_records(), n_boot=200).cost
    assert cost is not None
    points = {p.mode: p for p in cost.points}
    assert [p.mode for p in cost.points] == ["single", "agentic", "cascade"]
    assert points["single"].usd_per_sample == pytest.approx(0.01)
    assert points["agentic"].usd_per_sample == pytest.approx(0.05)
    assert points["cascade"].usd_per_sample == pytest.approx((2 * 0.06 + 2 * 0.01) / 4)
    assert points["cascade"].images_per_sample == pytest.approx((2 * 76 + 2 * 16) / 4)
    assert (points["single"].accuracy, points["agentic"].accuracy, points["cascade"].accuracy) == (0.75, 1.0, 0.75)
    assert (points["cascade"].escalated, points["cascade"].escalated_share, points["cascade"].escalation_failed) == (
        2,
        0.5,
        0,
    )
    assert points["single"].escalated is None
    (front,) = cost.fronts
    # cascade: $0.035 for 75 %, the same accuracy as single at $0.01: dominated; agentic is the most accurate
    assert front.cost == "usd" and front.on_front == [True, True, False]


def test_control_cells_stay_off_the_cost_plane_and_out_of_the_cascade_line():
    """A blind single-pass cell sends no image and a shuffled one is a probe's own cost with another's
    frames: neither is a way to judge, so neither is a cost point, and the headline's cascade line
    compares the cascade with the normal single pass (75 %), not with a control of the same mode."""
    rows = priced_records()
    rows += [{**record(i, "single", False, 0.01, 0), "control": "blind"} for i in range(4)]
    rows += [{**record(i, "single", i == 0, 0.01, 16), "control": "shuffled"} for i in range(4)]
    summary = summarize(rows, n_boot=200)
    assert summary.cost is not None
    assert [(p.mode, p.control) for p in summary.cost.points] == [(m, None) for m in ("single", "agentic", "cascade")]
    assert summary.cost.fronts[0].on_front == [True, True, False]  # as without the controls
    assert cascade_lines(summary) == [
        "  cascade: escalated 2 of 4 (50.0%); 75.0% at $0.035, single 75.0% at $0.01, "
        "agentic 100.0% at $0.05 per sample"
    ]


def test_without_a_price_everywhere_the_cost_is_images_and_tokens():
    rows = priced_records()
    rows[4]["usage"]["cost_usd"] = None  # one agentic call unpriced: agentic has no USD figure
    rows[0] = {**rows[0], "status": "error", "correct": None, "usage": {}, "images_sent": 0}  # no call: free
    cost = summarize(rows, n_boot=200).cost
    assert cost is not None
    points = {p.mode: p for p in cost.points}
    assert points["agentic"].usd_per_sample is None
    assert points["single"].usd_per_sample == pytest.approx(0.03 / 4)
    assert points["single"].images_per_sample == pytest.approx(48 / 4)
    assert [f.cost for f in cost.fronts] == ["images"]  # no tokens were counted: no tokens front
    # single 12 images for 50 %, agentic 60 for 100 %, cascade 46 for 75 %: all on the front
    assert cost.fronts[0].on_front == [True, True, True]
    for row in rows:
        row["usage"] = {**row.get("usage", {}), "input_tokens": 10 * row["images_sent"]}
    assert [f.cost for f in summarize(rows, n_boot=200).cost.fronts] == ["images", "tokens"]


@pytest.fixture
def cascade_run(tmp_path, make_bench_dataset):
    out = tmp_path / "run"
    bench(out, make_bench_dataset(n=10), modes=["single", "agentic", "cascade"])
    return out


def test_report_cost_table_equals_summary_json(cascade_run):
    paths = write_report([cascade_run], n_boot=300, traces=False)
    run = json.loads(paths["summary"].read_text())["runs"][0]
    rows = _md_rows(paths["markdown"].read_text(), "condition | accuracy")
    assert [r[0] for r in rows] == ["single", "agentic", "cascade"]
    (front,) = run["cost"]["fronts"]
    for row, point, on in zip(rows, run["cost"]["points"], front["on_front"], strict=True):
        acc, lo, hi, n = re.fullmatch(r"([\d.]+) \[([\d.]+), ([\d.]+)\] \(n=(\d+)\)", row[1]).groups()
        assert float(acc) == pytest.approx(100 * point["accuracy"], abs=0.05) and int(n) == point["n"]
        assert [float(lo), float(hi)] == pytest.approx([100 * v for v in point["ci"]], abs=0.05)
        assert float(row[2]) == pytest.approx(point["usd_per_sample"], rel=1e-3)
        assert float(row[3]) == pytest.approx(point["images_per_sample"], abs=0.05)
        assert float(row[4]) == pytest.approx(point["tokens_per_sample"], abs=0.5)
        assert row[6] == ("usd" if on else "no")
    # the planned judge (tests/cascade_support.py): single 2 calls, agentic 6, at $0.001 a call; the
    # agentic judge raises on sample 7 after its calls (on its error record); cascade escalates 4, 5, 6, 7 and 9
    points = {p["mode"]: p for p in run["cost"]["points"]}
    assert points["single"]["usd_per_sample"] == pytest.approx(0.002)
    assert points["agentic"]["usd_per_sample"] == pytest.approx(0.006)
    assert points["cascade"]["usd_per_sample"] == pytest.approx((10 * 0.002 + 5 * 0.006) / 10)
    assert rows[2][5] == "5 of 10 (50.0%), 1 failed"
    assert (points["single"]["accuracy"], points["agentic"]["accuracy"], points["cascade"]["accuracy"]) == (
        0.5,
        0.8,
        0.8,
    )
    assert front["on_front"] == [True, False, True]  # cascade: agentic's accuracy for less
    line = headline(json.loads(paths["summary"].read_text())).splitlines()[-1]
    assert line == (
        "  cascade: escalated 5 of 10 (50.0%), 1 failed; 80.0% at $0.005, single 50.0% at $0.002, "
        "agentic 80.0% at $0.006 per sample"
    )


def test_cost_chart_has_error_bars_the_front_axes_and_a_legend(cascade_run):
    html = write_report([cascade_run], n_boot=200, traces=False)["html"].read_text()
    (block,) = [b for b in re.findall(r"<svg\b.*?</svg>", html, flags=re.S) if "Accuracy against cost" in b]
    svg = ET.fromstring(block)
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "estimated USD per sample" in texts and "accuracy" in texts
    assert {"single", "agentic", "cascade", "Pareto front"} <= set(texts)
    points = [c for c in svg.iter(f"{SVG}circle") if c.find(f"{SVG}title") is not None]
    assert len(points) == 3 and all(re.search(r"% \[[\d.]+, [\d.]+\] at ", p.findtext(f"{SVG}title")) for p in points)
    whiskers = [line for line in svg.iter(f"{SVG}line") if line.get("stroke") == "#222"]
    assert len(whiskers) == 3 * 3  # a bar and two caps per point
    rings = [c for c in svg.iter(f"{SVG}circle") if c.get("fill") == "none"]
    assert len(rings) == 2 + 1  # single and cascade on the front, and the legend's ring
    (front_line,) = svg.iter(f"{SVG}polyline")
    assert front_line.get("stroke-dasharray") and len(front_line.get("points").split()) == 2
