"""The protocol in a benchmark run: recorded in run.json and the records, part of the resume
identity (a changed protocol in the same RUN_DIR is refused unless --force-new), and on the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vrb_agent.agents.types import Judgment, SampleOutcome, Verdict
from vrb_agent.benchmark import BenchConfig, RunConfigError, run_benchmark
from vrb_agent.benchmark.datasets import Sample
from vrb_agent.benchmark.fingerprint import prompt_hashes
from vrb_agent.benchmark.records import Cell
from vrb_agent.errors import InputError
from vrb_agent.judges import ScriptedBackend
from vrb_agent.judges.base import ModelReply


def run(out: Path, data: Path, judge, **kwargs):
    kwargs.setdefault("backend", ScriptedBackend(model="fake-model"))
    return run_benchmark(out=out, dataset="generic", data=str(data), judge=judge, progress=False, **kwargs)


def test_a_changed_protocol_is_refused_unless_force_new(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=2)
    run(tmp_path / "run", data, fake_judge)
    identity = json.loads((tmp_path / "run" / "run.json").read_text())["identity"]
    assert identity["protocol"] == "vrb-agent" and identity["top_p"] is None  # always there: None -> 0.5 is a change
    with pytest.raises(RunConfigError, match=r"protocol: 'vrb-agent' -> 'vlrb'.*--force-new"):
        run(tmp_path / "run", data, fake_judge, protocol="vlrb")
    assert run(tmp_path / "run", data, fake_judge, protocol="vlrb", force_new=True).done == 4
    identity = json.loads((tmp_path / "run" / "run.json").read_text())["identity"]
    assert identity["protocol"] == "vlrb" and identity["prompts"] == prompt_hashes("vlrb")["prompt_set"]
    with pytest.raises(RunConfigError, match=r"top_p: None -> 0.5"):
        run(tmp_path / "run", data, fake_judge, protocol="vlrb", top_p=0.5)


def test_protocols_render_different_prompts() -> None:
    hashes = {name: prompt_hashes(name)["prompt_set"] for name in ("vrb-agent", "vlrb", "videorewardbench")}
    assert hashes["vlrb"] != hashes["vrb-agent"]
    assert hashes["videorewardbench"] == hashes["vrb-agent"]  # same texts: the protocol field tells them apart
    assert prompt_hashes()["prompt_set"] == hashes["vrb-agent"]


def test_the_judge_gets_the_protocol_and_run_json_warns_about_cold_draws(tmp_path, make_bench_dataset, fake_judge):
    seen = []

    async def judge(*args, config, **kwargs):
        seen.append(config)
        return await fake_judge(*args, config=config, **kwargs)

    data = make_bench_dataset(n=1)
    outcome = run(tmp_path / "run", data, judge, protocol="vlrb", k=[1, 3], modes=["single"])
    assert {(c.protocol, c.temperature, c.top_p, c.k) for c in seen} == {("vlrb", 0.2, 0.2, 1), ("vlrb", 0.2, 0.2, 3)}
    assert not any("temperature 0" in n for n in outcome.notes)
    cold = run(tmp_path / "cold", data, judge, k=[3], modes=["single"])
    assert any(n.startswith("k=3 draws at temperature 0") for n in cold.notes)
    manifest = json.loads((tmp_path / "cold" / "run.json").read_text())
    assert manifest["notes"] == [n for n in cold.notes if n.startswith("k=3")]


def test_records_carry_a_non_default_protocol_and_its_fallback_draws() -> None:
    sample = Sample(id="s1", media=Path("v.mp4"), question="q", chosen="c", rejected="r", dimension="d")
    cell = Cell(sample=sample, condition=("single", 16, 3), dataset="vlrewardbench", position="A", order="random",
                config_hash="h", backend="b", model="m")  # fmt: skip
    outcomes = [SampleOutcome(sample=i, swapped=False, status="ok", preferred="A", fallback=i == 2) for i in range(3)]
    judgment = Judgment(status="ok", verdict=Verdict(preferred="A"), protocol="vlrb", samples=outcomes,
                        votes=["A", "A", "A"], k=3)  # fmt: skip
    line = json.loads(cell.judged_record(judgment, 0.1, []).to_json_line())
    assert line["protocol"] == "vlrb" and line["fallback_draws"] == [2]
    default = Judgment(status="ok", verdict=Verdict(preferred="A"))
    plain = json.loads(cell.judged_record(default, 0.1, []).to_json_line())
    assert "protocol" not in plain and "fallback_draws" not in plain  # a default line is as it was


def test_bench_order_both_under_vlrb_is_a_usage_error_naming_the_flags() -> None:
    from vrb_agent.cli.bench import bench_config
    from vrb_agent.cli.inputs import OrderChoice, ProtocolChoice

    flags = {"backend": "sim", "backend_option": None, "temperature": None, "top_p": None, "dataset": "generic",
             "model": None, "base_url": None, "max_turns": 6, "seed": 0, "concurrency": 1, "limit": None,
             "shard": None, "data": "x.jsonl", "modes": "single", "k": "3", "frames": "16",
             "order": OrderChoice.both, "protocol": ProtocolChoice.vlrb, "max_output_tokens": None,
             "max_side": None, "max_images": None, "field_map": None, "question_template": None, "dim_map": None,
             "dims": None, "controls": None, "control_modes": None, "escalate_when": "disagree",
             "escalate_threshold": 1.0, "budget_usd": None}  # fmt: skip
    with pytest.raises(InputError, match=r"^--protocol: .*order 'both' is not part of the vlrb protocol"):
        bench_config(flags)
    config = bench_config({**flags, "order": OrderChoice.fixed, "top_p": 0.3})
    assert (config.protocol, config.top_p) == ("vlrb", 0.3)
    assert BenchConfig(data="x").identity()["protocol"] == "vrb-agent"


def test_judge_cli_takes_protocol_and_top_p(square_image: Path, tmp_path: Path) -> None:
    from tests.test_cli_judge import vrb, write_script

    script = write_script(tmp_path / "script.json", ModelReply(text="Overall Judgment: Answer 2 is better."))
    pair = [str(square_image), "-q", "How many squares?", "--response-a", "one", "--response-b", "two"]
    done = vrb("judge", *pair, "-b", "scripted", "-O", f"script={script}", "--mode", "single",
               "--protocol", "vlrb", "--top-p", "0.7", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    judgment = json.loads(done.stdout)
    assert judgment["protocol"] == "vlrb" and judgment["status"] == "ok"
    system = judgment["transcript"][0]["system"]
    assert system == ""  # vlrb single-pass: no system prompt
    bad = vrb("judge", *pair, "-b", "scripted", "-O", f"script={script}", "--protocol", "vlrb", "--order", "both")
    assert bad.returncode == 2 and "order 'both' is not part of the vlrb protocol" in bad.stderr


def test_bench_cli_records_the_protocol_and_top_p(tmp_path: Path, make_bench_dataset) -> None:
    from tests.test_cli_judge import vrb

    data = make_bench_dataset(n=1)
    out = tmp_path / "run"
    done = vrb("bench", "--data", str(data), "--out", str(out), "--backend", "sim", "--modes", "single",
               "--k", "3", "--protocol", "videorewardbench", "--top-p", "0.9", "--no-report")  # fmt: skip
    assert done.returncode == 0, done.stderr
    identity = json.loads((out / "run.json").read_text())["identity"]
    assert (identity["protocol"], identity["top_p"]) == ("videorewardbench", 0.9)
    (record,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert record["protocol"] == "videorewardbench" and len(record["votes"]) == 3
    assert "temperature 0" not in done.stderr  # k=3 samples at 1.0 under this protocol
