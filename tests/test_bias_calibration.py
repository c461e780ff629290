"""The bias panel (first-slot picks, order flips and agreement, order-consistent accuracy, accuracy
against length difference) and the calibration of confidences (reliability, ECE, Brier, selective
accuracy), on hand-made records whose answers are worked out in the comments; the runner writes
what they need; report.md and report.html show summary.json's numbers."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from tests.test_report import CHROMIUM, _md_rows, chromium_clipped, chromium_console
from vrb_agent.agents.types import Judgment, SampleOutcome, Verdict
from vrb_agent.benchmark import run_benchmark
from vrb_agent.benchmark.bias import bias_panel, draws, logistic_slopes
from vrb_agent.benchmark.calibration import calibration_panel
from vrb_agent.benchmark.datasets import Sample
from vrb_agent.benchmark.metrics import summarize
from vrb_agent.benchmark.records import Cell, ResultRecord
from vrb_agent.benchmark.report import write_report
from vrb_agent.benchmark.summary import Condition

N_BOOT = 400


def rec(sample_id: str, dimension: str = "d0", **fields) -> dict:
    base = {"sample_id": sample_id, "dimension": dimension, "mode": "single", "k": 1, "frames": 16, "status": "ok"}
    return {**base, **fields}


def test_first_slot_rate_counts_picks_of_whatever_was_shown_first():
    records = [
        rec("a", "x", shown_first=["A"], votes=["A"], preferred="A"),  # picked the first slot: 1
        rec("b", "x", shown_first=["B"], votes=["B"], preferred="B"),  # B was shown first and picked: 1
        rec("c", shown_first=["B"], votes=["A"], preferred="A"),  # picked the second slot: 0
        rec("d", k=2, shown_first=["A", "B"], votes=["A", "A"], preferred="A"),  # one of two draws: 0.5
        rec("e", status="invalid", shown_first=["A"], votes=[None]),  # no valid vote: left out
        rec("f", preferred="A"),  # an old line (no shown_first), k=1 fixed order: A was first: 1
        rec("g", order="random", preferred="A"),  # an old line whose order is not known: left out
        rec("h", status="error"),  # no judgment: left out
    ]
    panel = bias_panel(Condition(mode="single", frames=16, k=1), records, "wrong", n_boot=N_BOOT, seed=0)
    first = panel.overall.first_slot
    assert first.n == 5 and first.rate == pytest.approx((1 + 1 + 0 + 0.5 + 1) / 5)
    assert first.ci is not None and first.ci[0] <= first.rate <= first.ci[1]
    assert panel.by_dimension["x"].first_slot.rate == 1.0 and panel.by_dimension["x"].first_slot.ci == [1.0, 1.0]
    assert panel.by_dimension["d0"].first_slot.n == 3
    assert panel.by_dimension["d0"].first_slot.rate == pytest.approx(0.5)  # c 0, d 0.5, f 1
    assert draws(rec("z", shown_first=["A", "B"], votes=["A"])) == []  # misaligned: order unknown


def test_order_flips_agreement_and_order_consistent_accuracy():
    both = {"order": "both", "mode": "agentic"}
    records = [
        # k=1, both orders: the same response both times, right (chosen A): no flip, consistent
        rec("r1", **both, shown_first=["A", "B"], votes=["A", "A"], order_agreement=True, chosen_position="A",
            correct=True, preferred="A"),
        # the first slot both times: a flip, a tie (no verdict)
        rec("r2", **both, shown_first=["A", "B"], votes=["A", "B"], order_agreement=False, status="tie"),
        # k=2: pairs (A, A) and (A, B): one flip in two pairs; the swapped majority ties, so no agreement
        rec("r3", **both, k=2, shown_first=["A", "B", "A", "B"], votes=["A", "A", "A", "B"], order_agreement=None,
            correct=True, preferred="A"),
        # consistent but wrong
        rec("r4", **both, shown_first=["A", "B"], votes=["B", "B"], order_agreement=True, correct=False, preferred="B"),
        # a pair with an invalid vote counts for no flip
        rec("r5", **both, shown_first=["A", "B"], votes=["A", None], order_agreement=None, correct=True, preferred="A"),
    ]  # fmt: skip
    panel = bias_panel(Condition(mode="agentic", frames=16, k=1), records, "wrong", n_boot=N_BOOT, seed=0)
    overall = panel.overall
    assert overall.order_flip.n == 4 and overall.order_flip.rate == pytest.approx((0 + 1 + 0.5 + 0) / 4)
    assert overall.order_agreement.n == 3 and overall.order_agreement.rate == pytest.approx(2 / 3)
    assert overall.consistent_accuracy.n == 2 and overall.consistent_accuracy.rate == pytest.approx(0.5)
    # first slot: r1 1/2, r2 2/2, r3 (A first: A, B first: A, A first: A, B first: B) 3/4, r4 1/2, r5 1/1
    assert overall.first_slot.rate == pytest.approx((0.5 + 1 + 0.75 + 0.5 + 1) / 5)


def test_length_slope_and_bins_have_known_answers():
    # chosen 100 characters shorter: 1 of 4 right; 100 longer: 3 of 4 right. The logistic fit of two
    # groups goes through both rates: slope = (logit 0.75 - logit 0.25) / 2 (hundreds of chars) = ln 3
    records = [
        rec(f"s{i}", chosen_chars=50 + 200 * (i >= 4), rejected_chars=150, correct=(i in (0, 4, 5, 6)))
        for i in range(8)
    ]
    panel = bias_panel(Condition(mode="single", frames=16, k=1), records, "wrong", n_boot=N_BOOT, seed=0)
    slope = panel.overall.length_slope
    assert slope.n == 8 and slope.slope == pytest.approx(math.log(3), abs=1e-6)
    bins = [(b.chars, b.n, b.accuracy, b.mean_difference) for b in panel.length_bins]
    assert bins == [("-100", 4, 0.25, -100.0), ("+100", 4, 0.75, 100.0)]
    # every verdict right (separated) or every length difference equal: no slope, but n is said
    right = [{**r, "correct": True} for r in records]
    separated = bias_panel(Condition(mode="single", frames=16, k=1), right, "wrong", n_boot=50, seed=0)
    assert separated.overall.length_slope.n == 8 and separated.overall.length_slope.slope is None
    assert math.isnan(logistic_slopes(np.array([[1.0, 1.0, 1.0]]), np.array([[0.0, 1.0, 1.0]]))[0])  # x constant


def test_length_bins_keep_equal_differences_together():
    records = [rec(f"s{i}", chosen_chars=10 * i, rejected_chars=0, correct=i % 2 == 0) for i in range(10)]
    records += [rec(f"t{i}", chosen_chars=0, rejected_chars=0, correct=True) for i in range(10)]
    panel = bias_panel(Condition(mode="single", frames=16, k=1), records, "wrong", n_boot=50, seed=0)
    # differences: eleven 0s, then 10..90. Quintile cuts (linear): 0, 0, 14, 52; so every 0 lies in the
    # first bin (with 10), 20..50 in the next, 60..90 in the last: a difference never straddles two bins
    bins = [(b.chars, b.n, b.mean_difference) for b in panel.length_bins]
    assert bins == [("+0 to +10", 12, pytest.approx(10 / 12)), ("+20 to +50", 4, 35.0), ("+60 to +90", 4, 75.0)]


def calibration_records() -> list[dict]:
    # confidence 0.9: 3 of 4 right; 0.6: 1 of 2 right; plus an invalid verdict (left out)
    rows = [(0.9, True), (0.9, True), (0.9, True), (0.9, False), (0.6, True), (0.6, False)]
    records = [rec(f"c{i}", mode="agentic", confidence=c, correct=y, votes=["A"]) for i, (c, y) in enumerate(rows)]
    return [*records, rec("bad", mode="agentic", status="invalid", confidence=None)]


def test_ece_brier_reliability_and_selective_accuracy_have_known_answers():
    panel = calibration_panel(Condition(mode="agentic", frames=16, k=1), calibration_records(), n_boot=N_BOOT, seed=0)
    assert (panel.source, panel.n, panel.records) == ("stated", 6, 7)
    # ECE = 4/6 |0.75 - 0.9| + 2/6 |0.5 - 0.6| = 0.1 + 0.0333
    assert panel.ece == pytest.approx(0.1 + 0.1 / 3)
    # Brier = (3 x 0.1² + 0.9² + 0.4² + 0.6²) / 6
    assert panel.brier == pytest.approx((3 * 0.01 + 0.81 + 0.16 + 0.36) / 6)
    assert panel.accuracy == pytest.approx(4 / 6) and panel.mean_confidence == pytest.approx(0.8)
    assert [(b.bin, b.n, b.confidence, b.accuracy) for b in panel.reliability] == [
        ("0.6-0.7", 2, pytest.approx(0.6), 0.5),
        ("0.9-1.0", 4, pytest.approx(0.9), 0.75),
    ]
    at = {round(p.coverage, 1): p for p in panel.selective}
    # top 10 %: 1 verdict out of four tied at 0.9, counted by their mean 0.75; top 50 %: 3 of the tied
    assert (at[0.1].n, at[0.1].accuracy) == (1, pytest.approx(0.75))
    assert (at[0.5].n, at[0.5].accuracy) == (3, pytest.approx(0.75))
    # top 80 %: 5 verdicts = the four at 0.9 (3 right) and one of the two at 0.6 (mean 0.5)
    assert (at[0.8].n, at[0.8].accuracy) == (5, pytest.approx(3.5 / 5))
    assert (at[1.0].n, at[1.0].accuracy) == (6, pytest.approx(4 / 6))
    for lo_hi, value in [(panel.ece_ci, panel.ece), (panel.brier_ci, panel.brier), (at[0.8].ci, at[0.8].accuracy)]:
        assert lo_hi is not None and lo_hi[0] <= value <= lo_hi[1]


def test_calibration_says_where_confidence_comes_from():
    votes = [rec(f"v{i}", k=3, confidence=2 / 3, correct=True, votes=["A", "A", "B"]) for i in range(3)]
    panel = calibration_panel(Condition(mode="single", frames=16, k=3), votes, n_boot=50, seed=0)
    assert panel.source == "vote share" and panel.ece == pytest.approx(1 / 3)
    none = calibration_panel(Condition(mode="single", frames=16, k=1), [rec("s", confidence=None)], n_boot=50, seed=0)
    assert (none.source, none.n, none.ece, none.reliability, none.selective) == ("none", 0, None, [], [])


def test_records_carry_presentation_order_and_lengths():
    sample = Sample(id="s1", media=Path("v.mp4"), question="q", chosen="longer answer", rejected="short", dimension="d")
    cell = Cell(sample=sample, condition=("single", 16, 1), dataset="generic", position="B", order="both",
                config_hash="h", backend="b", model="m")  # fmt: skip
    outcomes = [SampleOutcome(sample=0, swapped=False, status="ok", preferred="B"),
                SampleOutcome(sample=1, swapped=True, status="ok", preferred="B")]  # fmt: skip
    judgment = Judgment(status="ok", verdict=Verdict(preferred="B"), votes=["B", "B"], samples=outcomes)
    record = cell.judged_record(judgment, 0.1, [])
    assert record.shown_first == ["A", "B"] and (record.chosen_chars, record.rejected_chars) == (13, 5)
    assert cell.error_record("boom").chosen_chars == 13
    old = ResultRecord.from_json_line('{"sample_id":"s","mode":"single","k":1,"frames":4,"status":"ok"}')
    assert old.shown_first == [] and old.chosen_chars is None  # lines of older versions still read


def test_runner_records_feed_the_panels_end_to_end(tmp_path, probe_suite):
    from vrb_agent.benchmark.sim import SimBackend

    out = tmp_path / "run"
    run_benchmark(out=out, dataset="probes", data=str(probe_suite.parent), backend=SimBackend(), modes=["single"],
                  order="both", limit=4, progress=False)  # fmt: skip
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    samples = {json.loads(line)["id"]: json.loads(line) for line in probe_suite.read_text().splitlines()}
    assert records and all(r["shown_first"] == ["A", "B"] and len(r["votes"]) == 2 for r in records)
    for r in records:
        assert r["chosen_chars"] == len(samples[r["sample_id"]]["chosen"])
    summary = summarize(out, n_boot=100)
    (panel,) = summary.bias
    assert panel.overall.order_agreement.n == sum(r["order_agreement"] is not None for r in records)
    assert panel.overall.order_flip.n == len(records)
    assert summary.calibration[0].source == "vote share"


def _cell(value: float | None, ci: list[float] | None, n: int) -> str:
    return "–" if value is None else f"{100 * value:.1f} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}] (n={n})"


def order_both_run(tmp_path: Path) -> Path:
    """A RUN_DIR of hand-made agentic records judged in both orders, over two dimensions."""
    run = tmp_path / "run"
    run.mkdir(parents=True)
    records = [
        rec(f"s{i}", f"d{i % 2}", mode="agentic", order="both", shown_first=["A", "B"],
            votes=["A", "A" if i % 3 else "B"], order_agreement=bool(i % 3), correct=i % 4 != 0,
            confidence=1.0 if i % 3 else 0.5, chosen_chars=40 + 10 * i, rejected_chars=60, preferred="A")
        for i in range(24)
    ]  # fmt: skip
    (run / "results.jsonl").write_text("".join(ResultRecord(**r).to_json_line() for r in records))
    return run


def test_report_md_and_html_show_the_summary_json_numbers(tmp_path):
    paths = write_report([order_both_run(tmp_path)], n_boot=N_BOOT, traces=False)
    summary = json.loads(paths["summary"].read_text())["runs"][0]
    markdown, html = paths["markdown"].read_text(), paths["html"].read_text()
    rows = {row[1].strip("*"): row for row in _md_rows(markdown, "condition | dimension | first-slot")}
    (panel,) = summary["bias"]
    for name, group in [*panel["by_dimension"].items(), ("all", panel["overall"])]:
        for column, key in enumerate(["first_slot", "order_flip", "order_agreement", "consistent_accuracy"], start=2):
            figure = group[key]
            assert rows[name][column] == _cell(figure["rate"], figure["ci"], figure["n"])
            assert f"<td>{rows[name][column]}</td>" in html
        slope = group["length_slope"]  # d1 is always right: no slope can be fitted there
        fitted = slope["slope"] is not None and f"{slope['slope']:+.2f} [{slope['ci'][0]:+.2f}, {slope['ci'][1]:+.2f}]"
        assert rows[name][6] == f"{fitted or '–'} (n={slope['n']})"
    assert panel["by_dimension"]["d1"]["length_slope"]["slope"] is None and panel["overall"]["length_slope"]["ci"]
    (cal,) = summary["calibration"]
    (row,) = _md_rows(markdown, "condition | confidence | verdicts")
    assert row[2] == f"{cal['n']} of {cal['records']}" and row[1] == "vote share"
    assert row[5] == f"{100 * cal['ece']:.1f} [{100 * cal['ece_ci'][0]:.1f}, {100 * cal['ece_ci'][1]:.1f}]"
    assert row[6] == f"{cal['brier']:.3f} [{cal['brier_ci'][0]:.3f}, {cal['brier_ci'][1]:.3f}]"
    (sel,) = _md_rows(markdown, "condition | top 10%")
    assert sel[1:] == [_cell(p["accuracy"], p["ci"], p["n"]) for p in cal["selective"]]
    for title in ("First-slot picks by dimension", "Order flips by dimension", "Accuracy against length difference",
                  "Reliability diagram", "Selective accuracy against coverage"):  # fmt: skip
        assert f'aria-label="{title} (95% CI)"' in html


def _svg(html: str, title: str) -> str:
    match = re.search(rf'<svg [^>]*aria-label="{re.escape(title)}".*?</svg>', html, flags=re.S)
    assert match, title
    return match[0]


def test_plots_have_labelled_axes_error_bars_and_legends(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_text("".join(ResultRecord(**r).to_json_line() for r in calibration_records()))
    html = write_report([run], n_boot=100, traces=False)["html"].read_text()
    reliability = _svg(html, "Reliability diagram (95% CI)")
    texts = re.findall(r"<text [^>]*>([^<]*)</text>", reliability)
    assert "confidence (bin mean)" in texts and "accuracy" in texts  # both axes
    assert "agentic" in texts and "perfect calibration" in texts  # the legend
    assert reliability.count("<circle") == 2 and reliability.count('stroke="#222"') == 3 * 2  # whisker + 2 caps
    assert 'transform="rotate(-90' in reliability  # the y label runs along the axis
    first = _svg(html, "First-slot picks by dimension (95% CI)")
    assert "first-slot picks" in first and "50%, no preference" in first and "stroke-dasharray" in first


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_every_bias_and_calibration_plot_opens_in_chromium_unclipped(tmp_path):
    paths = write_report([order_both_run(tmp_path)], n_boot=100, traces=False)
    dom, console = chromium_console(paths["html"])
    assert console == [] and dom.count("<svg") >= 5 + 1  # the five figures and accuracy by dimension
    assert chromium_clipped(paths["html"]) == []


def test_runs_side_by_side_show_bias_and_calibration_on_shared_samples(tmp_path):
    first = order_both_run(tmp_path / "a")
    second = tmp_path / "b" / "run"
    second.mkdir(parents=True)
    # the second run judged s0..s5 only, always picking the first slot and always right at confidence 1:
    # on those six shared samples its first-slot rate is 100 % and its ECE 0
    records = [rec(f"s{i}", mode="agentic", order="both", shown_first=["A", "B"], votes=["A", "B"],
                   order_agreement=False, correct=True, confidence=1.0, preferred="A") for i in range(6)]  # fmt: skip
    (second / "results.jsonl").write_text("".join(ResultRecord(**r).to_json_line() for r in records))
    paths = write_report([first, second], tmp_path / "cmp", n_boot=100, traces=False)
    shared = json.loads(paths["summary"].read_text())["side_by_side"]
    (condition,) = shared["conditions"]
    assert condition["shared"] == 6 and [b["first_slot"]["n"] for b in condition["bias"]] == [6, 6]
    own = bias_panel(Condition(mode="agentic", frames=16, k=1), [json.loads(x) for x in
                     (first / "results.jsonl").read_text().splitlines()[:6]], "wrong", n_boot=100, seed=0)  # fmt: skip
    assert condition["bias"][0]["first_slot"]["rate"] == pytest.approx(own.overall.first_slot.rate)
    assert condition["bias"][1]["first_slot"]["rate"] == 1.0 and condition["calibration"][1]["ece"] == 0.0
    markdown = paths["markdown"].read_text()
    (row,) = [r for r in _md_rows(markdown, "condition | figure |") if r[1] == "first-slot picks (%)"]
    figures = [b["first_slot"] for b in condition["bias"]]
    assert row[2:] == [_cell(f["rate"], f["ci"], f["n"]) for f in figures]
    assert 'aria-label="First-slot picks, runs side by side (95% CI)"' in paths["html"].read_text()


def test_length_axis_ticks_are_round_numbers_around_the_data():
    from vrb_agent.benchmark.report.diagnostics import nice_ticks

    assert nice_ticks(-1.78571, 0.30303) == [-2.0, -1.5, -1.0, -0.5, 0.0, 0.5]
    assert nice_ticks(-350, 1200) == [-500.0, 0.0, 500.0, 1000.0, 1500.0]
    assert nice_ticks(5, 5) == [4.0, 4.5, 5.0, 5.5, 6.0]  # one value: a unit either side
