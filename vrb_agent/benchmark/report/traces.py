"""Trace pages: RUN_DIR/traces/<sample>.html shows the question, both responses as presented, and
for each cell the judge's verdict, its tool sequence and the frames it saw with its zoom boxes drawn
(read from the run's trace: records' `images`/`evidence` and the evidence index)."""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import Any

from vrb_agent.agents.trace import JudgmentTrace, TraceImage, read_index
from vrb_agent.benchmark.metrics import Record, read_results
from vrb_agent.benchmark.report.evidence import cited_evidence_html
from vrb_agent.benchmark.report.figures import boxes_by_frame, crop_calls, figure, images_note
from vrb_agent.benchmark.report.html import html_table, page
from vrb_agent.benchmark.report.text import num, trace_name
from vrb_agent.benchmark.report.tradeoff import cascade_text
from vrb_agent.benchmark.rundir import RunDir

STEP_HEADER = ["#", "turn", "tool", "arguments", "valid", "message"]


def _verdict_text(record: Record) -> str:
    if record["status"] != "ok":
        return f'<span class="bad">status {escape(str(record["status"]))}</span>'
    right = '<span class="ok">right</span>' if record.get("correct") else '<span class="bad">wrong</span>'
    return (
        f"preferred <b>{escape(str(record.get('preferred')))}</b> (confidence {num(record.get('confidence'))}) — "
        + right
    )


def _steps_table(trace: JudgmentTrace) -> str:
    rows = [
        [f"#{n}", str(c.turn), c.name, json.dumps(c.arguments), "yes" if c.ok else "no", c.message]
        for n, c in enumerate(trace.steps, 1)
    ]
    return "<h3>Tool sequence</h3>" + html_table(STEP_HEADER, rows)


def _figures(trace: JudgmentTrace, run_dir: Path, trace_dir: Path, index: dict[str, TraceImage]) -> str:
    images = [i for i in trace.images if i in index]
    if not images:
        return (
            "<p class='muted'>The images of this judgment were not saved in this RUN_DIR.</p>" if trace.images else ""
        )
    boxes, made = boxes_by_frame(trace, index), crop_calls(trace)
    evidence = os.path.relpath(RunDir(run_dir).evidence, trace_dir)
    figures = "".join(figure(f"{evidence}/{i}.jpg", index[i], boxes.get(i, []), made.get(i)) for i in images)
    return f"<h3>What the judge saw ({len(images)} distinct images; click one for full size)</h3><div>{figures}</div>"


def _trace_record(record: Record, run_dir: Path, trace_dir: Path, index: dict[str, TraceImage]) -> str:
    trace = JudgmentTrace.of_record(record)
    parts = [
        f"<h2>{escape(str(record['mode']))} · frames={record['frames']} · k={record['k']}"
        f"{escape(' · control=' + str(record['control'])) if record.get('control') else ''}</h2>",
        f"<p>{_verdict_text(record)}; latency {num(record.get('latency_s'))} s; {escape(images_note(trace))}</p>",
    ]
    if record.get("error"):
        parts.append(f"<p class='bad'>error: {escape(str(record['error']))}</p>")
    if record.get("cascade"):  # why the single pass was kept or escalated, and which stages were reused
        parts.append(f"<p>{escape(cascade_text(record['cascade']))}</p>")
    if record.get("rationale"):
        parts.append(f"<h3>Rationale</h3><pre>{escape(str(record['rationale']))}</pre>")
    if trace.steps:
        parts.append(_steps_table(trace))
    parts.append(cited_evidence_html(record))  # each cited item audited; where the decisive evidence is
    parts.append(_figures(trace, run_dir, trace_dir, index))
    return "".join(parts)


def _sample_head(sample_id: str, sample: dict[str, Any], records: list[Record], back: str) -> list[str]:
    position = sample.get("chosen_position") or records[0].get("chosen_position")
    shown = {"A": sample.get("chosen"), "B": sample.get("rejected")}
    if position == "B":
        shown = {"A": sample.get("rejected"), "B": sample.get("chosen")}
    head = [
        f"<p><a href='{escape(back)}'>back to the report</a></p>",
        f"<h1>Sample {escape(sample_id)}</h1>",
        f"<p>dimension {escape(str(records[0]['dimension']))}; media {escape(str(sample.get('media', '?')))}; "
        f"the chosen (correct) response was shown as <b>{escape(str(position))}</b></p>",
        f"<h3>Question</h3><pre>{escape(str(sample.get('question', '(not recorded)')))}</pre>",
    ]
    for letter in ("A", "B"):
        tag = " (chosen)" if letter == position else " (rejected)"
        head.append(f"<h3>Response {letter}{tag}</h3><pre>{escape(str(shown[letter] or '(not recorded)'))}</pre>")
    return head


def write_trace_pages(run_dir: Path, report_html: Path | None = None) -> list[Path]:
    """RUN_DIR/traces/<sample>.html for every sample of the run; returns the pages written."""
    files = RunDir(run_dir)
    if not files.results.is_file():
        return []
    samples, index = files.read_samples(), read_index(files.evidence_index)
    by_sample: dict[str, list[Record]] = {}
    for record in read_results(files.results):
        by_sample.setdefault(str(record["sample_id"]), []).append(record)
    trace_dir = files.traces
    trace_dir.mkdir(exist_ok=True)
    back = os.path.relpath(report_html or files.report_files()["html"], trace_dir)
    written = []
    for sample_id, records in by_sample.items():
        body = _sample_head(sample_id, samples.get(sample_id, {}), records, back)
        body += [_trace_record(r, run_dir, trace_dir, index) for r in records]
        path = trace_dir / trace_name(sample_id)
        path.write_text(page(f"trace {sample_id}", "".join(body)), encoding="utf-8")
        written.append(path)
    return written
