"""The benchmark runner: records, position control, per-sample errors, resume, SIGKILL, config checks,
the response cache and secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from vrb_agent.benchmark import BenchConfig, CachedBackend, RunConfigError, run_benchmark
from vrb_agent.benchmark import runner as runner_module
from vrb_agent.benchmark.config import chosen_position
from vrb_agent.benchmark.metrics import read_results
from vrb_agent.benchmark.progress import Progress
from vrb_agent.benchmark.records import ResultRecord
from vrb_agent.benchmark.rundir import RunDir
from vrb_agent.judges.base import ModelReply, ModelRequest, Usage
from vrb_agent.judges.provider import public_url
from vrb_agent.judges.scripted import ScriptedBackend

REPO = Path(__file__).resolve().parents[1]


def run(out: Path, data: Path, judge, **kwargs) -> runner_module.RunOutcome:
    kwargs.setdefault("backend", ScriptedBackend(model="fake-model"))
    return run_benchmark(out=out, dataset="generic", data=str(data), judge=judge, progress=False, **kwargs)


def cells(path: Path) -> Counter:
    return Counter((r["sample_id"], r["mode"], r["frames"], r["k"]) for r in read_results(path))


def test_records_follow_the_contract_and_position_is_balanced(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=40)
    outcome = run(tmp_path / "run", data, fake_judge)
    records = read_results(outcome.results_path)
    assert outcome.done == len(records) == 80 and outcome.errors == 0
    required = {"sample_id", "dataset", "dimension", "mode", "backend", "model", "k", "frames", "order", "status",
                "preferred", "confidence", "correct", "rationale", "tool_calls", "images_sent", "usage", "latency_s",
                "error", "config_hash"}  # fmt: skip
    assert all(required <= set(r) for r in records)
    positions = Counter(r["chosen_position"] for r in records if r["mode"] == "single")
    assert 10 <= positions["A"] <= 30 and positions["A"] + positions["B"] == 40  # seeded, not all one side
    for r in records:
        number = int(r["sample_id"][1:])
        assert r["chosen_position"] == chosen_position(r["sample_id"], 0)
        assert r["correct"] == (number % 10 < {"single": 5, "agentic": 8}[r["mode"]])
        assert r["correct"] == (r["preferred"] == r["chosen_position"])
        assert r["backend"] == "scripted" and r["model"] == "fake-model"
    agentic = next(r for r in records if r["mode"] == "agentic")
    zoom_args = {"timestamp": 0.5, "box": [150.0, 200.0, 650.0, 600.0]}
    assert agentic["tool_calls"] == [{"name": "zoom", "arguments": zoom_args, "ok": True}]
    assert len(agentic["images"]) == 3 and agentic["images_sent"] == 3
    index = [json.loads(x) for x in (outcome.run_dir / "evidence" / "index.jsonl").read_text().splitlines()]
    assert {e["id"] for e in index} >= set(agentic["images"])
    assert all((outcome.run_dir / "evidence" / f"{e['id']}.jpg").read_bytes()[:2] == b"\xff\xd8" for e in index)


def test_media_is_opened_once_and_shared_by_all_cells(tmp_path, make_bench_dataset, fake_judge, monkeypatch):
    opened = []
    real = runner_module.open_media
    monkeypatch.setattr(runner_module, "open_media", lambda p: opened.append(p) or real(p))
    data = make_bench_dataset(n=3)
    (data.parent / "w.mp4").write_bytes((data.parent / "v.mp4").read_bytes())
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    rows[2]["media"] = "w.mp4"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run(tmp_path / "run", data, fake_judge, frames=[4, 8], k=[1, 2])
    assert sorted(p.name for p in opened) == ["v.mp4", "w.mp4"]  # samples 0 and 1 share v.mp4
    media_by_sample = {}
    for response_a, _mode, _frames, media_id in fake_judge.calls:
        media_by_sample.setdefault(response_a.split()[-1], set()).add(media_id)
    assert len(fake_judge.calls) == 3 * 2 * 2 * 2 and all(len(ids) == 1 for ids in media_by_sample.values())
    assert media_by_sample["0"] == media_by_sample["1"] != media_by_sample["2"]
    assert len(cells(tmp_path / "run" / "results.jsonl")) == 24


def test_bad_samples_become_error_rows_and_the_run_goes_on(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=4)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    rows[0]["media"] = "missing.mp4"
    rows[1]["question"] = "explode please"
    rows[2]["media"] = "../escape.mp4"
    (data.parent / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    rows.append({**rows[3], "id": "broken", "media": "broken.mp4"})
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    outcome = run(tmp_path / "run", data, fake_judge)
    by_id = {}
    for r in read_results(outcome.results_path):
        by_id.setdefault(r["sample_id"], []).append(r)
    assert outcome.done == 10 and outcome.errors == 8
    assert all(r["status"] == "error" and "file not found" in r["error"] for r in by_id["s000"])
    assert all("RuntimeError: judge bug" in r["error"] for r in by_id["s001"])
    assert all("escapes the dataset root" in r["error"] for r in by_id["s002"])
    assert all(r["status"] == "error" and "broken.mp4" in r["error"] for r in by_id["broken"])
    assert all(r["status"] == "ok" for r in by_id["s003"])


def test_resume_skips_finished_cells_and_extends_to_new_samples(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=10)
    first = run(tmp_path / "run", data, fake_judge, limit=4)
    assert first.done == 8
    again = run(tmp_path / "run", data, fake_judge, limit=4)
    assert again.done == 0 and again.already_done == 8
    more = run(tmp_path / "run", data, fake_judge)
    assert more.done == 12 and more.already_done == 8
    counts = cells(tmp_path / "run" / "results.jsonl")
    assert len(counts) == 20 and set(counts.values()) == {1}
    assert len(fake_judge.calls) == 20


def test_sweep_cells_are_separate(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=2)
    run(tmp_path / "run", data, fake_judge, frames=[4, 16], k=[1, 3], modes=["agentic"])
    records = read_results(tmp_path / "run" / "results.jsonl")
    assert sorted({(r["frames"], r["k"]) for r in records}) == [(4, 1), (4, 3), (16, 1), (16, 3)]
    assert {c[2] for c in fake_judge.calls} == {4, 16}


def test_changed_config_is_refused_unless_force_new(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=2)
    run(tmp_path / "run", data, fake_judge, seed=0)
    with pytest.raises(RunConfigError, match=r"seed: 0 -> 1.*--force-new"):
        run(tmp_path / "run", data, fake_judge, seed=1)
    outcome = run(tmp_path / "run", data, fake_judge, seed=1, force_new=True)
    assert outcome.done == 4
    archived = list((tmp_path / "run").glob("results.jsonl.*.old"))
    assert len(archived) == 1 and len(read_results(archived[0])) == 4
    old_hashes = {r["config_hash"] for r in read_results(archived[0])}
    new_hashes = {r["config_hash"] for r in read_results(tmp_path / "run" / "results.jsonl")}
    assert len(old_hashes) == len(new_hashes) == 1 and old_hashes != new_hashes


def test_retry_errors_redoes_only_error_cells(tmp_path, make_bench_dataset, fake_judge, fake_judge_cls):
    data = make_bench_dataset(n=3)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    rows[0]["question"] = "explode"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run(tmp_path / "run", data, fake_judge)

    class FixedJudge(fake_judge_cls):  # the judge bug is fixed; the data stays the same
        async def __call__(self, media, question, *args, **kwargs):
            return await super().__call__(media, question.replace("explode", "fine"), *args, **kwargs)

    outcome = run(tmp_path / "run", data, FixedJudge(), retry_errors=True)
    assert outcome.done == 2
    records = read_results(tmp_path / "run" / "results.jsonl")
    assert len(records) == 6 and all(r["status"] == "ok" for r in records)


def test_partial_trailing_line_is_cut_on_open(tmp_path):
    path = tmp_path / "results.jsonl"
    first = '{"sample_id":"a","mode":"single","frames":16,"k":1}'
    path.write_text(first + '\n{"sample_id":"b","mo')
    results = RunDir(tmp_path).open_results()
    assert results.repaired and [r.to_dict() for r in results.records()] == [json.loads(first)]
    assert results.quarantined == [] and not (tmp_path / "results.quarantine.jsonl").exists()
    results.append(ResultRecord(sample_id="c", mode="single", frames=16, k=1))
    results.close()
    assert path.read_text() == first + '\n{"sample_id":"c","mode":"single","k":1,"frames":16}\n'  # contract order


KILL_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from conftest import FakeJudge
from vrb_agent.benchmark import run_benchmark
from vrb_agent.judges.scripted import ScriptedBackend
run_benchmark(out=sys.argv[1], dataset="generic", data=sys.argv[2], backend=ScriptedBackend(),
              judge=FakeJudge(delay=0.05), concurrency=4, progress=False)
"""


