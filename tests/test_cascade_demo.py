"""The cascade on the default demo suite with `sim` (what `vrb-agent demo` runs): at least the
single-pass accuracy, for fewer images per sample than all-agentic, with no calls of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vrb_agent.benchmark.demo import DEMO_CONDITIONS, DEMO_PER_KIND, DEMO_POLICY, DEMO_SEED
from vrb_agent.benchmark.metrics import summarize
from vrb_agent.benchmark.probes import KINDS, write_suite
from vrb_agent.benchmark.runner import run_benchmark
from vrb_agent.benchmark.sim import SimBackend


@pytest.mark.slow
def test_cascade_on_the_default_demo_suite(tmp_path: Path) -> None:
    write_suite(tmp_path / "suite", n=DEMO_PER_KIND, seed=DEMO_SEED)  # the demo's suite and run, no report
    run_dir = tmp_path / "run"
    run_benchmark(out=run_dir, dataset="probes", data=str(tmp_path / "suite"), backend=SimBackend(),
                  seed=DEMO_SEED, concurrency=2, progress=False, save_evidence=False, **DEMO_CONDITIONS)  # fmt: skip
    summary = summarize(run_dir, invalid_policy=DEMO_POLICY, n_boot=500)  # scored as the demo reports it
    cost = summary.cost
    assert cost is not None
    points = {p.mode: p for p in cost.points}
    single, agentic, cascade = points["single"], points["agentic"], points["cascade"]
    assert single.samples == agentic.samples == cascade.samples == DEMO_PER_KIND * len(KINDS)
    assert cascade.accuracy is not None and single.accuracy is not None
    assert cascade.accuracy >= single.accuracy
    # sim prices nothing: the cost is images sent (it counts no tokens)
    assert [f.cost for f in cost.fronts] == ["images"] and single.usd_per_sample is None
    assert cascade.images_per_sample < agentic.images_per_sample
    assert cascade.escalated is not None and 0 < cascade.escalated < cascade.samples
    assert cascade.escalation_failed == 0
    # every probe says where its evidence is, and a cascade record says what its deciding stage was shown
    assert summary.failure_attribution is not None
    attributed = {c.mode: c.overall for c in summary.failure_attribution.conditions}
    assert attributed["cascade"].wrong > 0 and attributed["cascade"].not_attributable == 0
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    by_cell = {(r["sample_id"], r["mode"]): r for r in records}
    for r in (r for r in records if r["mode"] == "cascade"):
        stages = r["cascade"]["stages"]
        assert all(s["reused"] for s in stages)
        expected = sum(by_cell[(r["sample_id"], s["mode"])]["images_sent"] for s in stages)
        assert r["images_sent"] == expected  # both stages' images when escalated
        decider = by_cell[(r["sample_id"], stages[-1]["mode"])]
        assert r["shown"] == decider["shown"] and r["shown"]  # what the deciding judgment was shown
        # escalated exactly when the single pass's two orders did not agree on a valid verdict
        single_record = by_cell[(r["sample_id"], "single")]
        assert r["escalated"] is (single_record["order_agreement"] is not True or single_record["status"] != "ok")
