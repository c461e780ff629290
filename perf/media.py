"""Media-layer performance: one judgment's frames from a 1-minute and a 10-minute 720p video.

Workload (DESIGN.md §8): 16 uniform overview frames, 3 single frames (zooms: full resolution,
cropped), 8 frames in a 4-second window. Every reader runs in its own process, so peak RSS is its own:
  qwen         qwen-vl-utils `fetch_video` (decord reader), one call per request, as Qwen-VL code does
  seek         baseline: raw OpenCV seek (CAP_PROP_POS_FRAMES) + read per frame
  media/NAME   vrb-agent's media layer with decoder NAME (pyav, opencv, decord), through the tools
  decord2      media/decord with decord2 (a maintained decord fork that installs as `decord`), when
               `--decord2-path DIR` names a folder made by `pip install --target DIR decord2`
  torchcodec   torchcodec's VideoDecoder, when it imports (`--torchcodec-path DIR` as for decord2)
  floor        the decode floor: raw PyAV decoding each GOP once from its keyframe to its last wanted
               frame, skipping frames nothing refers to, one codec thread, no conversion; its
               `work s` is the CPU any exact reader must spend (its wall time uses one core)
Ratios are against qwen measured in the same run (`qwen/x`: how many times faster; `x qwen`: the
share of its peak RSS; `qwen/w`: how many times less CPU work). `time s` and `work s` are the wall
and CPU seconds (every thread) of the measured part: one judgment's frames, opening included. Each
child imports its libraries before the clock starts (qwen-vl-utils loads torch at import, decord
when first called; vrb-agent loads PyAV and OpenCV when first called): start-up is not a judgment's
work. On a busy machine wall time mostly measures the scheduler's share (a reader with more threads
runnable gets more of it); `work s` barely changes with load. `cpu s` is the child's whole CPU
time, imports included. `repeat` is the same judgment again in the same process with new tool
arguments: the frame cache should make it cost no decoding.

Usage: python perf/media.py [--minutes 1 10] [--runs 3] [--cache perf/.cache]
Videos: H.264 yuv420p, 1280x720, 30 fps, keyframe every 250 frames (libx264 veryfast via PyAV). The
1-minute video is encoded; the 10-minute one is that minute's packets repeated ten times (identical
decoding work per frame, and minutes instead of a quarter hour of encoding on a busy machine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, FPS, GOP = 1280, 720, 30, 250
READERS = ["qwen", "seek", "floor", "media/pyav", "media/opencv", "media/decord", "decord2", "torchcodec"]


def encode_minute(path: Path) -> Path:
    """One minute of moving, textured 720p (not trivially compressible), H.264 with GOP 250."""
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 160, WIDTH * 2, dtype=np.uint8)[None, :, None]
    texture = (rng.integers(0, 256, (HEIGHT, WIDTH * 2, 3), dtype=np.uint8) // 16 + ramp).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"g": str(GOP), "keyint_min": str(GOP), "sc_threshold": "0", "preset": "veryfast"}
        for i in range(60 * FPS):
            shift = (i * 7) % WIDTH
            frame = np.ascontiguousarray(texture[:, shift : shift + WIDTH])
            x = (i * 5) % (WIDTH - 80)
            frame[300:380, x : x + 80] = (220, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def repeat_video(source: Path, path: Path, copies: int) -> Path:
    """`copies` back-to-back copies of `source`'s video packets, timestamps shifted (no re-encoding)."""
    import av

    with av.open(str(source)) as src, av.open(str(path), "w") as out:
        stream = src.streams.video[0]
        target = out.add_stream_from_template(stream)
        span = round(stream.frames / FPS / stream.time_base)
        for copy in range(copies):
            src.seek(0, stream=stream)
            for packet in src.demux(stream):
                if packet.size == 0:
                    continue
                packet.pts += copy * span
                packet.dts += copy * span
                packet.stream = target
                out.mux(packet)
    return path


def video_for(cache: Path, minutes: int) -> Path:
    minute = cache / "perf_1min_720p.mp4"
    if not minute.exists():
        print(f"encoding {minute.name} ...", file=sys.stderr)
        encode_minute(minute)
    if minutes == 1:
        return minute
    path = cache / f"perf_{minutes}min_720p.mp4"
    if not path.exists():
        repeat_video(minute, path, minutes)
    return path


def workload(duration: float) -> dict[str, list[float]]:
    """The frame times of one judgment: 16 uniform, 3 single (zoom) frames, 8 frames in a 4 s window."""
    uniform = [(i + 0.5) * duration / 16 for i in range(16)]
    zooms = [duration * 0.17, duration * 0.52, duration * 0.83]
    start = duration * 0.61
    clip = [start + 4.0 * i / 7 for i in range(8)]
    return {"uniform": uniform, "zooms": zooms, "clip": clip}


# ---- the readers (each runs in a child process) -------------------------------------------------


