"""The offline demo: a probe suite judged single-pass, agentic and as a cascade (single-pass, escalated
to agentic when the two presentation orders disagree) by the `sim` judge, then the report. The
single-pass cells also run under the blind and shuffled controls (benchmark.controls), so the report
shows the visual-dependence panel; agentic cells run without them, to keep the demo short.

Everything runs locally (no keys, no GPU, no downloads): the suite is rendered, the benchmark
runner judges every probe in both presentation orders and both modes through the real judge graph
and visual tools (the cascade takes those judgments over, so it makes no calls of its own), and the
report writer produces summary.json, report.md and report.html, scoring a probe whose two orders
disagree as one half (DEMO_POLICY). `sim` is a stand-in judge for demos and tests, not a reward
model (see `vrb_agent.benchmark.sim`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vrb_agent.benchmark.manifest import RunConfigError
from vrb_agent.benchmark.probes import KINDS, write_suite
from vrb_agent.benchmark.report import comparison_finding, write_report
from vrb_agent.benchmark.runner import RunOutcome, run_benchmark
from vrb_agent.benchmark.sim import SimBackend
from vrb_agent.benchmark.summary import Report

DEMO_PER_KIND = 16
DEMO_SEED = 0
DEMO_CONTROLS = ["blind", "shuffled"]
DEMO_CONTROL_MODES = ["single"]
DEMO_MODES = ("single", "agentic", "cascade")
# What the demo's run measures besides the suite: both presentation orders, so that the cascade can
# escalate exactly the probes whose single-pass orders disagree.
DEMO_CONDITIONS: dict[str, Any] = {"modes": list(DEMO_MODES), "order": "both", "escalate_when": "disagree"}
# How the report scores a judgment without a verdict. Under `order both` a sample whose two orders
# disagree is a tie; `half` scores it 0.5, which makes its score the mean accuracy over the two
# orders, so a judge that guesses (as `sim` does, per order, without the pixels) sits at 50 %, not
# at the 25 % that `wrong` gives it.
DEMO_POLICY = "half"


@dataclass
class DemoResult:
    """Where the demo wrote things and what it found."""

    out: Path
    suite: Path
    run_dir: Path
    outcome: RunOutcome
    paths: dict[str, Path]
    report: Report

    def findings(self) -> list[str]:
        """One sentence per probe kind, worded by the paired test: a direction only when significant."""
        summary = self.report.runs[0]
        return [
            f"{dimension}: {comparison_finding(row)}"
            for comparison in summary.comparisons
            for dimension, row in comparison.by_dimension.items()
        ]


def demo_root(out: str | Path | None) -> Path:
    """OUT, or a new temporary directory (kept, so an interrupted demo can be resumed into it)."""
    return Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="vrb-demo-"))


def run_demo(
    out: str | Path | None = None,
    *,
    n: int = DEMO_PER_KIND,
    seed: int = DEMO_SEED,
    difficulty: str = "medium",
    concurrency: int = 2,
    progress: bool | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> DemoResult:
    """Build the suite in OUT/suite, judge it into OUT/run with `sim` in every mode, write the report
    (under DEMO_POLICY) into OUT/run. Re-running into the same OUT resumes the run instead of redoing it."""
    root = demo_root(out)
    say = on_stage or (lambda _: None)
    suite_dir, run_dir = root / "suite", root / "run"
    suite = suite_dir / "probes.jsonl"
    if suite.is_file():
        _check_existing(suite, n, seed, difficulty)
    else:
        say(f"rendering {n} probes of each kind ({difficulty}, seed {seed}) into {suite_dir}")
        write_suite(suite_dir, n=n, seed=seed, difficulty=difficulty)
    say("judging every probe single-pass and agentic (both orders), and as a cascade, with the offline `sim` judge")
    outcome = run_benchmark(
        out=run_dir,
        dataset="probes",
        data=str(suite_dir),
        backend=SimBackend(),
        **DEMO_CONDITIONS,
        controls=DEMO_CONTROLS,
        control_modes=DEMO_CONTROL_MODES,
        seed=seed,
        concurrency=concurrency,
        progress=progress,
        invalid_policy=DEMO_POLICY,  # the bar's running accuracy scored as the report will be
    )
    say(f"writing the report, scored with --invalid-policy {DEMO_POLICY} (orders that disagree count 0.5)")
    paths = write_report([run_dir], invalid_policy=DEMO_POLICY)
    report = Report.model_validate_json(paths["summary"].read_text(encoding="utf-8"))
    return DemoResult(root, suite, run_dir, outcome, paths, report)


def _check_existing(suite: Path, n: int, seed: int, difficulty: str) -> None:
    """A suite left in OUT by an earlier demo is reused only if it is the one asked for."""
    rows = [json.loads(line) for line in suite.read_text(encoding="utf-8").splitlines() if line.strip()]
    metas = {(r.get("meta", {}).get("seed"), r.get("meta", {}).get("difficulty")) for r in rows}
    if len(rows) != n * len(KINDS) or metas != {(seed, difficulty)}:
        raise RunConfigError(
            f"{suite} holds another probe suite ({len(rows)} probes, seed/difficulty {sorted(metas)}); "
            "pass a new --out directory for this demo"
        )
