"""Reports: report.md numbers equal summary.json, self-contained HTML with plots, escaped text, trace
pages with the frames the judge saw and zoom boxes, several runs side by side (on the samples they
share), wording that follows the paired test, chart text inside its SVG viewport, headless Chromium."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from vrb_agent.benchmark import run_benchmark
from vrb_agent.benchmark.records import ResultRecord
from vrb_agent.benchmark.report import headline, trace_name, write_report
from vrb_agent.judges.scripted import ScriptedBackend

REPO = Path(__file__).resolve().parents[1]
HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def run_dir(tmp_path, make_bench_dataset, fake_judge) -> Path:
    data = make_bench_dataset(n=12, dims=("d0", "d1", "d<i>2</i>"))
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    rows[0]["question"] = HOSTILE
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    run_benchmark(
        out=out, dataset="generic", data=str(data), backend=ScriptedBackend(), judge=fake_judge, progress=False
    )
    return out


def _cell_numbers(cell: str) -> tuple[float, float, float, int]:
    match = re.fullmatch(r"([\d.]+) \[([\d.]+), ([\d.]+)\] \(n=(\d+)\)", cell.strip())
    assert match, cell
    return float(match[1]), float(match[2]), float(match[3]), int(match[4])


def _md_rows(markdown: str, header_start: str) -> list[list[str]]:
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header_start}"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split(" | ")])
    return rows


def test_report_md_numbers_equal_summary_json(run_dir):
    paths = write_report([run_dir], n_boot=300)
    summary = json.loads(paths["summary"].read_text())
    markdown = paths["markdown"].read_text()
    run = summary["runs"][0]
    conditions = run["conditions"]
    rows = _md_rows(markdown, "dimension | single")
    checked = 0
    for row in rows:
        name = row[0].strip("*")
        for cond, cell in zip(conditions, row[1:], strict=True):
            source = cond[name] if name in ("overall", "macro") else cond["by_dimension"][name]
            acc, lo, hi, n = _cell_numbers(cell)
            assert acc == pytest.approx(100 * source["accuracy"], abs=0.05)
            assert (lo, hi) == pytest.approx([100 * v for v in source["ci"]], abs=0.05)
            assert n == source["n"]
            checked += 1
    assert checked == 5 * 2  # 3 dimensions + overall + macro, two modes
    comp = run["comparisons"][0]
    all_row = next(r for r in _md_rows(markdown, "dimension | pairs") if r[0] == "**all**")
    assert int(all_row[1]) == comp["n_pairs"]
    assert float(all_row[4]) == pytest.approx(100 * comp["difference"], abs=0.05)
    assert [int(x) for x in all_row[6:10]] == [comp["fixed"], comp["broken"], comp["both_right"], comp["both_wrong"]]
    assert float(all_row[10]) == pytest.approx(comp["mcnemar_p"], abs=5e-4)
    # and the figures are the fake judge's: samples 0..11, single right when n % 10 < 5 (0-4, 10, 11),
    # agentic when n % 10 < 8 (0-7, 10, 11), so agentic fixed 5, 6 and 7
    assert conditions[0]["overall"]["accuracy"] == pytest.approx(7 / 12)
    assert conditions[1]["overall"]["accuracy"] == pytest.approx(10 / 12)
    assert comp["fixed"] == 3 and comp["broken"] == 0


def test_html_is_self_contained_escaped_and_has_plots(run_dir):
    paths = write_report([run_dir], n_boot=200)
    html = paths["html"].read_text()
    assert html.count("<svg") >= 4  # accuracy, flips, tools, images per verdict
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert re.findall(r"https?://[^\"' ]+", html) == ["http://www.w3.org/2000/svg"] * html.count("<svg")
    assert "d&lt;i&gt;2&lt;/i&gt;" in html and "d<i>2</i>" not in html
    assert "Agentic vs single: flips" in html and "Tool calls per verdict" in html


def test_trace_pages_show_what_the_judge_saw_with_zoom_boxes(run_dir):
    write_report([run_dir], n_boot=200)
    page = (run_dir / "traces" / trace_name("s000")).read_text()
    assert HOSTILE not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;b&gt;rationale&lt;/b&gt;" in page and "<b>rationale</b>" not in page
    assert page.count("<h2>") == 2  # both modes
    records = [json.loads(x) for x in (run_dir / "results.jsonl").read_text().splitlines()]
    agentic = next(r for r in records if r["sample_id"] == "s000" and r["mode"] == "agentic")
    hrefs = re.findall(r'<image href="([^"]+)"', page)
    assert len(hrefs) == 2 + 3  # single: 2 overview frames; agentic: 2 frames + zoom crop
    assert all((run_dir / "traces" / h).resolve().is_file() for h in hrefs)
    assert {Path(h).stem for h in hrefs} == set(agentic["images"])
    boxes = re.findall(r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="none"', page)
    assert boxes == [("9.6", "9.6", "32.0", "19.2")]  # box [150,200,650,600] on the 64x48 frame at t=0.5 s
    assert "<td>zoom</td>" in page and "chosen (correct) response was shown as" in page


def test_several_runs_side_by_side(run_dir, tmp_path, make_bench_dataset, fake_judge_cls):
    data = make_bench_dataset(n=6, name="other")
    second = tmp_path / "run-b"
    judge = fake_judge_cls(right_below={"single": 2, "agentic": 9})
    backend = ScriptedBackend(model="other-model")
    run_benchmark(out=second, dataset="generic", data=str(data), backend=backend, judge=judge, progress=False)
    paths = write_report([run_dir, second], tmp_path / "compare", n_boot=200)
    summary = json.loads(paths["summary"].read_text())
    assert [Path(r["run_dir"]).name for r in summary["runs"]] == ["run", "run-b"]
    markdown = paths["markdown"].read_text()
    assert "## Runs side by side" in markdown and "run-b (scripted/other-model)" in markdown
    html = paths["html"].read_text()
    assert 'href="../run/traces/' in html and 'href="../run-b/traces/' in html


def test_report_cli(run_dir, tmp_path):
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "vrb_agent.cli", "report", str(run_dir), "--bootstrap", "200"]
    done = subprocess.run([*command, "--invalid-policy", "drop"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "policy drop" in done.stdout and "agentic - single" in done.stdout
    assert json.loads((run_dir / "summary.json").read_text())["invalid_policy"] == "drop"
    missing = subprocess.run(
        [sys.executable, "-m", "vrb_agent.cli", "report", str(tmp_path / "nowhere")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2 and "no results.jsonl" in missing.stderr and "Traceback" not in missing.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def chromium_console(page: Path) -> tuple[str, list[str]]:
    """The DOM Chromium built from `page` and the console messages it logged."""
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_html_opens_in_headless_chromium_without_console_errors(run_dir, tmp_path):
    paths = write_report([run_dir], n_boot=200)
    control = tmp_path / "control.html"
    control.write_text("<!DOCTYPE html><html><body><script>console.error('boom')</script></body></html>")
    assert chromium_console(control)[1]  # the check sees console errors when there are some
    dom, console = chromium_console(paths["html"])
    assert console == [] and dom.count("<svg") >= 4 and "Accuracy by dimension" in dom
    for section in ("Bias: position and length", "Calibration of confidence", "First-slot picks by dimension",
                    "Reliability diagram (95% CI)", "Selective accuracy against coverage (95% CI)"):  # fmt: skip
        assert section in dom, section
    dom, console = chromium_console(run_dir / "traces" / trace_name("s001"))
    assert console == [] and "What the judge saw" in dom


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_cascade_report_opens_in_headless_chromium_without_console_errors(tmp_path, make_bench_dataset):
    """A run with single, agentic and cascade: the accuracy-vs-cost chart and table, the cascade's
    trace section, all rendered without console messages and without chart text outside its SVG."""
    from tests.cascade_support import bench

    out = tmp_path / "run"
    bench(out, make_bench_dataset(n=10), modes=["single", "agentic", "cascade"])
    paths = write_report([out], n_boot=200)
    dom, console = chromium_console(paths["html"])
    assert console == [] and "Accuracy against cost: estimated USD per sample" in dom
    assert "Accuracy against cost</h3>" in dom and "5 of 10 (50.0%), 1 failed" in dom
    assert chromium_clipped(paths["html"]) == [] and _clipped_texts(paths["html"].read_text()) == []
    dom, console = chromium_console(out / "traces" / trace_name("s004"))
    assert console == [] and dom.count("<h2>") == 3  # single, agentic and cascade


# ---- wording, shared samples, chart geometry ----------------------------------------------------

LONG_DIMS = ("long-form perception of very small objects", "d1", "temporal_order/very-long-name")


@pytest.fixture
def sweep_run(tmp_path, make_bench_dataset, fake_judge) -> Path:
    """A frames x k sweep over long dimension names: every chart the report draws, at its widest."""
    data = make_bench_dataset(n=6, dims=LONG_DIMS, name="sweep-data")
    out = tmp_path / "sweep"
    run_benchmark(
        out=out, dataset="generic", data=str(data), backend=ScriptedBackend(), judge=fake_judge,
        frames=[4, 16], k=[1, 2], progress=False,
    )  # fmt: skip
    return out


def test_wording_follows_the_paired_test(tmp_path, make_bench_dataset, fake_judge_cls):
    # agentic fixes 4 of 12 and breaks none: the CI of Δ lies above 0 but McNemar p = 0.125, so no
    # direction may be claimed
    data = make_bench_dataset(n=12, name="few")
    weak = tmp_path / "weak"
    judge = fake_judge_cls(right_below={"single": 4, "agentic": 8})
    run_benchmark(out=weak, dataset="generic", data=str(data), backend=ScriptedBackend(), judge=judge, progress=False)
    paths = write_report([weak], n_boot=300, traces=False)
    report = json.loads(paths["summary"].read_text())
    comp = report["runs"][0]["comparisons"][0]
    assert comp["mcnemar_p"] == pytest.approx(0.125) and comp["ci"][0] > 0
    markdown = paths["markdown"].read_text()
    assert "Overall: agentic and single-pass show no significant difference" in markdown
    assert "beats" not in markdown and "beats" not in paths["html"].read_text()
    assert headline(report).splitlines()[-1].endswith("McNemar p=0.125: no significant difference")
    # agentic right on 27 of 30, single on 6: fixed 21, broken 0, p < 1e-6 and the CI above 0
    data = make_bench_dataset(n=30, name="many")
    strong = tmp_path / "strong"
    judge = fake_judge_cls(right_below={"single": 2, "agentic": 9})
    run_benchmark(out=strong, dataset="generic", data=str(data), backend=ScriptedBackend(), judge=judge, progress=False)
    paths = write_report([strong], n_boot=300, traces=False)
    assert "Overall: agentic beats single-pass, 90.0% vs 20.0%" in paths["markdown"].read_text()
    assert headline(json.loads(paths["summary"].read_text())).endswith(": agentic beats single-pass")


def test_side_by_side_compares_runs_on_their_shared_samples(run_dir, tmp_path, make_bench_dataset, fake_judge_cls):
    data = make_bench_dataset(n=6, name="other")  # s000..s005: half of the first run's samples
    second = tmp_path / "run-b"
    judge = fake_judge_cls(right_below={"single": 2, "agentic": 9})
    run_benchmark(out=second, dataset="generic", data=str(data), backend=ScriptedBackend(), judge=judge, progress=False)
    paths = write_report([run_dir, second], tmp_path / "compare", n_boot=200, traces=False)
    shared = json.loads(paths["summary"].read_text())["side_by_side"]
    assert shared["samples"] == [12, 6] and shared["shared_samples"] == 6 and not shared["same_samples"]
    cells = {c["mode"]: c["cells"] for c in shared["conditions"]}
    assert all(c["shared"] == 6 for c in shared["conditions"])
    # on s000..s005 the first run's single pass is right on 0-4 (5/6), not its 7/12 over all 12 samples
    assert [cell["n"] for cell in cells["single"]] == [6, 6]
    assert [cell["accuracy"] for cell in cells["single"]] == pytest.approx([5 / 6, 2 / 6])
    assert [cell["accuracy"] for cell in cells["agentic"]] == pytest.approx([6 / 6, 6 / 6])
    note = "The runs judged different samples (run (scripted/scripted) 12, run-b (scripted/scripted) 6)"
    for text in (paths["markdown"].read_text(), paths["html"].read_text()):
        assert note in text and "6 shared by all runs" in text
    single_row = next(r for r in _md_rows(paths["markdown"].read_text(), "condition") if r[0].startswith("single"))
    assert single_row[1] == "6" and single_row[2].startswith("83.3 [") and single_row[2].endswith("(n=6)")
    same = write_report([run_dir, run_dir], tmp_path / "same", n_boot=200, traces=False)
    assert "All runs judged the same 12 samples." in same["markdown"].read_text()


def _svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(block) for block in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


def _font(size: float, bold: bool):
    from PIL import ImageFont

    try:  # what Chromium draws with here; Pillow's bundled font where DejaVu is missing
        return ImageFont.truetype("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def _text_corners(text: ET.Element) -> list[tuple[float, float]]:
    """The corners of a <text>'s glyph box measured with a real font, after its rotate() transform."""
    x, y, size = float(text.get("x", 0)), float(text.get("y", 0)), float(text.get("font-size", 16))
    font = _font(size, text.get("font-weight") == "bold")
    x0, y0, x1, y1 = font.getbbox(text.text or "", anchor="ls")
    shift = {"start": 0.0, "middle": -(x1 - x0) / 2, "end": -(x1 - x0)}[text.get("text-anchor", "start")]
    match = re.fullmatch(r"rotate\(([-\d.]+) ([-\d.]+) ([-\d.]+)\)", text.get("transform", "rotate(0 0 0)"))
    assert match, text.get("transform")
    turn, cx, cy = math.radians(float(match[1])), float(match[2]), float(match[3])
    corners = [(x + shift + dx, y + dy) for dx in (0, x1 - x0) for dy in (y0, y1)]
    return [
        (cx + (px - cx) * math.cos(turn) - (py - cy) * math.sin(turn),
         cy + (px - cx) * math.sin(turn) + (py - cy) * math.cos(turn))
        for px, py in corners
    ]  # fmt: skip


