"""The Python API: k-sample voting, position control, concurrency, streaming, shared media and store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vrb_agent
from tests.graph_support import call, submit, text, tools
from vrb_agent import JudgeConfig, ajudge, judge
from vrb_agent.agents.graph import presentation_orders
from vrb_agent.errors import VrbError
from vrb_agent.judges.base import Backend, ModelReply, ModelRequest
from vrb_agent.judges.scripted import ScriptedBackend
from vrb_agent.pairblock import extract_pair
from vrb_agent.tools.evidence import EvidenceStore
from vrb_agent.tools.media import FRAME_CACHE, MediaError, open_media

Q, RED, BLUE = "What appears at 2 seconds?", "A red square appears.", "A blue circle appears."


def presented(request: ModelRequest) -> tuple[str, str, str]:
    pair = extract_pair(request.messages[0].text)
    assert pair is not None
    return pair


def faithful_judge(request: ModelRequest) -> ModelReply:
    """Prefers whichever presented answer mentions red, wherever it was placed."""
    _, first, _ = presented(request)
    label = "A" if "red" in first else "B"
    if not request.tools:
        return text(f"Overall Judgment: Answer {label} is better.")
    return submit(label, 0.9)


def first_position_judge(request: ModelRequest) -> ModelReply:
    """A purely position-biased judge: always the first answer shown."""
    return submit("A", 0.7) if request.tools else text("Overall Judgment: Answer A is better.")


def test_public_names() -> None:
    for name in ("judge", "ajudge", "Judgment", "Verdict", "JudgeConfig", "build_judge_graph"):
        assert getattr(vrb_agent, name) is not None
    with pytest.raises(AttributeError):
        _ = vrb_agent.not_a_name


@pytest.mark.parametrize("mode", ["agentic", "single"])
@pytest.mark.parametrize("order", ["fixed", "random", "both"])
def test_verdicts_are_reported_in_the_samples_own_terms(square_video: Path, mode: str, order: str) -> None:
    for response_a, response_b, truth in ((RED, BLUE, "A"), (BLUE, RED, "B")):
        backend = ScriptedBackend(faithful_judge)
        result = judge(square_video, Q, response_a, response_b, backend=backend, mode=mode, order=order, k=3, frames=2)
        assert result.status == "ok"
        assert result.verdict.preferred == truth
        assert result.votes == [truth] * len(result.samples)
        swaps = [s.swapped for s in result.samples]
        assert swaps == presentation_orders(result_config(mode, order))
        for request, swapped in zip(backend.requests, swaps, strict=True):
            expected = (Q, response_b, response_a) if swapped else (Q, response_a, response_b)
            assert presented(request) == expected
        if order == "both":
            assert len(result.samples) == 6
            assert result.order_agreement is True
        else:
            assert result.order_agreement is None


configs = st.builds(
    JudgeConfig,
    k=st.integers(1, 4),
    order=st.sampled_from(["fixed", "random", "both"]),
    seed=st.integers(0, 10_000),
    mode=st.sampled_from(["single", "agentic"]),
    frames=st.just(1),
)


@settings(max_examples=25, deadline=None)
@given(config=configs, red_is_a=st.booleans())
def test_order_mapping_property(square_video: Path, config: JudgeConfig, red_is_a: bool) -> None:
    """A judge that always picks the faithful answer, wherever it was shown, is always reported right."""
    response_a, response_b = (RED, BLUE) if red_is_a else (BLUE, RED)
    result = judge(square_video, Q, response_a, response_b, backend=ScriptedBackend(faithful_judge), config=config)
    assert result.status == "ok"
    assert result.verdict.preferred == ("A" if red_is_a else "B")
    assert [s.swapped for s in result.samples] == presentation_orders(config)


def result_config(mode: str, order: str) -> JudgeConfig:
    return JudgeConfig(mode=mode, order=order, k=3, frames=2)


def test_orders_alternate_and_random_is_seeded() -> None:
    assert presentation_orders(JudgeConfig(k=4)) == [False, True, False, True]
    assert presentation_orders(JudgeConfig(k=1, order="both")) == [False, True]
    firsts = {presentation_orders(JudgeConfig(order="random", seed=s))[0] for s in range(20)}
    assert firsts == {False, True}
    for seed in range(5):
        config = JudgeConfig(order="random", seed=seed, k=3)
        assert presentation_orders(config) == presentation_orders(config)


def test_position_bias_shows_as_tie_and_disagreement(square_video: Path) -> None:
    both = judge(square_video, Q, RED, BLUE, backend=ScriptedBackend(first_position_judge), order="both", frames=2)
    assert (both.status, both.verdict, both.order_agreement) == ("tie", None, False)
    assert both.votes == ["A", "B"]
    even = judge(square_video, Q, RED, BLUE, backend=ScriptedBackend(first_position_judge), k=2, frames=2)
    assert even.status == "tie"
    odd = judge(square_video, Q, RED, BLUE, backend=ScriptedBackend(first_position_judge), k=3, frames=2)
    assert (odd.status, odd.verdict.preferred, odd.verdict.confidence) == ("ok", "A", pytest.approx(2 / 3))


def test_majority_ignores_failed_samples_and_failures_decide_without_votes(square_video: Path) -> None:
    replies = iter([submit("B"), text("no"), text("no"), text("still no"), submit("B")])
    result = judge(square_video, Q, RED, BLUE, backend=ScriptedBackend(lambda _: next(replies)), k=3, frames=2)
    assert [s.status for s in result.samples].count("invalid") == 1
    assert result.status == "ok"
    assert result.votes.count(None) == 1

    refusal = ModelReply(text="no", stop_reason="refusal")
    refused = judge(square_video, Q, RED, BLUE, backend=ScriptedBackend(lambda _: refusal), k=2, frames=2)
    assert refused.status == "refused"


class ConcurrencyProbe(Backend):
    """Counts how many calls are in flight at once."""

    name = "probe"

    def __init__(self) -> None:
        super().__init__("probe")
        self.in_flight = 0
        self.peak = 0

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.05)
        self.in_flight -= 1
        return faithful_judge(request)


def test_k_samples_run_concurrently(square_video: Path) -> None:
    backend = ConcurrencyProbe()
    result = judge(square_video, Q, RED, BLUE, backend=backend, k=5, frames=2)
    assert result.status == "ok"
    assert backend.peak == 5


def test_stream_events_in_order(square_video: Path) -> None:
    backend = ScriptedBackend([tools(call("select_frames", timestamps=[2.2])), submit("B", 0.6)])
    events: list[dict] = []
    result = judge(square_video, Q, BLUE, RED, backend=backend, frames=2, on_event=events.append)
    assert [e["event"] for e in events] == ["tool_call", "observation", "verdict"]
    assert events[0]["name"] == "select_frames"
    assert events[0]["arguments"] == {"timestamps": [2.2]}
    assert events[1]["timestamps"] == [2.2]
    assert events[1]["images"] == result.evidence[0].images
    assert events[2]["verdict"]["preferred"] == "B"


def test_shared_media_and_store_make_repeats_free(square_video: Path) -> None:
    media = open_media(square_video)
    store = EvidenceStore()
    first = judge(media, Q, RED, BLUE, backend=ScriptedBackend(faithful_judge), mode="single", frames=4, store=store)
    encodings, misses = store.encodings, FRAME_CACHE.misses
    second = judge(media, Q, RED, BLUE, backend=ScriptedBackend(faithful_judge), frames=4, store=store)
    assert first.status == second.status == "ok"
    assert store.encodings == encodings  # the agentic run reused the single pass's overview images
    assert FRAME_CACHE.misses == misses


def test_backend_by_name_and_config_errors(square_video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([submit("A").model_dump(mode="json")]))
    monkeypatch.setenv("VRB_SCRIPT", str(script))
    assert judge(square_video, Q, RED, BLUE, backend="scripted", frames=2).verdict.preferred == "A"

    with pytest.raises(TypeError, match=r"unknown JudgeConfig field.*framez"):
        judge(square_video, Q, RED, BLUE, backend="scripted", framez=2)
    with pytest.raises(VrbError, match=r"invalid judge configuration: k"):
        judge(square_video, Q, RED, BLUE, backend="scripted", k=0)
    with pytest.raises(MediaError, match="file not found"):
        judge(tmp_path / "missing.mp4", Q, RED, BLUE, backend="scripted")


def test_config_object_mode_is_kept_unless_overridden(square_video: Path) -> None:
    config = JudgeConfig(mode="single", frames=2)
    assert judge(square_video, Q, RED, BLUE, backend=ScriptedBackend(faithful_judge), config=config).mode == "single"
    overridden = judge(
        square_video, Q, RED, BLUE, backend=ScriptedBackend(faithful_judge), config=config, mode="agentic"
    )
    assert overridden.mode == "agentic"


async def test_ajudge_and_judge_inside_a_running_loop(square_video: Path) -> None:
    result = await ajudge(square_video, Q, RED, BLUE, backend=ScriptedBackend(faithful_judge), frames=2)
    assert result.verdict.preferred == "A"
    nested = judge(square_video, Q, BLUE, RED, backend=ScriptedBackend(faithful_judge), frames=2)
    assert nested.verdict.preferred == "B"
