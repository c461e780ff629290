"""`--budget-usd`: a run stops before its estimated spend passes the budget, keeps every finished
result, resumes (counting what RUN_DIR already spent), and the CLI exits 8 with the report written;
a model without a price cannot run under a budget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cascade_support import PlannedJudge, bench
from vrb_agent.benchmark import run_benchmark
from vrb_agent.benchmark.metrics import read_results
from vrb_agent.benchmark.sim import SimBackend
from vrb_agent.benchmark.spend import BudgetReachedError
from vrb_agent.cli.exits import EXIT_BUDGET, failure_exit
from vrb_agent.judges.base import ConfigError

REPO = Path(__file__).resolve().parents[1]
RIGHT = {n: ("right", "right") for n in range(10)}


def test_budget_stops_the_run_keeps_results_and_resumes(tmp_path, make_bench_dataset):
    data = make_bench_dataset(n=10)
    out = tmp_path / "run"
    # single-pass, both orders: 2 calls of $0.001 a judgment, one judgment at a time. Call 6 would be
    # estimated at $0.005 spent + $0.001 = $0.006 > $0.0051, so judgments 1-2 finish and 3 is cut off.
    with pytest.raises(BudgetReachedError, match=r"would pass --budget-usd 0.0051 \(\$0.0050 spent"):
        bench(out, data, PlannedJudge(RIGHT), modes=["single"], concurrency=1, budget_usd=0.0051)
    kept = read_results(out / "results.jsonl")
    assert len(kept) == 2 and all(r["status"] == "ok" for r in kept)  # the cut-off judgment left no record
    # the same budget again: $0.004 already spent (the records), so one more call fits and the next does not
    judge = PlannedJudge(RIGHT)
    with pytest.raises(BudgetReachedError, match=r"\$0.0050 spent"):
        bench(out, data, judge, modes=["single"], concurrency=1, budget_usd=0.0051)
    assert len(judge.calls) == 1 and len(read_results(out / "results.jsonl")) == 2
    judge = PlannedJudge(RIGHT)
    outcome = bench(out, data, judge, modes=["single"], concurrency=1, budget_usd=1.0)
    assert outcome.already_done == 2 and outcome.done == 8 and len(judge.calls) == 8
    ids = [r["sample_id"] for r in read_results(out / "results.jsonl")]
    assert sorted(ids) == [f"s{i:03d}" for i in range(10)]  # each cell once


def test_reused_cascade_stages_are_not_counted_twice(tmp_path, make_bench_dataset):
    from vrb_agent.benchmark.records import ResultRecord
    from vrb_agent.benchmark.spend import recorded_spend

    out = tmp_path / "run"
    bench(out, make_bench_dataset(n=10), modes=["single", "agentic", "cascade"])
    records = [ResultRecord.model_validate(r) for r in read_results(out / "results.jsonl")]
    spent, calls = recorded_spend(records)
    # paid: 10 single judgments (2 calls) and 10 agentic ones (6 calls; sample 7's raised, its error record says so)
    assert calls == 10 * 2 + 10 * 6 and spent == pytest.approx(calls * 0.001)


def test_a_model_without_a_price_cannot_run_under_a_budget(tmp_path, make_bench_dataset):
    with pytest.raises(ConfigError, match="model 'sim-1' has no price") as caught:
        run_benchmark(out=tmp_path / "run", data=str(make_bench_dataset(n=2)), backend=SimBackend(),
                      modes=["single"], budget_usd=1.0, progress=False)  # fmt: skip
    assert not isinstance(caught.value, BudgetReachedError)


def test_budget_exit_code_is_its_own_and_documented():
    assert failure_exit(BudgetReachedError("stopped"))[1] == EXIT_BUDGET == 8
    readme = (REPO / "README.md").read_text()
    assert "| 8 | `--budget-usd` reached" in readme and "adds `6`, `7` and `8`" in readme


def test_cli_budget_stop_exits_8_writes_the_report_and_resumes(tmp_path, make_bench_dataset):
    data = make_bench_dataset(n=6)
    reply = {"text": "Overall Judgment: Answer A is better.", "usage": {"calls": 1, "cost_usd": 0.01}}
    script = tmp_path / "replies.json"
    script.write_text(json.dumps([reply] * 6))
    out = tmp_path / "run"
    command = [sys.executable, "-m", "vrb_agent.cli", "bench", "--data", str(data), "--out", str(out),
               "--backend", "scripted", "--backend-option", f"script={script}", "--modes", "single",
               "--concurrency", "1"]  # fmt: skip
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    # $0.01 a call: the third call would be estimated at $0.02 + $0.01 > $0.025
    done = subprocess.run([*command, "--budget-usd", "0.025"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 8, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: stopped the run: the estimated spend would pass")
    assert "--budget-usd" in done.stderr and "to resume" in done.stderr and "Traceback" not in done.stderr
    assert len(read_results(out / "results.jsonl")) == 2 and (out / "report.html").is_file()
    done = subprocess.run([*command, "--budget-usd", "1"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "4 judgments this run (0 errors), 2 done before" in done.stdout
    assert len(read_results(out / "results.jsonl")) == 6
