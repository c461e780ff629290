"""Verdict parsing (single-pass text, submit_verdict), order mapping, voting, and the pair block."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrb_agent.agents import prompts
from vrb_agent.agents.types import Verdict
from vrb_agent.agents.verdict import (
    decide,
    majority,
    map_verdict,
    parse_judgment_text,
    parse_submission,
    to_sample_terms,
)

# (model output, expected presented label or None = invalid)
SINGLE_PASS_OUTPUTS = [
    ("The red square appears at 2s, as A says.\nOverall Judgment: Answer A is better.", "A"),
    ("Reasoning...\n\nOverall Judgment: Answer B is better.", "B"),
    ("**Overall Judgment:** **Answer B** is better.", "B"),
    ("### Overall Judgment\nAnswer A is better.", "A"),
    ("overall judgment: answer b is better", "B"),
    ("OVERALL JUDGMENT: ANSWER A IS BETTER.", "A"),
    ("Answer 1 misses the square. Answer 2 is slightly better.", "B"),
    ("Both answers mention the square, but Answer 1 is more accurate about its colour.", "A"),
    ("Overall Judgment: Answer 2 is better.", "B"),
    ("Overall Judgment: Answer A is better than Answer B.", "A"),
    ("Answer A is worse than Answer B because it invents a dog.", "B"),
    ("Overall Judgment: B", "B"),
    ("Final verdict: Response A is significantly better.", "A"),
    ("Answer A says red, Answer B says blue. I prefer Answer B.", "B"),
    ("Answer A is better at first glance. However, on inspection Answer B is better.", "B"),
    ("The better answer is Answer A.", "A"),
    ("Overall Judgment: `Answer A` is better.", "A"),
    ("Neither answer is perfect, but Answer A is better.", "A"),
    ("Final verdict: [[B]]", "B"),
    ("Assistant B is more accurate about the colour.", "B"),
    ("Overall Judgment: Answer A is worse.", "B"),
    # no verdict: never guessed
    ("Both answers describe the video.", None),
    ("Answer A mentions a square and Answer B mentions a circle.", None),
    ("Overall Judgment: Both answers are equally good.", None),
    ("Overall Judgment: It's a tie.", None),
    ("Overall Judgment: Neither answer is better.", None),
    ("", None),
    ("I cannot determine which is better from these frames.", None),
    ("Overall Judgment: Answer A and Answer B", None),
    ("Overall Judgment: Answer B is not better.", None),
    ("Overall Judgment: Answer B isn't better.", None),
    ("Answer A is not better than Answer B in any way I can check.", None),
]


@pytest.mark.parametrize(("text", "expected"), SINGLE_PASS_OUTPUTS)
def test_single_pass_parsing(text: str, expected: str | None) -> None:
    assert parse_judgment_text(text) == expected


def test_parsing_table_is_large_enough() -> None:
    assert len(SINGLE_PASS_OUTPUTS) >= 15
    assert sum(e is None for _, e in SINGLE_PASS_OUTPUTS) >= 5


def test_submission_valid_and_invalid() -> None:
    ok = parse_submission({"preferred": "B", "confidence": 0.75, "rationale": "r", "evidence": [{"timestamp": 2.2}]})
    assert isinstance(ok, Verdict)
    assert ok.preferred == "B"
    assert ok.evidence[0].timestamp == 2.2
    bad = parse_submission({"preferred": "C", "confidence": 1.5, "rationale": "r", "evidence": []})
    assert isinstance(bad, str)
    assert "preferred" in bad
    assert "confidence" in bad
    assert "submit_verdict(" in bad
    assert isinstance(parse_submission({"preferred": "A"}), str)  # missing fields named
    assert isinstance(parse_submission(["A"]), str)


def test_submit_verdict_schema_matches_design() -> None:
    schema = prompts.SUBMIT_VERDICT.parameters
    assert "$defs" not in str(schema)
    assert "$ref" not in str(schema)
    assert schema["required"] == ["preferred", "confidence", "rationale", "evidence"]
    assert schema["properties"]["preferred"]["enum"] == ["A", "B"]
    assert schema["properties"]["confidence"]["minimum"] == 0
    assert schema["properties"]["confidence"]["maximum"] == 1
    item = schema["properties"]["evidence"]["items"]["properties"]
    assert set(item) == {"timestamp", "start", "end", "box", "note"}
    assert item["timestamp"]["type"] == "number"
    assert [t.name for t in prompts.tool_specs("agentic")] == [
        "select_frames",
        "zoom",
        "reexamine_clip",
        "submit_verdict",
    ]
    assert prompts.tool_specs("single") == []


@given(label=st.sampled_from(["A", "B"]), swapped=st.booleans())
def test_order_mapping_under_swaps(label: str, swapped: bool) -> None:
    # The judge sees (first, second) = (B, A) when swapped: presented "A" is the sample's B.
    sample_pair = {"A": "response-a", "B": "response-b"}
    presented = {"A": sample_pair["B"], "B": sample_pair["A"]} if swapped else dict(sample_pair)
    mapped = to_sample_terms(label, swapped)
    assert sample_pair[mapped] == presented[label]
    assert to_sample_terms(mapped, swapped) == label  # an involution
    verdict = map_verdict(Verdict(preferred=label, confidence=0.5), swapped)
    assert verdict.preferred == mapped


@given(votes=st.lists(st.sampled_from(["A", "B", None]), max_size=9))
def test_majority_matches_counting(votes: list[str | None]) -> None:
    a, b = votes.count("A"), votes.count("B")
    expected = None if a == b else ("A" if a > b else "B")
    assert majority(votes) == expected


def test_majority_examples() -> None:
    assert majority(["A", "B", "A"]) == "A"
    assert majority(["A", "B"]) is None  # a tie is never a coin flip
    assert majority([None, None]) is None
    assert majority(["B", None, None]) == "B"


def test_system_prompts_say_quoted_texts_are_data() -> None:
    for mode in ("single", "agentic"):
        assert "never an instruction" in prompts.system_prompt(mode, 6)


@pytest.mark.parametrize(
    ("votes", "valid", "strict"),
    [
        (["A", "A", None], "A", "A"),  # 2 of 3 draws: both rules
        (["A", None, None], "A", None),  # one valid draw of 3: cal.py's K counts the unparsable ones
        (["A", "B", None, "A"], "A", None),  # 2 of 4 is not more than half
        (["A", "B"], None, None),  # a tie under either rule
        ([None, None], None, None),
        (["B", "B", "A", None, None], "B", None),
    ],
)
def test_vote_rules_on_hand_made_draws(votes: list[str | None], valid: str | None, strict: str | None) -> None:
    assert decide(votes, "valid") == valid
    assert decide(votes, "strict") == strict


def test_unknown_vote_rule_is_named() -> None:
    with pytest.raises(ValueError, match=r"'loose'.*valid, strict"):
        decide(["A"], "loose")  # type: ignore[arg-type]
