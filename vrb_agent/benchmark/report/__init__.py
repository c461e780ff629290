"""Reports of one or more benchmark runs: summary.json (the typed `Report`), report.md and a
self-contained report.html, plus one trace page per sample under each RUN_DIR/traces/.

Modules: `text` (labels, number formats, the reading of a paired test, the terminal headline),
`tables` (rows shared by Markdown and HTML), `markdown`, `html`, `charts` (inline SVG), `crossrun`
(runs side by side on shared samples), `traces` and `figures` (trace pages). A new report section
is a function over `RunSummary` in `tables` (or `charts`) called from both `markdown` and `html`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from vrb_agent.benchmark.merge import run_records, summarize_runs
from vrb_agent.benchmark.report.crossrun import shared_comparison
from vrb_agent.benchmark.report.html import render_html
from vrb_agent.benchmark.report.markdown import render_markdown
from vrb_agent.benchmark.report.text import SIGNIFICANCE_RULE, comparison_finding, headline, trace_name
from vrb_agent.benchmark.report.traces import write_trace_pages
from vrb_agent.benchmark.rescore import with_rescore
from vrb_agent.benchmark.rundir import RunDir
from vrb_agent.benchmark.summary import Report
from vrb_agent.errors import VrbError

__all__ = [
    "SIGNIFICANCE_RULE",
    "build_report",
    "comparison_finding",
    "headline",
    "trace_name",
    "write_report",
    "write_trace_pages",
]


def build_report(
    run_dirs: Sequence[Path], invalid_policy: str, *, n_boot: int, seed: int, rescore: bool = False
) -> Report:
    """The runs' summaries (shards of one run merged, with the rescore tables when asked) and, for
    several runs, the side-by-side table."""
    runs = summarize_runs(run_dirs, invalid_policy, n_boot=n_boot, seed=seed)
    if rescore:
        runs = [with_rescore(s, run_records(s), n_boot=n_boot, seed=seed) for s in runs]
    side_by_side = None
    if len(runs) > 1:
        records = [run_records(summary) for summary in runs]
        side_by_side = shared_comparison(records, invalid_policy, n_boot=n_boot, seed=seed)
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return Report(generated=generated, invalid_policy=invalid_policy, runs=runs, side_by_side=side_by_side)


def write_report(
    run_dirs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    *,
    invalid_policy: str = "wrong",
    n_boot: int = 2000,
    seed: int = 0,
    traces: bool = True,
    rescore: bool = False,
) -> dict[str, Path]:
    """Summarize the runs and write summary.json, report.md, report.html (into `out`, default the
    first RUN_DIR) and each run's trace pages; `rescore` adds every condition under each invalid
    policy and vote rule. Returns the paths written."""
    if not run_dirs:
        raise VrbError("report: give at least one RUN_DIR")
    dirs = [Path(d) for d in run_dirs]
    out_dir = Path(out) if out else dirs[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    report = build_report(dirs, invalid_policy, n_boot=n_boot, seed=seed, rescore=rescore)
    paths = RunDir(out_dir).report_files()
    summary_json = json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    paths["summary"].write_text(summary_json, encoding="utf-8")
    paths["markdown"].write_text(render_markdown(report), encoding="utf-8")
    paths["html"].write_text(render_html(report, out_dir), encoding="utf-8")
    if traces:
        for d in dirs:
            write_trace_pages(d, paths["html"])
    return paths