class Clock:
    """Wall and CPU seconds (every thread of this process) since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_media_layer(path: str, decoder: str) -> None:
    import av  # noqa: F401 - loaded before the clock, see the module docstring
    import cv2  # noqa: F401

    from vrb_agent.tools import ToolBox, open_media, overview

    clock = Clock()
    media = open_media(path, decoder=decoder)
    times = workload(media.duration_s)
    box = ToolBox(media)

    def judgment(offset: float) -> None:
        assert overview(media, 16).ok
        for i, t in enumerate(times["zooms"]):
            assert box.call("zoom", {"timestamp": t, "box": [100 + i, 100, 600, 500 + offset]}).ok
        clip = times["clip"]
        assert box.call("reexamine_clip", {"start": clip[0], "end": clip[-1] + offset / 1000, "num_frames": 8}).ok

    judgment(0)
    first = clock.read()
    again = Clock()
    judgment(1)  # same frames, new arguments: served from the frame cache
    report(first, again.read()[0])


def run_qwen(path: str) -> None:
    """qwen-vl-utils as Qwen-VL inference code calls it: one `fetch_video` per request."""
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    sys.path.insert(0, str(ROOT))
    from tests.qwen_tiny import allow_torchvision_without_ops

    allow_torchvision_without_ops()  # the venv's torchvision wheel lacks its C ops; transforms suffice
    import cv2
    import decord  # noqa: F401 - loaded before the clock, see the module docstring
    from qwen_vl_utils import fetch_video

    cap = cv2.VideoCapture(path)
    duration = cap.get(cv2.CAP_PROP_FRAME_COUNT) / cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    times = workload(duration)
    clock = Clock()
    fetch_video({"video": path, "nframes": 16})
    for t in times["zooms"]:  # qwen-vl-utils needs a range of at least two frames
        fetch_video({"video": path, "video_start": t, "video_end": t + 0.5, "nframes": 2})
    clip = times["clip"]
    fetch_video({"video": path, "video_start": clip[0], "video_end": clip[-1], "nframes": 8})
    report(clock.read(), None)


def run_seek_baseline(path: str) -> None:
    """Raw OpenCV: seek by frame number and read, frame by frame, no cache."""
    import cv2

    clock = Clock()
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    fps = cap.get(cv2.CAP_PROP_FPS)
    duration = cap.get(cv2.CAP_PROP_FRAME_COUNT) / fps
    for t in sorted(t for ts in workload(duration).values() for t in ts):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(t * fps))
        ok, bgr = cap.read()
        assert ok
        cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    report(clock.read(), None)


def run_floor(path: str) -> None:
    """Each GOP holding wanted frames decoded once, forward from its keyframe to its last wanted
    frame, with unreferenced frames skipped and the decoder drained there."""
    import bisect

    import av
    import numpy as np

    clock = Clock()
    with av.open(path) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        context.thread_count = 1
        packets = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.size]
        pts = np.unique([stamp for stamp, _ in packets])
        keys = sorted(stamp for stamp, key in packets if key)
        times = (pts - pts[0]) * float(stream.time_base)
        for batch in workload(float(times[-1]) + 1 / FPS).values():
            wanted = {int(pts[np.searchsorted(times, t + 1e-6, side="right") - 1]) for t in batch}
            by_gop: dict[int, list[int]] = {}
            for target in sorted(wanted):
                by_gop.setdefault(keys[bisect.bisect_right(keys, target) - 1], []).append(target)
            for key, targets in by_gop.items():
                container.seek(key, stream=stream, backward=True)
                for packet in container.demux(stream):
                    context.skip_frame = "DEFAULT" if packet.pts in wanted else "NONREF"
                    packet.decode()
                    if packet.pts == targets[-1]:
                        context.decode(None)
                        break
    report(clock.read(), None)


def run_torchcodec(path: str) -> None:
    from torchcodec.decoders import VideoDecoder

    clock = Clock()
    decoder = VideoDecoder(path, seek_mode="approximate")
    duration = decoder.metadata.duration_seconds
    for ts in workload(duration).values():
        decoder.get_frames_played_at(ts)
    report(clock.read(), None)


def report(measured: tuple[float, float], repeat: float | None) -> None:
    """Print the child's figures: wall and CPU seconds of the measured part, CPU seconds of the
    whole process (every thread; a busy machine stretches wall time, not CPU work), repeat time,
    peak RSS."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    seconds, work = measured
    figures = {"seconds": seconds, "work_s": work, "cpu_s": cpu, "repeat": repeat}
    print(json.dumps({**figures, "peak_rss_mb": usage.ru_maxrss / 1024}))


def run_child(reader: str, path: str) -> None:
    if reader == "qwen":
        run_qwen(path)
    elif reader == "seek":
        run_seek_baseline(path)
    elif reader == "torchcodec":
        run_torchcodec(path)
    elif reader == "floor":
        run_floor(path)
    else:
        run_media_layer(path, "decord" if reader == "decord2" else reader.split("/", 1)[1])


