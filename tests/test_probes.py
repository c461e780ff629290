"""The perception probe suite: deterministic per seed, generic JSONL, ground truth in the pixels.

The pixel checks here are independent of the `sim` judge: they read full-resolution frames back
through the media layer and test each kind's truth with plain colour masks and font renderings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from vrb_agent.benchmark.probes import (
    KINDS,
    SWEEP_RANGES,
    ProbeError,
    ProbeKnobs,
    make_probe,
    write_suite,
)
from vrb_agent.benchmark.sim.grammar import NUMBER_WORDS
from vrb_agent.benchmark.synth import NAMED_COLORS, text_scale
from vrb_agent.tools import open_media
from vrb_agent.tools.media import Media
from vrb_agent.tools.visual import overview_times

REPO = Path(__file__).resolve().parents[1]


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def frame(path: Path, t: float) -> np.ndarray:
    return open_media(path).frames_at([t], None)[0].image


def color_mask(image: np.ndarray, color: str, tol: int = 60) -> np.ndarray:
    return np.all(np.abs(image.astype(int) - np.array(NAMED_COLORS[color])) <= tol, axis=-1)


def components(mask: np.ndarray, min_area: int) -> list[tuple[int, int, int, int]]:
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return [tuple(int(v) for v in stats[i][:4]) for i in range(1, count) if stats[i][4] >= min_area]


def by_kind(suite: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows_of(suite):
        out.setdefault(row["meta"]["kind"], []).append(row)
    return out


# ---- format and determinism -----------------------------------------------------------------------


def test_jsonl_is_generic_format_with_knobs(probe_suite: Path) -> None:
    rows = rows_of(probe_suite)
    assert len(rows) == 2 * len(KINDS)
    knob_names = {f.name for f in fields(ProbeKnobs)}
    for row in rows:
        assert set(row) == {"id", "media", "question", "chosen", "rejected", "dimension", "source", "meta"}
        assert (probe_suite.parent / row["media"]).is_file()
        assert row["dimension"] == f"probe/{row['meta']['kind']}" and row["source"] == "probes"
        assert set(row["meta"]["knobs"]) == knob_names
        assert row["meta"]["truth"] and row["meta"]["difficulty"] == "medium" and row["meta"]["seed"] == 3
        # minimally different: same template, same number of words, nearly the same length
        assert row["chosen"] != row["rejected"]
        assert len(row["chosen"].split()) == len(row["rejected"].split())
        assert abs(len(row["chosen"]) - len(row["rejected"])) <= 3
    assert len({row["id"] for row in rows}) == len(rows)


def test_same_seed_same_bytes_and_pixels(probe_suite: Path, tmp_path: Path) -> None:
    again = write_suite(tmp_path / "again", n=2, seed=3)
    assert again.read_bytes() == probe_suite.read_bytes()
    for row in rows_of(probe_suite)[:5]:
        first, second = open_media(probe_suite.parent / row["media"]), open_media(again.parent / row["media"])
        times = [0.0, 2.05, 4.5, 7.9]
        for a, b in zip(first.frames_at(times, None), second.frames_at(times, None), strict=True):
            assert np.array_equal(a.image, b.image)
    other = [make_probe(kind, 0, seed=4).record() for kind in KINDS]
    assert other != [row for row in rows_of(probe_suite) if row["meta"]["index"] == 0]


# ---- the ground truth is in the pixels, per kind ------------------------------------------------------


def test_count_truth_in_pixels(probe_suite: Path) -> None:
    for row in by_kind(probe_suite)["count"]:
        truth, knobs = row["meta"]["truth"], row["meta"]["knobs"]
        image = frame(probe_suite.parent / row["media"], knobs["duration"] / 2)
        blobs = components(color_mask(image, truth["color"]), min_area=knobs["object_size"] ** 2 // 3)
        assert len(blobs) == truth["count"]
        assert all(max(w, h) <= knobs["object_size"] + 2 for _, _, w, h in blobs)  # small, as the knob says
        assert f" {NUMBER_WORDS[truth['count']]} {truth['color']}" in row["chosen"]
        assert f" {NUMBER_WORDS[truth['wrong_count']]} {truth['color']}" in row["rejected"]
        assert abs(truth["count"] - truth["wrong_count"]) == 1


def flash_share(media: Media, box: list[int], t: float, color: str) -> float:
    """Share of the flash's square that shows `color` at time t (full resolution)."""
    x, y, size = box
    patch = media.frames_at([t], None)[0].image[y : y + size, x : x + size]
    return float(color_mask(patch, color).mean())


def test_brief_event_truth_in_pixels_and_missed_by_uniform_overview(probe_suite: Path) -> None:
    for row in by_kind(probe_suite)["brief_event"]:
        truth = row["meta"]["truth"]
        media = open_media(probe_suite.parent / row["media"])
        box = truth["box"]

        assert flash_share(media, box, (truth["start"] + truth["end"]) / 2, truth["color"]) > 0.8
        assert flash_share(media, box, truth["start"] - 0.15, truth["color"]) < 0.05
        assert flash_share(media, box, truth["end"] + 0.05, truth["color"]) < 0.05
        # the wrong colour is on screen all along (so only the flash's transience separates them)
        assert color_mask(media.frames_at([0.0], None)[0].image, truth["wrong_color"]).sum() > 100
        # placement "between": none of the 16 uniform overview frames shows the flash
        for t in overview_times(media, 16):
            assert flash_share(media, box, t, truth["color"]) < 0.05
        assert f"{truth['start']:.1f} seconds" in row["chosen"] and truth["color"] in row["chosen"]


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float32) - a.mean(), b.astype(np.float32) - b.mean()
    return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-6))