def _clipped_texts(html: str) -> list[str]:
    ns = "{http://www.w3.org/2000/svg}"
    clipped = []
    for svg in _svgs(html):
        vx, vy, vw, vh = (float(v) for v in svg.get("viewBox", "").split())
        for text in svg.iter(f"{ns}text"):
            if any(not (vx - 0.5 <= px <= vx + vw + 0.5 and vy - 0.5 <= py <= vy + vh + 0.5)
                   for px, py in _text_corners(text)):  # fmt: skip
                clipped.append(f"{svg.get('aria-label')}: {text.text}")
    return clipped


def test_every_chart_text_lies_inside_its_svg_viewport(sweep_run):
    paths = write_report([sweep_run], n_boot=200)
    html = paths["html"].read_text()
    titles = [svg.get("aria-label") for svg in _svgs(html)]
    assert "Overall accuracy against frames (95% CI)" in titles and "Overall accuracy against k (95% CI)" in titles
    assert len(titles) >= 6  # accuracy, flips (one per comparison), tool calls, images, frames, k
    assert _clipped_texts(html) == []
    control = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 60 20"><text x="40" y="15">clipped label</text></svg>'
    )
    assert _clipped_texts(control) == ["None: clipped label"]  # the check sees text past the edge
    page = (sweep_run / "traces" / trace_name("s000")).read_text()
    assert _clipped_texts(page) == []  # zoom-box numbers stay inside their frames