# ---- the parent: run, repeat, tabulate ----------------------------------------------------------


def measure(reader: str, path: Path, extra_path: Path | None) -> dict[str, float] | str:
    """One child process; a reader that cannot run gives its reason instead of figures."""
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, __file__, "--child", reader, str(path)],
        capture_output=True,
        check=False,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return f"failed: {lines[-1][:100] if lines else result.returncode}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def median_of(runs: list[dict[str, float] | str]) -> dict[str, float] | str:
    good = [r for r in runs if isinstance(r, dict)]
    if not good:
        return runs[0]
    keys = ("seconds", "work_s", "cpu_s", "peak_rss_mb")
    merged = {k: statistics.median(r[k] for r in good) for k in keys}
    repeats = [r["repeat"] for r in good if r["repeat"] is not None]
    merged["repeat"] = statistics.median(repeats) if repeats else None
    return merged


def readers_to_run(args: argparse.Namespace) -> dict[str, Path | None]:
    chosen: dict[str, Path | None] = {r: None for r in READERS if r not in ("decord2", "torchcodec")}
    if args.decord2_path:
        chosen["decord2"] = args.decord2_path
    chosen["torchcodec"] = args.torchcodec_path
    return chosen


def ratio(base: dict[str, float] | str, r: dict[str, float], key: str) -> str:
    """qwen's figure over this reader's (times faster, times less work), or this reader's share of
    qwen's (peak RSS)."""
    if not isinstance(base, dict):
        return f"{'-':>7}"
    value = r[key] / base[key] if key == "peak_rss_mb" else base[key] / r[key]
    return f"{value:>7.2f}"


def print_table(rows: list[tuple[int, dict[str, dict[str, float] | str]]]) -> None:
    print(f"\nOne judgment's frames (16 uniform + 3 single + 8 in 4 s), {WIDTH}x{HEIGHT} {FPS} fps H.264 GOP {GOP}")
    columns = [("video", 5), ("reader", -14), ("time s", 7), ("qwen/x", 7), ("work s", 7), ("qwen/w", 7)]
    columns += [("cpu s", 6), ("repeat s", 9), ("peak MB", 8), ("x qwen", 7)]
    header = " ".join(f"{name:<{-width}}" if width < 0 else f"{name:>{width}}" for name, width in columns)
    print(header)
    print("-" * len(header))
    for minutes, results in rows:
        base = results["qwen"]
        for reader, r in results.items():
            if isinstance(r, str):
                print(f"{minutes:>4}m {reader:<14} {r}")
                continue
            speedup, less_work, memory = (ratio(base, r, key) for key in ("seconds", "work_s", "peak_rss_mb"))
            repeat = f"{r['repeat']:.3f}" if r["repeat"] is not None else "-"
            print(
                f"{minutes:>4}m {reader:<14} {r['seconds']:>7.2f} {speedup} {r['work_s']:>7.2f} {less_work} "
                f"{r['cpu_s']:>6.2f} {repeat:>9} {r['peak_rss_mb']:>8.0f} {memory}"
            )
    if len(rows) >= 2:
        (short_m, short), (long_m, long) = rows[0], rows[-1]
        for reader in short:
            if isinstance(short[reader], dict) and isinstance(long[reader], dict):
                time_growth = long[reader]["seconds"] / short[reader]["seconds"] - 1
                rss_growth = long[reader]["peak_rss_mb"] / short[reader]["peak_rss_mb"] - 1
                print(f"{short_m}m -> {long_m}m  {reader:<14} time {time_growth:+.0%}  peak RSS {rss_growth:+.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--runs", type=int, default=3, help="runs per reader; the table shows medians")
    parser.add_argument("--cache", type=Path, default=ROOT / "perf" / ".cache")
    parser.add_argument("--decord2-path", type=Path, help="folder from `pip install --target DIR decord2`")
    parser.add_argument("--torchcodec-path", type=Path, help="folder from `pip install --target DIR torchcodec`")
    parser.add_argument("--only", nargs="+", choices=READERS, help="measure only these readers (qwen always runs)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(*args.child)
        return

    args.cache.mkdir(parents=True, exist_ok=True)
    readers = readers_to_run(args)
    if args.only:
        readers = {r: p for r, p in readers.items() if r in args.only or r == "qwen"}
    rows = []
    for minutes in args.minutes:
        path = video_for(args.cache, minutes)
        results: dict[str, list[dict[str, float] | str]] = {r: [] for r in readers}
        for _ in range(args.runs):  # interleaved, so machine noise spreads over every reader alike
            for reader, extra in readers.items():
                results[reader].append(measure(reader, path, extra))
        rows.append((minutes, {r: median_of(runs) for r, runs in results.items()}))
    print_table(rows)


if __name__ == "__main__":
    main()