def test_sigkill_mid_run_loses_only_in_flight_work(tmp_path, make_bench_dataset, fake_judge_cls):
    data = make_bench_dataset(n=60)
    script = tmp_path / "bench_child.py"
    script.write_text(KILL_SCRIPT.format(tests=str(REPO / "tests")))
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, str(script), str(out), str(data)], env=env)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if results.exists() and results.read_bytes().count(b"\n") >= 20:
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    lines_at_kill = results.read_bytes().count(b"\n")
    assert 20 <= lines_at_kill < 120  # killed mid-way
    judge = fake_judge_cls()
    outcome = run(out, data, judge, concurrency=4, backend=ScriptedBackend())
    assert outcome.already_done == lines_at_kill
    assert len(judge.calls) == outcome.done == 120 - lines_at_kill  # nothing redone
    counts = cells(results)
    assert len(counts) == 120 and set(counts.values()) == {1}  # nothing lost, nothing duplicated


def test_response_cache_makes_reruns_free(tmp_path):
    import asyncio

    reply = ModelReply(text="Overall Judgment: Answer A is better.", usage=Usage(input_tokens=5, calls=1))
    inner = ScriptedBackend(lambda request: reply, model="m1")
    cached = CachedBackend(inner, tmp_path / "cache")
    request = ModelRequest(messages=[{"role": "user", "parts": [{"type": "image", "evidence_id": "ev-1"}]}])
    other = ModelRequest(messages=[{"role": "user", "parts": [{"type": "image", "evidence_id": "ev-2"}]}])

    async def go() -> list[ModelReply]:
        return [await cached.complete(request), await cached.complete(request), await cached.complete(other)]

    first = asyncio.run(go())
    assert len(inner.requests) == 2 and cached.hits == 1 and first[0].text == reply.text
    fresh = CachedBackend(ScriptedBackend([], model="m1"), tmp_path / "cache")  # no replies left: must not be called
    assert asyncio.run(fresh.complete(request)).text == reply.text and fresh.hits == 1
    other_model = CachedBackend(ScriptedBackend(lambda r: reply, model="m2"), tmp_path / "cache")
    asyncio.run(other_model.complete(request))
    assert other_model.misses == 1  # the model is part of the key


