"""Visual tools (DESIGN.md §2): pixel checks of what each returns, and every invalid argument."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import GREEN, RED
from vrb_agent.tools import (
    ARG_MODELS,
    EvidenceStore,
    ToolBox,
    ToolLimits,
    open_media,
    overview,
    reexamine_clip,
    schema_of,
    select_frames,
    zoom,
)
from vrb_agent.tools.media import Media


@pytest.fixture(scope="module")
def media(square_video: Path) -> Media:
    return open_media(square_video)


def share_of(image: np.ndarray, color: tuple[int, int, int], tol: int = 50) -> float:
    return float(np.all(np.abs(image.astype(int) - np.array(color)) <= tol, axis=-1).mean())


# ---- what the tools return -----------------------------------------------------------------------


def test_overview_samples_segment_centres(media: Media) -> None:
    obs = overview(media, 10)
    assert obs.ok
    assert obs.timestamps == pytest.approx([(i + 0.5) * 0.5 for i in range(10)], abs=1 / 30)
    assert [img.label for img in obs.images][:2] == ["frame t=0.23s", "frame t=0.73s"]
    assert "5.00s video" in obs.text


def test_select_frames_returns_requested_times_and_pixels(media: Media) -> None:
    obs = select_frames(media, [2.2, 1.0, 2.6])
    assert obs.ok
    assert obs.timestamps == pytest.approx([2.2, 1.0, 2.6], abs=1 / 30)
    assert [img.label for img in obs.images] == ["frame t=2.20s", "frame t=1.00s", "frame t=2.60s"]
    assert [share_of(img.image[100:140, 100:140], RED) > 0.9 for img in obs.images] == [True, False, False]


def test_select_frames_clamps_and_reports(media: Media) -> None:
    obs = select_frames(media, [-1, 99])
    assert obs.ok
    assert obs.timestamps == pytest.approx([0.0, 149 / 30])
    assert "clamped" in obs.text and "-1s" in obs.text and "99s" in obs.text


def test_zoom_returns_the_requested_region(media: Media) -> None:
    # The red square spans x 100..140 of 320 and y 100..140 of 240 during [2.0, 2.5).
    box = [312.5, 416.7, 437.5, 583.3]
    obs = zoom(media, 2.2, box)
    assert obs.ok
    (img,) = obs.images
    assert share_of(img.image, RED) > 0.85
    assert min(img.image.shape[:2]) >= 448
    assert max(img.image.shape[:2]) <= ToolLimits().max_side
    assert img.label == "zoom t=2.20s box=[312.5,416.7,437.5,583.3]"
    assert img.box == tuple(box)
    # The green corner square (x 270..310, y 10..50): a box on it is green, not red.
    green = zoom(media, 2.2, [843.75, 41.7, 968.75, 208.3]).images[0].image
    assert share_of(green, GREEN) > 0.85 and share_of(green, RED) < 0.01


def test_zoom_of_left_half_is_left_half(media: Media) -> None:
    """A half-frame box keeps the aspect ratio of the region and shows its content."""
    img = zoom(media, 2.2, [0, 0, 500, 1000]).images[0].image
    height, width = img.shape[:2]
    assert width / height == pytest.approx(160 / 240, rel=0.02)
    assert share_of(img, GREEN) < 0.001  # green square lives in the right half
    assert share_of(img, RED) > 0.03


def test_zoom_respects_frame_cap(media: Media) -> None:
    img = zoom(media, 2.2, [0, 0, 1000, 1000], limits=ToolLimits(max_side=400)).images[0].image
    assert max(img.shape[:2]) <= 400


def test_reexamine_clip_spacing(media: Media) -> None:
    obs = reexamine_clip(media, 1.0, 3.0, 5)
    assert obs.ok
    assert obs.timestamps == pytest.approx([1.0, 1.5, 2.0, 2.5, 3.0], abs=1 / 30)
    reds = [share_of(img.image[100:140, 100:140], RED) > 0.9 for img in obs.images]
    assert reds == [False, False, True, False, False]


def test_reexamine_clip_dense_window_dedupes(media: Media) -> None:
    obs = reexamine_clip(media, 2.0, 2.05, 8)  # two frames (60, 61) in the window
    assert len(obs.images) == 2
    assert "only 2 distinct" in obs.text


def test_tools_on_an_image(square_image: Path) -> None:
    image = open_media(square_image)
    assert len(overview(image, 16).images) == 1
    assert select_frames(image, [0, 3.0]).timestamps == [0.0]
    zoomed = zoom(image, 0, [312.5, 416.7, 437.5, 583.3])
    assert zoomed.ok and share_of(zoomed.images[0].image, RED) > 0.85
    assert len(reexamine_clip(image, 0, 1, 4).images) == 1


# ---- invalid arguments: corrective text, never an exception --------------------------------------

INVALID_CALLS = [
    ("select_frames", {"timestamps": []}, "at least 1"),
    ("select_frames", {"timestamps": [1, 2, 3, 4, 5, 6, 7, 8, 9]}, "at most 8"),
    ("select_frames", {"timestamps": ["soon"]}, "timestamps.0"),
    ("select_frames", {"timestamps": 3.0}, "valid list"),
    ("select_frames", {"timestamps": [float("nan")]}, "finite"),
    ("select_frames", {}, "missing"),
    ("select_frames", {"timestamps": [1.0], "fps": 2}, "unexpected"),
    ("zoom", {"timestamp": 1.0, "box": [0, 0, 10]}, "at least 4"),
    ("zoom", {"timestamp": 1.0, "box": [0, 0, 1200, 500]}, "outside the frame"),
    ("zoom", {"timestamp": 1.0, "box": [-5, 0, 100, 100]}, "outside the frame"),
    ("zoom", {"timestamp": 1.0, "box": [500, 0, 400, 100]}, "x0 < x1"),
    ("zoom", {"timestamp": 1.0, "box": [0, 300, 100, 300]}, "y0 < y1"),
    ("zoom", {"timestamp": 1.0, "box": [0, 0, 5, 5]}, "under 4 pixels"),
    ("zoom", {"timestamp": "later", "box": [0, 0, 100, 100]}, "timestamp"),
    ("zoom", {"timestamp": 1.0}, "missing"),
    ("reexamine_clip", {"start": 3.0, "end": 1.0}, "end must be greater than start"),
    ("reexamine_clip", {"start": 1.0, "end": 1.0}, "end must be greater than start"),
    ("reexamine_clip", {"start": 1.0, "end": 2.0, "num_frames": 1}, "greater than or equal to 2"),
    ("reexamine_clip", {"start": 1.0, "end": 2.0, "num_frames": 17}, "less than or equal to 16"),
    ("reexamine_clip", {"start": 1.0, "end": float("inf")}, "finite"),
    ("look_closer", {"timestamp": 1.0}, "Unknown tool"),
]


@pytest.mark.parametrize(("name", "arguments", "expected"), INVALID_CALLS)
def test_invalid_arguments_return_corrective_text(media: Media, name: str, arguments: dict, expected: str) -> None:
    obs = ToolBox(media).call(name, arguments)
    assert not obs.ok
    assert obs.images == []
    assert expected in obs.text
    if name in ARG_MODELS:
        assert f"{name}(" in obs.text or "different" in obs.text  # says how to call it


def test_non_object_arguments(media: Media) -> None:
    obs = ToolBox(media).call("zoom", [1.0, [0, 0, 10, 10]])  # type: ignore[arg-type]
    assert not obs.ok and "JSON object" in obs.text


def test_repeated_call_is_refused(media: Media) -> None:
    box = ToolBox(media)
    first = box.call("zoom", {"timestamp": 2.2, "box": [300, 400, 450, 600]}, turn=1)
    again = box.call("zoom", {"box": [300, 400, 450, 600], "timestamp": 2.2}, turn=2)
    assert first.ok
    assert not again.ok and "already made this exact call (turn 1)" in again.text
    assert box.call("zoom", {"timestamp": 2.3, "box": [300, 400, 450, 600]}, turn=2).ok


def test_frame_limit_per_call_is_configurable(media: Media) -> None:
    obs = ToolBox(media, ToolLimits(max_frames_per_call=2)).call("select_frames", {"timestamps": [1, 2, 3]})
    assert not obs.ok and "at most 2" in obs.text


def test_tool_schemas_are_plain_json_schema() -> None:
    schemas = {name: schema_of(model) for name, model in ARG_MODELS.items()}
    assert schemas["select_frames"]["required"] == ["timestamps"]
    assert schemas["select_frames"]["properties"]["timestamps"]["maxItems"] == 8
    assert schemas["zoom"]["properties"]["box"]["minItems"] == 4
    assert set(schemas["reexamine_clip"]["properties"]) == {"start", "end", "num_frames"}
    assert "title" not in str(schemas)


# ---- evidence store ------------------------------------------------------------------------------


def test_evidence_store_is_content_addressed_and_encodes_once(media: Media) -> None:
    from vrb_agent.tools.evidence import ENCODED_CACHE

    ENCODED_CACHE.clear()
    store = EvidenceStore(quality=90, max_side=200)
    frame = media.frames_at([2.2])[0].image
    first = store.put(frame, "frame t=2.20s", timestamp=2.2)
    second = store.put(frame.copy(), "frame t=2.20s", timestamp=2.2)
    assert first == second and first.startswith("ev-")
    assert store.encodings == 1 and len(store) == 1
    other = store.put(media.frames_at([1.0])[0].image, "frame t=1.00s")
    assert other != first
    item = store.get(first)
    assert (item.width, item.height) == (200, 150)  # downscaled to the store's max side
    decoded = item.to_array()
    assert share_of(decoded[65:85, 65:85], RED) > 0.9
    assert item.data_url.startswith("data:image/jpeg;base64,")
    another = EvidenceStore(quality=90, max_side=200)  # another judgment of the same frame
    assert another.put(frame, "frame t=2.20s") == first
    assert another.encodings == 0


def test_unknown_evidence_id_is_a_clear_error() -> None:
    from vrb_agent.errors import VrbError

    with pytest.raises(VrbError, match="unknown evidence id"):
        EvidenceStore().get("ev-missing")


def test_zoom_label_has_no_float_noise(media: Media) -> None:
    label = zoom(media, 1.0, [100, 100, 900, 900]).images[0].label
    assert label == "zoom t=1.00s box=[100,100,900,900]"
    assert not math.isnan(float(label.split("t=")[1].split("s")[0]))
