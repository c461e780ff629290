"""Reports: report.md numbers equal summary.json, self-contained HTML with plots, escaped text, trace
pages with the frames the judge saw and zoom boxes, several runs side by side, headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vrb_agent.benchmark import run_benchmark
from vrb_agent.benchmark.report import trace_name, write_report
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
    dom, console = chromium_console(run_dir / "traces" / trace_name("s001"))
    assert console == [] and "What the judge saw" in dom
