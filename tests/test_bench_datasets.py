"""Dataset loaders on small fixtures they write: generic JSONL, probes, VideoRewardBench, VL-RewardBench."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vrb_agent.benchmark import DatasetError, load_dataset
from vrb_agent.benchmark.datasets import canonical_vrb_dimension, parse_field_map, vlrb_dimension


def row(i: int, **over) -> dict:
    return {"id": f"p{i}", "media": "v.mp4", "question": "q?", "chosen": "c", "rejected": "r", "dimension": "d", **over}


def write_jsonl(path: Path, lines: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_generic_jsonl_loads_and_reports_bad_rows_by_line(tmp_path):
    path = write_jsonl(
        tmp_path / "ds" / "pairs.jsonl",
        [
            row(1, source="mine", meta={"knob": 3}),
            row(2, chosen=""),
            "{not json",
            row(3, media="sub/clip.mp4"),
            {"id": "p4", "media": "v.mp4"},
            row(1),
            "[1, 2]",
        ],
    )
    ds = load_dataset("generic", path)
    assert [s.id for s in ds.samples] == ["p1", "p3"]
    first = ds.samples[0]
    assert first.media == (tmp_path / "ds" / "v.mp4").resolve() and first.error is None
    assert first.source == "mine" and first.meta == {"knob": 3, "line": 1}
    assert ds.samples[1].media == (tmp_path / "ds" / "sub" / "clip.mp4").resolve()
    assert ds.issues == [
        f"{path}:2: missing or empty field(s) chosen",
        f"{path}:3: invalid JSON (Expecting property name enclosed in double quotes at column 2)",
        f"{path}:5: missing or empty field(s) question, chosen, rejected, dimension",
        f"{path}:6: duplicate id 'p1' (kept the first)",
        f"{path}:7: expected a JSON object, got list",
    ]


def test_traversal_and_outside_absolute_paths_are_rejected_per_sample(tmp_path):
    inside = tmp_path / "ds" / "ok.mp4"
    path = write_jsonl(
        tmp_path / "ds" / "pairs.jsonl",
        [
            row(1, media="../secret.mp4"),
            row(2, media="a/../../secret.mp4"),
            row(3, media="/etc/passwd"),
            row(4, media=str(inside)),
            row(5, media="a/../ok.mp4"),
        ],
    )
    samples = {s.id: s for s in load_dataset("generic", path).samples}
    assert "escapes the dataset root" in samples["p1"].error
    assert "escapes the dataset root" in samples["p2"].error
    assert "absolute and outside the dataset root" in samples["p3"].error
    assert samples["p4"].error is None and samples["p4"].media == inside.resolve()
    assert samples["p5"].error is None and samples["p5"].media == inside.resolve()


def test_generic_file_errors_name_the_path(tmp_path):
    with pytest.raises(DatasetError, match="no such file or directory"):
        load_dataset("generic", tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DatasetError, match="holds no rows"):
        load_dataset("generic", tmp_path / "empty.jsonl")
    with pytest.raises(DatasetError, match="--dataset 'coco' is unknown"):
        load_dataset("coco", tmp_path)


def test_probes_loader_reads_dir_or_file(tmp_path):
    path = write_jsonl(tmp_path / "suite" / "probes.jsonl", [row(1, dimension="probe/counting", media="videos/a.mp4")])
    by_dir = load_dataset("probes", tmp_path / "suite")
    by_file = load_dataset("probes", path)
    assert by_dir.samples == by_file.samples and by_dir.name == "probes"
    assert by_dir.samples[0].dimension == "probe/counting" and by_dir.samples[0].source == "probes"
    assert by_dir.select(dims=["probe/"]) == by_dir.samples and by_dir.select(dims=["probe/other"]) == []


def test_videorewardbench_with_field_map_and_video_lookup(tmp_path):
    root = tmp_path / "vrb"
    (root / "videos").mkdir(parents=True)
    (root / "videos" / "clip7.mp4").write_bytes(b"x")
    items = [
        {"uid": "v1", "video_name": "clip7", "prompt": "What?", "answers": ["right", "wrong"],
         "category": "Long-Form Perception"},
        {"uid": "v2", "video_name": "clip8.mp4", "prompt": "Why?", "answers": ["yes", "no"], "category": "safety"},
        {"uid": "v3", "video_name": "clip7", "prompt": "", "answers": ["a", "b"], "category": "reasoning"},
    ]  # fmt: skip
    (root / "annotations.json").write_text(json.dumps({"data": items}))
    ds = load_dataset("videorewardbench", root, field_map="chosen=answers.0,rejected=answers.1")
    assert ds.fields == {"id": "uid", "media": "video_name", "question": "prompt", "chosen": "answers.0",
                         "rejected": "answers.1", "dimension": "category"}  # fmt: skip
    first, second = ds.samples
    assert first.media == (root / "videos" / "clip7.mp4").resolve() and first.chosen == "right"
    assert first.dimension == "long-form perception" and first.meta["raw_dimension"] == "Long-Form Perception"
    assert second.dimension == "safety" and second.error is None  # missing video: found when opened
    assert ds.issues == [f"{root / 'annotations.json'}:3: missing or empty question (prompt)"]
    assert [s.id for s in ds.select(dims=["safety"])] == ["v2"] and len(ds.select(limit=1)) == 1


def test_videorewardbench_without_a_matching_column_says_which_flag(tmp_path):
    path = write_jsonl(
        tmp_path / "vrb" / "ann.jsonl", [{"video": "a.mp4", "question": "q", "chosen": "c", "category": "x"}]
    )
    with pytest.raises(DatasetError, match=r"no column found for 'rejected'.*--field-map rejected=COLUMN"):
        load_dataset("videorewardbench", path)


def test_field_map_syntax_errors():
    assert parse_field_map("question=prompt, chosen=a.0") == {"question": "prompt", "chosen": "a.0"}
    with pytest.raises(DatasetError, match="is not FIELD=COLUMN"):
        parse_field_map("question")
    with pytest.raises(DatasetError, match="unknown field 'answer'"):
        parse_field_map("answer=x")


@pytest.mark.parametrize(
    ("raw", "dim"),
    [("Long-Form Perception", "long-form perception"), ("short_perception", "short-form perception"),
     ("Knowledge", "knowledge"), ("REASONING", "reasoning"), ("Safety", "safety"), ("Other Thing", None)],
)  # fmt: skip
def test_videorewardbench_dimensions(raw, dim):
    assert canonical_vrb_dimension(raw) == dim


def _png(colour: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (colour, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_vlrewardbench_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"id": "RLAIF-V_1", "query": "What is red?", "response": ["A ball.", "A cat."], "human_ranking": [0, 1],
         "image": {"bytes": _png(200), "path": "x.png"}},
        {"id": "mathverse_2", "query": "Angle?", "response": ["30", "45"], "human_ranking": [1, 0],
         "image": {"bytes": _png(200), "path": "y.png"}},
        {"id": "wildvision_3", "query": "Hi", "response": ["a", "b"], "human_ranking": [0, 0],
         "image": {"bytes": _png(10), "path": "z.png"}},
        {"id": "mmmu-pro_4", "query": "Q", "response": ["only one"], "human_ranking": [0, 1],
         "image": {"bytes": _png(20), "path": "w.png"}},
    ]  # fmt: skip
    path = tmp_path / "vlrb.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    cache = tmp_path / "cache"
    ds = load_dataset("vlrewardbench", path, cache_dir=cache)
    assert [s.id for s in ds.samples] == ["RLAIF-V_1", "mathverse_2"]
    first, second = ds.samples
    assert (first.chosen, first.rejected, first.dimension) == ("A ball.", "A cat.", "hallucination")
    assert (second.chosen, second.rejected, second.dimension) == ("45", "30", "reasoning")
    assert first.media == second.media and first.media.suffix == ".png" and first.media.read_bytes() == _png(200)
    assert len(list(cache.iterdir())) == 1  # identical images written once
    assert ds.issues == [
        f"{path}:row 3: human_ranking is a tie; no preference to test",
        f"{path}:row 4: response must hold exactly 2 answers",
    ]
    mtime = first.media.stat().st_mtime_ns
    assert load_dataset("vlrewardbench", tmp_path, cache_dir=cache).samples == ds.samples
    assert first.media.stat().st_mtime_ns == mtime  # not rewritten


def test_vlrewardbench_dimension_from_prefix():
    assert [vlrb_dimension(i) for i in ("RLHF-V-9", "hallucination_pair_3", "MMMU-Pro_1", "vlfeedback_2")] == [
        "hallucination",
        "hallucination",
        "reasoning",
        "general",
    ]


def test_vlrewardbench_unreadable_parquet(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match=r"bad\.parquet: not a readable parquet file"):
        load_dataset("vlrewardbench", tmp_path / "bad.parquet", cache_dir=tmp_path / "c")
