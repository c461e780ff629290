"""Cascade mode: which single-pass judgments escalate, the cascade record (deciding stage, summed
costs, a failed escalation said so), reuse of the run's own single/agentic cells (in the same
session and on resume) and the policies that cannot be measured under a configuration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cascade_support import CALL_USD, ESCALATED, PlannedJudge, bench, by_mode
from vrb_agent.benchmark import BenchConfig
from vrb_agent.benchmark.escalation import Signals, escalation_reason
from vrb_agent.benchmark.metrics import read_results

REPO = Path(__file__).resolve().parents[1]

# ---- the rule -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signals", "when", "threshold", "escalate", "words"),
    [
        (Signals(status="ok", confidence=1.0, order_agreement=True), "disagree", 1.0, False, "both orders agree"),
        (Signals(status="ok", confidence=1.0, order_agreement=False), "disagree", 1.0, True, "orders disagree"),
        (Signals(status="tie", order_agreement=False), "both", 1.0, True, "orders disagree, status tie"),
        (Signals(status="tie", order_agreement=False), "low-confidence", 0.6, True, "no valid verdict (status tie)"),
        (Signals(status="ok", confidence=0.5, order_agreement=None), "disagree", 1.0, True, "no valid verdict"),
        (Signals(status="tie"), "low-confidence", 0.6, True, "status tie"),
        (Signals(status="invalid"), "disagree", 1.0, True, "status invalid"),
        (Signals(status="ok", confidence=2 / 3), "low-confidence", 0.8, True, "0.67 is below the threshold 0.80"),
        (Signals(status="ok", confidence=2 / 3), "low-confidence", 0.6, False, "vote share 0.67 >= 0.60"),
        (Signals(status="ok", confidence=None), "low-confidence", 0.6, True, "no confidence"),
        (Signals(status="ok", confidence=0.75, order_agreement=True), "both", 0.8, True, "below the threshold"),
        (Signals(status="ok", confidence=0.75, order_agreement=True), "both", 0.7, False, "agree, vote share 0.75"),
        (Signals(status="ok", confidence=1.0, order_agreement=False), "both", 0.7, True, "orders disagree"),
    ],
)
def test_escalation_rule(signals, when, threshold, escalate, words):
    decided, reason = escalation_reason(signals, when, threshold)
    assert decided is escalate and words in reason


def test_policies_that_cannot_be_measured_are_refused():
    base = {"data": "x.jsonl", "modes": ["single", "cascade"]}
    with pytest.raises(ValueError, match="pass --order both"):
        BenchConfig(**base)  # disagree (the default) needs both orders
    with pytest.raises(ValueError, match="--k 2 or more"):
        BenchConfig(**base, escalate_when="low-confidence", k=[1, 3])
    BenchConfig(**base, escalate_when="low-confidence", k=[3])
    BenchConfig(**base, order="both")
    BenchConfig(data="x.jsonl", modes=["single", "agentic"])  # no cascade: the policy is not read


def test_cli_names_the_flag_of_an_unmeasurable_policy(tmp_path, make_bench_dataset):
    data = make_bench_dataset(n=2)
    command = [sys.executable, "-m", "vrb_agent.cli", "bench", "--data", str(data), "--out", str(tmp_path / "r"),
               "--backend", "sim", "--modes", "single,cascade", "--escalate-when", "disagree"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(REPO)})
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: --escalate-when:") and "--order both" in done.stderr


# ---- the runner ---------------------------------------------------------------------------------


def test_cascade_escalates_the_uncertain_and_reuses_the_runs_own_cells(tmp_path, make_bench_dataset):
    data = make_bench_dataset(n=10)
    judge = PlannedJudge()
    outcome = bench(tmp_path / "run", data, judge, modes=["single", "agentic", "cascade"])
    assert outcome.done == 30 and outcome.total_cells == 30
    assert sorted(judge.calls) == sorted((n, m) for n in range(10) for m in ("single", "agentic"))  # none twice
    records = by_mode(outcome.results_path)
    cascade = records["cascade"]
    assert {n for n, r in cascade.items() if r["escalated"]} == ESCALATED
    assert all(s["reused"] for r in cascade.values() for s in r["cascade"]["stages"])
    assert {n for n, r in cascade.items() if r["correct"]} == {0, 1, 2, 4, 5, 6, 8, 9}
    assert cascade[3]["correct"] is False and cascade[3]["cascade"]["reason"] == "both orders agree"
    failed = cascade[7]
    assert failed["status"] == "error" and failed["preferred"] is None and failed["correct"] is None
    assert failed["error"].startswith(
        "escalated to agentic (the two presentation orders disagree, status tie), which gave no verdict (status error)"
    )
    assert "agentic judge failed on sample 7" in failed["error"]
    for n, r in cascade.items():  # costs of both stages when escalated, of the single pass otherwise
        stages = [records["single"][n]] + ([records["agentic"][n]] if n in ESCALATED else [])
        assert [s["mode"] for s in r["cascade"]["stages"]] == [s["mode"] for s in stages]
        assert r["images_sent"] == sum(s["images_sent"] for s in stages)
        assert r["usage"]["calls"] == sum(s["usage"].get("calls", 0) for s in stages)
    assert cascade[4]["images_sent"] == 4 + 20 and cascade[0]["images_sent"] == 4
    # the agentic judgment that raised still paid for its six calls: its error record says so
    assert records["agentic"][7]["usage"]["calls"] == 6 and cascade[7]["usage"]["calls"] == 2 + 6
    assert records["agentic"][7]["usage"]["cost_usd"] == pytest.approx(6 * CALL_USD)


def test_cascade_alone_judges_its_own_stages(tmp_path, make_bench_dataset):
    data = make_bench_dataset(n=10)
    judge = PlannedJudge()
    outcome = bench(tmp_path / "run", data, judge, modes=["cascade"])
    assert outcome.done == 10
    expected = [(n, "single") for n in range(10)] + [(n, "agentic") for n in sorted(ESCALATED)]
    assert sorted(judge.calls) == sorted(expected)
    cascade = by_mode(outcome.results_path)["cascade"]
    assert not any(s["reused"] for r in cascade.values() for s in r["cascade"]["stages"])
    assert {n for n, r in cascade.items() if r["escalated"]} == ESCALATED
    assert {n for n, r in cascade.items() if r["correct"]} == {0, 1, 2, 4, 5, 6, 8, 9}


def test_a_resumed_run_takes_over_finished_cells(tmp_path, make_bench_dataset):
    data = make_bench_dataset(n=10)
    first = PlannedJudge()
    bench(tmp_path / "run", data, first, modes=["single", "agentic"])
    again = PlannedJudge()
    outcome = bench(tmp_path / "run", data, again, modes=["single", "agentic", "cascade"])
    assert again.calls == [] and outcome.done == 10 and outcome.already_done == 20
    cascade = by_mode(outcome.results_path)["cascade"]
    assert all(s["reused"] for r in cascade.values() for s in r["cascade"]["stages"])
    assert {n for n, r in cascade.items() if r["escalated"]} == ESCALATED


def test_low_confidence_reads_the_vote_share(tmp_path, make_bench_dataset):
    data = make_bench_dataset(n=4)
    # k=3 in a fixed order: sample 0 unanimous, 1 and 2 two votes of three, 3 unanimous but wrong
    votes = {0: ["A", "A", "A"], 1: ["A", "A", "B"], 2: ["B", "B", "A"], 3: ["B", "B", "B"]}
    judge = PlannedJudge(votes=votes)
    common = {"modes": ["cascade"], "order": "fixed", "k": [3], "escalate_when": "low-confidence"}
    outcome = bench(tmp_path / "strict", data, judge, escalate_threshold=0.8, **common)
    cascade = by_mode(outcome.results_path)["cascade"]
    assert {n for n, r in cascade.items() if r["escalated"]} == {1, 2}
    assert cascade[1]["cascade"]["reason"] == "vote share 0.67 is below the threshold 0.80"
    lenient = bench(tmp_path / "lenient", data, PlannedJudge(votes=votes), escalate_threshold=0.6, **common)
    assert not any(r["escalated"] for r in by_mode(lenient.results_path)["cascade"].values())


def test_trace_page_says_why_the_cascade_escalated_or_kept(tmp_path, make_bench_dataset):
    from html import unescape

    from vrb_agent.benchmark.report import trace_name, write_report

    out = tmp_path / "run"
    bench(out, make_bench_dataset(n=10), modes=["single", "agentic", "cascade"])
    write_report([out], n_boot=100)
    page = unescape((out / "traces" / trace_name("s004")).read_text())
    assert (
        "cascade (disagree, threshold 1.0): escalated to agentic: the two presentation orders disagree, "
        "status tie; stages: single tie (the run's own cell), agentic ok (the run's own cell)"
    ) in page
    page = unescape((out / "traces" / trace_name("s003")).read_text())
    assert "kept the single pass: both orders agree; stages: single ok (the run's own cell)" in page


def test_progress_counts_the_tokens_of_reused_stages_once(tmp_path, make_bench_dataset):
    from vrb_agent.benchmark.progress import Progress
    from vrb_agent.benchmark.records import ResultRecord

    outcome = bench(tmp_path / "run", make_bench_dataset(n=10), modes=["single", "agentic", "cascade"])
    records = [ResultRecord.model_validate(r) for r in read_results(outcome.results_path)]
    bar = Progress(len(records), 0, enabled=False)
    for record in records:
        bar.add(record)
    # 10 single judgments of 2 calls and 10 agentic ones of 6 (sample 7's raised, its calls recorded), 110 tokens a call
    assert bar.tokens == (10 * 2 + 10 * 6) * 110 == sum(r.tokens for r in records if r.mode != "cascade")


def test_the_escalation_rule_is_part_of_a_cascade_runs_identity(tmp_path, make_bench_dataset):
    from vrb_agent.benchmark import RunConfigError

    assert "cascade" not in BenchConfig(data="x.jsonl").identity()
    data = make_bench_dataset(n=2)
    bench(tmp_path / "run", data, modes=["single", "agentic"])
    bench(tmp_path / "run", data, modes=["single", "agentic", "cascade"])  # a sweep that grows into cascade
    with pytest.raises(RunConfigError, match=r"cascade: .*'disagree'.*-> .*'both'"):
        bench(tmp_path / "run", data, modes=["cascade"], escalate_when="both")


def test_a_resume_without_cascade_keeps_the_rule_its_cascade_records_were_made_under(tmp_path, make_bench_dataset):
    from vrb_agent.benchmark import RunConfigError

    data, run = make_bench_dataset(n=2), tmp_path / "run"
    bench(run, data, modes=["single", "cascade"])
    bench(run, data, modes=["single"])  # resumes: nothing left to judge in single
    identity = json.loads((run / "run.json").read_text())["identity"]
    assert identity["cascade"] == {"escalate_when": "disagree", "threshold": 1.0}
    with pytest.raises(RunConfigError, match=r"cascade: .*'disagree'.*-> .*'both'"):
        bench(run, data, modes=["single", "cascade"], escalate_when="both")
    bench(run, data, modes=["single", "cascade"])  # the rule it was made under still resumes