def test_frames_and_images_plots_have_error_bars_at_honest_x(sweep_run):
    paths = write_report([sweep_run], n_boot=200)
    html = paths["html"].read_text()
    summary = json.loads(paths["summary"].read_text())["runs"][0]
    for svg in _svgs(html):
        title = svg.get("aria-label") or ""
        if not title.startswith(("Overall accuracy against", "Accuracy against images")):
            continue
        ns = "{http://www.w3.org/2000/svg}"
        points = [c.findtext(f"{ns}title") for c in svg.iter(f"{ns}circle")]
        assert points and all(re.search(r"% \[[\d.]+, [\d.]+\]", p) for p in points), points
        whiskers = [line for line in svg.iter(f"{ns}line") if line.get("stroke") == "#222"]
        assert len(whiskers) == 3 * len(points)  # a bar and two caps per point
    # the fake judge sends 2 images single-pass and 3 agentic: the points sit at 2 and 3, not at bin centres
    by_mode = {c["mode"]: c["accuracy_by_images"] for c in summary["conditions"]}
    assert {r["mean_images"] for r in by_mode["single"]} == {2.0} and {
        r["mean_images"] for r in by_mode["agentic"]
    } == {3.0}
    images_svg = next(s for s in _svgs(html) if (s.get("aria-label") or "").startswith("Accuracy against images"))
    tips = [
        c.findtext("{http://www.w3.org/2000/svg}title") for c in images_svg.iter("{http://www.w3.org/2000/svg}circle")
    ]
    assert any("images per verdict (mean of each bin) 2 →" in t and "(bin 2-4, n=6)" in t for t in tips)