def test_cache_gives_independent_samples_at_temperature(tmp_path):
    import asyncio

    texts = iter(["one", "two", "three"])
    inner = ScriptedBackend(lambda r: ModelReply(text=next(texts)), model="m")
    request = ModelRequest(messages=[{"role": "user", "parts": [{"type": "text", "text": "q"}]}], temperature=1.0)
    cached = CachedBackend(inner, tmp_path / "c")
    assert [asyncio.run(cached.complete(request)).text for _ in range(2)] == ["one", "two"]
    replay = CachedBackend(ScriptedBackend(lambda r: ModelReply(text="new"), model="m"), tmp_path / "c")
    assert [asyncio.run(replay.complete(request)).text for _ in range(3)] == ["one", "two", "new"]


def test_run_json_manifest_and_no_secrets(tmp_path, make_bench_dataset, fake_judge, monkeypatch):
    secret = "fake-openai-key-SECRET-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)

    async def leaky(*args, **kwargs):
        raise RuntimeError(f"auth failed for key {secret}")

    data = make_bench_dataset(n=2)
    config = BenchConfig(dataset="generic", data=str(data), base_url="http://user:pw@host:8000/v1", seed=3)
    run_benchmark(config, tmp_path / "run", backend=ScriptedBackend(), judge=leaky, progress=False)
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["config"]["base_url"] == "http://host:8000/v1" == public_url(config.base_url)
    assert manifest["identity"]["seed"] == 3 and manifest["identity"]["backend"] == "scripted"
    assert {"python", "pydantic", "numpy"} <= set(manifest["packages"])
    assert manifest["dataset"]["samples"] == 2 and "created" in manifest
    for name in ("run.json", "results.jsonl", "samples.jsonl"):
        text = (tmp_path / "run" / name).read_text()
        assert secret not in text and "pw@" not in text
    assert "***" in (tmp_path / "run" / "results.jsonl").read_text()


def test_progress_bar_reports_accuracy_errors_and_tokens():
    progress = Progress(total=3, done=0, enabled=False)
    cell = {"sample_id": "s", "frames": 16, "k": 1}
    usage = {"input_tokens": 10, "output_tokens": 2}
    progress.add(ResultRecord(**cell, mode="single", status="ok", correct=True, usage=usage))
    progress.add(ResultRecord(**cell, mode="single", status="ok", correct=False, usage={}))
    progress.add(ResultRecord(**cell, mode="agentic", status="error", correct=None, usage={}))
    assert progress.line() == "agentic 0.0% single 50.0% | errors 1 | tokens 12"
