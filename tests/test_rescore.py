"""Rescoring (every invalid policy x both vote rules) and the per-source breakdown, against tables
worked out by hand; the random policy's seeded coin; report.md / report.html show summary.json's
numbers; `report --rescore` and `--invalid-policy random` from the command line."""

from __future__ import annotations

import hashlib
import json
from html import unescape
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.test_report import CHROMIUM, _md_rows, chromium_console
from vrb_agent.agents.judgment import vote
from vrb_agent.agents.types import SampleOutcome, Verdict
from vrb_agent.benchmark import run_benchmark
from vrb_agent.benchmark.metrics import POLICIES, accuracy_table, coin_flip, read_results, score, summarize
from vrb_agent.benchmark.records import ResultRecord
from vrb_agent.benchmark.report import write_report
from vrb_agent.benchmark.report.tables import RULE_LABELS
from vrb_agent.benchmark.rescore import HARNESSES, rescore_rows, revoted
from vrb_agent.cli import app
from vrb_agent.judges.base import ModelReply, ModelRequest
from vrb_agent.judges.scripted import ScriptedBackend
from vrb_agent.pairblock import extract_pair


def rec(sid, dim, chosen, votes, status, *, source=None, k=3):
    """A results.jsonl record: `votes` in the sample's A/B terms, `chosen` the chosen side; status
    `right` / `wrong` is an ok verdict that picked the chosen / the rejected response."""
    record = {"sample_id": sid, "dataset": "vlrewardbench", "dimension": dim, "mode": "single", "frames": 16, "k": k}
    correct = {"right": True, "wrong": False}.get(status)
    record |= {"chosen_position": chosen, "votes": votes, "status": "ok" if correct is not None else status}
    record["correct"] = correct
    return record | ({"source": source} if source else {})


# K = 3 draws each; None is an unparsable draw. Status and correct are what the graph records (its
# valid-only majority). Outcome per rule: 1 agree (chosen wins), 0 reject, N no verdict.
# fmt: off
RECORDS = [                                                                   # valid, strict
    rec("s1", "g", "A", ["A", "A", "B"], "right", source="povid"),            # 1      1 (2 > 3/2)
    rec("s2", "g", "B", ["A", None, None], "wrong", source="povid"),          # 0      N (1 of 3)
    rec("s3", "g", "A", ["A", None, "B"], "tie", source="povid"),             # N tie  N
    rec("s8", "g", "A", ["A", None, None], "right", source="povid"),          # 1      N (1 of 3)
    rec("s4", "h", "B", ["B", "B", None], "right", source="rlaif"),           # 1      1 (2 of 3)
    rec("s5", "h", "A", [None, None, None], "invalid", source="rlaif"),       # N      N
    rec("s6", "h", "B", ["A", "A", "A"], "wrong", source="rlaif"),            # 0      0
    rec("s7", "h", "B", ["B"], "error"),                                      # N      N (unfinished)
]
# fmt: on
NO_VERDICT = {"valid": ["s3", "s5", "s7"], "strict": ["s2", "s3", "s8", "s5", "s7"]}
# (rule, policy): (acc g, acc h, overall, macro, n scored). g = s1 s2 s3 s8, h = s4 s5 s6 s7.
EXPECTED = {
    ("valid", "wrong"): (2 / 4, 1 / 4, 3 / 8, 3 / 8, 8),
    ("valid", "drop"): (2 / 3, 1 / 2, 3 / 5, (2 / 3 + 1 / 2) / 2, 5),
    ("valid", "half"): (2.5 / 4, 2 / 4, 4.5 / 8, (2.5 / 4 + 2 / 4) / 2, 8),
    ("strict", "wrong"): (1 / 4, 1 / 4, 2 / 8, 1 / 4, 8),
    # cal.py: overall = sum agree / sum (agree + reject) = 2 / 3; macro = mean of group accuracies
    ("strict", "drop"): (1 / 1, 1 / 2, 2 / 3, (1 + 1 / 2) / 2, 3),
    ("strict", "half"): (2.5 / 4, 2 / 4, 4.5 / 8, (2.5 / 4 + 2 / 4) / 2, 8),
}


def rows_by_key(records, **kw):
    return {(r.rule, r.policy): r for r in rescore_rows(records, n_boot=100, **kw)}


@pytest.mark.parametrize(("rule", "policy"), list(EXPECTED))
def test_rescore_matches_hand_computed_tables(rule, policy):
    row = rows_by_key(RECORDS)[(rule, policy)]
    acc_g, acc_h, overall, macro, n = EXPECTED[(rule, policy)]
    assert row.by_dimension["g"].accuracy == pytest.approx(acc_g)
    assert row.by_dimension["h"].accuracy == pytest.approx(acc_h)
    assert row.overall.accuracy == pytest.approx(overall) and row.overall.n == n and row.overall.total == 8
    assert row.macro.accuracy == pytest.approx(macro)
    assert row.matches == HARNESSES.get((rule, policy)) and row.without_votes == 0


