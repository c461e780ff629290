"""`vrb-agent data check` through the CLI: what would be loaded, nothing judged."""

from __future__ import annotations

import json
import sys

from typer.testing import CliRunner

from tests.test_loaders_vlrb import item, write_parquet
from vrb_agent.cli import app
from vrb_agent.cli.exits import EXIT_CONFIG, EXIT_USAGE


def check(*args: str):
    return CliRunner().invoke(app, ["data", "check", *args])


def test_data_check_prints_fields_counts_duplicates_media_and_tokens(tmp_path):
    root = tmp_path / "vrb"
    (root / "videos").mkdir(parents=True)
    (root / "videos" / "a.mp4").write_bytes(b"x")
    base = {"Video": "a", "Chosen": "c", "Rejected": "r", "Source": "MLVU"}
    rows = [{**base, "ID": "v1", "Question": "What <video> shows?", "Dimension": "Safety"},
            {**base, "ID": "v2", "Question": "q", "Dimension": "knowledge", "Video": "gone.mp4"},
            {**base, "ID": "v1", "Question": "q", "Dimension": "knowledge"}]  # fmt: skip
    (root / "ann.json").write_text(json.dumps(rows))
    result = check("--dataset", "videorewardbench", "--data", str(root))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"dataset videorewardbench: {root / 'ann.json'}"
    assert lines[1] == (
        "fields used: id=ID, media=Video, question=Question, chosen=Chosen, rejected=Rejected, dimension=Dimension, "
        "source=Source"
    )
    assert "2 samples would be judged, 1 rows skipped" in lines
    assert any(line.startswith("2 samples per dimension: long-form perception 0, short-form perception 0, "
                               "knowledge 1, reasoning 0, safety 1") for line in lines)  # fmt: skip
    assert any(line.startswith("warning: the published full set has long-form perception 283") for line in lines)
    assert "2 samples per source: MLVU 2" in lines
    assert "duplicates: 1 rows dropped as repeats (listed with the skipped rows)" in lines
    assert f"missing media: 1 samples (v2 ({root / 'gone.mp4'}))" in lines
    assert "placeholder tokens (<image>, <video>) left in 1 questions (v1)" in lines
    assert f"skipped: {root / 'ann.json'}:3: duplicate id 'v1' (kept the first)" in lines


def test_data_check_vlrb_reports_repeated_ids_and_groups(tmp_path):
    rows = [item("mathverse_1"), item("mathverse_1", "other query"), item("hallucination_2", "<image>\nQ")]
    write_parquet(tmp_path / "snap" / "data" / "test-00000-of-00001.parquet", rows)
    result = check("--dataset", "vlrewardbench", "--data", str(tmp_path / "snap"))
    assert result.exit_code == 0, result.output
    assert "3 samples per group: general 0, hallucination 1, reasoning 2" in result.output
    assert "1 ids occur more than once with different pairs" in result.output
    assert "placeholder tokens (<image>, <video>) left in 0 questions" in result.output


def test_data_check_errors_exit_with_the_usage_and_config_codes(tmp_path, monkeypatch):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps([{"video": "a", "question": "q", "chosen": "c", "rejected": "r", "dimension": "fun"}]))
    result = check("--dataset", "videorewardbench", "--data", str(path))
    assert result.exit_code == EXIT_USAGE and "unknown dimension name(s) 'fun' (1 rows)" in result.output
    fixed = check("--dataset", "videorewardbench", "--data", str(path), "--dim-map", "fun=reasoning")
    assert fixed.exit_code == 0 and "1 samples would be judged" in fixed.output
    parquet = write_parquet(tmp_path / "v.parquet", [item("RLHF-V_1")])
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    missing = check("--dataset", "vlrewardbench", "--data", str(parquet))
    assert missing.exit_code == EXIT_CONFIG and "pip install 'vrb-agent[data]'" in missing.output


def test_bench_takes_the_loader_flags_and_prints_the_counts(tmp_path, bench_video, monkeypatch):
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "Overall Judgment: Answer A is better."}] * 10))
    monkeypatch.setenv("VRB_SCRIPT", str(script))
    root = tmp_path / "vrb"
    root.mkdir()
    (root / "v.mp4").write_bytes(bench_video.read_bytes())
    rows = [{"id": "b1", "video": "v.mp4", "question": "Which?", "options": ["A. x", "B. y"], "chosen": "c",
             "rejected": "r", "dimension": "temporal"}]  # fmt: skip
    (root / "ann.json").write_text(json.dumps(rows))
    args = ["bench", "--backend", "scripted", "--modes", "single", "--no-report", "--out", str(tmp_path / "run")]
    args += ["--dataset", "videorewardbench", "--data", str(root), "--frames", "2"]
    args += ["--dim-map", "temporal=short-form perception", "--question-template", "{question}\\n{options}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 samples per dimension: long-form perception 0, short-form perception 1" in result.output
    (sample,) = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert sample["question"] == "Which?\nA. x\nB. y" and sample["dimension"] == "short-form perception"
