"""Tool image labels: the tools write them through `tools.labels`, and its parser reads them back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from vrb_agent.tools import open_media
from vrb_agent.tools.labels import ImageLabel, frame_label, parse_label, zoom_label
from vrb_agent.tools.visual import reexamine_clip, select_frames, zoom

times = st.floats(0, 36000, allow_nan=False)
coordinate = st.floats(0, 1000, allow_nan=False)


@given(t=times)
def test_frame_label_round_trips(t: float) -> None:
    assert parse_label(frame_label(t)) == ImageLabel("frame", round(t, 2))


@given(t=times, box=st.tuples(coordinate, coordinate, coordinate, coordinate))
def test_zoom_label_round_trips_its_box_exactly(t: float, box: tuple[float, float, float, float]) -> None:
    parsed = parse_label(zoom_label(t, box))
    assert parsed is not None and parsed.kind == "zoom" and parsed.timestamp == round(t, 2)
    assert parsed.box is not None and np.allclose(parsed.box, box, rtol=1e-5, atol=1e-9)


def test_other_texts_are_not_labels() -> None:
    for text in ("", "a frame", "frame t=abc s", "zoom t=1.0.0s", "overview of the video"):
        assert parse_label(text) is None, text
    assert parse_label("zoom t=1.00s box=[1,2,3]") == ImageLabel("zoom", 1.0, None)  # no box: the whole frame


def test_the_tools_label_their_images_in_this_format(square_video: Path) -> None:
    media = open_media(square_video)
    observations = [
        select_frames(media, [0.5, 1.0]),
        reexamine_clip(media, 0.0, 1.0, 3),
        zoom(media, 0.5, [100, 100, 600, 700]),
    ]
    labels = [parse_label(image.label) for o in observations for image in o.images]
    assert labels and None not in labels
    assert labels[-1] == ImageLabel("zoom", labels[-1].timestamp, (100, 100, 600, 700))  # type: ignore[union-attr]
    assert [label.kind for label in labels[:-1]] == ["frame"] * (len(labels) - 1)  # type: ignore[union-attr]
