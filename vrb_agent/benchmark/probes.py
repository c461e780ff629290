"""The perception probe suite: synthetic videos that each test one way a judge can go blind.

Every probe is a preference pair over a synthetic video whose ground truth is drawn into the
pixels: a question, a correct response and a minimally different wrong one (a count off by one,
one wrong digit, the wrong colour or shape, a swapped order) of the same template, length and style.
Five kinds:

- `count`: several small objects of one colour among distractors of other colours; how many?
- `brief_event`: a large square flashes for a fraction of a second; which colour, when?
- `small_text`: a small number printed somewhere in the frame; what does it read?
- `temporal_order`: two shapes appear one after the other; which comes first?
- `attribute`: the shape (square or circle) of one small object of a named colour.

Knobs (`ProbeKnobs`) set object size, event duration, text height, distractors, video length and
resolution; `easy` / `medium` / `hard` are presets and `sweep` draws every knob per probe from the
range between hard and easy. Every knob and the ground truth go into each pair's `meta`, so results
can be sliced by difficulty, and so does where the decisive evidence is (`meta.evidence`, for
failure attribution). Generation is deterministic for a seed: the same seed gives the same
JSONL bytes and the same pixels.

Where pixels sit relative to a judge's sampling is stated, not hidden: with `placement="between"`
brief events are placed between the frames a uniform `overview_frames`-frame overview samples (the
blind spot of a single-pass judge); `placement="random"` places them uniformly.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from vrb_agent.benchmark.probe_evidence import probe_evidence
from vrb_agent.benchmark.sim.grammar import count_answer, flash_answer, number_answer, order_answer, shape_answer
from vrb_agent.benchmark.synth import NAMED_COLORS, Shape, Text, VideoSpec, text_scale, write_video
from vrb_agent.errors import VrbError

KINDS: tuple[str, ...] = ("count", "brief_event", "small_text", "temporal_order", "attribute")
DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard", "sweep")
Placement = Literal["random", "between"]
SHAPES: tuple[Literal["square", "circle"], ...] = ("square", "circle")
EVENT_SIZE_FRACTION = 0.06  # brief / ordered events are large: 6 % of the frame height
BACKGROUND = (30, 30, 30)


class ProbeError(VrbError):
    """Bad probe-suite arguments; the message names the knob and the accepted values."""


@dataclass(frozen=True)
class ProbeKnobs:
    """What makes a probe hard. Sizes are pixels of the generated video; times are seconds."""

    width: int = 1280
    height: int = 720
    fps: float = 10.0
    duration: float = 8.0
    object_size: int = 6  # counted objects
    attribute_size: int = 10  # the object whose shape is asked
    event_duration: float = 0.2  # the brief flash
    order_duration: float = 1.0  # each of the two ordered events
    text_height: int = 9  # the font's nominal height for the small number (digit ink is ~0.8 of it)
    digits: int = 4
    distractors: int = 3  # objects of other colours in every kind
    placement: Placement = "between"
    overview_frames: int = 16  # the uniform sampling `placement="between"` avoids

    def validate(self) -> ProbeKnobs:
        """Reject knobs that cannot give a valid probe, naming the knob."""
        limits = {
            "width": (self.width >= 160, "at least 160"),
            "height": (self.height >= 120, "at least 120"),
            "fps": (self.fps > 0, "positive"),
            "duration": (self.duration >= 2.0, "at least 2 s"),
            "object_size": (2 <= self.object_size <= self.height // 8, f"within 2..{self.height // 8} px"),
            "attribute_size": (2 <= self.attribute_size <= self.height // 8, f"within 2..{self.height // 8} px"),
            "event_duration": (1 / self.fps <= self.event_duration <= self.duration / 4, "one frame to duration/4"),
            "order_duration": (1 / self.fps <= self.order_duration <= self.duration / 4, "one frame to duration/4"),
            "text_height": (4 <= self.text_height <= self.height // 6, f"within 4..{self.height // 6} px"),
            "digits": (1 <= self.digits <= 8, "within 1..8"),
            "distractors": (0 <= self.distractors <= 12, "within 0..12"),
            "placement": (self.placement in ("random", "between"), "'random' or 'between'"),
            "overview_frames": (self.overview_frames >= 1, "at least 1"),
        }
        for name, (ok, accepted) in limits.items():
            if not ok:
                flag = "--" + name.replace("_", "-")
                raise ProbeError(f"probe knob {name} ({flag}) must be {accepted}; got {getattr(self, name)!r}")
        return self


PRESETS: dict[str, ProbeKnobs] = {
    # Everything resolvable in a 16-frame, 768-px overview.
    "easy": ProbeKnobs(
        object_size=24,
        attribute_size=24,
        event_duration=1.0,
        order_duration=2.0,
        text_height=32,
        distractors=1,
        placement="random",
    ),
    # Objects and text below what a 768-px overview resolves, events between its samples.
    "medium": ProbeKnobs(),
    "hard": ProbeKnobs(
        object_size=4, attribute_size=7, event_duration=0.1, order_duration=0.3, text_height=6, distractors=6
    ),
}
SWEEP_RANGES: dict[str, tuple[float, float]] = {
    "object_size": (4, 24),
    "attribute_size": (7, 24),
    "event_duration": (0.1, 1.0),
    "order_duration": (0.3, 2.0),
    "text_height": (6, 32),
    "distractors": (1, 6),
}


@dataclass
class Probe:
    """One pair: the video to render, the texts, and the knobs and truth recorded in meta."""

    id: str
    kind: str
    spec: VideoSpec
    question: str
    chosen: str
    rejected: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def media(self) -> str:
        return f"videos/{self.id}.mp4"

    def record(self) -> dict[str, Any]:
        """The generic JSONL row of DESIGN.md §5."""
        return {
            "id": self.id,
            "media": self.media,
            "question": self.question,
            "chosen": self.chosen,
            "rejected": self.rejected,
            "dimension": f"probe/{self.kind}",
            "source": "probes",
            "meta": self.meta,
        }


# ---- layout helpers -----------------------------------------------------------------------------


def _place(
    rng: random.Random, sizes: Sequence[int], knobs: ProbeKnobs, taken: list[tuple[int, int, int]]
) -> list[tuple[int, int]]:
    """Top-left corners for objects of `sizes`, inside a margin and apart from each other (and from
    `taken` boxes), so every object is a separate blob. Appends the placed boxes to `taken`."""
    margin = max(8, knobs.height // 20)
    corners = []
    for size in sizes:
        gap = max(2 * size, 16)
        for _ in range(2000):
            x = rng.randint(margin, knobs.width - margin - size)
            y = rng.randint(margin, knobs.height - margin - size)
            if all(
                x + size + gap <= ox or ox + os_ + gap <= x or y + size + gap <= oy or oy + os_ + gap <= y
                for ox, oy, os_ in taken
            ):
                break
        else:
            raise ProbeError(f"cannot place {len(sizes)} objects of {max(sizes)} px in {knobs.width}x{knobs.height}")
        taken.append((x, y, size))
        corners.append((x, y))
    return corners


def _distractors(
    rng: random.Random, knobs: ProbeKnobs, colors: Sequence[str], size: int, taken: list[tuple[int, int, int]]
) -> list[Shape]:
    """`knobs.distractors` objects in `colors` (cycled), present for the whole video."""
    if not colors or knobs.distractors == 0:
        return []
    corners = _place(rng, [size] * knobs.distractors, knobs, taken)
    return [
        Shape(NAMED_COLORS[colors[i % len(colors)]], x, y, size, kind=rng.choice(SHAPES))
        for i, (x, y) in enumerate(corners)
    ]


def _spec(knobs: ProbeKnobs, shapes: list[Shape], texts: Sequence[Text] = ()) -> VideoSpec:
    return VideoSpec(
        width=knobs.width,
        height=knobs.height,
        fps=knobs.fps,
        duration=knobs.duration,
        background=BACKGROUND,
        shapes=shapes,
        texts=list(texts),
    )


def _event_size(knobs: ProbeKnobs) -> int:
    return max(8, round(knobs.height * EVENT_SIZE_FRACTION))


def overview_frame_indices(knobs: ProbeKnobs) -> set[int]:
    """Frames a uniform `overview_frames` overview shows (centres of equal segments, as the judge samples)."""
    step = knobs.duration / knobs.overview_frames
    last = round(knobs.duration * knobs.fps) - 1
    return {min(last, math.floor((i + 0.5) * step * knobs.fps + 1e-6)) for i in range(knobs.overview_frames)}


def _event_window(rng: random.Random, knobs: ProbeKnobs, duration: float, lo: float, hi: float) -> tuple[float, float]:
    """A [start, end) window of `duration` inside [lo, hi], in whole frames; with placement
    `between` no frame of the uniform overview falls inside it (when that is possible at all)."""
    frames = max(1, round(duration * knobs.fps))
    first, last = math.ceil(lo * knobs.fps), math.floor(hi * knobs.fps) - frames
    starts = list(range(first, max(first, last) + 1))
    if knobs.placement == "between":
        hidden = overview_frame_indices(knobs)
        free = [s for s in starts if not hidden.intersection(range(s, s + frames))]
        starts = free or starts
    start = rng.choice(starts)
    return start / knobs.fps, (start + frames) / knobs.fps


def _other(rng: random.Random, options: Sequence[str], exclude: str) -> str:
    return rng.choice([o for o in options if o != exclude])


# ---- the five kinds -----------------------------------------------------------------------------

Made = tuple[VideoSpec, str, str, str, dict[str, Any]]


def _count(rng: random.Random, knobs: ProbeKnobs) -> Made:
    color = rng.choice(list(NAMED_COLORS))
    shape = rng.choice(SHAPES)
    n = rng.randint(3, 7)
    wrong = n + rng.choice((-1, 1))
    taken: list[tuple[int, int, int]] = []
    targets = [
        Shape(NAMED_COLORS[color], x, y, knobs.object_size, kind=shape)
        for x, y in _place(rng, [knobs.object_size] * n, knobs, taken)
    ]
    others = [c for c in NAMED_COLORS if c != color]
    rng.shuffle(others)
    shapes = targets + _distractors(rng, knobs, others[:2], knobs.object_size, taken)
    question = f"How many {color} {shape}s are there in the video?"
    truth = {"color": color, "shape": shape, "count": n, "wrong_count": wrong}
    return _spec(knobs, shapes), question, count_answer(n, color, shape), count_answer(wrong, color, shape), truth


def _brief_event(rng: random.Random, knobs: ProbeKnobs) -> Made:
    color, wrong = rng.sample(list(NAMED_COLORS), 2)
    size = _event_size(knobs)
    start, end = _event_window(rng, knobs, knobs.event_duration, 0.15 * knobs.duration, 0.85 * knobs.duration)
    taken: list[tuple[int, int, int]] = []
    [(x, y)] = _place(rng, [size], knobs, taken)
    flash = Shape(NAMED_COLORS[color], x, y, size, start, end, "square")
    # The wrong colour is on screen the whole time, so only the flash's transience tells them apart.
    others = [wrong] + [c for c in NAMED_COLORS if c not in (color, wrong)]
    shapes = [flash, *_distractors(rng, knobs, others, size, taken)]
    question = "A square flashes briefly at some point in the video. What colour is it, and when does it appear?"
    truth = {"color": color, "wrong_color": wrong, "start": start, "end": end, "box": [x, y, size]}
    return _spec(knobs, shapes), question, flash_answer(color, start), flash_answer(wrong, start), truth


def _small_text(rng: random.Random, knobs: ProbeKnobs) -> Made:
    import cv2  # noqa: PLC0415

    digits = "".join(str(rng.randint(1 if i == 0 else 0, 9)) for i in range(knobs.digits))
    position = rng.randrange(knobs.digits)
    wrong = (
        digits[:position]
        + _other(rng, "0123456789" if position else "123456789", digits[position])
        + digits[position + 1 :]
    )
    scale, thick = text_scale(knobs.text_height)
    (text_w, _), _ = cv2.getTextSize(digits, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    taken: list[tuple[int, int, int]] = []
    [(x, y)] = _place(rng, [text_w + 2 * thick], knobs, taken)
    text = Text(digits, x + thick, y + knobs.text_height, knobs.text_height)
    colors = list(NAMED_COLORS)
    rng.shuffle(colors)
    shapes = _distractors(rng, knobs, colors, max(knobs.object_size, 12), taken)
    question = "A small number is printed somewhere in the video. What number is it?"
    truth = {"digits": digits, "wrong_digits": wrong, "x": text.x, "y": text.y, "width": text_w}
    return _spec(knobs, shapes, [text]), question, number_answer(digits), number_answer(wrong), truth


def _temporal_order(rng: random.Random, knobs: ProbeKnobs) -> Made:
    (c1, c2), (s1, s2) = rng.sample(list(NAMED_COLORS), 2), (rng.choice(SHAPES), rng.choice(SHAPES))
    size = _event_size(knobs)
    gap = max(0.5, knobs.order_duration)
    half = knobs.duration / 2
    first = _event_window(rng, knobs, knobs.order_duration, 0.1 * knobs.duration, half - gap / 2)
    second = _event_window(rng, knobs, knobs.order_duration, half + gap / 2, 0.9 * knobs.duration)
    taken: list[tuple[int, int, int]] = []
    (x1, y1), (x2, y2) = _place(rng, [size, size], knobs, taken)
    shapes = [
        Shape(NAMED_COLORS[c1], x1, y1, size, *first, s1),
        Shape(NAMED_COLORS[c2], x2, y2, size, *second, s2),
        *_distractors(rng, knobs, [c for c in NAMED_COLORS if c not in (c1, c2)], size, taken),
    ]
    a, b = f"{c1} {s1}", f"{c2} {s2}"
    asked = [a, b] if rng.random() < 0.5 else [b, a]
    question = f"Two shapes appear one after the other. Which appears first, the {asked[0]} or the {asked[1]}?"
    truth = {"first": a, "second": b, "first_window": list(first), "second_window": list(second)}
    return _spec(knobs, shapes), question, order_answer(a, b), order_answer(b, a), truth


def _attribute(rng: random.Random, knobs: ProbeKnobs) -> Made:
    color = rng.choice(list(NAMED_COLORS))
    shape = rng.choice(SHAPES)
    wrong = _other(rng, SHAPES, shape)
    taken: list[tuple[int, int, int]] = []
    [(x, y)] = _place(rng, [knobs.attribute_size], knobs, taken)
    others = [c for c in NAMED_COLORS if c != color]
    rng.shuffle(others)
    shapes = [
        Shape(NAMED_COLORS[color], x, y, knobs.attribute_size, kind=shape),
        *_distractors(rng, knobs, others, knobs.attribute_size, taken),
    ]
    question = f"What shape is the small {color} object in the video?"
    truth = {"color": color, "shape": shape, "wrong_shape": wrong, "box": [x, y, knobs.attribute_size]}
    return _spec(knobs, shapes), question, shape_answer(color, shape), shape_answer(color, wrong), truth


MAKERS: dict[str, Callable[[random.Random, ProbeKnobs], Made]] = {
    "count": _count,
    "brief_event": _brief_event,
    "small_text": _small_text,
    "temporal_order": _temporal_order,
    "attribute": _attribute,
}


# ---- suites -------------------------------------------------------------------------------------


def knobs_for(difficulty: str, rng: random.Random, overrides: dict[str, Any] | None = None) -> ProbeKnobs:
    """The knobs of one probe: a preset (for `sweep`, each swept knob drawn from its range), then
    the caller's overrides, which also pin a knob during a sweep."""
    if difficulty not in DIFFICULTIES:
        raise ProbeError(f"unknown difficulty {difficulty!r}; choose one of: {', '.join(DIFFICULTIES)}")
    if difficulty == "sweep":
        knobs = replace(PRESETS["medium"], placement="random")
        drawn: dict[str, Any] = {}
        for name, (lo, hi) in SWEEP_RANGES.items():
            integer = isinstance(getattr(knobs, name), int)
            drawn[name] = rng.randint(int(lo), int(hi)) if integer else round(rng.uniform(lo, hi), 1)
        knobs = replace(knobs, **drawn)
    else:
        knobs = PRESETS[difficulty]
    unknown = set(overrides or {}) - {f.name for f in fields(ProbeKnobs)}
    if unknown:
        raise ProbeError(f"unknown probe knob(s): {', '.join(sorted(unknown))}")
    return replace(knobs, **(overrides or {})).validate()


