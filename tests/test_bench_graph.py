"""The runner through the real judge graph with the scripted backend: records, evidence JPEGs, trace
pages with zoom boxes, the response cache on real requests, and the `bench` CLI's exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from vrb_agent.benchmark import run_benchmark
from vrb_agent.benchmark.metrics import read_results
from vrb_agent.benchmark.report import trace_name, write_report
from vrb_agent.cli import app
from vrb_agent.judges.base import ModelReply, ModelRequest, ToolCall, Usage
from vrb_agent.judges.scripted import ScriptedBackend
from vrb_agent.pairblock import extract_pair

REPO = Path(__file__).resolve().parents[1]
BOX = [100.0, 100.0, 600.0, 700.0]


def judge_policy(request: ModelRequest) -> ModelReply:
    """Agentic: zoom once, then submit the answer that starts with "good". Single-pass: the same,
    except on odd-numbered samples, where it picks the other answer (so agentic fixes those)."""
    pair = extract_pair(request.messages[0].text)
    assert pair is not None
    _, first, _ = pair
    good = "A" if first.startswith("good") else "B"
    usage = Usage(input_tokens=50, output_tokens=5, calls=1)
    if not request.tools:
        wrong = int(first.split()[-1]) % 2 == 1
        letter = ("B" if good == "A" else "A") if wrong else good
        return ModelReply(text=f"Looked.\nOverall Judgment: Answer {letter} is better.", usage=usage)
    if not any(m.role == "tool" for m in request.messages):
        zoom = ToolCall(id="z1", name="zoom", arguments={"timestamp": 0.5, "box": BOX})
        return ModelReply(tool_calls=[zoom], stop_reason="tool_calls", usage=usage)
    args = {"preferred": good, "confidence": 0.9, "rationale": "zoomed <in>", "evidence": []}
    submit = ToolCall(id="s1", name="submit_verdict", arguments=args)
    return ModelReply(tool_calls=[submit], stop_reason="tool_calls", usage=usage)


def test_graph_run_records_evidence_traces_and_cache(tmp_path, make_bench_dataset):
    data = make_bench_dataset(n=6)
    backend = ScriptedBackend(judge_policy, model="scripted-judge")
    out = tmp_path / "run"
    cache = tmp_path / "cache"
    outcome = run_benchmark(
        out=out, dataset="generic", data=str(data), backend=backend, frames=[4], cache_dir=cache, progress=False
    )
    assert outcome.done == 12 and outcome.errors == 0 and outcome.cache_misses == len(backend.requests) == 6 + 12
    records = read_results(out / "results.jsonl")
    assert all(r["status"] == "ok" for r in records)
    for r in records:
        odd = int(r["sample_id"][1:]) % 2 == 1
        assert r["correct"] is (not (odd and r["mode"] == "single"))
    agentic = [r for r in records if r["mode"] == "agentic"]
    assert all([c["name"] for c in r["tool_calls"]] == ["zoom", "submit_verdict"] or
               [c["name"] for c in r["tool_calls"]] == ["zoom"] for r in agentic)  # fmt: skip
    assert all(r["images_sent"] > 0 and r["usage"]["calls"] == 2 and r["frames"] == 4 for r in agentic)
    saved = {p.stem for p in (out / "evidence").glob("*.jpg")}
    assert all(set(r["images"]) <= saved and r["images"] for r in records)

    paths = write_report([out], n_boot=200)
    summary = json.loads(paths["summary"].read_text())
    comparison = summary["runs"][0]["comparisons"][0]
    assert (comparison["fixed"], comparison["broken"], comparison["both_right"]) == (3, 0, 3)
    page = (out / "traces" / trace_name("s001")).read_text()
    assert "zoom boxes of calls #1" in page and "zoomed &lt;in&gt;" in page
    assert len(re.findall(r'fill="none" stroke="#ff2d2d"', page)) == 1

    replay = ScriptedBackend([], model="scripted-judge")  # no replies: any cache miss would error
    second = run_benchmark(
        out=tmp_path / "run2", dataset="generic", data=str(data), backend=replay, frames=[4], cache_dir=cache,
        progress=False,
    )  # fmt: skip
    assert second.errors == 0 and second.cache_hits == 18 and replay.requests == []
    again = {(r["sample_id"], r["mode"]): r["preferred"] for r in read_results(tmp_path / "run2" / "results.jsonl")}
    assert again == {(r["sample_id"], r["mode"]): r["preferred"] for r in records}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(REPO)}
    command = [sys.executable, "-m", "vrb_agent.cli", "bench", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_bench_cli_runs_resumes_and_refuses_a_changed_config(tmp_path, make_bench_dataset):
    data = make_bench_dataset(n=2)
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "Overall Judgment: Answer A is better."}] * 2))
    out = tmp_path / "run"
    base = [
        "--data",
        str(data),
        "--backend",
        "scripted",
        "-O",
        f"script={script}",
        "--out",
        str(out),
        "--modes",
        "single",
    ]
    first = cli(*base, "--frames", "4")
    assert first.returncode == 0, first.stderr
    assert "2 judgments this run (0 errors)" in first.stdout and "report: " in first.stdout
    assert "single" in first.stdout and (out / "report.html").is_file()
    records = read_results(out / "results.jsonl")
    assert [r["preferred"] for r in records] == ["A", "A"] and {r["status"] for r in records} == {"ok"}
    runner = CliRunner()  # the rest in-process: same code path, without interpreter start-up
    again = runner.invoke(app, ["bench", *base, "--frames", "4", "--no-report"])
    assert again.exit_code == 0 and "0 judgments this run" in again.stdout and "2 done before" in again.stdout
    grown = runner.invoke(app, ["bench", *base, "--frames", "4,8", "--no-report"])  # a sweep grows: resumes
    assert grown.exit_code == 0 and "2 judgments this run" in grown.stdout and "2 done before" in grown.stdout
    changed = runner.invoke(app, ["bench", *base, "--frames", "4", "--seed", "1"])
    assert changed.exit_code == 3 and "seed: 0 -> 1" in changed.stderr and "--force-new" in changed.stderr
    assert len(changed.stderr.strip().splitlines()) == 1
    no_script = runner.invoke(app, ["bench", "--data", str(data), "--backend", "scripted", "--out", str(tmp_path)])
    assert no_script.exit_code == 3 and "needs a script of replies" in no_script.stderr


def test_bench_cli_usage_errors_name_the_flag(tmp_path, make_bench_dataset):
    data = make_bench_dataset(n=1)
    base = ["--backend", "scripted", "--out", str(tmp_path / "o")]
    cases = [
        (["--data", str(data), "--frames", "4,x"], "--frames '4,x' is not a comma list of integers"),
        (["--data", str(data), "--modes", "single,both"], "--modes: Input should be 'single', 'agentic' or 'cascade'"),
        (["--data", str(tmp_path / "nope.jsonl")], "no such file or directory"),
        (["--data", str(data), "--dataset", "imagenet"], "--dataset 'imagenet' is unknown"),
        (["--data", str(data), "--invalid-policy", "maybe"], "--invalid-policy 'maybe'"),
        (["--data", str(data), "--field-map", "question"], "--field-map: 'question' is not FIELD=COLUMN"),
        (["--data", str(data), "--concurrency", "0"], "--concurrency: Input should be greater than or equal to 1"),
    ]
    runner = CliRunner()
    for args, message in cases:
        done = runner.invoke(app, ["bench", *base, *args])
        assert done.exit_code == 2 and message in done.stderr, (args, done.stderr)
        assert done.exception is None or isinstance(done.exception, SystemExit)
    unknown = runner.invoke(app, ["bench", "--data", str(data), "--backend", "nosuch", "--out", str(tmp_path / "o")])
    assert unknown.exit_code == 2 and "unknown --backend 'nosuch'" in unknown.stderr
