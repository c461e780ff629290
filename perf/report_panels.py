"""What the bias and calibration panels add to summarizing a run.

Workload: synthetic records of N samples x 2 modes (single, agentic) over 6 dimensions, judged in
both orders with confidences and response lengths, so every panel figure is computed. Each size is
summarized twice in this process: as shipped, and with the two panels replaced by empty ones (the
baseline: accuracy, comparisons, tool statistics). Printed: the median seconds of --repeat runs of
each and their ratio.

With --side-by-side, also two runs of each size (different seeds, the same samples) compared side by
side (report.crossrun: every panel again on the shared samples), against summarizing the two runs.

Usage: python perf/report_panels.py [--sizes 200,1563] [--repeat 3] [--bootstrap 2000] [--side-by-side]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from unittest import mock

from vrb_agent.benchmark import metrics, panels
from vrb_agent.benchmark.report.crossrun import shared_comparison
from vrb_agent.benchmark.summary import BiasGroup, BiasPanel, CalibrationPanel


def records(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        for mode in ("single", "agentic"):
            first, second = rng.choice("AB"), rng.choice("AB")
            rows.append({
                "sample_id": f"s{i:05d}", "dimension": f"d{i % 6}", "mode": mode, "k": 1, "frames": 16,
                "order": "both", "status": "ok", "preferred": first, "correct": rng.random() < 0.7,
                "votes": [first, second], "shown_first": ["A", "B"], "order_agreement": first == second,
                "confidence": rng.choice([0.5, 0.7, 0.9, 1.0]), "chosen_chars": rng.randint(20, 600),
                "rejected_chars": rng.randint(20, 600),
            })  # fmt: skip
    return rows


def timed(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def with_panels(n: int, n_boot: int, repeat: int) -> None:
    """One run summarized without the bias and calibration panels, then with them."""
    rows = records(n)
    with (
        mock.patch.object(panels, "bias_panel", empty_bias),  # where summary_panels looks them up
        mock.patch.object(panels, "calibration_panel", empty_calibration),
    ):
        base = timed(lambda: metrics.summarize(rows, n_boot=n_boot), repeat)
    full = timed(lambda: metrics.summarize(rows, n_boot=n_boot), repeat)
    print(f"{n:>8} {base:>11.2f} {full:>14.2f} {full / base:>6.2f}")


def side_by_side(n: int, n_boot: int, repeat: int) -> None:
    """Two runs summarized, against the same two compared side by side."""
    runs = [records(n, seed) for seed in (0, 1)]
    alone = timed(lambda: [metrics.summarize(rows, n_boot=n_boot) for rows in runs], repeat)
    shared = timed(lambda: shared_comparison(runs, "wrong", n_boot=n_boot), repeat)
    print(f"{n:>8} two runs summarized {alone:>7.2f} s, side by side {shared:>7.2f} s ({shared / alone:.2f} of it)")


def empty_bias(condition, *_, **__) -> BiasPanel:
    return BiasPanel(**condition.model_dump(), overall=BiasGroup(), by_dimension={}, length_bins=[])


def empty_calibration(condition, *_, **__) -> CalibrationPanel:
    return CalibrationPanel(**condition.model_dump(), source="none", n=0, records=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,1563")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--side-by-side", action="store_true")
    args = parser.parse_args()
    print(f"{'samples':>8} {'baseline s':>11} {'with panels s':>14} {'ratio':>6}")
    sizes = [int(x) for x in args.sizes.split(",")]
    for n in sizes:
        with_panels(n, args.bootstrap, args.repeat)
    for n in sizes if args.side_by_side else []:
        side_by_side(n, args.bootstrap, args.repeat)


if __name__ == "__main__":
    main()