def make_probe(
    kind: str, index: int, seed: int = 0, difficulty: str = "medium", overrides: dict[str, Any] | None = None
) -> Probe:
    """One probe, a pure function of (kind, index, seed, difficulty, overrides)."""
    if kind not in MAKERS:
        raise ProbeError(f"unknown probe kind {kind!r}; choose from: {', '.join(KINDS)}")
    rng = random.Random(f"vrb-probes|{seed}|{kind}|{index}")
    knobs = knobs_for(difficulty, rng, overrides)
    spec, question, chosen, rejected, truth = MAKERS[kind](rng, knobs)
    meta = {
        "kind": kind,
        "difficulty": difficulty,
        "seed": seed,
        "index": index,
        "knobs": asdict(knobs),
        "truth": truth,
        "evidence": probe_evidence(kind, asdict(knobs), truth),  # where attribution looks (README "Datasets")
    }
    return Probe(f"{kind}-{index:03d}", kind, spec, question, chosen, rejected, meta)


def iter_probes(
    n: int,
    seed: int = 0,
    difficulty: str = "medium",
    kinds: Sequence[str] = KINDS,
    overrides: dict[str, Any] | None = None,
) -> Iterator[Probe]:
    """`n` probes of each kind, interleaved by kind."""
    if n < 1:
        raise ProbeError(f"--n must be at least 1 (probes per kind), got {n}")
    for index in range(n):
        for kind in kinds:
            yield make_probe(kind, index, seed, difficulty, overrides)


def write_suite(
    out: str | Path,
    *,
    n: int = 10,
    seed: int = 0,
    difficulty: str = "medium",
    kinds: Sequence[str] = KINDS,
    overrides: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write DIR/probes.jsonl and DIR/videos/*.mp4; returns the JSONL path."""
    out = Path(out)
    probes = list(iter_probes(n, seed, difficulty, kinds, overrides))
    (out / "videos").mkdir(parents=True, exist_ok=True)
    lines = []
    for done, probe in enumerate(probes, 1):
        write_video(out / probe.media, probe.spec)
        lines.append(json.dumps(probe.record(), ensure_ascii=False, sort_keys=False))
        if progress:
            progress(done, len(probes))
    path = out / "probes.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