def test_trace_page_numbers_overlapping_zooms_and_links_full_size(tmp_path):
    from vrb_agent.agents.trace import JudgmentTrace, TraceImage
    from vrb_agent.benchmark.report.figures import boxes_by_frame, crop_calls, figure, images_note

    frame = {"id": "ev-frame", "label": "frame t=4.20s", "timestamp": 4.2, "width": 768, "height": 432, "box": None}
    crops = {f"ev-crop{i}": {"id": f"ev-crop{i}", "label": "zoom", "timestamp": 4.2, "width": 768, "height": 432,
                             "box": [0, 0, 500, 500]} for i in range(3)}  # fmt: skip
    calls = [{"name": "select_frames", "arguments": {"timestamps": [4.2]}, "ok": True, "images": ["ev-frame"]}]
    calls += [
        {"name": "zoom", "arguments": {"timestamp": 4.2, "box": [i * 250, 0, i * 250 + 500, 500]}, "ok": True,
         "images": [f"ev-crop{i}"]}
        for i in range(3)
    ]  # fmt: skip
    record = {"evidence": calls, "images": ["ev-frame", *crops], "images_sent": 41, "usage": {"calls": 2}}
    trace = JudgmentTrace.of_record(record)  # the trace fields of a results.jsonl record
    frame, crops = TraceImage(**frame), {i: TraceImage(**c) for i, c in crops.items()}
    index = {"ev-frame": frame, **crops}
    (zooms,) = boxes_by_frame(trace, index).values()
    assert [z.number for z in zooms] == [2, 3, 4]  # the tool sequence's numbers (call 1 selected frames)
    assert len({z.colour for z in zooms}) == 3
    html = figure("../evidence/ev-frame.jpg", frame, zooms, None)
    assert html.startswith('<figure><a href="../evidence/ev-frame.jpg" target="_blank"')
    labels = re.findall(r"<text [^>]*>(\d+)</text>", html)
    assert labels == ["2", "3", "4"] and "zoom boxes of calls #2, #3, #4" in html
    assert crop_calls(trace)["ev-crop1"] == 3 and "from call #3" in figure("x.jpg", crops["ev-crop1"], [], 3)
    assert images_note(trace) == (
        "images sent 41 (summed over 2 model calls): 4 distinct images plus 37 sent again, because each "
        "model call re-sends the images still in the judge's context"
    )


