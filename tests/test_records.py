"""ResultRecord (one results.jsonl line) and RunDir (the RUN_DIR's files): the JSON written is the
contract's, lines read back write out byte for byte the same, and every file is written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vrb_agent.agents.trace import read_index
from vrb_agent.agents.types import Judgment, ToolCallRecord, Verdict
from vrb_agent.benchmark import run_benchmark
from vrb_agent.benchmark.datasets import Sample
from vrb_agent.benchmark.records import Cell, RecordLineError, ResultRecord, read_records, redact_env
from vrb_agent.benchmark.rundir import RunDir, atomic_write
from vrb_agent.judges.base import Usage
from vrb_agent.judges.scripted import ScriptedBackend
from vrb_agent.tools.evidence import EvidenceStore

BASE_KEYS = ["sample_id", "dataset", "dimension", "source", "mode", "backend", "model", "k", "frames", "order",
             "chosen_position", "config_hash", "latency_s", "status", "preferred", "confidence", "correct",
             "rationale", "tool_calls", "images_sent", "usage", "error", "votes"]  # fmt: skip
LENGTHS = ["chosen_chars", "rejected_chars"]  # of the two responses, for the length-bias panel


def a_cell(position: str = "B") -> Cell:
    sample = Sample(id="s1", media=Path("v.mp4"), question="q", chosen="c", rejected="r", dimension="d0")
    return Cell(
        sample=sample,
        condition=("agentic", 16, 1),
        dataset="generic",
        position=position,
        order="fixed",
        config_hash="abc",
        backend="scripted",
        model="m",
    )


def a_judgment(**fields) -> Judgment:
    verdict = Verdict(preferred="B", confidence=0.7, rationale="because")
    call = ToolCallRecord(name="zoom", arguments={"timestamp": 1.0, "box": [0, 0, 10, 10]}, ok=False, turn=1)
    return Judgment(status="ok", verdict=verdict, evidence=[call], images_sent=2, usage=Usage(input_tokens=5), **fields)


def test_error_records_carry_the_contract_fields_and_no_trace_extras(monkeypatch):
    monkeypatch.setenv("VRB_TEST_API_KEY", "sk-secret-value-123")
    record = a_cell().error_record("boom with sk-secret-value-123", latency_s=1.23456)
    data = json.loads(record.to_json_line())
    assert list(data) == [*BASE_KEYS, "evidence", "images", *LENGTHS]
    assert data["status"] == "error" and data["error"] == "boom with ***" and data["latency_s"] == 1.2346
    assert data["preferred"] is None and data["usage"] == {} and data["images"] == []
    assert a_cell().error_record(None).error == "unknown error"


def test_judged_records_map_the_verdict_to_correctness_and_keep_the_trace():
    record = a_cell(position="B").judged_record(a_judgment(), latency_s=0.5, images=["e1", "e2"])
    data = record.to_dict()
    extras = ["order_agreement", "verdict_evidence", "evidence", "images", "timings"]
    assert list(data) == [*BASE_KEYS, *extras, *LENGTHS]  # no "notes" key when the backend changed nothing
    assert data["correct"] is True and data["preferred"] == "B" and data["order_agreement"] is None
    assert data["tool_calls"] == [{"name": "zoom", "arguments": {"timestamp": 1.0, "box": [0, 0, 10, 10]}, "ok": False}]
    assert data["evidence"][0]["turn"] == 1 and data["usage"]["input_tokens"] == 5
    wrong = a_cell(position="A").judged_record(a_judgment(notes=["shrunk"]), latency_s=0.5, images=[])
    assert wrong.correct is False and wrong.to_dict()["notes"] == ["shrunk"]
    invalid = a_cell().judged_record(Judgment(status="invalid", error="no verdict"), latency_s=0.1, images=[])
    assert invalid.preferred is None and invalid.correct is None and invalid.rationale == ""


def test_lines_of_a_run_read_back_and_write_out_byte_for_byte(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=3)
    backend = ScriptedBackend(model="fake-model")
    run_benchmark(out=tmp_path / "run", data=str(data), judge=fake_judge, backend=backend, progress=False)
    lines = (tmp_path / "run" / RunDir.RESULTS).read_bytes().splitlines(keepends=True)
    assert len(lines) == 6
    for line in lines:
        assert ResultRecord.from_json_line(line).to_json_line().encode() == line
    records = read_records(tmp_path / "run" / RunDir.RESULTS)
    assert {r.condition for r in records} == {("single", 16, 1), ("agentic", 16, 1)}
    assert all(r.tokens > 0 and r.key[0].startswith("s") for r in records)


def test_lines_of_other_versions_keep_their_keys_and_bad_lines_say_what_is_wrong():
    old = '{"sample_id":"x","mode":"single","frames":8,"k":1,"status":"ok","future_field":"blind"}\n'
    record = ResultRecord.from_json_line(old)
    assert record.to_json_line() == old and record.rationale == "" and record.model_extra == {"future_field": "blind"}
    with pytest.raises(RecordLineError, match=r"not a result record \(frames, k missing or malformed\)"):
        ResultRecord.from_json_line('{"sample_id":"x","mode":"single","frames":"many"}')
    with pytest.raises(RecordLineError, match="a JSON list, not a record"):
        ResultRecord.from_json_line(b"[1]")
    with pytest.raises(RecordLineError, match="not UTF-8 at byte 1"):
        ResultRecord.from_json_line(b"{\xff}")


def test_read_records_names_the_corrupt_line_and_skips_a_partial_last_line(tmp_path):
    path = tmp_path / RunDir.RESULTS
    good = '{"sample_id":"x","mode":"single","frames":8,"k":1}\n'
    path.write_text(good + '{"sample_id":"y","mo')
    assert [r.sample_id for r in read_records(path)] == ["x"]
    path.write_text(good + "oops\n")
    with pytest.raises(RecordLineError, match=r"results.jsonl:2: Expecting value"):
        read_records(path)


def test_redact_env_ignores_short_values_and_names_that_are_not_secrets(monkeypatch):
    monkeypatch.setenv("MY_TOKEN", "tok-1234567")
    monkeypatch.setenv("SHORT_API_KEY", "abc")
    monkeypatch.setenv("HOME_PATHISH", "/visible/value")
    assert redact_env("tok-1234567 abc /visible/value") == "*** abc /visible/value"


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "run.json"
    atomic_write(target, "old")
    real_write = Path.write_bytes

    def failing_write(self, data):
        real_write(self, data[:1])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, b"new", durable=True)
    monkeypatch.undo()
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_run_dir_manifest_samples_archive_and_evidence(tmp_path):
    run = RunDir(tmp_path)
    assert run.read_manifest() is None and not run.has_results()
    run.manifest.write_text("[1, 2]")
    assert run.read_manifest() is None  # not an object: unreadable as a manifest
    run.write_manifest({"identity": {"a": 1}, "when": Path("x")})
    assert run.read_manifest() == {"identity": {"a": 1}, "when": "x"}
    sample = a_cell().sample
    run.write_samples([(sample, "B")])
    assert run.read_samples()["s1"]["chosen_position"] == "B"
    store = EvidenceStore(quality=80, max_side=64)
    ids = [store.put(np.full((8, 8, 3), v, np.uint8), f"frame t={v}s", timestamp=float(v)) for v in (1, 2)]
    run.save_evidence([store.get(i) for i in ids])
    run.save_evidence([store.get(ids[0])])  # already on disk: not indexed twice
    index = read_index(run.evidence_index)
    assert sorted(index) == sorted(ids) and len(run.evidence_index.read_text().splitlines()) == 2
    assert index[ids[1]].label == "frame t=2s" and run.has_evidence(ids[0])
    moved = run.archive("20260101T000000")
    assert sorted(p.name for p in moved) == ["run.json.20260101T000000.old", "samples.jsonl.20260101T000000.old"]
    assert run.report_files()["html"] == tmp_path / "report.html"


def test_results_file_quarantines_corrupt_lines_and_keeps_the_good_ones(tmp_path):
    run = RunDir(tmp_path)
    good = '{"sample_id":"x","mode":"single","frames":8,"k":1}\n'
    run.results.write_bytes(good.encode() + b"not json\n" + good.replace("x", "y").encode() + b'{"sample_id"')
    results = run.open_results()
    try:
        assert results.repaired
        assert [r.sample_id for r in results.records()] == ["x", "y"]
        assert results.quarantined == [f"{run.results}:2: corrupt result line (Expecting value at column 1)"]
        results.append(ResultRecord.from_json_line(good.replace("x", "z")))
    finally:
        results.close()
    assert run.results.read_text() == good + good.replace("x", "y") + good.replace("x", "z")
    quarantined = json.loads(run.quarantine.read_text())
    assert quarantined["line"] == 2 and quarantined["text"] == "not json"


def test_identity_base_url_has_no_credentials_and_keeps_ipv6_hosts():
    from vrb_agent.benchmark.config import BenchConfig

    urls = {
        "http://user:pw@LocalHost:8000/v1?token=x": "http://localhost:8000/v1",
        "http://[::1]:8000/v1": "http://[::1]:8000/v1",
    }
    for given, recorded in urls.items():
        assert BenchConfig(data="d", base_url=given).identity()["base_url"] == recorded
