"""Judging protocols: vlrb reproduces VL-RewardBench's official prompt, layout, parsing, sampling,
per-draw order and cal.py's vote; videorewardbench the paper's setup; vrb-agent weighs harmlessness.
Expected values are the official code's output (fixtures) or worked out by hand from cal.py's rules."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from tests.fakes.openai_fake import completion, openai_server
from tests.graph_support import submit
from vrb_agent import JudgeConfig, Protocol, get_protocol
from vrb_agent.agents import prompts
from vrb_agent.agents.api import ajudge
from vrb_agent.agents.graph import presentation_orders
from vrb_agent.agents.protocol import read_vlrb_verdict
from vrb_agent.agents.verdict import decide
from vrb_agent.errors import VrbError
from vrb_agent.judges.base import ImagePart, ModelReply, ModelRequest, TextPart
from vrb_agent.judges.registry import get_backend
from vrb_agent.judges.scripted import ScriptedBackend

OFFICIAL = json.loads((Path(__file__).parent / "fixtures" / "protocol" / "vlrb_official_prompt.json").read_text())
QUERY = OFFICIAL["sample"]["query"]
FIRST, SECOND = OFFICIAL["sample"]["response"]  # the sample's own A and B


def draw_of(request: ModelRequest, seed: int = 0) -> int:
    """Which draw a request belongs to: the judge seeds draw i with seed + i."""
    assert request.seed is not None
    return request.seed - seed


async def test_vlrb_prompt_is_the_official_template_with_the_image_after_it(square_image: Path) -> None:
    seen: list[ModelRequest] = []

    def reply(request: ModelRequest) -> ModelReply:
        seen.append(request)
        return ModelReply(text="Overall Judgment: Answer 1 is better.")

    judgment = await ajudge(square_image, QUERY, FIRST, SECOND, backend=ScriptedBackend(reply), mode="single",
                            protocol="vlrb", k=6)  # fmt: skip
    swapped = {s.sample: s.swapped for s in judgment.samples}
    assert set(swapped.values()) == {False, True}  # both orders occur among these six draws
    for request in seen:
        expected = OFFICIAL["random_number_1" if swapped[draw_of(request)] else "random_number_0"]
        assert request.system == ""  # no system prompt
        (message,) = request.messages
        assert message.role == "user"
        text, image = message.parts  # the text, then the image: nothing else
        assert isinstance(text, TextPart) and text.text == expected
        assert isinstance(image, ImagePart) and image.unlabelled
        assert (request.temperature, request.top_p, request.tools) == (0.2, 0.2, [])
    assert judgment.protocol == "vlrb"


async def test_vlrb_request_on_the_wire_is_one_user_message_text_then_image(square_image: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "fake-openai-key-0123456789")
    with openai_server([completion("Overall Judgment: Answer 2 is better.")]) as server:
        backend = get_backend("openai", base_url=server.url + "/v1", model="gpt-4.1", retry_base_s="0.001")
        judgment = await ajudge(square_image, QUERY, FIRST, SECOND, backend=backend, mode="single", protocol="vlrb")
    body = server.requests[0].json
    expected = OFFICIAL["random_number_1" if judgment.samples[0].swapped else "random_number_0"]
    (message,) = body["messages"]
    assert message["role"] == "user"
    assert [block["type"] for block in message["content"]] == ["text", "image_url"]
    assert message["content"][0]["text"] == expected
    assert body["temperature"] == 0.2 and body["top_p"] == 0.2 and "tools" not in body
    assert judgment.status == "ok"


@pytest.mark.parametrize(
    ("reply", "label"),
    [
        ("Accuracy: ...\n**Overall Judgment:** Answer 2 is better.", "B"),
        ("Therefore, Answer 1 is slightly better than Answer 2.", "A"),
        ("Overall Judgment:\nAnswer 1 is the better one... later: Answer 2 is better", "B"),  # greedy: the last one
        ("overall judgment: answer 1 IS BETTER", "A"),
        ("Overall Judgment: Answer 3 is better.", None),  # not a label of this pair
        ("I prefer Answer 2.", None),  # no 'Overall Judgment'/'Therefore': only the fallback reads it
        ("Answer 1 is better.", None),
        ("Overall Judgment: both are equally good.", None),
    ],
)
def test_official_regex_reads_what_inference_hf_reads(reply: str, label: str | None) -> None:
    assert read_vlrb_verdict(reply) == label


def test_the_fallback_parser_is_flagged_and_vrb_agent_has_no_official_parser() -> None:
    vlrb = get_protocol("vlrb")
    assert (vlrb.read_text("Overall Judgment: Answer 2 is better.").preferred, vlrb.read_text("x").fallback) == (
        "B",
        False,
    )
    fallback = vlrb.read_text("After weighing it all, Answer 2 is more accurate.")
    assert (fallback.preferred, fallback.fallback) == ("B", True)
    assert not get_protocol("vrb-agent").read_text("Answer 2 is more accurate.").fallback


def scripted_draws(wanted: list[str | None], fallback: frozenset[int] = frozenset()) -> ScriptedBackend:
    """A backend whose draw i prefers the sample's own `wanted[i]` ("A": FIRST, "B": SECOND), or
    writes no verdict (None); draws in `fallback` say it in words only the fallback parser reads."""

    def reply(request: ModelRequest) -> ModelReply:
        index = draw_of(request)
        want = wanted[index]
        if want is None:
            return ModelReply(text="Both answers have merits and flaws.")
        shown = request.messages[0].text
        text = FIRST if want == "A" else SECOND
        number = 1 if f"Answer 1: {text}\n" in shown else 2
        if index in fallback:
            return ModelReply(text=f"All considered, I prefer Answer {number}.")
        return ModelReply(text=f"Overall Judgment: Answer {number} is better.")

    return ScriptedBackend(reply)


@pytest.mark.parametrize(
    ("wanted", "status", "preferred"),
    [
        (["A", "A", None], "ok", "A"),  # 2 of 3 > 3/2: agree
        (["A", None, None], "invalid", None),  # doesntMatch > 3/2: dropped as unparsable (valid rule: A)
        (["A", "B", None], "tie", None),  # no class over half: 'other'
        (["A", "A", "B", None], "tie", None),  # 2 of 4 is not > 4/2 (valid rule: A)
        (["B", "B", "B", "A", None], "ok", "B"),  # 3 of 5: reject (B is the sample's rejected one here)
    ],
)
async def test_vlrb_votes_as_cal_py(square_image: Path, wanted, status, preferred) -> None:
    judgment = await ajudge(square_image, QUERY, FIRST, SECOND, backend=scripted_draws(wanted), mode="single",
                            protocol="vlrb", k=len(wanted))  # fmt: skip
    assert judgment.votes == wanted
    assert (judgment.status, judgment.verdict.preferred if judgment.verdict else None) == (status, preferred)
    assert all(s.turns == 1 for s in judgment.samples)  # no repair request: one call per draw


async def test_fallback_draws_are_counted_apart_so_the_official_only_vote_can_be_told(square_image: Path) -> None:
    backend = scripted_draws(["A", "A", "B"], fallback=frozenset({1}))
    judgment = await ajudge(square_image, QUERY, FIRST, SECOND, backend=backend, mode="single", protocol="vlrb", k=3)
    assert judgment.status == "ok" and judgment.verdict and judgment.verdict.preferred == "A"
    assert [s.fallback for s in judgment.samples] == [False, True, False]
    assert any(n.startswith("vlrb: 1 of 3 draws were read by the fallback parser") for n in judgment.notes)
    official_only = [None if s.fallback else v for s, v in zip(judgment.samples, judgment.votes, strict=True)]
    assert decide(official_only, "strict") is None  # [A, -, B]: no majority without the fallback


def test_vlrb_orders_are_independent_seeded_coin_flips() -> None:
    orders = {seed: presentation_orders(JudgeConfig(protocol="vlrb", k=9, seed=seed)) for seed in range(12)}
    alternating = [[False, True] * 4 + [False], [True, False] * 4 + [True]]
    assert any(o not in alternating for o in orders.values())  # not the alternation of the other protocols
    assert orders[3] == presentation_orders(JudgeConfig(protocol="vlrb", k=9, seed=3))  # reproducible
    assert presentation_orders(JudgeConfig(protocol="vlrb", k=4, seed=3)) == orders[3][:4]  # a draw's own order
    assert JudgeConfig(protocol="vlrb").order == "random"


def test_videorewardbench_samples_hot_only_for_k_over_1_and_reverses_the_order() -> None:
    one, nine = JudgeConfig(protocol="videorewardbench"), JudgeConfig(protocol="videorewardbench", k=9, seed=5)
    assert (one.temperature, one.top_p, nine.temperature) == (0.0, None, 1.0)
    orders = presentation_orders(nine)
    assert all(a != b for a, b in itertools.pairwise(orders))  # reversed from draw to draw
    firsts = {presentation_orders(JudgeConfig(protocol="videorewardbench", k=2, seed=s))[0] for s in range(10)}
    assert firsts == {False, True}  # the first order is randomised
    assert JudgeConfig(protocol="videorewardbench", k=3, temperature=0.4).temperature == 0.4  # overridable


def test_protocols_refuse_order_both_and_keep_a_given_sampling() -> None:
    with pytest.raises(ValueError, match="order 'both' is not part of the vlrb protocol"):
        JudgeConfig(protocol="vlrb", order="both")
    config = JudgeConfig(protocol="vlrb", temperature=0.0, top_p=0.9)
    assert (config.temperature, config.top_p) == (0.0, 0.9)
    assert JudgeConfig(protocol=get_protocol("vlrb")).protocol == "vlrb"  # a Protocol stands for its name
    assert isinstance(get_protocol("vrb-agent"), Protocol)
    with pytest.raises(ValueError, match="unknown; choose one of: vrb-agent, vlrb, videorewardbench"):
        get_protocol("vl-rewardbench")


async def test_a_protocol_override_rederives_its_sampling(square_image: Path) -> None:
    """judge(config=..., protocol=...) re-derives the defaults the caller never set."""
    seen: list[ModelRequest] = []

    def reply(request: ModelRequest) -> ModelReply:
        seen.append(request)
        return ModelReply(text="Overall Judgment: Answer 1 is better.")

    base = JudgeConfig(mode="single", frames=2)
    await ajudge(square_image, "Q", "a", "b", backend=ScriptedBackend(reply), config=base, protocol="vlrb")
    assert (seen[0].temperature, seen[0].top_p) == (0.2, 0.2)
    with pytest.raises(VrbError, match="order 'both'"):
        await ajudge(square_image, "Q", "a", "b", backend=ScriptedBackend(reply), protocol="vlrb", order="both")


def test_vrb_agent_criteria_include_harmlessness_in_both_modes() -> None:
    for mode in ("single", "agentic"):
        system = prompts.system_prompt(mode, 6)
        assert re.search(r"harmless", system) and "declining it safely" in system
    assert prompts.system_prompt("single", 6, "videorewardbench") == prompts.system_prompt("single", 6)


async def test_agentic_vlrb_keeps_the_official_prompt_and_adds_the_tools(square_image: Path) -> None:
    seen: list[ModelRequest] = []

    def reply(request: ModelRequest) -> ModelReply:
        seen.append(request)
        return submit("B")

    judgment = await ajudge(square_image, QUERY, FIRST, SECOND, backend=ScriptedBackend(reply), mode="agentic",
                            protocol="vlrb")  # fmt: skip
    request = seen[0]
    expected = OFFICIAL["random_number_1" if judgment.samples[0].swapped else "random_number_0"]
    assert request.messages[0].text.startswith(expected + "\n\n")  # then the media note the tools need
    assert "'A' for Answer 1 or 'B' for Answer 2" in request.system
    assert {t.name for t in request.tools} == {"select_frames", "zoom", "reexamine_clip", "submit_verdict"}
    assert judgment.status == "ok" and judgment.verdict
    assert judgment.verdict.preferred == ("A" if judgment.samples[0].swapped else "B")  # mapped to the sample's A/B
