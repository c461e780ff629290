"""run.json's fingerprints: annotation content, media list, rendered prompts; a change of any in the
same RUN_DIR is refused unless --force-new."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vrb_agent.agents import prompts
from vrb_agent.benchmark import RunConfigError, run_benchmark
from vrb_agent.benchmark.fingerprint import prompt_hashes
from vrb_agent.judges import ScriptedBackend


def run(out: Path, data: Path, judge, **kwargs):
    kwargs.setdefault("backend", ScriptedBackend(model="fake-model"))
    return run_benchmark(out=out, dataset="generic", data=str(data), judge=judge, progress=False, **kwargs)


def test_prompt_hash_is_real_and_follows_the_prompts(monkeypatch):
    first = prompt_hashes()
    assert len(first["prompt_set"]) == 16 and {"system_single", "system_agentic", "tools"} <= set(first)
    monkeypatch.setattr(prompts, "REPAIR", prompts.REPAIR + " Please.")
    second = prompt_hashes()
    assert second["prompt_set"] != first["prompt_set"] and second["repair"] != first["repair"]
    assert second["tools"] == first["tools"]


def test_run_json_records_annotation_and_media_fingerprints(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=2)
    run(tmp_path / "run", data, fake_judge)
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    identity = manifest["identity"]
    assert identity["prompts"] == prompt_hashes()["prompt_set"]
    assert len(identity["annotations"]) == 16 and len(identity["media_list"]) == 16
    (entry,) = manifest["dataset"]["files"]
    assert entry["file"] == "data.jsonl" and entry["bytes"] == data.stat().st_size and len(entry["sha256"]) == 64


def test_an_edited_annotation_file_is_refused(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=2)
    run(tmp_path / "run", data, fake_judge)
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    rows[0]["note"] = "a column the loader does not read"  # the samples are the same, the file is not
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(RunConfigError, match=r"annotations: '[0-9a-f]{16}' -> '[0-9a-f]{16}'"):
        run(tmp_path / "run", data, fake_judge)
    assert run(tmp_path / "run", data, fake_judge, force_new=True).done == 4


def test_a_changed_prompt_is_refused(tmp_path, make_bench_dataset, fake_judge, monkeypatch):
    data = make_bench_dataset(n=2)
    run(tmp_path / "run", data, fake_judge)
    monkeypatch.setattr(prompts, "REMINDER", prompts.REMINDER + " Now.")
    with pytest.raises(RunConfigError, match="prompts: "):
        run(tmp_path / "run", data, fake_judge)
    assert run(tmp_path / "run", data, fake_judge, force_new=True).done == 4


def test_a_changed_media_list_is_refused(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=2)
    run(tmp_path / "run", data, fake_judge)
    video = data.parent / "v.mp4"
    video.write_bytes(video.read_bytes() + b"\0")
    with pytest.raises(RunConfigError, match="media_list: "):
        run(tmp_path / "run", data, fake_judge)


def test_question_template_and_dim_map_are_part_of_the_identity(tmp_path, fake_judge, bench_video):
    root = tmp_path / "vrb"
    root.mkdir()
    (root / "v.mp4").write_bytes(bench_video.read_bytes())
    rows = [{"id": f"q{i}", "video": "v.mp4", "question": "Which?", "options": ["A. x", "B. y"], "chosen": "good",
             "rejected": "bad", "dimension": "Perception (short)"} for i in range(2)]  # fmt: skip
    (root / "ann.json").write_text(json.dumps(rows))
    kwargs = {"dataset": "videorewardbench", "judge": fake_judge, "progress": False, "backend": ScriptedBackend()}
    dim_map = {"perceptionshort": "short-form perception"}
    first = run_benchmark(out=tmp_path / "run", data=str(root), dim_map=dim_map, **kwargs)
    assert first.done == 4
    identity = json.loads((tmp_path / "run" / "run.json").read_text())["identity"]
    assert identity["dim_map"] == dim_map and "question_template" not in identity
    with pytest.raises(RunConfigError, match="question_template"):
        run_benchmark(out=tmp_path / "run", data=str(root), dim_map=dim_map, question_template="{question} {options}",
                      **kwargs)  # fmt: skip
