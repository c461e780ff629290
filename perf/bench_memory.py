"""Benchmark memory: peak RSS of `vrb-agent bench` as the number of samples grows.

Workload: 720p probe suites (`vrb-agent probes make` defaults: 1280x720, 8 s, 10 fps) of N = 20, 80
and 300 samples, and a suite of long videos (10-minute 1920x1080 30 fps: a 10 s count probe remuxed
60 times, so 18,000 real frames to index and decode without minutes of encoding, hard-linked under as
many paths as samples, so every sample opens its own file as in a real dataset). Each size is one
`vrb-agent bench --backend sim --modes single,agentic` subprocess at the default concurrency; its
peak RSS comes from the kernel (wait4's ru_maxrss). A watchdog kills a run whose RSS passes
--max-gb, so a regression cannot starve the machine (the row then says so).
Printed: the table (median of --repeat runs) and the growth ratios against the N = 20 run of the same
invocation.

Usage: python perf/bench_memory.py [--sizes 20,80,300] [--long 20] [--repeat 1] [--max-gb 6] [--code DIR]
(--code runs another source tree, e.g. `git archive main | tar -x -C /tmp/main`, for a before/after;
keep its --sizes small: before the fix, memory grew by ~0.15 GB per sample.)
Suites are cached under perf/.cache/bench_memory (git-ignored); the long videos take minutes once.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "perf" / ".cache" / "bench_memory"
# Runs `vrb-agent` from the source tree given first (an editable install would otherwise win).
LAUNCH = (
    "import sys; root = sys.argv.pop(1); "
    "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')]; "
    "sys.path.insert(0, root); sys.argv[0] = 'vrb-agent'; from vrb_agent.cli import main; main()"
)
KINDS = 5  # the probe suite's kinds; N samples = ceil(N / KINDS) probes per kind, first N rows
LONG = {"width": 1920, "height": 1080, "duration": 600.0, "fps": 30.0}
LONG_KINDS = ("count",)  # one long video, hard-linked per sample (each path is its own Media)


def probe_suite(folder: Path, n_per_kind: int, kinds: tuple[str, ...] | None = None, **knobs: float) -> Path:
    """A probe suite written once into `folder` (cached); returns its probes.jsonl."""
    from vrb_agent.benchmark.probes import KINDS as ALL_KINDS
    from vrb_agent.benchmark.probes import write_suite

    jsonl = folder / "probes.jsonl"
    if not jsonl.is_file():
        print(f"writing {folder.name} ...", file=sys.stderr, flush=True)
        write_suite(folder, n=n_per_kind, kinds=kinds or ALL_KINDS, overrides=dict(knobs))
    return jsonl


def subset(jsonl: Path, n: int) -> Path:
    """The first n rows of a suite (kinds interleaved) as their own JSONL next to it."""
    rows = jsonl.read_text(encoding="utf-8").splitlines()
    if len(rows) < n:
        raise SystemExit(f"{jsonl} has {len(rows)} rows, fewer than {n}")
    path = jsonl.with_name(f"first-{n}.jsonl")
    path.write_text("\n".join(rows[:n]) + "\n", encoding="utf-8")
    return path


def long_video(path: Path, clip: Path, minutes: float) -> Path:
    """A long video without encoding one: the clip's packets remuxed back to back (PyAV) until
    `minutes`. Every frame is a real frame to index and decode; the content repeats."""
    import av

    with av.open(str(clip)) as source, av.open(str(path), "w") as target:
        stream = source.streams.video[0]
        out = target.add_stream_from_template(stream)
        packets = [p for p in source.demux(stream) if p.pts is not None]
        span = max(p.pts for p in packets) + (packets[1].pts - packets[0].pts)
        for loop in range(math.ceil(minutes * 60 / float(span * stream.time_base))):
            for packet in packets:
                packet.stream = out
                packet.pts, packet.dts = packet.pts + span * (loop > 0), packet.dts + span * (loop > 0)
                target.mux(packet)
    return path


def long_suite(n: int) -> Path:
    """n samples over hard links of one 10-minute 1080p probe video: one file path per sample."""
    source = probe_suite(CACHE / "long-source", 1, LONG_KINDS, **{**LONG, "duration": 10.0})
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    folder = CACHE / "long"
    (folder / "videos").mkdir(parents=True, exist_ok=True)
    video = folder / "long.mp4"
    if not video.exists():
        long_video(folder / "long.tmp.mp4", source.parent / rows[0]["media"], LONG["duration"] / 60).rename(video)
    lines = []
    for i in range(n):
        link = folder / "videos" / f"long-{i:03d}.mp4"
        if not link.exists():
            os.link(video, link)
        lines.append(json.dumps({**rows[0], "id": f"{rows[0]['id']}-{i:03d}", "media": f"videos/{link.name}"}))
    path = folder / f"first-{n}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rss_bytes(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), "VmRSS: 0 kB")
    return int(line.split()[1]) * 1024


def measure(data: Path, max_bytes: int, code: Path) -> dict[str, float | bool]:
    """One `vrb-agent bench` subprocess: peak RSS (bytes), wall seconds, whether the watchdog fired."""
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as out:
        command = [
            sys.executable, "-c", LAUNCH, str(code), "bench", "--dataset", "generic", "--data", str(data),
            "--backend", "sim", "--modes", "single,agentic", "--out", out, "--no-report",
        ]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        killed, finished = threading.Event(), threading.Event()

        def watch() -> None:  # never poll() the child: that would reap it before wait4 reads its usage
            while not finished.is_set():
                if _rss_bytes(proc.pid) > max_bytes:
                    killed.set()
                    proc.kill()
                    return
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        finished.set()
        proc.returncode = os.waitstatus_to_exitcode(status)
        watcher.join()
        wall = time.perf_counter() - start
        results = Path(out) / "results.jsonl"
        records = [json.loads(line) for line in results.open()] if results.exists() else []
    if proc.returncode != 0 and not killed.is_set():
        raise SystemExit(f"bench failed ({proc.returncode}) on {data}:\n{stderr[-2000:]}")
    errors = sum(r["status"] == "error" for r in records)
    return {
        "peak": usage.ru_maxrss * 1024.0,
        "wall": wall,
        "killed": killed.is_set(),
        "records": len(records),
        "errors": errors,
    }


def median_run(data: Path, repeat: int, max_bytes: int, code: Path) -> dict[str, float | bool]:
    runs = [measure(data, max_bytes, code) for _ in range(repeat)]
    return {
        "peak": statistics.median(r["peak"] for r in runs),
        "wall": statistics.median(r["wall"] for r in runs),
        "killed": any(r["killed"] for r in runs),
        "records": min(r["records"] for r in runs),
        "errors": max(r["errors"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,80,300", help="720p suite sizes (the first is the baseline)")
    parser.add_argument("--long", type=int, default=20, help="samples of the long-video suite (0: skip it)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the median is reported")
    parser.add_argument("--max-gb", type=float, default=6.0, help="kill a run whose RSS passes this")
    parser.add_argument("--code", type=Path, default=ROOT, help="source tree to run (e.g. an export of main)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    max_bytes = int(args.max_gb * 2**30)
    suite = probe_suite(CACHE / "probes-720p", -(-max(sizes) // KINDS))
    rows = [(f"720p x {n}", n, median_run(subset(suite, n), args.repeat, max_bytes, args.code)) for n in sizes]
    if args.long:
        long = median_run(long_suite(args.long), args.repeat, max_bytes, args.code)
        rows.append((f"10-min 1080p x {args.long}", args.long, long))
    base = rows[0][2]["peak"]
    print(f"{'suite':<22}{'samples':>8}{'records':>9}{'errors':>8}{'peak RSS MB':>13}{'x baseline':>12}{'wall s':>9}")
    for name, n, result in rows:
        peak = f"{result['peak'] / 2**20:,.0f}" + ("+ (killed)" if result["killed"] else "")
        ratio = result["peak"] / base
        print(
            f"{name:<22}{n:>8}{result['records']:>9}{result['errors']:>8}{peak:>13}{ratio:>11.2f}x{result['wall']:>9.1f}"
        )
    print(
        f"code: {args.code}; baseline: the {rows[0][0]} run above; growth = peak(N) / peak({sizes[0]}); "
        f"repeat={args.repeat}"
    )


if __name__ == "__main__":
    main()
