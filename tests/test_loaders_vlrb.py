"""VL-RewardBench as published: the HF snapshot's parquet and VLMEvalKit's TSV, written here by the
tests. Every row of a release with repeated ids and `<image>` tokens loads; groups follow cal.py."""

from __future__ import annotations

import base64
import csv
import io
import sys
from pathlib import Path

import pytest

from vrb_agent.benchmark import load_dataset
from vrb_agent.benchmark.datasets import vlrb_dimension
from vrb_agent.benchmark.datasets.vlrb import VLRB_GROUPS, vlrb_source
from vrb_agent.judges.base import ConfigError


def png(colour: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (colour, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def item(sample_id: str, query: str = "Q", responses=("good", "bad"), ranking=(0, 1), colour: int = 9) -> dict:
    return {"id": sample_id, "query": query, "response": list(responses), "human_ranking": list(ranking),
            "image": {"bytes": png(colour), "path": "x.png"}, "query_source": "src"}  # fmt: skip


def write_parquet(path: Path, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_hf_snapshot_keeps_repeated_ids_and_strips_placeholders(tmp_path):
    rows = [
        item("mathverse_1063", "Angle?", ("30", "45"), (1, 0)),
        item("mathverse_1063", "Length?", ("3", "4"), (0, 1)),  # same id, another pair: a sample of its own
        item("mathverse_1063", "Angle?", ("45", "30"), (0, 1)),  # same id, query and responses: a repeat
        item("hallucination_pair_7", "<image>\nWhat is shown?"),
        item("RLAIF-V_3", "Describe <image> it."),
    ]
    write_parquet(tmp_path / "snap" / "data" / "test-00000-of-00001.parquet", rows)
    ds = load_dataset("vlrewardbench", tmp_path / "snap", cache_dir=tmp_path / "cache")
    ids = [s.id for s in ds.samples]
    assert ids[0] == "mathverse_1063" and ids[1].startswith("mathverse_1063~") and len(ids) == 4
    assert ds.samples[1].meta["original_id"] == "mathverse_1063" and ds.samples[1].question == "Length?"
    assert ds.issues == [f"{ds.files[0]}:row 3: duplicate row (same id, query and responses as an earlier one)"]
    assert [s.question for s in ds.samples[2:]] == ["What is shown?", "Describe it."]
    assert [(s.dimension, s.source) for s in ds.samples] == [
        ("reasoning", "reasoning_tasks"), ("reasoning", "reasoning_tasks"),
        ("hallucination", "povid"), ("hallucination", "rlaif-v"),
    ]  # fmt: skip
    assert any(n.startswith("1 ids occur more than once with different pairs: the 1 later rows") for n in ds.notes)
    assert "stripped the <image> placeholder from 2 queries" in ds.notes
    again = load_dataset("vlrewardbench", ds.files[0], cache_dir=tmp_path / "cache")
    assert [s.id for s in again.samples] == ids  # the suffix is stable


def test_group_counts_of_the_full_set(tmp_path):
    prefixes = {"general": "wildvision_", "hallucination": "RLHF-V_", "reasoning": "mmmu_pro_test_"}
    rows = [item(f"{prefixes[g]}{i}") for g, n in VLRB_GROUPS.items() for i in range(n)]
    full = load_dataset("vlrewardbench", write_parquet(tmp_path / "full.parquet", rows), cache_dir=tmp_path / "c")
    assert full.notes[0] == "1250 samples per group: general 183, hallucination 749, reasoning 318"
    assert full.notes[1] == "1250 samples per source: reasoning_tasks 318, rlhf-v 749, wildvision-battle 183"
    part = load_dataset(
        "vlrewardbench", write_parquet(tmp_path / "p" / "part.parquet", rows[1:]), cache_dir=tmp_path / "c"
    )
    assert part.notes[1].startswith("warning: the published full set has general 183, hallucination 749")


def test_groups_follow_the_official_id_prefixes():
    ids = ["RLAIF-V-Dataset_1", "RLHF-V_2", "hallucination_pair_3", "mathverse_4", "mmmu_pro_test_Marketing_150",
           "wildvision-battle_6", "vlfeedback_7", "something_else"]  # fmt: skip
    assert [vlrb_source(i) for i in ids] == ["rlaif-v", "rlhf-v", "povid", "reasoning_tasks", "reasoning_tasks",
                                             "wildvision-battle", "vlfeedback", "vlfeedback"]  # fmt: skip
    assert [vlrb_dimension(i) for i in ids] == ["hallucination"] * 3 + ["reasoning"] * 2 + ["general"] * 3


def write_tsv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_vlmevalkit_tsv(tmp_path):
    image = base64.b64encode(png(40)).decode()
    rows = [
        {"index": 0, "id": "RLAIF-V_1", "image": image, "question": "<image>\nRed?",
         "response": "['Yes,\\n red.', 'No.']", "answer": "[0, 1]", "category": "hallucination"},
        {"index": 1, "id": "mathverse_2", "image": "0", "question": "Angle?", "response": "['30', '45']",
         "answer": "[1, 0]", "category": "reasoning"},
        {"index": 2, "id": "wildvision_3", "image": "not base64!", "question": "Hi", "response": "['a', 'b']",
         "answer": "[0, 1]", "category": "general"},
    ]  # fmt: skip
    path = write_tsv(tmp_path / "VL_RewardBench.tsv", rows)
    ds = load_dataset("vlrewardbench", tmp_path, cache_dir=tmp_path / "cache")
    first, second = ds.samples
    assert (first.id, first.question, first.chosen, first.rejected) == ("RLAIF-V_1", "Red?", "Yes,\n red.", "No.")
    assert (second.chosen, second.rejected, second.dimension) == ("45", "30", "reasoning")
    assert second.media == first.media and first.media.read_bytes() == png(40)  # "0": row 0's image
    assert ds.issues == [f"{path}:row 3: image has no bytes"]


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    path = write_parquet(tmp_path / "v.parquet", [item("RLHF-V_1")])
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ConfigError, match=r"needs pyarrow.*pip install 'vrb-agent\[data\]'"):
        load_dataset("vlrewardbench", path, cache_dir=tmp_path / "c")
