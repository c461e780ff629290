"""Controls as conditions (`bench --controls blind,shuffled`): the seeded derangement, what a blind
judge is sent, control cells beside the normal ones (records, run.json, resume), visual dependence
on hand-made records, the report panel (report.md = summary.json, Chromium), and `sim` at chance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vrb_agent.benchmark import run_benchmark
from vrb_agent.benchmark.controls import BLIND_NOTE, ControlError, blind_request, donors, no_media_text
from vrb_agent.benchmark.datasets import Sample
from vrb_agent.benchmark.metrics import summarize
from vrb_agent.benchmark.records import read_records
from vrb_agent.benchmark.report import headline, write_report
from vrb_agent.benchmark.report.text import pct
from vrb_agent.errors import VrbError
from vrb_agent.judges.base import ImagePart, Message, ModelReply, ModelRequest, TextPart, ToolCall, ToolResult
from vrb_agent.judges.scripted import ScriptedBackend
from vrb_agent.pairblock import pair_block

from .test_report import CHROMIUM, _clipped_texts, _md_rows, chromium_console


def _sample(i: int, media: str) -> Sample:
    return Sample(id=f"s{i}", media=Path(media), question="q", chosen="c", rejected="r", dimension="d")


# ---- shuffled: the derangement ------------------------------------------------------------------


def test_donors_never_lend_a_sample_its_own_media_and_lend_each_media_once() -> None:
    samples = [_sample(i, f"m{i % 7}.png") for i in range(21)]  # 7 media files, 3 samples each
    lent = donors(samples, seed=0)
    assert set(lent) == {s.id for s in samples}
    own = {s.id: s.media for s in samples}
    assert all(donor.media != own[sid] for sid, donor in lent.items())
    assert sorted(d.id for d in lent.values()) == sorted(own)  # a permutation: each sample's media lent once
    assert donors(list(reversed(samples)), seed=0) == lent  # the input order does not matter
    assert donors(samples, seed=1) != lent  # the seed does


def test_donors_of_two_media_swap_the_groups_in_id_order() -> None:
    """Worked out by hand: groups {a1, a2} and {b1, b2}, shift 2 round the circle of 4, whichever
    group comes first: a1 <-> b1, a2 <-> b2."""
    samples = [_sample(1, "a.png"), _sample(2, "a.png"), _sample(3, "b.png"), _sample(4, "b.png")]
    for seed in range(4):
        assert {k: v.id for k, v in donors(samples, seed).items()} == {"s1": "s3", "s2": "s4", "s3": "s1", "s4": "s2"}


def test_donors_refuse_when_one_media_holds_more_than_half_the_samples() -> None:
    samples = [_sample(i, "same.png") for i in range(3)] + [_sample(9, "other.png")]
    with pytest.raises(ControlError, match=r"largest group has 3 of 4"):
        donors(samples, 0)


# ---- blind: what the model is sent --------------------------------------------------------------


def test_blind_request_withholds_every_image_and_answers_visual_tools_with_no_media() -> None:
    block = pair_block("What is shown?", "a red square", "a blue circle")
    note = "16 frames sampled uniformly from a 4.00s video. The frames follow."
    forgotten = TextPart(text="[image no longer shown, to save context: frame t=1.00s]")
    parts = [TextPart(text=f"{block}\n\n{note}"), ImagePart(evidence_id="e1", label="frame t=0.00s"), forgotten]
    first = Message(role="user", parts=parts)
    calls = [ToolCall(id="c1", name="zoom", arguments={}), ToolCall(id="c2", name="submit_verdict", arguments={})]
    tool = Message(
        role="tool",
        tool_results=[
            ToolResult(call_id="c1", name="zoom", parts=[TextPart(text="zoom t=1.00s"), ImagePart(evidence_id="e2")]),
            ToolResult(call_id="c2", name="submit_verdict", parts=[TextPart(text="preferred: must be A or B")],
                       is_error=True),
        ],
    )  # fmt: skip
    request = ModelRequest(messages=[first, Message(role="assistant", tool_calls=calls), tool])
    blind = blind_request(request)
    assert request.image_count() == 2 and blind.image_count() == 0
    assert [p.text for p in blind.messages[0].parts if isinstance(p, TextPart)] == [f"{block}\n\n{BLIND_NOTE}"]
    zoom, verdict = blind.messages[2].tool_results
    assert zoom.is_error and [p.text for p in zoom.parts if isinstance(p, TextPart)] == [no_media_text("zoom")]
    assert verdict == tool.tool_results[1]  # a verdict's correction has no media: kept as it was
    assert blind.messages[1] == request.messages[1]
    vlrb_still = ModelRequest(messages=[Message(role="user", parts=[TextPart(text="Question: q\n\nAnswer 1: a")])])
    assert blind_request(vlrb_still).messages[0].text == f"Question: q\n\nAnswer 1: a\n\n{BLIND_NOTE}"


# ---- a run with controls ------------------------------------------------------------------------

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200)]


@pytest.fixture
def colour_data(tmp_path: Path) -> Path:
    """Six samples, each with its own solid-colour image, over two dimensions."""
    root = tmp_path / "colours"
    root.mkdir()
    rows = []
    for i, colour in enumerate(COLOURS):
        Image.fromarray(np.full((48, 64, 3), colour, np.uint8)).save(root / f"m{i}.png")
        rows.append({"id": f"s{i}", "media": f"m{i}.png", "question": "Which colour?", "chosen": f"good {i}",
                     "rejected": f"bad {i}", "dimension": f"d{i % 2}"})  # fmt: skip
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "data.jsonl"


def colour_judge(request: ModelRequest) -> ModelReply:
    """Prefers the answer shown first when it sees an image, B when it sees none (single-pass)."""
    return ModelReply(text=f"Overall Judgment: Answer {'A' if request.image_count() else 'B'} is better.")


def test_control_cells_run_beside_the_normal_ones_and_resume(tmp_path: Path, colour_data: Path) -> None:
    backend = ScriptedBackend(colour_judge)
    out = tmp_path / "run"
    run_benchmark(out=out, dataset="generic", data=str(colour_data), backend=backend, modes=["single"], progress=False)
    plain = (out / "results.jsonl").read_text()
    assert '"control"' not in plain  # runs without controls write the lines they always did
    outcome = run_benchmark(
        out=out, dataset="generic", data=str(colour_data), backend=backend, modes=["single"],
        controls=["blind", "shuffled"], progress=False,
    )  # fmt: skip
    assert (outcome.done, outcome.already_done, outcome.total_cells) == (12, 6, 18)  # only the control cells
    records = read_records(out / "results.jsonl")
    assert (out / "results.jsonl").read_text().startswith(plain)
    by = {(r.sample_id, r.control): r for r in records}
    lent = donors([Sample(id=f"s{i}", media=colour_data.parent / f"m{i}.png", question="", chosen="", rejected="",
                          dimension="") for i in range(6)], 0)  # fmt: skip
    for i in range(6):
        normal, blind, shuffled = by[f"s{i}", ""], by[f"s{i}", "blind"], by[f"s{i}", "shuffled"]
        assert blind.images_sent == 0 and blind.images == [] and blind.preferred == "B"
        assert "withheld" in blind.notes[-1]
        assert shuffled.control_donor == lent[f"s{i}"].id != f"s{i}"
        assert shuffled.images == by[shuffled.control_donor, ""].images != normal.images  # the donor's frames
    blind_requests = [r for r in backend.requests if BLIND_NOTE in r.messages[0].text]
    assert len(blind_requests) == 6 and all(r.image_count() == 0 for r in blind_requests)
    assert not any("follow" in r.messages[0].text or "64x48" in r.messages[0].text for r in blind_requests)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["config"]["controls"] == ["blind", "shuffled"] and manifest["identity"]["shuffle"]
    again = run_benchmark(
        out=out, dataset="generic", data=str(colour_data), backend=backend, modes=["single"],
        controls=["blind", "shuffled"], progress=False,
    )  # fmt: skip
    assert again.done == 0 and again.already_done == 18
    sharded = tmp_path / "shard"
    run_benchmark(out=sharded, dataset="generic", data=str(colour_data), backend=backend, modes=["single"],
                  controls=["shuffled"], shard="1/2", progress=False)  # fmt: skip
    shard_donors = {r.sample_id: r.control_donor for r in read_records(sharded / "results.jsonl") if r.control}
    assert shard_donors and all(by[sid, "shuffled"].control_donor == d for sid, d in shard_donors.items())


def test_shuffled_on_one_shared_video_is_a_usage_error(tmp_path: Path, make_bench_dataset, fake_judge) -> None:
    data = make_bench_dataset(n=4)
    with pytest.raises(ControlError, match="--controls shuffled"):
        run_benchmark(out=tmp_path / "r", data=str(data), backend=ScriptedBackend(), judge=fake_judge,
                      controls=["shuffled"], progress=False)  # fmt: skip


# ---- visual dependence on hand-made records -----------------------------------------------------


def _record(sid: str, dim: str, mode: str, correct: bool, control: str = "") -> dict[str, object]:
    record: dict[str, object] = {"sample_id": sid, "dimension": dim, "mode": mode, "frames": 16, "k": 1,
                                 "status": "ok", "preferred": "A", "correct": correct}  # fmt: skip
    if control:
        record["control"] = control
    return record


def hand_made() -> list[dict[str, object]]:
    """d1: normal right on 4 of 4, blind on 1 of 4 (s1): dependence 75 pts; d2: normal right on
    s5, s6, blind on s6 and s7: 50 % both, dependence 0, one fixed and one broken. All: normal 6/8,
    blind 3/8, dependence 37.5 pts. Shuffled only in d1: right on s1, s2 -> dependence 50 pts."""
    normal = {"s1": 1, "s2": 1, "s3": 1, "s4": 1, "s5": 1, "s6": 1, "s7": 0, "s8": 0}
    blind = {"s1": 1, "s2": 0, "s3": 0, "s4": 0, "s5": 0, "s6": 1, "s7": 1, "s8": 0}
    shuffled = {"s1": 1, "s2": 1, "s3": 0, "s4": 0}
    dim = {f"s{i}": "d1" if i <= 4 else "d2" for i in range(1, 9)}
    records = [_record(s, dim[s], "single", bool(v)) for s, v in normal.items()]
    records += [_record(s, dim[s], "single", bool(v), "blind") for s, v in blind.items()]
    records += [_record(s, dim[s], "single", bool(v), "shuffled") for s, v in shuffled.items()]
    records += [_record(s, dim[s], "agentic", True, "blind") for s in normal]  # no normal agentic: no row
    return records


def test_visual_dependence_on_hand_made_records() -> None:
    summary = summarize(hand_made(), n_boot=500)
    blind, shuffled = summary.visual_dependence or []
    assert (blind.mode, blind.control, shuffled.control) == ("single", "blind", "shuffled")
    assert (blind.n_pairs, blind.treatment_accuracy, blind.baseline_accuracy) == (8, 0.75, 0.375)
    assert blind.difference == pytest.approx(0.375)
    d1, d2 = blind.by_dimension["d1"], blind.by_dimension["d2"]
    assert (d1.difference, d1.ci, d1.fixed, d1.broken) == (0.75, d1.ci, 3, 0)
    assert d1.ci is not None and 0 < d1.ci[0] <= 0.75 <= d1.ci[1] <= 1
    assert (d2.difference, d2.fixed, d2.broken, d2.both_right, d2.both_wrong) == (0.0, 1, 1, 1, 1)
    assert (shuffled.n_pairs, shuffled.difference, list(shuffled.by_dimension)) == (4, 0.5, ["d1"])
    labels = [(c.mode, c.control) for c in summary.conditions]
    assert labels == [("single", None), ("single", "blind"), ("single", "shuffled"), ("agentic", "blind")]
    assert summary.comparisons == []  # a control cell is never compared as if it were agentic


def test_runs_without_controls_have_no_control_keys_in_summary_json() -> None:
    records = [r for r in hand_made() if "control" not in r]
    dumped = summarize(records, n_boot=200).model_dump(mode="json")
    assert "visual_dependence" not in dumped and all("control" not in c for c in dumped["conditions"])


def _hand_made_run(tmp_path: Path) -> Path:
    run = tmp_path / "hand"
    run.mkdir()
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in hand_made()))
    return run


def test_report_md_visual_dependence_equals_summary_json(tmp_path: Path) -> None:
    paths = write_report([_hand_made_run(tmp_path)], n_boot=300)
    summary = json.loads(paths["summary"].read_text())["runs"][0]
    rows = _md_rows(paths["markdown"].read_text(), "normal − control")
    expected = [
        [f"{dep['mode']} − {dep['control']}", name, str(row["n_pairs"]), pct(row["treatment_accuracy"]),
         pct(row["baseline_accuracy"]), pct(row["difference"]), f"[{pct(row['ci'][0])}, {pct(row['ci'][1])}]"]
        for dep in summary["visual_dependence"]
        for name, row in [*dep["by_dimension"].items(), ("**all**", dep)]
    ]  # fmt: skip
    assert [r[:7] for r in rows] == expected and rows[2][5] == "37.5"
    accuracy = _md_rows(paths["markdown"].read_text(), "dimension | single")
    assert accuracy[0][0] == "d1" and len(accuracy[0]) == 5  # single, its two controls, agentic (blind)
    assert "visual dependence single - blind: 37.5 pts" in headline(json.loads(paths["summary"].read_text()))
    html = paths["html"].read_text()
    assert "Visual dependence: normal − control accuracy (95% CI)" in html and _clipped_texts(html) == []


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_visual_dependence_panel_opens_in_headless_chromium(tmp_path: Path) -> None:
    paths = write_report([_hand_made_run(tmp_path)], n_boot=200)
    dom, console = chromium_console(paths["html"])
    assert console == [] and "Visual dependence: normal − control accuracy (95% CI)" in dom
    assert "single (blind)" in dom and "single − shuffled" in dom


# ---- sim at chance without the sample's pixels --------------------------------------------------


@pytest.mark.slow
def test_sim_sits_at_chance_blind_and_shuffled_on_200_probes(tmp_path: Path) -> None:
    """A judge that sees no media (blind) or another probe's (shuffled) can only guess: `sim` then
    says it could not separate the answers and picks by its fixed seeded rule, so on 200 probes its
    accuracy is 50 % give or take sampling noise (± 10 points is about 2.8 standard errors). The
    demo suite's probes (seed 0, medium) at 320x180 instead of 1280x720, so that rendering and
    judging 200 of them fit a test; a control's cells see no pixels or another probe's, whatever
    their size."""
    from vrb_agent.benchmark.probes import write_suite
    from vrb_agent.benchmark.sim import SimBackend

    write_suite(tmp_path / "suite", n=40, seed=0, overrides={"width": 320, "height": 180})
    run_benchmark(out=tmp_path / "run", dataset="probes", data=str(tmp_path / "suite"), backend=SimBackend(),
                  modes=["single"], controls=["blind", "shuffled"], concurrency=2, progress=False,
                  save_evidence=False)  # fmt: skip
    summary = summarize(tmp_path / "run", n_boot=200)
    accuracy = {c.control: c.overall for c in summary.conditions}
    assert accuracy["blind"].n == accuracy["shuffled"].n == 200
    assert abs((accuracy["blind"].accuracy or 0) - 0.5) <= 0.10
    assert abs((accuracy["shuffled"].accuracy or 0) - 0.5) <= 0.10
    blind = [r for r in read_records(tmp_path / "run" / "results.jsonl") if r.control == "blind"]
    assert all("fixed seeded guess" in r.rationale for r in blind)  # never a verdict from the pixels


@pytest.mark.slow
def test_demo_scores_sim_at_chance_blind_and_shuffled_under_both_orders(tmp_path: Path) -> None:
    """The demo judges both presentation orders and `sim` guesses in each apart, so a blind or
    shuffled probe is right in both orders a quarter of the time and a tie (the orders disagree) half
    the time. The demo's policy (`half`) scores a tie 0.5, which makes each score the mean over the
    two orders, and the controls sit at 50 % (± 10 points on 200 probes); `wrong` puts the same
    records near 25 %. The probes and sizes of the test above; single-pass, the cells the demo runs
    controls in."""
    from vrb_agent.benchmark.demo import DEMO_CONDITIONS, DEMO_CONTROLS, DEMO_POLICY, DEMO_SEED
    from vrb_agent.benchmark.probes import write_suite
    from vrb_agent.benchmark.sim import SimBackend

    write_suite(tmp_path / "suite", n=40, seed=DEMO_SEED, overrides={"width": 320, "height": 180})
    run_benchmark(out=tmp_path / "run", dataset="probes", data=str(tmp_path / "suite"), backend=SimBackend(),
                  **{**DEMO_CONDITIONS, "modes": ["single"]}, controls=DEMO_CONTROLS, seed=DEMO_SEED,
                  concurrency=2, progress=False, save_evidence=False)  # fmt: skip
    demo, wrong = ({c.control: c for c in summarize(tmp_path / "run", invalid_policy=p, n_boot=200).conditions}
                   for p in (DEMO_POLICY, "wrong"))  # fmt: skip
    records = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    for control in DEMO_CONTROLS:
        cell = demo[control].overall
        assert cell.n == 200 and abs((cell.accuracy or 0) - 0.5) <= 0.10, (control, cell)
        assert demo[control].status_counts["tie"] > 0  # the orders did disagree: what the policy scores
        cells = [r for r in records if r.get("control") == control]
        per_order = [[vote == r["chosen_position"] for vote in r["votes"]] for r in cells]
        assert all(len(v) == 2 for v in per_order)
        assert cell.accuracy == pytest.approx(sum(sum(v) / 2 for v in per_order) / len(per_order))
        assert (wrong[control].overall.accuracy or 0) < 0.40, (control, wrong[control].overall)


def test_progress_bar_counts_control_cells_apart() -> None:
    from vrb_agent.benchmark.progress import Progress
    from vrb_agent.benchmark.records import ResultRecord

    progress = Progress(total=3, done=0, enabled=False)
    cell = {"sample_id": "s", "frames": 16, "k": 1, "mode": "single", "status": "ok"}
    progress.add(ResultRecord(**cell, correct=True))
    progress.add(ResultRecord(**cell, correct=False, control="blind"))
    progress.add(ResultRecord(**cell, correct=True, control="blind"))
    assert progress.line() == "single 100.0% single (blind) 50.0% | errors 0 | tokens 0"


def test_progress_bar_scores_a_judgment_without_a_verdict_by_the_runs_policy() -> None:
    from vrb_agent.benchmark.progress import Progress
    from vrb_agent.benchmark.records import ResultRecord

    cell = {"sample_id": "s", "frames": 16, "k": 1, "mode": "single"}
    records = [ResultRecord(**cell, status="ok", correct=True), ResultRecord(**cell, status="tie")]
    lines = {}
    for policy in ("wrong", "half", "drop"):
        bar = Progress(total=2, done=0, enabled=False, policy=policy)
        for record in records:
            bar.add(record)
        lines[policy] = bar.line().split(" | ")[0]
    # a tie: 0 under wrong, 0.5 under half, left out under drop, as the report scores it
    assert lines == {"wrong": "single 50.0%", "half": "single 75.0%", "drop": "single 100.0%"}


def test_an_unknown_policy_stops_a_run_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(VrbError, match="--invalid-policy 'worng' is unknown"):
        run_benchmark(out=tmp_path / "run", dataset="probes", data=str(tmp_path / "none"), backend="sim",
                      invalid_policy="worng")  # fmt: skip
    assert not (tmp_path / "run").exists()
