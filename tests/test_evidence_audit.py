"""The evidence audit: each cited item of a submitted verdict against what that judgment was shown
(hand-made records with known classes), the per-backend/dimension rates, and a scripted judge that
cites times it never saw, run through the real graph, with the report's panels and trace marks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_report import CHROMIUM, _md_rows, chromium_console
from vrb_agent.benchmark import run_benchmark
from vrb_agent.benchmark.audit import audit_record, evidence_audit, verdict_class
from vrb_agent.benchmark.records import ResultRecord
from vrb_agent.benchmark.report import trace_name, write_report
from vrb_agent.benchmark.synth import VideoSpec, write_video
from vrb_agent.judges.base import ModelReply, ModelRequest, ToolCall
from vrb_agent.judges.scripted import ScriptedBackend

# Shown: whole frames at 1.0 and 2.0 s, a zoom on [0,0,500,500] of the frame at 3.0 s, and a
# re-examined clip whose frames were at 5.0, 5.5 and 6.0 s.
SHOWN = [{"t": 1.0}, {"t": 2.0}, {"t": 3.0, "box": [0.0, 0.0, 500.0, 500.0]}]
CLIP = {"name": "reexamine_clip", "ok": True, "timestamps": [5.0, 5.5, 6.0], "arguments": {}}
CASES = [  # (cited item, class): worked out by hand from SHOWN and CLIP with the 0.1 s tolerance
    ({"timestamp": 1.05}, "grounded"),  # 0.05 s from the frame at 1.0
    ({"timestamp": 1.2}, "ungrounded"),  # 0.2 s from the nearest frame
    ({"start": 1.5, "end": 2.5}, "grounded"),  # holds the frame at 2.0
    ({"start": 1.2, "end": 1.8}, "ungrounded"),  # widened to 1.1-1.9: no frame
    ({"timestamp": 5.25}, "grounded"),  # 0.25 s from the clip's frames, but inside its window
    ({"timestamp": 6.35}, "ungrounded"),  # past the clip's window by more than 0.1 s
    ({"timestamp": 3.0, "box": [100, 100, 200, 200]}, "grounded"),  # inside the zoom's box
    ({"timestamp": 3.0, "box": [600, 600, 900, 900]}, "ungrounded"),  # the frame was only zoomed elsewhere
    ({"timestamp": 1.0, "box": [600, 600, 900, 900]}, "grounded"),  # a whole frame shows every box
    ({"note": "looks right"}, "uncheckable"),  # no time, no box
    ({"box": [1, 2, 3, 4]}, "uncheckable"),  # a box without a time on a video
    ({"start": 3.0, "end": 2.0}, "uncheckable"),  # a span that ends before it starts
    ({"timestamp": 1.0, "box": [5, 5, 1, 1]}, "uncheckable"),  # an empty box
]


def _record(items, *, shown=SHOWN, steps=(CLIP,), **extra) -> dict:
    record = {"sample_id": "s", "mode": "agentic", "k": 1, "frames": 16, "status": "ok", "backend": "b",
              "dimension": "d0", "verdict_evidence": list(items), "evidence": list(steps), **extra}  # fmt: skip
    if shown is not None:
        record["shown"] = shown
    return record


@pytest.mark.parametrize(("item", "want"), CASES)
def test_each_cited_item_is_classed_against_what_was_shown(item, want):
    [(_, got, why)] = audit_record(_record([item]))
    assert got == want, why


def test_an_older_record_without_shown_calls_nothing_unseen():
    # only the tool calls are known: a match with them is grounded, anything else uncheckable
    zoom = {"name": "zoom", "ok": True, "timestamps": [2.0], "box": [0, 0, 1000, 500], "arguments": {}}
    failed = {"name": "select_frames", "ok": False, "timestamps": [7.0], "arguments": {}}
    record = _record([{"timestamp": 2.0}, {"timestamp": 7.0}, {"timestamp": 2.0, "box": [0, 600, 10, 700]}],
                     shown=None, steps=[zoom, failed])  # fmt: skip
    assert [c for _, c, _ in audit_record(record)] == ["grounded", "uncheckable", "uncheckable"]
    line = json.dumps({"sample_id": "s", "mode": "agentic", "k": 1, "frames": 16})
    assert "shown" not in ResultRecord.from_json_line(line).to_dict()  # old lines read and stay as they were


def test_a_still_image_citation_without_a_time_refers_to_the_image():
    record = _record([{"box": [10, 10, 50, 50]}], shown=[{"t": 0.0}], steps=[])
    assert [c for _, c, _ in audit_record(record)] == ["grounded"]


def test_verdict_classes():
    assert verdict_class(["grounded", "uncheckable", "ungrounded"]) == "ungrounded"
    assert verdict_class(["grounded", "uncheckable"]) == "grounded"
    assert verdict_class(["uncheckable"]) == verdict_class([]) == "uncheckable"


def test_rates_per_backend_and_dimension():
    records = [
        _record([{"timestamp": 1.0}, {"timestamp": 1.5}, {"note": "x"}], sample_id="a"),  # d0: 1 of 2 checkable bad
        _record([{"timestamp": 2.0}, {"start": 0.5, "end": 1.5}], sample_id="b", dimension="d1"),  # d1: 0 of 2
        _record([], sample_id="c", dimension="d1"),  # cites nothing: an uncheckable verdict
        _record([], sample_id="d", mode="single"),  # a single-pass text verdict: not audited
        _record([{"timestamp": 9.0}], sample_id="e", status="invalid"),  # no submitted verdict: not audited
        _record([{"timestamp": 9.0}], sample_id="f", backend="other"),  # another backend: 1 of 1 bad
    ]
    audit = evidence_audit(records, n_boot=500)
    assert [b.backend for b in audit.backends] == ["b", "other"] and audit.tolerance_s == 0.1
    b = audit.backends[0]
    d0, d1, overall = b.by_dimension["d0"], b.by_dimension["d1"], b.overall
    assert (d0.verdicts, d0.ungrounded, d0.citations, d0.checkable, d0.ungrounded_citations) == (1, 1, 3, 2, 1)
    assert d0.ungrounded_rate == 0.5
    assert (d1.verdicts, d1.grounded, d1.uncheckable, d1.checkable, d1.ungrounded_rate) == (2, 1, 1, 2, 0.0)
    assert d1.ci == [0.0, 0.0]
    assert (overall.verdicts, overall.checkable, overall.ungrounded_citations) == (3, 4, 1)
    assert overall.ungrounded_rate == 0.25 and overall.ci[0] <= 0.25 <= overall.ci[1] <= 0.5
    assert audit.backends[1].overall.ungrounded_rate == 1.0


# ---- through the real graph ---------------------------------------------------------------------

# An 8 s, 10 fps video: the 16-frame overview shows frames within 0.05 s of 0.25, 0.75, ..., 7.75 s, so
# 4.0 s and 5.45-5.55 s lie at least 0.2 s from every overview frame; the tools add 3.0 s (a frame)
# and a zoom on the top-left quarter of the frame at 6.0 s (not an overview time).
SEEN = [{"timestamp": 3.0, "note": "the frame it asked for"}, {"timestamp": 6.0, "box": [50.0, 50.0, 200.0, 200.0]}]
UNSEEN = [{"timestamp": 4.0, "note": "never shown"}, {"start": 5.45, "end": 5.55},
          {"timestamp": 6.0, "box": [700.0, 700.0, 900.0, 900.0], "note": "outside the zoom"}]  # fmt: skip


def _scripted_judge(request: ModelRequest) -> ModelReply:
    """Single-pass: a text verdict. Agentic: one frame and one zoom, then a verdict citing SEEN and UNSEEN."""
    if not request.tools:
        return ModelReply(text="Overall Judgment: Answer A is better.")
    if not any(m.role == "tool" for m in request.messages):
        calls = [ToolCall(id="f", name="select_frames", arguments={"timestamps": [3.0]}),
                 ToolCall(id="z", name="zoom", arguments={"timestamp": 6.0, "box": [0, 0, 500, 500]})]  # fmt: skip
        return ModelReply(tool_calls=calls, stop_reason="tool_calls")
    cited = [SEEN[0], UNSEEN[0], SEEN[1], *UNSEEN[1:]]
    verdict = {"preferred": "A", "confidence": 0.7, "rationale": "r", "evidence": cited}
    return ModelReply(tool_calls=[ToolCall(id="v", name="submit_verdict", arguments=verdict)], stop_reason="tool_calls")


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audit")
    write_video(root / "v.mp4", VideoSpec(width=160, height=120, fps=10.0, duration=8.0, moving_bar=True))
    meta = {"evidence": {"start": 2.95, "end": 3.05}}  # the tools' frame at 3.0 s, between overview frames
    rows = [{"id": f"s{i}", "media": "v.mp4", "question": "q?", "chosen": f"good {i}", "rejected": f"bad {i}",
             "dimension": f"d{i % 2}", "meta": meta} for i in range(3)]  # fmt: skip
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = root / "run"
    backend = ScriptedBackend(_scripted_judge)
    run_benchmark(out=out, dataset="generic", data=str(root / "data.jsonl"), backend=backend, progress=False)
    write_report([out], n_boot=300)
    return out


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]


def test_the_audit_finds_every_unseen_citation_of_a_scripted_judge(scripted_run):
    agentic = [r for r in _records(scripted_run) if r["mode"] == "agentic"]
    assert len(agentic) == 3 and all(r["status"] == "ok" and r["shown"] for r in agentic)
    for record in agentic:
        classes = {json.dumps({k: v for k, v in item.items() if v is not None}, sort_keys=True): c
                   for item, c, _ in audit_record(record)}  # fmt: skip
        assert classes == {
            **{json.dumps({"note": "", **i}, sort_keys=True): "grounded" for i in SEEN},
            **{json.dumps({"note": "", **i}, sort_keys=True): "ungrounded" for i in UNSEEN},
        }
    summary = json.loads((scripted_run / "summary.json").read_text())["runs"][0]
    [backend] = summary["evidence_audit"]["backends"]
    overall = backend["overall"]
    assert backend["backend"] == "scripted"
    assert (overall["verdicts"], overall["ungrounded"], overall["checkable"], overall["ungrounded_citations"]) == (
        3, 3, 15, 9,
    )  # fmt: skip
    assert overall["ungrounded_rate"] == pytest.approx(9 / 15)


def test_the_trace_page_marks_the_ungrounded_items(scripted_run):
    page = (scripted_run / "traces" / trace_name("s0")).read_text()
    assert page.count("✗ ungrounded") == len(UNSEEN) and page.count("✓ grounded") == len(SEEN)
    assert "no frame within 0.1 s of 4 s was shown" in page
    assert "Decisive evidence" in page and "never shown to this judgment" in page  # the single pass
    assert "— shown to this judgment" in page  # the agentic cell's select_frames at 3.0 s


def test_report_md_evidence_numbers_equal_summary_json(scripted_run):
    summary = json.loads((scripted_run / "summary.json").read_text())["runs"][0]
    markdown = (scripted_run / "report.md").read_text()
    [backend] = summary["evidence_audit"]["backends"]
    rows = _md_rows(markdown, "backend | dimension")
    cells = {**backend["by_dimension"], "**all**": backend["overall"]}
    assert [r[1] for r in rows] == list(cells)
    for row in rows:
        cell = cells[row[1]]
        keys = ["verdicts", "grounded", "ungrounded", "uncheckable", "citations", "checkable", "ungrounded_citations"]
        assert [int(v) for v in row[2:9]] == [cell[k] for k in keys]
        assert float(row[9]) == pytest.approx(100 * cell["ungrounded_rate"], abs=0.05)
        assert row[10] == f"[{100 * cell['ci'][0]:.1f}, {100 * cell['ci'][1]:.1f}]"
    rescue = summary["failure_attribution"]["rescue"]
    assert _md_rows(markdown, "frames | k") == [
        [str(r["frames"]), str(r["k"]), str(r["single_never_shown"]), str(r["agentic_shown"]),
         f"{100 * r['agentic_shown_share']:.1f}", str(r["agentic_shown_right"])]
        for r in rescue
    ]  # fmt: skip
    assert rescue[0]["single_never_shown"] == 3 and rescue[0]["agentic_shown"] == 3  # 3.0 s: tools only
    html = (scripted_run / "report.html").read_text()
    assert "Ungrounded cited items (% of checkable, 95% CI)" in html and "<h3>Failure attribution</h3>" in html


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_evidence_panels_open_in_headless_chromium_without_console_errors(scripted_run):
    dom, console = chromium_console(scripted_run / "report.html")
    assert console == [] and "Evidence audit" in dom and "Failure attribution" in dom
    assert "Ungrounded cited items" in dom and "Wrong verdicts never shown the evidence" in dom  # both plots
    dom, console = chromium_console(scripted_run / "traces" / trace_name("s1"))
    assert console == [] and dom.count("✗ ungrounded") == len(UNSEEN)
