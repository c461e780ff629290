"""Failure attribution: wrong verdicts classed never shown / shown but misjudged / not attributable
(hand-made records with known classes), per condition and dimension, the agentic coverage rescue,
`meta.evidence` in generic JSONL (validated, carried into every record) and in the probe suite."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from vrb_agent.benchmark import load_dataset, run_benchmark
from vrb_agent.benchmark.attribution import failure_attribution, failure_class
from vrb_agent.benchmark.datasets.evidence import EvidenceMetaError, parse_evidence_meta
from vrb_agent.judges.scripted import ScriptedBackend
from vrb_agent.tools.media import open_media

FLASH = [{"start": 6.4, "end": 6.5, "box": [60.0, 100.0, 95.0, 160.0]}]
OVERVIEW = [{"t": 0.25 + 0.5 * i} for i in range(16)]  # none of them in 6.4-6.5


def _record(shown, *, evidence=FLASH, correct=False, **extra) -> dict:
    record = {"sample_id": "s", "mode": "single", "frames": 16, "k": 1, "status": "ok", "correct": correct,
              "dimension": "d0", "decisive_evidence": evidence, **extra}  # fmt: skip
    if shown is not None:
        record["shown"] = shown
    return record


CASES = [  # (record, class), worked out by hand
    (_record(OVERVIEW), "never_shown"),
    (_record([*OVERVIEW, {"t": 6.4}]), "shown_misjudged"),  # the flash's first frame, whole
    (_record([*OVERVIEW, {"t": 6.5}]), "shown_misjudged"),  # its last frame
    (_record([*OVERVIEW, {"t": 6.6}]), "never_shown"),  # the frame after it
    (_record([*OVERVIEW, {"t": 6.45, "box": [500.0, 500.0, 900.0, 900.0]}]), "never_shown"),  # zoomed elsewhere
    (_record([*OVERVIEW, {"t": 6.45, "box": [0.0, 0.0, 80.0, 120.0]}]), "shown_misjudged"),  # zoom meets the box
    (_record([{"start": 0.0, "end": 8.0}]), "shown_misjudged"),  # a native-video part spanning it
    (_record(OVERVIEW, evidence=[{"box": [10.0, 10.0, 20.0, 20.0]}]), "shown_misjudged"),  # in every frame
    (
        _record([{"t": 1.0, "box": [500.0, 500.0, 600.0, 600.0]}], evidence=[{"box": [10.0, 10.0, 20.0, 20.0]}]),
        "never_shown",
    ),
    (_record([{"t": 1.0}], evidence=[{"start": 1.0, "end": 1.0}, {"start": 5.0, "end": 5.2}]), "never_shown"),
    (
        _record([{"t": 1.0}, {"t": 5.1}], evidence=[{"start": 1.0, "end": 1.0}, {"start": 5.0, "end": 5.2}]),
        "shown_misjudged",
    ),
    (_record(OVERVIEW, evidence=[]), "not_attributable"),  # the sample does not say where
    (_record(None), "not_attributable"),  # an older line: only its tool calls are known, none covers it
    (
        _record(None) | {"evidence": [{"name": "reexamine_clip", "ok": True, "timestamps": [6.3, 6.4, 6.5]}]},
        "shown_misjudged",
    ),  # an older line whose tool frames cover it
    (_record(OVERVIEW, correct=True), None),  # right: not a wrong verdict
    (_record(OVERVIEW, status="invalid", correct=None), None),  # no verdict
]


@pytest.mark.parametrize(("record", "want"), CASES)
def test_each_wrong_verdict_is_classed_by_what_it_was_shown(record, want):
    assert failure_class(record) == want


def test_attribution_per_condition_and_the_agentic_rescue():
    shown_flash = [*OVERVIEW, {"t": 6.4}]
    records = [
        # s1: single never shown and right by luck; agentic shown and right -> a rescue, right
        _record(OVERVIEW, sample_id="s1", correct=True),
        _record(shown_flash, sample_id="s1", mode="agentic", correct=True),
        # s2: single never shown, wrong; agentic never shown either, wrong
        _record(OVERVIEW, sample_id="s2"),
        _record(OVERVIEW, sample_id="s2", mode="agentic"),
        # s3 (d1): single shown, wrong; agentic shown, wrong
        _record(shown_flash, sample_id="s3", dimension="d1"),
        _record(shown_flash, sample_id="s3", dimension="d1", mode="agentic"),
        # s4: no location; single wrong (not attributable), agentic right
        _record(OVERVIEW, sample_id="s4", evidence=[]),
        _record(OVERVIEW, sample_id="s4", evidence=[], mode="agentic", correct=True),
    ]
    result = failure_attribution(records, n_boot=300)
    assert result.located_samples == 3
    single, agentic = result.conditions
    assert (single.mode, agentic.mode) == ("single", "agentic")
    s = single.overall
    assert (s.wrong, s.never_shown, s.shown_misjudged, s.not_attributable) == (3, 1, 1, 1)
    assert s.never_shown_share == 0.5 and s.ci == [0.0, 1.0]
    assert single.by_dimension["d1"].shown_misjudged == 1 and single.by_dimension["d0"].never_shown == 1
    a = agentic.overall
    assert (a.wrong, a.never_shown, a.shown_misjudged, a.not_attributable) == (2, 1, 1, 0)
    [rescue] = result.rescue
    assert (rescue.single_never_shown, rescue.agentic_shown, rescue.agentic_shown_right) == (2, 1, 1)
    assert rescue.agentic_shown_share == 0.5


def test_control_records_are_neither_attributed_nor_taken_for_the_single_pass_in_a_rescue():
    shown_flash = [*OVERVIEW, {"t": 6.4}]
    records = [
        _record(OVERVIEW, sample_id="s1"),  # single never shown, wrong
        _record(shown_flash, sample_id="s1", mode="agentic", correct=True),
        _record(shown_flash, sample_id="s2"),  # single shown, wrong
        _record(shown_flash, sample_id="s2", mode="agentic", correct=True),
        # blind and shuffled judgments of the same single-pass cells, wrong, and never shown the flash
        *(_record([], sample_id=s, control="blind") for s in ("s1", "s2")),
        *(_record(OVERVIEW, sample_id=s, control="shuffled") for s in ("s1", "s2")),
    ]
    result = failure_attribution(records, n_boot=100)
    single = next(c for c in result.conditions if c.mode == "single").overall
    assert (single.wrong, single.never_shown, single.shown_misjudged) == (2, 1, 1)  # the normal cells only
    [rescue] = result.rescue
    assert (rescue.single_never_shown, rescue.agentic_shown) == (1, 1)  # s2's single pass was shown it


# ---- meta.evidence in generic JSONL -------------------------------------------------------------


def test_meta_evidence_is_normalised():
    assert parse_evidence_meta({"start": 2, "end": 2.5, "box": [0, 0, 10, 10]}) == [
        {"start": 2.0, "end": 2.5, "box": [0.0, 0.0, 10.0, 10.0]}
    ]
    assert parse_evidence_meta([{"start": 1}, {"box": [1, 2, 3, 4]}]) == [
        {"start": 1.0, "end": 1.0},
        {"box": [1.0, 2.0, 3.0, 4.0]},
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"start": 3, "end": 2}, "meta.evidence.end: 2.0 is before start 3.0"),
        ({"start": "2s"}, "meta.evidence.start: must be a finite number"),
        ({"box": [0, 0, 1200, 10]}, "meta.evidence.box: must be [x0, y0, x1, y1] on the 0-1000 scale"),
        ({"box": [5, 0, 5, 10]}, "an empty box"),
        ({"end": 2}, "meta.evidence.end: given without meta.evidence.start"),
        ({"stat": 1}, "meta.evidence: unknown key(s) stat"),
        ([{"start": 1}, 7], "meta.evidence[1]: must be an object"),
        ([], "meta.evidence: an empty list"),
        ({}, "meta.evidence: needs start (and end) or box"),
    ],
)
def test_malformed_meta_evidence_names_the_field(value, message):
    with pytest.raises(EvidenceMetaError, match=re.escape(message)):
        parse_evidence_meta(value)


def _rows(tmp_path: Path, bench_video: Path, metas: list[dict | None]) -> Path:
    import shutil

    shutil.copy(bench_video, tmp_path / "v.mp4")
    rows = [{"id": f"s{i}", "media": "v.mp4", "question": "q", "chosen": f"good answer {i}",
             "rejected": f"bad answer {i}", "dimension": "d0", **({"meta": m} if m is not None else {})}
            for i, m in enumerate(metas)]  # fmt: skip
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_generic_rows_with_bad_evidence_are_skipped_naming_file_line_and_field(tmp_path, bench_video, fake_judge):
    path = _rows(tmp_path, bench_video, [{"evidence": {"start": 0.2, "end": 0.4}}, {"evidence": {"start": 1, "end": 0}},
                                         None, {"other": 1}])  # fmt: skip
    dataset = load_dataset("generic", path)
    assert [s.id for s in dataset.samples] == ["s0", "s2", "s3"]
    assert dataset.issues == [f"{path}:2: meta.evidence.end: 0.0 is before start 1.0"]
    out = tmp_path / "run"
    run_benchmark(out=out, dataset="generic", data=str(path), backend=ScriptedBackend(), judge=fake_judge,
                  progress=False)  # fmt: skip
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    carried = {r["sample_id"]: r.get("decisive_evidence") for r in records}
    assert carried == {"s0": [{"start": 0.2, "end": 0.4}], "s2": None, "s3": None}
    # the fake judge shows frames at 0.0 and 0.5 s (and in agentic mode a zoom at 0.5 s): never 0.2-0.4
    assert all(r["shown"] for r in records)


# ---- the probe suite records where its evidence is ----------------------------------------------


def _flash_visible(media, box: list[float], t: float, colour: str) -> bool:
    from vrb_agent.benchmark.synth import NAMED_COLORS

    frame = media.frames_at([t])[0].image
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = (round(box[0] / 1000 * w), round(box[1] / 1000 * h), round(box[2] / 1000 * w),
                      round(box[3] / 1000 * h))  # fmt: skip
    patch = frame[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].astype(int)
    return bool(np.abs(patch - np.array(NAMED_COLORS[colour])).sum(axis=2).mean() < 60)


def test_probes_say_where_their_decisive_evidence_is(probe_suite):
    rows = [json.loads(line) for line in probe_suite.read_text().splitlines()]
    for row in rows:
        regions = parse_evidence_meta(row["meta"]["evidence"])  # valid meta.evidence
        knobs, truth = row["meta"]["knobs"], row["meta"]["truth"]
        if row["meta"]["kind"] == "temporal_order":
            got = [v for r in regions for v in (r["start"], r["end"] + 1 / knobs["fps"])]
            assert got == pytest.approx([*truth["first_window"], *truth["second_window"]])
        elif row["meta"]["kind"] == "brief_event":
            [region] = regions
            media = open_media(probe_suite.parent / row["media"])
            step = 1 / knobs["fps"]
            colour = truth["color"]
            assert _flash_visible(media, region["box"], region["start"], colour)  # first frame that shows it
            assert _flash_visible(media, region["box"], region["end"], colour)  # last frame that shows it
            assert not _flash_visible(media, region["box"], region["start"] - step, colour)
            assert not _flash_visible(media, region["box"], region["end"] + step, colour)
        else:
            last = knobs["duration"] - 1 / knobs["fps"]
            assert regions[0]["start"] == 0.0 and regions[0]["end"] == pytest.approx(last)