def test_random_policy_scores_each_unvoted_item_by_its_own_coin():
    rows = rows_by_key(RECORDS, seed=5)
    for rule, agreed in (("valid", 3), ("strict", 2)):
        coins = [coin_flip(r, 5) for r in RECORDS if r["sample_id"] in NO_VERDICT[rule]]
        assert rows[(rule, "random")].overall.correct == pytest.approx(agreed + sum(coins))
        assert rows[(rule, "random")].overall.n == 8


def test_strict_rule_statuses_and_which_rows_match_which_harness():
    strict = {r["sample_id"]: revoted(r, "strict") for r in RECORDS}
    assert [strict[s]["status"] for s in ("s1", "s2", "s3", "s8", "s4", "s5", "s6", "s7")] == [
        "ok", "invalid", "tie", "invalid", "ok", "invalid", "ok", "error",
    ]  # fmt: skip
    assert strict["s6"]["correct"] is False and strict["s4"]["correct"] is True
    rows = rows_by_key(RECORDS)
    # as the graph's strict vote says: most draws unparsable (s2, s8) is invalid, 1 A 1 B 1 unparsable a tie
    assert rows[("strict", "drop")].status_counts == {"ok": 3, "invalid": 3, "tie": 1, "refused": 0, "error": 1}
    refused = rec("r1", "g", "A", ["A", None, None], "refused")
    assert revoted(refused, "strict")["status"] == "refused" and revoted(refused, "valid")["status"] == "ok"
    assert {k for k, r in rows.items() if r.matches} == {("strict", "drop"), ("valid", "wrong"), ("valid", "random")}
    assert len(rows) == 2 * len(POLICIES)


@pytest.mark.parametrize("policy", POLICIES)
def test_valid_rule_rescore_equals_the_recorded_verdicts(policy):
    """The graph's vote is the valid-only majority, so revoting by it changes nothing."""
    row = rows_by_key(RECORDS, seed=3)[("valid", policy)]
    table = accuracy_table(RECORDS, policy, n_boot=100, seed=3)
    assert row.model_dump(include={"overall", "macro", "by_dimension", "by_source", "status_counts"}) == (
        table.model_dump()
    )


def test_records_without_votes_keep_their_recorded_verdict_under_both_rules():
    old = [rec("o1", "g", None, [], "right"), rec("o2", "g", "A", [], "wrong"), rec("o3", "g", None, [], "error")]
    rows = rows_by_key(old)
    assert rows[("strict", "drop")].overall.accuracy == pytest.approx(1 / 2)
    assert rows[("valid", "drop")].overall.accuracy == pytest.approx(1 / 2)
    assert rows[("strict", "drop")].without_votes == 2  # the error record has no verdict to keep


def test_coin_flip_is_seeded_by_sample_and_condition_only():
    record = rec("s5", "h", "A", [None], "invalid")
    # the documented key: seed, sample id, mode, frames, k
    assert coin_flip(record, 0) == hashlib.sha256(b"0\x00s5\x00single\x0016\x003").digest()[0] & 1
    assert coin_flip(record, 0) == coin_flip({**record, "status": "refused", "dimension": "x"}, 0)
    many = [rec(f"id{i}", "g", "A", [None], "invalid") for i in range(2000)]
    heads = [score(r, "random", 1) for r in many]
    assert 0.45 < sum(heads) / len(heads) < 0.55 and set(heads) == {0.0, 1.0}
    assert heads != [score(r, "random", 2) for r in many]
    assert heads != [score({**r, "k": 5}, "random", 1) for r in many]
    assert score(rec("x", "g", "A", ["A"], "right"), "random", 1) == 1.0


def test_per_source_accuracy_and_unknown_for_records_without_a_source():
    table = accuracy_table(RECORDS, "wrong", n_boot=100)
    # povid s1 s2 s3 s8 -> 1 0 0 1; rlaif s4 s5 s6 -> 1 0 0; s7 (no source) -> error, 0
    assert {s: (c.accuracy, c.n) for s, c in table.by_source.items()} == {
        "povid": (pytest.approx(2 / 4), 4),
        "rlaif": (pytest.approx(1 / 3), 3),
        "unknown": (0.0, 1),
    }
    dropped = accuracy_table(RECORDS, "drop", n_boot=100).by_source
    assert dropped["povid"].accuracy == pytest.approx(2 / 3) and dropped["unknown"].accuracy is None
    assert ResultRecord.from_json_line('{"sample_id":"x","mode":"single","frames":8,"k":1}').source == "unknown"