def test_trace_pages_explain_images_sent_and_open_full_size(run_dir):
    write_report([run_dir], n_boot=200)
    page = (run_dir / "traces" / trace_name("s000")).read_text()
    # the fake judge's agentic cell: 3 images sent, all distinct, in 3 model calls
    assert "images sent 3 (summed over 3 model calls)" in page and "sent again" not in page
    thumbs = re.findall(r'<a href="([^"]+)" target="_blank"[^>]*><svg', page)
    assert len(thumbs) == 5 and thumbs == re.findall(r'<image href="([^"]+)"', page)
    assert "<th>#</th><th>turn</th>" in page and "<td>#1</td>" in page
    assert "zoom boxes of calls #1" in page and "from call #1" in page


CLIP_PROBE = """<script>
const clipped = [];
for (const svg of document.querySelectorAll("svg")) {
  const box = svg.getBoundingClientRect();
  for (const text of svg.querySelectorAll("text")) {
    const r = text.getBoundingClientRect();
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
      clipped.push(svg.getAttribute("aria-label") + ": " + text.textContent);
  }
}
const out = document.createElement("pre"); out.id = "clipped"; out.textContent = JSON.stringify(clipped);
document.body.appendChild(out);
</script>"""


def chromium_clipped(page: Path) -> list[str]:
    """Texts whose rendered box leaves their SVG, measured by Chromium on a copy of `page`."""
    probe = page.with_name(f"probe-{page.name}")
    probe.write_text(page.read_text().replace("</body>", CLIP_PROBE + "</body>"))
    dom, _ = chromium_console(probe)
    probe.unlink()
    match = re.search(r'<pre id="clipped">(.*?)</pre>', dom, flags=re.S)
    assert match, dom[-2000:]
    return json.loads(match[1].replace("&quot;", '"').replace("&amp;", "&"))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_chromium_renders_every_chart_text_inside_its_svg(sweep_run, tmp_path):
    paths = write_report([sweep_run], n_boot=200)
    control = tmp_path / "control.html"
    control.write_text('<!DOCTYPE html><html><body><svg width="60" height="20" viewBox="0 0 60 20" '
                       'aria-label="c"><text x="40" y="15">clipped label</text></svg></body></html>')  # fmt: skip
    assert chromium_clipped(control) == ["c: clipped label"]
    assert chromium_clipped(paths["html"]) == []
    assert chromium_clipped(sweep_run / "traces" / trace_name("s000")) == []


