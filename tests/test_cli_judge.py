"""`vrb-agent judge` end to end in a subprocess: output, trace, and every exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.graph_support import call, submit, text, tools

ROOT = Path(__file__).resolve().parents[1]


def write_script(path: Path, *replies: object) -> Path:
    path.write_text(json.dumps([r.model_dump(mode="json") for r in replies]), encoding="utf-8")
    return path


def vrb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("VRB_BACKEND", "VRB_SCRIPT")}
    environ.update({"PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "vrb_agent.cli", *args],
        check=False,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def pair(media: Path) -> list[str]:
    return [str(media), "-q", "What appears at 2 s?", "--response-a", "A blue circle.", "--response-b", "A red square."]


def test_success_human_output_and_trace(square_video: Path, tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "script.json",
        tools(call("select_frames", timestamps=[2.2]), call("zoom", timestamp=2.2, box=[250, 350, 500, 650])),
        submit("B", 0.8, rationale="The square at 2.2 s is red."),
    )
    trace = tmp_path / "trace"
    done = vrb("judge", *pair(square_video), "-b", "scripted", "-O", f"script={script}", "--frames", "4",
               "--trace-dir", str(trace))  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Verdict: Response B is better (confidence 0.80)" in out
    assert "The square at 2.2 s is red." in out
    assert "turn 1  select_frames(timestamps=[2.2]) → 1 frame(s) at 2.20s." in out
    assert "zoom(timestamp=2.2, box=[250, 350, 500, 650])" in out

    index = json.loads((trace / "trace.json").read_text())
    assert index["judgment"]["verdict"]["preferred"] == "B"
    assert index["inputs"]["response_b"] == "A red square."
    labels = [i["label"] for i in index["images"]]
    assert labels == ["frame t=0.60s", "frame t=1.87s", "frame t=3.10s", "frame t=4.37s", "frame t=2.20s",
                      "zoom t=2.20s box=[250,350,500,650]"]  # fmt: skip
    for image in index["images"]:
        assert (trace / image["file"]).read_bytes()[:2] == b"\xff\xd8"  # JPEG
    assert index["images"][-1]["box"] == [250, 350, 500, 650]


def test_json_output_sample_file_and_at_paths(square_video: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path / "script.json", text("Overall Judgment: Answer A is better."))
    (tmp_path / "b.txt").write_text("A red square, described at length.")
    sample = tmp_path / "pair.json"
    sample.write_text(json.dumps({"media": os.path.relpath(square_video, tmp_path), "question": "What?",
                                  "response_a": "A blue circle.", "response_b": "ignored"}))  # fmt: skip
    done = vrb("judge", "--sample", str(sample), "--response-b", f"@{tmp_path / 'b.txt'}", "--mode", "single",
               "--json", "--frames", "2", env={"VRB_BACKEND": "scripted", "VRB_SCRIPT": str(script)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    judgment = json.loads(done.stdout)
    assert judgment["status"] == "ok"
    assert judgment["verdict"]["preferred"] == "A"
    assert judgment["mode"] == "single"
    first = judgment["transcript"][0]["messages"][0]["parts"][0]["text"]
    assert "A red square, described at length." in first
    assert "ignored" not in first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--questoin", "x"], "No such option: --questoin"),
        (["-b", "nonexistent"], "unknown --backend 'nonexistent'; choose one of:"),
        ([], "no --backend given and VRB_BACKEND is not set; choose one of:"),
        (["-b", "scripted", "--k", "0"], "Invalid value for '--k'"),
        (["-b", "scripted", "--order", "sideways"], "Invalid value for '--order'"),
        (["-b", "scripted", "-O", "novalue"], "--backend-option 'novalue': expected KEY=VALUE"),
    ],
)
def test_usage_errors_exit_2_with_one_line(square_video: Path, args: list[str], message: str) -> None:
    done = vrb("judge", *pair(square_video), *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_missing_text_and_config_errors(square_video: Path, tmp_path: Path) -> None:
    missing = vrb("judge", str(square_video), "-q", "Q", "-b", "scripted")
    assert (missing.returncode, missing.stderr.strip()) == (
        2,
        "error: missing --response-a, --response-b (give them as arguments or in --sample FILE.json)",
    )
    no_script = vrb("judge", *pair(square_video), "-b", "scripted")
    assert no_script.returncode == 3
    assert "VRB_SCRIPT" in no_script.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    bad = vrb("judge", *pair(square_video), "-b", "scripted", "-O", f"script={broken}")
    assert bad.returncode == 3
    assert f"{broken} is not valid JSON" in bad.stderr
    assert "Traceback" not in no_script.stderr + bad.stderr


def test_media_errors_exit_4(tmp_path: Path) -> None:
    script = write_script(tmp_path / "script.json", submit("A"))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    for media, reason in ((tmp_path / "missing.mp4", "missing.mp4: file not found"), (corrupt, "not a readable video")):
        done = vrb("judge", *pair(media), "-b", "scripted", "-O", f"script={script}")
        assert done.returncode == 4
        # Our message is one line; decoders may log their own lines before it (C-level stderr).
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ")
        assert reason in last
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("replies", "extra", "status"),
    [
        ([text("no idea"), text("still none")], ["--mode", "single"], "invalid"),
        ([{"text": "I can't help with that.", "stop_reason": "refusal"}], [], "refused"),
        ([submit("A"), submit("A")], ["--order", "both"], "tie"),
    ],
)
def test_no_verdict_exits_5(square_video: Path, tmp_path: Path, replies: list, extra: list[str], status: str) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([r if isinstance(r, dict) else r.model_dump(mode="json") for r in replies]))
    done = vrb("judge", *pair(square_video), "-b", "scripted", "-O", f"script={script}", "--frames", "2", "--json",
               *extra)  # fmt: skip
    assert done.returncode == 5, done.stderr
    assert json.loads(done.stdout)["status"] == status