# ---- the report ----------------------------------------------------------------------------------


def write_run(tmp_path: Path, records) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_text("".join(ResultRecord.model_validate(r).to_json_line() for r in records))
    return run


def test_report_shows_the_rescore_and_source_tables_with_summary_numbers(tmp_path):
    run = write_run(tmp_path, RECORDS)
    paths = write_report([run], invalid_policy="drop", n_boot=100, traces=False, rescore=True)
    cond = json.loads(paths["summary"].read_text())["runs"][0]["conditions"][0]
    markdown, html = paths["markdown"].read_text(), unescape(paths["html"].read_text())
    rows = _md_rows(markdown, "vote rule")
    assert [(r[0], r[1]) for r in rows] == [(RULE_LABELS[x["rule"]], x["policy"]) for x in cond["rescore"]]
    for row, want in zip(rows, cond["rescore"], strict=True):
        overall = f"{100 * want['overall']['accuracy']:.1f}"
        assert row[3].startswith(overall + " [") and row[3].endswith(f"(n={want['overall']['n']})")
        assert row[5] == f"{100 * want['by_dimension']['g']['accuracy']:.1f}"
        assert row[-1] == str(8 - want["status_counts"]["ok"])
        assert f"<td>{row[3]}</td>" in html
    strict_drop = next(r for r in rows if r[2] == "VL-RewardBench official (cal.py)")
    assert strict_drop[3].startswith("66.7 [") and strict_drop[4].startswith("75.0 [")  # 2/3 and (1 + 1/2)/2
    sources = _md_rows(markdown, "source")
    assert [r[0] for r in sources] == ["povid", "rlaif", "unknown"]
    assert sources[0][1].startswith("66.7 [") and sources[0][1].endswith("(n=3)")  # s1, s2, s8 scored: 2/3
    assert f"<td>{sources[1][1]}</td>" in html and "Accuracy by source (%)" in html
    if CHROMIUM:  # the page with the new sections still opens cleanly
        dom, console = chromium_console(paths["html"])
        assert console == [] and "Rescored under every invalid policy" in dom


def test_one_source_is_said_and_no_rescore_without_the_flag(tmp_path):
    run = write_run(tmp_path, [r | {"source": "povid"} for r in RECORDS])
    paths = write_report([run], n_boot=100, traces=False)
    markdown = paths["markdown"].read_text()
    assert "Every sample comes from one source (povid): no per-source table." in markdown
    assert "Rescored" not in markdown and "Rescored" not in paths["html"].read_text()
    assert all(c["rescore"] == [] for c in json.loads(paths["summary"].read_text())["runs"][0]["conditions"])


def test_report_cli_rescore_and_random_policy(tmp_path):
    run = write_run(tmp_path, RECORDS)
    result = CliRunner().invoke(app, ["report", str(run), "--rescore", "--invalid-policy", "random", "--seed", "4"])
    assert result.exit_code == 0, result.output
    summary = json.loads((run / "summary.json").read_text())
    cond = summary["runs"][0]["conditions"][0]
    assert summary["invalid_policy"] == "random" and len(cond["rescore"]) == 8
    coins = sum(coin_flip(r, 4) for r in RECORDS if r["sample_id"] in NO_VERDICT["valid"])
    assert cond["overall"]["correct"] == pytest.approx(3 + coins)
    assert summarize(RECORDS, "random", n_boot=100, seed=4).conditions[0].overall.correct == pytest.approx(3 + coins)
    bad = CliRunner().invoke(app, ["report", str(run), "--invalid-policy", "coin"])
    assert bad.exit_code == 2 and "wrong, drop, half, random" in bad.output


# ---- through the real judge graph ----------------------------------------------------------------

# Sample number -> (reply when the chosen answer is shown first, when shown second): right, wrong or
# unparsable (also after the repair request, so that draw is invalid). k=2 alternates the order.
DRAWS = {
    0: ("right", "right"),
    1: ("right", "?"),
    2: ("right", "wrong"),
    3: ("wrong", "wrong"),
    4: ("wrong", "?"),
    5: ("?", "?"),
}


def drawing_judge(request: ModelRequest) -> ModelReply:
    pair = extract_pair(request.messages[0].text)
    assert pair is not None
    _, first, _ = pair
    good_first = first.startswith("good")
    reply = DRAWS[int(first.split()[-1])][0 if good_first else 1]
    if reply == "?":
        return ModelReply(text="Both answers have merits; I cannot tell.")
    letter = "A" if good_first == (reply == "right") else "B"
    return ModelReply(text=f"Overall Judgment: Answer {letter} is better.")