# ---- the outputs of fixed runs, byte for byte ---------------------------------------------------

GOLDEN = REPO / "tests" / "fixtures" / "report_golden"
GOLDEN_CASES = {  # name: (RUN_DIRs, out under the copied runs (None: the first RUN_DIR), trace pages)
    "single": (["run"], None, True),
    "compare": (["run", "run-b"], "cmp", False),
    "sweep": (["sweep"], None, True),
    "shards": (["shard1", "shard2"], "merged", False),
}


def _normalized(text: str, runs: Path) -> str:
    text = text.replace(str(runs), "RUNS")
    text = re.sub(r"Generated [0-9T:+-]+", "Generated TIME", text)
    return re.sub(r'"generated": "[^"]+"', '"generated": "TIME"', text)


@pytest.mark.parametrize("case", list(GOLDEN_CASES))
def test_outputs_equal_those_of_the_untyped_report(case, tmp_path):
    """summary.json, report.md, report.html and trace pages of stored runs (one run, two side by side,
    a frames x k sweep, two shards merged) are byte for byte those the report wrote before its
    summary was typed (tests/fixtures/report_golden/expected, written by that code), plus the sections
    added since. After a deliberate report change, rewrite them with `VRB_REGEN_GOLDEN=1 pytest -k
    untyped_report` and review the diff."""
    dirs, out, traces = GOLDEN_CASES[case]
    runs = tmp_path / "runs"
    shutil.copytree(GOLDEN / "runs", runs)
    paths = write_report([runs / d for d in dirs], runs / out if out else None, n_boot=200, traces=traces)
    expected = sorted((GOLDEN / "expected" / case).iterdir())
    assert {p.name for p in expected if not p.name.startswith("trace-")} == {p.name for p in paths.values()}
    for want in expected:
        if want.name.startswith("trace-"):
            run, page = want.name.removeprefix("trace-").split("-", 1)
            got = runs / run / "traces" / page
        else:
            got = paths[{"summary.json": "summary", "report.md": "markdown", "report.html": "html"}[want.name]]
        if os.environ.get("VRB_REGEN_GOLDEN") == "1":
            want.write_text(_normalized(got.read_text(), runs))
        assert _normalized(got.read_text(), runs) == want.read_text(), want.name


