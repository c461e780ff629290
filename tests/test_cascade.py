"""Cascade mode: which single-pass judgments escalate, the cascade record (deciding stage, summed
costs, a failed escalation said so), reuse of the run's own single/agentic cells (in the same
session and on resume) and the policies that cannot be measured under a configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vrb_agent.agents.types import Judgment, Verdict
from vrb_agent.benchmark import BenchConfig, run_benchmark
from vrb_agent.benchmark.escalation import Signals, escalation_reason
from vrb_agent.benchmark.metrics import read_results
from vrb_agent.judges.base import ModelReply, ModelRequest, Usage
from vrb_agent.judges.scripted import ScriptedBackend

REPO = Path(__file__).resolve().parents[1]

# What each stage does for sample number n, by n % 10 (single under --order both, agentic):
#   right/wrong: both orders agree on the chosen/rejected response; split: the orders disagree (tie);
#   half: one order invalid, the other right (ok, vote share 0.5, order agreement unknown);
#   invalid: no verdict; error: the judge raises.
PLAN = {
    0: ("right", "right"),
    1: ("right", "right"),
    2: ("right", "right"),
    3: ("wrong", "right"),  # confidently wrong: kept, the cascade is wrong too
    4: ("split", "right"),
    5: ("split", "right"),
    6: ("invalid", "right"),
    7: ("split", "error"),  # the escalation fails
    8: ("right", "wrong"),  # kept: the cascade is right where agentic is wrong
    9: ("half", "right"),
}
ESCALATED = {4, 5, 6, 7, 9}
CALLS = {"single": 2, "agentic": 6}  # model calls per judgment (both orders)
IMAGES = {"single": 4, "agentic": 20}


class PlannedJudge:
    """An `ajudge` stand-in that follows PLAN, pays for its calls through the backend (so a spend
    meter sees them) and logs every (sample number, mode) it judged."""

    def __init__(self, plan: dict[int, tuple[str, str]] = PLAN, votes: dict[int, list[str]] | None = None) -> None:
        self.plan = plan
        self.votes = votes or {}
        self.calls: list[tuple[int, str]] = []

    async def __call__(self, media, question, response_a, response_b, *, backend, mode, config, store=None):
        number = int(response_a.split()[-1])
        self.calls.append((number, mode))
        usage = Usage()
        for _ in range(CALLS[mode]):
            usage += (await backend.complete(ModelRequest(system="", messages=[]))).usage
        kind = self.plan[number % 10][0 if mode == "single" else 1]
        if kind == "error":
            raise RuntimeError(f"agentic judge failed on sample {number}")
        good = "A" if response_a.startswith("good") else "B"
        bad = "B" if good == "A" else "A"
        votes = {"right": [good, good], "wrong": [bad, bad], "split": [good, bad], "half": [good, None]}
        votes |= {"invalid": [None, None]}
        cast = self.votes.get(number, votes[kind])
        valid = [v for v in cast if v]
        top = max(set(valid), key=valid.count) if valid else None
        tied = bool(valid) and valid.count(top) * 2 == len(valid)
        status = "invalid" if not valid else ("tie" if tied else "ok")
        agree = None if None in cast[:2] else cast[0] == cast[1]
        verdict = Verdict(preferred=top, confidence=valid.count(top) / len(cast)) if status == "ok" else None
        return Judgment(
            status=status, verdict=verdict, mode=mode, order=config.order, k=config.k, frames=config.frames,
            votes=cast, order_agreement=agree if config.order == "both" else None,
            images_sent=IMAGES[mode], usage=usage, backend=backend.name, model=backend.model,
            error=None if status == "ok" else f"{status} in {mode}",
        )  # fmt: skip


CALL_USD = 0.001


def priced(request: ModelRequest) -> ModelReply:
    return ModelReply(text="ok", usage=Usage(input_tokens=100, output_tokens=10, calls=1, cost_usd=CALL_USD))


def bench(out: Path, data: Path, judge: PlannedJudge, **kwargs):
    kwargs.setdefault("backend", ScriptedBackend(priced, model="fake"))
    kwargs.setdefault("order", "both")
    return run_benchmark(out=out, dataset="generic", data=str(data), judge=judge, progress=False, **kwargs)


def by_mode(path: Path) -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = {}
    for r in read_results(path):
        out.setdefault(r["mode"], {})[int(r["sample_id"][1:])] = r
    return out


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
    assert cascade[7]["usage"]["calls"] == 2  # the failed agentic stage is an error record with no usage


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
