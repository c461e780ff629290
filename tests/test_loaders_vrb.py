"""VideoRewardBench in the layouts a copy of the release may come in: each loads correctly or fails
with a message naming the field; dimension names are strict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vrb_agent.benchmark import DatasetError, load_dataset
from vrb_agent.benchmark.datasets import parse_dim_map, parse_field_map
from vrb_agent.benchmark.datasets.vrb_layout import VRB_PAPER_COUNTS

FIVE = list(VRB_PAPER_COUNTS)


def write(tmp_path: Path, rows: list[dict], name: str = "ann.json") -> Path:
    path = tmp_path / "vrb" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.write_text(json.dumps(rows))
    return path


def pairs(ds) -> list[tuple[str, str, str, str]]:
    return [(s.id, s.chosen, s.rejected, s.dimension) for s in ds.samples]


def test_flat_lowercase_layout(tmp_path):
    rows = [
        {
            "id": f"f{i}",
            "video": "a.mp4",
            "question": "q",
            "chosen": f"good {i}",
            "rejected": f"bad {i}",
            "dimension": dim,
        }
        for i, dim in enumerate(["Long-Form Perception", "short_perception", "Safety"])
    ]
    ds = load_dataset("videorewardbench", write(tmp_path, rows, "ann.jsonl"))
    assert pairs(ds) == [
        ("f0", "good 0", "bad 0", "long-form perception"),
        ("f1", "good 1", "bad 1", "short-form perception"),
        ("f2", "good 2", "bad 2", "safety"),
    ]
    assert ds.fields["chosen"] == "chosen" and ds.files == [tmp_path / "vrb" / "ann.jsonl"]


def test_capitalised_columns_and_sources_per_sample(tmp_path):
    rows = [{"ID": "c1", "Video": "a.mp4", "Question": "Q1", "Chosen": "yes", "Rejected": "no",
             "Dimension": "Knowledge", "Source": "VideoMME"},
            {"ID": "c2", "Video": "b.mp4", "Question": "Q2", "Chosen": "up", "Rejected": "down",
             "Dimension": "REASONING", "Source": "MLVU"}]  # fmt: skip
    ds = load_dataset("videorewardbench", write(tmp_path, rows))
    assert pairs(ds) == [("c1", "yes", "no", "knowledge"), ("c2", "up", "down", "reasoning")]
    assert [s.source for s in ds.samples] == ["VideoMME", "MLVU"]
    assert ds.fields == {"id": "ID", "media": "Video", "question": "Question", "chosen": "Chosen",
                         "rejected": "Rejected", "dimension": "Dimension", "source": "Source"}  # fmt: skip
    assert "2 samples per source: MLVU 1, VideoMME 1" in ds.notes


def test_ranking_list_layout_takes_best_and_worst(tmp_path):
    rows = [{"id": "r1", "video": "a.mp4", "question": "q", "responses": ["mid", "best", "worst"], "ranking": [1, 0, 2],
             "dimension": "safety"},
            {"id": "r2", "video": "a.mp4", "question": "q", "responses": ["x", "y"], "ranking": [1, 1],
             "dimension": "safety"},
            {"id": "r3", "video": "a.mp4", "question": "q", "responses": ["x", "y"], "ranking": [0],
             "dimension": "safety"}]  # fmt: skip
    path = write(tmp_path, rows)
    ds = load_dataset("videorewardbench", path)
    assert pairs(ds) == [("r1", "best", "worst", "safety")]
    assert ds.fields["chosen"] == "responses[best ranking]"
    assert ds.issues == [
        f"{path}:2: responses / ranking: the ranking has no better response (a tie, or fewer than 2)",
        f"{path}:3: responses / ranking: need a list of responses and a ranking of the same length",
    ]


def test_label_column_layout(tmp_path):
    base = {"video": "a.mp4", "question": "q", "response_a": "first", "response_b": "second", "dimension": "knowledge"}
    labels = ["A", "b", "Response_B", "1", "2", "C"]
    rows = [{**base, "id": f"l{i}", "label": label} for i, label in enumerate(labels)]
    path = write(tmp_path, rows)
    ds = load_dataset("videorewardbench", path)
    assert [(s.chosen, s.rejected) for s in ds.samples] == [
        ("first", "second"), ("second", "first"), ("second", "first"), ("first", "second"), ("second", "first")
    ]  # fmt: skip
    assert ds.issues == [
        f"{path}:6: label 'C' (label) names neither response_a nor response_b; use A/B, 1/2 or a column"
    ]
    assert ds.fields["chosen"] == "response_a|response_b named by label"


def test_sub_dimension_layout_maps_perception_explicitly(tmp_path):
    base = {"video": "a.mp4", "question": "q", "chosen": "c", "rejected": "r"}
    rows = [{**base, "id": "s1", "dimension": "Perception", "sub_dimension": "Long-Form"},
            {**base, "id": "s2", "dimension": "perception", "sub_dimension": "short"},
            {**base, "id": "s3", "dimension": "Knowledge", "sub_dimension": "science"}]  # fmt: skip
    ds = load_dataset("videorewardbench", write(tmp_path, rows))
    assert [s.dimension for s in ds.samples] == ["long-form perception", "short-form perception", "knowledge"]
    assert ds.samples[0].meta["raw_dimension"] == "Perception/Long-Form"
    assert len(ds.dimensions()) == 3  # never one collapsed "perception" group


def test_perception_without_a_known_sub_dimension_fails_and_dim_map_fixes_it(tmp_path):
    base = {"video": "a.mp4", "question": "q", "chosen": "c", "rejected": "r", "dimension": "Perception"}
    path = write(tmp_path, [{**base, "id": "t1", "subtask": "temporal"}, {**base, "id": "t2", "subtask": "long"}])
    with pytest.raises(DatasetError, match=r"unknown dimension name\(s\) 'Perception/temporal' \(1 rows\).*--dim-map"):
        load_dataset("videorewardbench", path)
    ds = load_dataset("videorewardbench", path, dim_map="Perception/temporal=short-form perception")
    assert [s.dimension for s in ds.samples] == ["short-form perception", "long-form perception"]


def test_options_in_their_own_field_reach_the_question(tmp_path):
    rows = [{"id": "o1", "video": "a.mp4", "question": "Which colour?", "options": ["A. red", "B. blue"],
             "chosen": "A", "rejected": "B", "dimension": "short-form perception"},
            {"id": "o2", "video": "a.mp4", "question": "How many?", "options": {"A": "one", "B": "two"},
             "chosen": "B", "rejected": "A", "dimension": "short-form perception"},
            {"id": "o3", "video": "a.mp4", "question": "Empty?", "chosen": "B", "rejected": "A",
             "dimension": "short-form perception"}]  # fmt: skip
    path = write(tmp_path, rows)
    ds = load_dataset("videorewardbench", path, question_template="{question}\\nOptions: {options}")
    assert [s.question for s in ds.samples] == [
        "Which colour?\nOptions: A. red\nB. blue",
        "How many?\nOptions: A. one\nB. two",
    ]
    assert ds.issues == [f"{path}:3: missing or empty options (--question-template)"]
    assert ds.fields["question"] == "{question}\\nOptions: {options}"
    without = load_dataset("videorewardbench", path)
    assert without.samples[0].question == "Which colour?"  # no template: the options stay out, as written


def test_question_template_errors_name_the_field(tmp_path):
    path = write(tmp_path, [{"id": "x", "video": "a.mp4", "question": "q", "chosen": "c", "rejected": "r",
                             "dimension": "safety"}])  # fmt: skip
    with pytest.raises(DatasetError, match=r"--question-template: .* has no column 'choices'; columns are"):
        load_dataset("videorewardbench", path, question_template="{question} {choices}")
    with pytest.raises(DatasetError, match="--question-template: name each field"):
        load_dataset("videorewardbench", path, question_template="{question} {0}")


def test_unknown_and_misspelt_dimensions_fail_listing_every_name(tmp_path):
    base = {"video": "a.mp4", "question": "q", "chosen": "c", "rejected": "r"}
    rows = [{**base, "id": "u1", "dimension": "Knowlege"}, {**base, "id": "u2", "dimension": "Knowlege"},
            {**base, "id": "u3", "dimension": "humour"}, {**base, "id": "u4", "dimension": "safety"}]  # fmt: skip
    path = write(tmp_path, rows)
    with pytest.raises(DatasetError) as caught:
        load_dataset("videorewardbench", path)
    message = str(caught.value)
    assert "'Knowlege' (2 rows), 'humour' (1 rows)" in message and "long-form perception, short-form" in message
    ds = load_dataset("videorewardbench", path, dim_map=parse_dim_map("knowlege=knowledge, Humour=Reasoning"))
    assert [s.dimension for s in ds.samples] == ["knowledge", "knowledge", "reasoning", "safety"]


def test_dim_map_and_field_map_flag_errors():
    with pytest.raises(DatasetError, match="--dim-map: 'comedy' is not a dimension; use one of: long-form"):
        parse_dim_map("humour=comedy")
    with pytest.raises(DatasetError, match="--dim-map: 'humour' is not OLD=NEW"):
        parse_dim_map("humour")
    assert parse_field_map("label=Winner,responses=outs") == {"label": "Winner", "responses": "outs"}


def test_a_layout_missing_a_field_names_it(tmp_path):
    path = write(tmp_path, [{"video": "a.mp4", "question": "q", "response_a": "x", "response_b": "y",
                             "dimension": "safety"}])  # fmt: skip
    with pytest.raises(DatasetError, match=r"no column found for 'chosen'.*--field-map chosen=COLUMN"):
        load_dataset("videorewardbench", path)


def paper_rows(drop: int = 0) -> list[dict]:
    rows = [{"id": f"{dim}-{i}", "video": "a.mp4", "question": "q", "chosen": "c", "rejected": "r", "dimension": dim}
            for dim, n in VRB_PAPER_COUNTS.items() for i in range(n)]  # fmt: skip
    return rows[drop:]


def test_counts_per_dimension_against_the_paper(tmp_path):
    full = load_dataset("videorewardbench", write(tmp_path, paper_rows(), "full.jsonl"))
    counts = ", ".join(f"{d} {n}" for d, n in VRB_PAPER_COUNTS.items())
    assert full.notes[0] == f"1563 samples per dimension: {counts}"
    assert not any(n.startswith("warning") for n in full.notes)
    (tmp_path / "vrb" / "full.jsonl").unlink()
    short = load_dataset("videorewardbench", write(tmp_path, paper_rows(drop=1), "short.jsonl"))
    assert short.notes[0].startswith("1562 samples per dimension: long-form perception 282,")
    assert short.notes[1] == f"warning: the published full set has {counts} per dimension; this file differs"
    assert short.notes[2] == "1562 samples per source: videorewardbench 1562"