def test_one_trace_format_for_judge_trace_dirs_and_run_dirs(run_dir, tmp_path):
    """An image of `judge --trace-dir`'s trace.json is the same TraceImage as a line of a RUN_DIR's
    evidence index (plus the JPEG's file name), and a trace page reads both through agents.trace."""
    import numpy as np

    from vrb_agent.agents.trace import TraceImage, read_index, write_trace
    from vrb_agent.agents.types import Judgment
    from vrb_agent.tools.evidence import EvidenceStore

    lines = [json.loads(line) for line in (run_dir / "evidence" / "index.jsonl").read_text().splitlines()]
    fields = ["id", "label", "timestamp", "width", "height", "box"]
    assert lines and all(list(line) == fields for line in lines)  # the index lines as before
    index = read_index(run_dir / "evidence" / "index.jsonl")
    assert set(index) == {line["id"] for line in lines}
    store = EvidenceStore()
    image = store.put(np.zeros((48, 64, 3), np.uint8), "zoom t=1.00s", timestamp=1.0, box=(0.0, 0.0, 500.0, 500.0))
    parts = [{"type": "image", "evidence_id": image}]
    judgment = Judgment(status="error", transcript=[{"sample": 0, "messages": [{"role": "user", "parts": parts}]}])
    trace = json.loads(write_trace(judgment, store, tmp_path / "trace", {"question": "q"}).read_text())
    (entry,) = trace["images"]
    assert list(entry) == [*fields, "file"] and (tmp_path / "trace" / entry["file"]).is_file()
    want = {"id": image, "label": "zoom t=1.00s", "timestamp": 1.0, "width": 64, "height": 48}
    assert TraceImage.model_validate(entry).model_dump(exclude={"file"}) == {**want, "box": [0.0, 0.0, 500.0, 500.0]}


def test_each_run_says_which_protocol_order_seed_and_sampling_it_judged_under(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    record = {"sample_id": "s", "dimension": "d", "mode": "single", "frames": 16, "k": 1, "status": "ok",
              "preferred": "A", "correct": True}  # fmt: skip
    (run / "results.jsonl").write_text(ResultRecord(**record).to_json_line())
    identity = {"protocol": "videorewardbench", "order": "random", "seed": 7, "temperature": 0.2, "top_p": None}
    (run / "run.json").write_text(json.dumps({"identity": identity}))
    paths = write_report([run], n_boot=50, traces=False)
    said = "protocol videorewardbench, presentation order random, seed 7, temperature 0.2, top_p the protocol default"
    assert f"- judged under {said}" in paths["markdown"].read_text()
    assert f"judged under {said};" in paths["html"].read_text()