def test_small_text_truth_in_pixels(probe_suite: Path) -> None:
    for row in by_kind(probe_suite)["small_text"]:
        truth, knobs = row["meta"]["truth"], row["meta"]["knobs"]
        image = frame(probe_suite.parent / row["media"], 1.0)
        height = knobs["text_height"]
        x, y, w = truth["x"], truth["y"], truth["width"]
        patch = image[y - height - 2 : y + 3, x - 2 : x + w + 4].mean(axis=2)
        assert patch.max() > 120  # bright print is there

        def rendered(text: str, shape: tuple[int, ...] = patch.shape, height: int = height) -> np.ndarray:
            canvas = np.full((shape[0], shape[1]), 30, np.uint8)
            scale, thick = text_scale(height)
            cv2.putText(canvas, text, (2, height + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)
            return canvas

        assert ncc(patch, rendered(truth["digits"])) > ncc(patch, rendered(truth["wrong_digits"])) + 0.02
        assert ncc(patch, rendered(truth["digits"])) > 0.7
        assert row["chosen"].endswith(f" {truth['digits']}.") and row["rejected"].endswith(f" {truth['wrong_digits']}.")
        differ = [i for i, (a, b) in enumerate(zip(truth["digits"], truth["wrong_digits"], strict=True)) if a != b]
        assert len(differ) == 1


def test_temporal_order_truth_in_pixels(probe_suite: Path) -> None:
    for row in by_kind(probe_suite)["temporal_order"]:
        truth = row["meta"]["truth"]
        path = probe_suite.parent / row["media"]
        first_color, second_color = truth["first"].split()[0], truth["second"].split()[0]
        (a0, a1), (b0, b1) = truth["first_window"], truth["second_window"]
        assert a1 <= b0
        during_first, during_second = frame(path, (a0 + a1) / 2), frame(path, (b0 + b1) / 2)
        assert color_mask(during_first, first_color).sum() > 200 and color_mask(during_first, second_color).sum() == 0
        assert color_mask(during_second, second_color).sum() > 200 and color_mask(during_second, first_color).sum() == 0
        assert row["chosen"].startswith(f"The {truth['first']} appears first")
        assert row["rejected"].startswith(f"The {truth['second']} appears first")


def test_attribute_truth_in_pixels(probe_suite: Path) -> None:
    for row in by_kind(probe_suite)["attribute"]:
        truth = row["meta"]["truth"]
        x, y, size = truth["box"]
        image = frame(probe_suite.parent / row["media"], 0.5)
        # a square fills the corners of its bounding box, a circle leaves them empty
        patch = color_mask(image[y : y + size, x : x + size], truth["color"], tol=90)
        corners = [patch[0, 0], patch[0, -1], patch[-1, 0], patch[-1, -1]]
        centre = patch[size // 2, size // 2]
        assert centre
        assert (sum(corners) >= 3) == (truth["shape"] == "square")
        assert row["chosen"].endswith(f"is a {truth['shape']}.") and row["rejected"].endswith(
            f"is a {truth['wrong_shape']}."
        )


# ---- knobs ------------------------------------------------------------------------------------------


def test_sweep_draws_knobs_per_probe_within_ranges() -> None:
    probes = [make_probe(kind, i, seed=1, difficulty="sweep") for i in range(8) for kind in KINDS]
    for name, (lo, hi) in SWEEP_RANGES.items():
        values = [p.meta["knobs"][name] for p in probes]
        assert all(lo <= v <= hi for v in values), name
        assert len(set(values)) > 3, name
    assert {p.meta["knobs"]["placement"] for p in probes} == {"random"}


def test_overrides_pin_knobs_and_resolution() -> None:
    probe = make_probe("count", 0, difficulty="sweep", overrides={"width": 640, "height": 360, "object_size": 5})
    assert (probe.spec.width, probe.spec.height) == (640, 360)
    assert probe.meta["knobs"]["object_size"] == 5
    assert all(s.size == 5 for s in probe.spec.shapes)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"difficulty": "extreme"}, "unknown difficulty 'extreme'"),
        ({"overrides": {"text_height": 2}}, "text_height (--text-height)"),
        ({"overrides": {"event_duration": 0.01}}, "event_duration (--event-duration)"),
        ({"overrides": {"bogus": 1}}, "unknown probe knob(s): bogus"),
    ],
)
def test_bad_knobs_name_the_flag(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ProbeError, match=None) as info:
        make_probe("count", 0, **kwargs)
    assert needle in str(info.value)


def test_cli_probes_make(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "vrb_agent.cli", "probes", "make", "--out", str(tmp_path / "s"), "--n", "1"]
    done = subprocess.run(
        [*cmd, "--kinds", "count,small_text", "--width", "640", "--height", "360"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = rows_of(tmp_path / "s" / "probes.jsonl")
    assert [r["dimension"] for r in rows] == ["probe/count", "probe/small_text"]
    assert rows[0]["meta"]["knobs"]["width"] == 640 and open_media(tmp_path / "s" / rows[0]["media"]).width == 640
    assert "vrb-agent bench --dataset probes" in done.stdout
    bad = subprocess.run([*cmd, "--kinds", "count,nope"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown probe kind 'nope'" in bad.stderr
