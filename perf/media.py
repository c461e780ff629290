"""Media-layer performance: one judgment's evidence from a 1-minute and a 10-minute 720p video.

Workload (DESIGN.md §8): 16 uniform overview frames, 3 zooms (single full-resolution frames,
cropped), and one 8-frame re-examined clip in a 4-second window. Each reader runs in its own
process so peak RSS is its own:
  (a) vrb-agent's media layer with decord, (b) the same with the OpenCV fallback,
  (c) baseline: OpenCV reading the video sequentially up to the last frame needed.
Ratios are against (c) measured in the same run. `repeat` is the same workload again in the same
process (the frame cache should make it cost no decoding).

Usage: python perf/media.py [--minutes 1 10] [--cache perf/.cache]
Videos are H.264 (keyframe every 250 frames) when PyAV with libx264 is installed, else MPEG-4 part 2.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, FPS, GOP = 1280, 720, 30, 250


def make_video(path: Path, minutes: float) -> Path:
    """Encode a synthetic 720p video with moving content (not trivially compressible)."""
    from vrb_agent.tools.synth import Shape, Text, VideoSpec, render_frame, write_video

    spec = VideoSpec(
        width=WIDTH,
        height=HEIGHT,
        fps=FPS,
        duration=minutes * 60,
        moving_bar=True,
        shapes=[Shape((220, 40, 40), 200 + 50 * i, 300, 24, 10.0 * i, 10.0 * i + 3) for i in range(20)],
        texts=[Text(str(i % 10), 40, 680, 30, start=5.0 * i, end=5.0 * i + 4) for i in range(int(minutes * 12))],
    )
    try:
        import av
    except ImportError:
        return write_video(path.with_suffix(".mp4"), spec)
    import numpy as np

    rng = np.random.default_rng(0)
    noise = rng.integers(0, 12, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"g": str(GOP), "keyint_min": str(GOP), "sc_threshold": "0", "preset": "veryfast"}
        for i in range(spec.num_frames):
            frame = render_frame(spec, i / FPS)
            frame += np.roll(noise, i * 7, axis=1)  # texture that moves, like real footage
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def workload(duration: float) -> dict[str, list[float]]:
    """The frame times of one judgment: 16 uniform, 3 zoom frames, 8 frames in a 4 s window."""
    uniform = [(i + 0.5) * duration / 16 for i in range(16)]
    zooms = [duration * 0.17, duration * 0.52, duration * 0.83]
    start = duration * 0.61
    clip = [start + 4.0 * i / 7 for i in range(8)]
    return {"uniform": uniform, "zooms": zooms, "clip": clip}


def run_media_layer(path: str, decoder: str) -> None:
    from vrb_agent.tools import ToolBox, open_media, overview

    media = open_media(path, decoder=decoder)
    times = workload(media.duration_s)
    box = ToolBox(media)

    def judgment(offset: float) -> None:
        overview(media, 16)
        for i, t in enumerate(times["zooms"]):
            assert box.call("zoom", {"timestamp": t, "box": [100 + i, 100, 600, 500 + offset]}).ok
        clip = times["clip"]
        assert box.call("reexamine_clip", {"start": clip[0], "end": clip[-1] + offset / 1000, "num_frames": 8}).ok

    started = time.perf_counter()
    judgment(0)
    first = time.perf_counter() - started
    started = time.perf_counter()
    judgment(1)  # same frames, new arguments: served from the frame cache
    repeat = time.perf_counter() - started
    report(first, repeat)


def run_sequential_baseline(path: str) -> None:
    """Read every frame from the start up to the last one needed (what a naive reader does)."""
    import cv2

    cap = cv2.VideoCapture(path)
    fps = cap.get(cv2.CAP_PROP_FPS)
    duration = cap.get(cv2.CAP_PROP_FRAME_COUNT) / fps
    wanted = sorted({int(t * fps) for ts in workload(duration).values() for t in ts})
    started = time.perf_counter()
    kept = []
    index = 0
    for target in wanted:
        while index <= target:
            ok = cap.grab()
            index += 1
            if not ok:
                break
        ok, frame = cap.retrieve()
        kept.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    report(time.perf_counter() - started, None)


def report(seconds: float, repeat: float | None) -> None:
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "repeat": repeat, "peak_rss_mb": peak_mb}))


def measure(mode: str, path: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10])
    parser.add_argument("--cache", type=Path, default=ROOT / "perf" / ".cache")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path = args.child
        if mode == "baseline":
            run_sequential_baseline(path)
        else:
            run_media_layer(path, mode)
        return

    args.cache.mkdir(parents=True, exist_ok=True)
    rows = []
    for minutes in args.minutes:
        path = args.cache / f"perf_{minutes:g}min_720p.mp4"
        if not path.exists():
            print(f"encoding {path.name} ...", file=sys.stderr)
            make_video(path, minutes)
        results = {mode: measure(mode, path) for mode in ("baseline", "decord", "opencv")}
        rows.append((minutes, results))

    print(f"\nOne judgment's evidence (16 uniform + 3 zooms + 8-frame clip), {WIDTH}x{HEIGHT} {FPS} fps")
    header = (
        f"{'video':>7} {'reader':<22} {'time s':>8} {'x base':>7} {'repeat s':>9} {'peak RSS MB':>12} {'x base':>7}"
    )
    print(header)
    print("-" * len(header))
    names = {"baseline": "(c) sequential OpenCV", "decord": "(a) media/decord", "opencv": "(b) media/OpenCV"}
    for minutes, results in rows:
        base = results["baseline"]
        for mode in ("baseline", "decord", "opencv"):
            r = results[mode]
            repeat = f"{r['repeat']:.3f}" if r["repeat"] is not None else "-"
            print(
                f"{minutes:>5g}m  {names[mode]:<22} {r['seconds']:>8.2f} {r['seconds'] / base['seconds']:>7.2f} "
                f"{repeat:>9} {r['peak_rss_mb']:>12.0f} {r['peak_rss_mb'] / base['peak_rss_mb']:>7.2f}"
            )
    if len(rows) >= 2:
        (short_m, short), (long_m, long) = rows[0], rows[-1]
        for mode in ("decord", "opencv"):
            growth = long[mode]["peak_rss_mb"] / short[mode]["peak_rss_mb"] - 1
            print(f"peak RSS growth {short_m:g}m -> {long_m:g}m, {names[mode]}: {growth:+.1%}")


if __name__ == "__main__":
    main()
