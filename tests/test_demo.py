"""`vrb-agent demo`: the offline pipeline (suite -> benchmark with `sim` in both modes -> report)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vrb_agent.benchmark.demo import DEMO_CONTROLS, DEMO_MODES, DEMO_PER_KIND, DEMO_SEED, DemoResult, run_demo
from vrb_agent.benchmark.probes import KINDS
from vrb_agent.errors import VrbError

REPO = Path(__file__).resolve().parents[1]
BLIND_SPOTS = ("probe/count", "probe/brief_event", "probe/small_text")


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    return run_demo(tmp_path_factory.mktemp("demo") / "out", n=1, progress=False)


def test_demo_pipeline_on_a_tiny_suite(tiny_demo: DemoResult) -> None:
    records = [json.loads(line) for line in (tiny_demo.run_dir / "results.jsonl").read_text().splitlines()]
    cells = len(DEMO_MODES) + len(DEMO_CONTROLS)  # each mode, and single under the two controls
    assert len(records) == cells * len(KINDS)
    assert {(r["mode"], r["backend"]) for r in records} == {(m, "sim") for m in DEMO_MODES}
    assert {(r["mode"], r.get("control")) for r in records if r.get("control")} == {
        ("single", "blind"),
        ("single", "shuffled"),
    }
    assert all(r["status"] == "ok" for r in records if r["mode"] == "agentic")  # single-pass may tie (orders)
    cascade = [r for r in records if r["mode"] == "cascade"]
    assert all(s["reused"] for r in cascade for s in r["cascade"]["stages"])  # no calls of its own
    assert {r["dimension"] for r in records} == {f"probe/{k}" for k in KINDS}
    agentic = [r for r in records if r["mode"] == "agentic"]
    assert all(r["correct"] for r in agentic)
    assert any(call["name"] == "zoom" for r in agentic for call in r["tool_calls"])
    for name in ("summary", "markdown", "html"):
        assert tiny_demo.paths[name].is_file()
    markdown = tiny_demo.paths["markdown"].read_text()
    assert "Agentic vs single-pass" in markdown and "probe/small_text" in markdown
    assert "### Bias: position and length" in markdown and "### Calibration of confidence" in markdown
    html = tiny_demo.paths["html"].read_text()
    assert "First-slot picks by dimension" in html and "Reliability diagram" in html
    assert "Visual dependence (controls)" in markdown and "| single − shuffled | **all** | 5 |" in markdown
    assert len(tiny_demo.findings()) == len(KINDS)


def test_demo_audit_finds_no_ungrounded_citation_from_sim(tiny_demo: DemoResult) -> None:
    """`sim` cites only frames it perceived, so every cited item is grounded; the panels are shown."""
    summary = tiny_demo.report.runs[0]
    assert summary.evidence_audit is not None and summary.failure_attribution is not None
    [sim] = summary.evidence_audit.backends
    records = [json.loads(line) for line in (tiny_demo.run_dir / "results.jsonl").read_text().splitlines()]
    audited = [r for r in records if r["mode"] == "agentic" or r.get("verdict_evidence")]  # escalated cascades too
    assert sim.backend == "sim" and sim.overall.verdicts == len(audited) >= len(KINDS)
    assert sim.overall.checkable == sim.overall.citations > 0 and sim.overall.ungrounded_citations == 0
    assert summary.failure_attribution.located_samples == len(KINDS)  # every probe says where its evidence is
    markdown, html = tiny_demo.paths["markdown"].read_text(), tiny_demo.paths["html"].read_text()
    assert "### Evidence audit" in markdown and "### Failure attribution" in markdown
    assert "Ungrounded cited items (% of checkable, 95% CI)" in html


def test_demo_cli_resumes_and_prints_where_to_open(tiny_demo: DemoResult) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "vrb_agent.cli", "demo", "--out", str(tiny_demo.out), "--n", "1"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"Open the report: {tiny_demo.paths['html'].resolve().as_uri()}" in done.stdout
    assert "agentic - single" in done.stdout and "probe/count: agentic" in done.stdout
    assert "  cascade: escalated " in done.stdout
    lines = (tiny_demo.run_dir / "results.jsonl").read_text().splitlines()
    assert len(lines) == (len(DEMO_MODES) + len(DEMO_CONTROLS)) * len(KINDS)  # resumed: nothing judged twice
    other = subprocess.run([*cmd[:-1], "3"], env=env, capture_output=True, text=True, timeout=120)
    assert other.returncode == 3 and "pass a new --out directory" in other.stderr


def test_demo_refuses_a_different_suite_in_out(tiny_demo: DemoResult) -> None:
    with pytest.raises(VrbError, match="holds another probe suite"):
        run_demo(tiny_demo.out, n=1, seed=DEMO_SEED + 1, progress=False)


@pytest.mark.slow
def test_default_demo_suite_agentic_beats_single_on_blind_spots(tmp_path: Path) -> None:
    """The default demo suite's count / brief-event / small-text probes (identical to the full
    demo's: each probe is a pure function of kind, index and seed): agentic beats single-pass with
    a paired 95 % CI above zero, and the report shows those CIs."""
    from vrb_agent.benchmark.probes import write_suite
    from vrb_agent.benchmark.report import write_report
    from vrb_agent.benchmark.runner import run_benchmark
    from vrb_agent.benchmark.sim import SimBackend

    kinds = [d.removeprefix("probe/") for d in BLIND_SPOTS]
    write_suite(tmp_path / "suite", n=DEMO_PER_KIND, seed=DEMO_SEED, kinds=kinds)
    run_benchmark(
        out=tmp_path / "run",
        dataset="probes",
        data=str(tmp_path / "suite"),
        backend=SimBackend(),
        modes=["single", "agentic"],
        seed=DEMO_SEED,
        concurrency=2,
        progress=False,
    )
    paths = write_report([tmp_path / "run"], traces=False)
    (comparison,) = json.loads(paths["summary"].read_text())["runs"][0]["comparisons"]
    markdown = paths["markdown"].read_text()
    for dimension in BLIND_SPOTS:
        row = comparison["by_dimension"][dimension]
        assert row["n_pairs"] == DEMO_PER_KIND
        assert row["ci"][0] > 0, (dimension, row)
        assert row["treatment_accuracy"] > row["baseline_accuracy"]
        ci = f"[{100 * row['ci'][0]:.1f}, {100 * row['ci'][1]:.1f}]"
        assert any(line.startswith(f"| {dimension} |") and ci in line for line in markdown.splitlines())
    run = json.loads(paths["summary"].read_text())["runs"][0]
    audit = run["evidence_audit"]["backends"][0]["overall"]
    assert audit["verdicts"] == 3 * DEMO_PER_KIND and audit["checkable"] > 0 and audit["ungrounded_citations"] == 0
    # brief events sit between the overview's frames: a wrong single-pass verdict there never saw the flash,
    # while the counted objects and the print are in every frame it saw
    attribution = run["failure_attribution"]
    single = next(c for c in attribution["conditions"] if c["mode"] == "single")["by_dimension"]
    brief = single["probe/brief_event"]
    assert brief["wrong"] > 0 and brief["never_shown"] == brief["wrong"]
    assert all(single[d]["never_shown"] == 0 for d in ("probe/count", "probe/small_text") if d in single)
    [rescue] = attribution["rescue"]
    assert rescue["single_never_shown"] == DEMO_PER_KIND and rescue["agentic_shown"] == DEMO_PER_KIND