def test_bench_records_votes_and_sources_that_rescore_by_hand(tmp_path, make_bench_dataset):
    data = make_bench_dataset(n=6)  # dimensions d0 = samples 0 2 4, d1 = 1 3 5
    rows = [
        json.loads(line) | {"source": "x" if i < 3 else "y"} for i, line in enumerate(data.read_text().splitlines())
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    run_benchmark(out=out, data=str(data), backend=ScriptedBackend(drawing_judge), modes=["single"], k=[2], frames=[2])
    records = {r["sample_id"]: r for r in read_results(out / "results.jsonl")}
    assert [records[f"s00{i}"]["source"] for i in range(6)] == ["x", "x", "x", "y", "y", "y"]
    assert [records[f"s00{i}"]["status"] for i in range(6)] == ["ok", "ok", "tie", "ok", "ok", "invalid"]
    assert all(len(r["votes"]) == 2 for r in records.values())
    paths = write_report([out], n_boot=100, traces=False, rescore=True)
    cond = json.loads(paths["summary"].read_text())["runs"][0]["conditions"][0]
    # main table (valid votes, wrong): right = 0, 1 -> source x 2/3, source y 0/3
    assert {s: c["accuracy"] for s, c in cond["by_source"].items()} == {"x": pytest.approx(2 / 3), "y": 0.0}
    rows = {(r["rule"], r["policy"]): r for r in cond["rescore"]}
    # valid: agree 0 1, reject 3 4, none 2 5; strict: agree 0, reject 3, none 1 2 4 5
    assert rows[("valid", "drop")]["overall"]["accuracy"] == pytest.approx(2 / 4)
    assert rows[("valid", "wrong")]["overall"]["accuracy"] == pytest.approx(2 / 6)
    strict = rows[("strict", "drop")]
    assert strict["overall"]["accuracy"] == pytest.approx(1 / 2) and strict["overall"]["n"] == 2
    assert {d: c["accuracy"] for d, c in strict["by_dimension"].items()} == {"d0": 1.0, "d1": 0.0}
    assert strict["macro"]["accuracy"] == pytest.approx(1 / 2)
    assert rows[("strict", "wrong")]["overall"]["accuracy"] == pytest.approx(1 / 6)


VOTE_PATTERNS = [["A", "A", "B"], ["A", None, None], ["A", None, "B"], [None, None, None], ["B", "B", None], ["A", "B"]]


@pytest.mark.parametrize("votes", VOTE_PATTERNS)
@pytest.mark.parametrize("rule", ["valid", "strict"])
def test_revoting_a_recorded_judgment_gives_the_graphs_verdict_under_the_rule(votes, rule):
    """A record voted by the graph's valid rule, revoted by `rule`, has the status and verdict the
    graph's own vote gives under `rule` (chosen response: A)."""
    done = [{"verdict": Verdict(preferred=v, confidence=1.0, rationale="r") if v else None} for v in votes]
    outcomes = [
        SampleOutcome(sample=i, swapped=False, status="ok" if v else "invalid", preferred=v)
        for i, v in enumerate(votes)
    ]
    recorded_status, recorded, _ = vote(done, outcomes, votes, "valid")
    as_recorded = recorded_status if recorded is None else ("right" if recorded.preferred == "A" else "wrong")
    record = rec("s", "g", "A", votes, as_recorded)
    status, verdict, _ = vote(done, outcomes, votes, rule)
    again = revoted(record, rule)
    assert again["status"] == status
    assert again["correct"] == (None if verdict is None else verdict.preferred == "A")


def test_bench_report_flips_the_random_policy_coins_with_the_runs_seed(tmp_path):
    """`bench --invalid-policy random --seed S` writes the report `report --seed S` would: the coin
    flips for ties and invalid verdicts are seeded by S, not by 0."""
    from vrb_agent.benchmark.probes import write_suite

    write_suite(tmp_path / "suite", n=4, seed=0, overrides={"width": 320, "height": 180})
    args = ["bench", "--backend", "sim", "--dataset", "probes", "--data", str(tmp_path / "suite"),
            "--modes", "single", "--order", "both", "--invalid-policy", "random", "--seed", "5",
            "--out", str(tmp_path / "run")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records = read_results(tmp_path / "run" / "results.jsonl")
    undecided = [r for r in records if r["status"] != "ok"]
    assert undecided, "sim under --order both should leave ties for the coins to decide"
    coins = {seed: sum(coin_flip(r, seed) for r in undecided) for seed in (0, 5)}
    assert coins[0] != coins[5]  # else this run could not tell the two seeds apart
    expected = sum(bool(r["correct"]) for r in records if r["status"] == "ok") + coins[5]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["runs"][0]["conditions"][0]["overall"]["correct"] == pytest.approx(expected)
