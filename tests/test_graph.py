"""The judge graph with the scripted backend: tool rounds, transcripts, budgets, statuses, windows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from tests.graph_support import assert_well_formed, call, image_labels, submit, text, tools
from vrb_agent import JudgeConfig, judge, pairblock
from vrb_agent.agents import prompts
from vrb_agent.agents.graph import build_judge_graph
from vrb_agent.judges.base import (
    AuthError,
    Backend,
    Capabilities,
    ConfigError,
    ImagePart,
    ModelReply,
    ModelRequest,
    RefusalError,
    ToolCall,
    TransientError,
    VideoPart,
)
from vrb_agent.judges.scripted import ScriptedBackend
from vrb_agent.tools.evidence import EvidenceStore

Q, A, B = "What appears at 2 seconds?", "A red square appears.", "A blue circle appears."


def run(media: Path, backend: Backend, **overrides: object):
    overrides.setdefault("frames", 4)
    return judge(media, Q, A, B, backend=backend, **overrides)


def last_tool_results(request: ModelRequest):
    return next(m for m in reversed(request.messages) if m.role == "tool").tool_results


def test_agentic_three_tool_rounds(square_video: Path) -> None:
    backend = ScriptedBackend(
        [
            tools(call("select_frames", timestamps=[2.2, 4.0])),
            tools(call("zoom", timestamp=2.2, box=[250, 350, 500, 650])),
            tools(call("reexamine_clip", start=1.8, end=2.6, num_frames=4)),
            submit("A", 0.9, evidence=[{"timestamp": 2.2, "note": "red square"}]),
        ]
    )
    store = EvidenceStore()
    result = run(square_video, backend, store=store)

    assert result.status == "ok"
    assert result.verdict is not None
    assert (result.verdict.preferred, result.verdict.confidence) == ("A", 0.9)
    assert result.verdict.evidence[0].timestamp == 2.2
    assert len(backend.requests) == 4
    for request in backend.requests:
        assert_well_formed(request)
        assert [t.name for t in request.tools] == ["select_frames", "zoom", "reexamine_clip", "submit_verdict"]
        dumped = request.model_dump_json()  # ids, never encoded images
        assert "/9j/" not in dumped
        assert len(dumped) < 60_000

    # The first user message holds the pair in presentation order, then the overview frames.
    first = backend.requests[0].messages[0]
    assert pairblock.extract_pair(first.text) == (Q, A, B)
    assert image_labels(backend.requests[0]) == ["frame t=0.60s", "frame t=1.87s", "frame t=3.10s", "frame t=4.37s"]

    # Round 1: frames at the requested times, with the right pixels (red square visible only at 2.2 s).
    (frames_result,) = last_tool_results(backend.requests[1])
    images = [p for p in frames_result.parts if isinstance(p, ImagePart)]
    assert [p.label for p in images] == ["frame t=2.20s", "frame t=4.00s"]
    shown = [store.get(p.evidence_id) for p in images]
    assert [s.timestamp for s in shown] == [2.2, 4.0]
    assert np.allclose(shown[0].to_array()[120, 120], (255, 0, 0), atol=40)
    assert not np.allclose(shown[1].to_array()[120, 120], (255, 0, 0), atol=40)

    # Round 2: the zoom's crop; round 3: the clip's frames, evenly spaced.
    (zoom_result,) = last_tool_results(backend.requests[2])
    assert [p.label for p in zoom_result.parts if isinstance(p, ImagePart)] == ["zoom t=2.20s box=[250,350,500,650]"]
    (clip_result,) = last_tool_results(backend.requests[3])
    assert len([p for p in clip_result.parts if isinstance(p, ImagePart)]) == 4

    assert [r.name for r in result.evidence] == ["select_frames", "zoom", "reexamine_clip"]
    assert [r.turn for r in result.evidence] == [1, 2, 3]
    assert result.evidence[0].timestamps == [2.2, 4.0]
    assert result.evidence[1].box == [250, 350, 500, 650]
    assert all(r.ok and r.images and all(i in store for i in r.images) for r in result.evidence)
    assert result.images_sent == 4 + 6 + 7 + 11
    assert result.usage.calls == 4
    assert set(result.timings) == {"total_s", "model_s", "tools_s"}


def test_single_pass_sends_no_tools_and_parses_the_text_verdict(square_video: Path) -> None:
    backend = ScriptedBackend([text("A misreads the shape.\n\n**Overall Judgment: Answer B is better.**")])
    result = run(square_video, backend, mode="single")
    assert result.status == "ok"
    assert result.verdict is not None
    assert result.verdict.preferred == "B"
    assert result.verdict.confidence is None  # a text verdict states none; none is invented
    assert "misreads" in result.verdict.rationale
    (request,) = backend.requests
    assert request.tools == []
    assert "Overall Judgment: Answer A is better." in request.system
    assert len(image_labels(request)) == 4


def test_single_pass_one_repair_then_invalid(square_video: Path) -> None:
    backend = ScriptedBackend([text("Both have merit."), text("Overall Judgment: Answer A is better.")])
    assert run(square_video, backend, mode="single").verdict.preferred == "A"
    assert backend.requests[1].messages[-1].text == prompts.REPAIR

    backend = ScriptedBackend([text("Hmm."), text("Still unsure.")])
    result = run(square_video, backend, mode="single")
    assert (result.status, result.verdict) == ("invalid", None)
    assert "repair" in (result.error or "")
    assert len(backend.requests) == 2


def keeps_calling_tools(request: ModelRequest) -> ModelReply:
    """A judge that always asks for another frame, unless only submit_verdict is offered."""
    if [t.name for t in request.tools] == ["submit_verdict"]:
        return submit("B", 0.6)
    turn = sum(m.role == "assistant" for m in request.messages)
    return tools(call("select_frames", timestamps=[0.5 * turn]))


def test_budget_exhaustion_triggers_conclude(square_video: Path) -> None:
    backend = ScriptedBackend(keeps_calling_tools)
    result = run(square_video, backend, max_turns=2)
    assert result.status == "ok"
    assert result.verdict.preferred == "B"
    assert len(backend.requests) == 3
    conclude = backend.requests[-1]
    assert [t.name for t in conclude.tools] == ["submit_verdict"]
    assert conclude.tool_choice == "submit_verdict"
    assert conclude.messages[-1].text == prompts.CONCLUDE
    assert_well_formed(conclude)
    assert len(result.evidence) == 2


def test_a_backend_that_never_submits_cannot_loop(square_video: Path) -> None:
    def never_submits(request: ModelRequest) -> ModelReply:
        turn = sum(m.role == "assistant" for m in request.messages)
        return tools(call("select_frames", timestamps=[0.1 * turn]))

    backend = ScriptedBackend(never_submits)
    result = run(square_video, backend, max_turns=3, k=3)
    assert result.status == "invalid"
    assert len(backend.requests) == 3 * (3 + 1)  # per sample: max_turns, then one conclude call
    assert all(s.turns == 4 for s in result.samples)


def test_invalid_arguments_get_corrective_messages_and_count_against_the_budget(square_video: Path) -> None:
    bad_json = ToolCall(id="bad-json", name="zoom", arguments={}, parse_error="Expecting ',' delimiter")
    backend = ScriptedBackend(
        [
            tools(call("select_frames", timestamps=[]), call("zoom", timestamp=1.0, box=[600, 0, 100, 100]), bad_json),
            tools(call("submit_verdict", preferred="C", confidence=2, rationale="x", evidence=[])),
            tools(call("select_frames", timestamps=[1.0]), call("select_frames", timestamps=[1.0])),
            submit("A"),
        ]
    )
    result = run(square_video, backend, max_turns=3)
    assert result.status == "ok"
    assert len(backend.requests) == 4
    assert backend.requests[3].tool_choice == "submit_verdict"  # three turns spent: conclude

    first = last_tool_results(backend.requests[1])
    assert [r.is_error for r in first] == [True, True, True]
    assert "Call it as select_frames(timestamps=" in first[0].parts[0].text
    assert "box" in first[1].parts[0].text
    assert "not valid JSON" in first[2].parts[0].text
    (verdict_error,) = last_tool_results(backend.requests[2])
    assert verdict_error.is_error
    assert "preferred" in verdict_error.parts[0].text
    repeat = last_tool_results(backend.requests[3])
    assert [r.is_error for r in repeat] == [False, True]
    assert "already made this exact call" in repeat[1].parts[0].text
    assert [r.ok for r in result.evidence] == [False, False, False, False, True, False]
    for request in backend.requests:
        assert_well_formed(request)


def test_plain_text_gets_one_reminder(square_video: Path) -> None:
    backend = ScriptedBackend([text("I think A is right."), submit("A")])
    assert run(square_video, backend).status == "ok"
    assert backend.requests[1].messages[-1].text == prompts.REMINDER

    backend = ScriptedBackend([text("A."), text("Definitely A.")])
    result = run(square_video, backend)
    assert result.status == "invalid"
    assert "submit_verdict" in result.error
    assert len(backend.requests) == 2


class RaisingBackend(Backend):
    name = "raising"

    def __init__(self, error: Exception) -> None:
        super().__init__("raising")
        self.error = error

    async def complete(self, request: ModelRequest) -> ModelReply:
        raise self.error


def test_refusals_and_backend_errors_become_statuses(square_video: Path) -> None:
    refused = run(square_video, ScriptedBackend([ModelReply(text="I can't help.", stop_reason="refusal")]))
    assert (refused.status, refused.error) == ("refused", "I can't help.")
    assert run(square_video, RaisingBackend(RefusalError("blocked: safety"))).status == "refused"
    failed = run(square_video, RaisingBackend(TransientError("503 after 4 retries")))
    assert (failed.status, failed.error) == ("error", "503 after 4 retries")


@pytest.mark.parametrize("error", [AuthError("401: key rejected"), ConfigError("OPENAI_API_KEY is not set")])
def test_auth_and_config_errors_propagate(square_video: Path, error: Exception) -> None:
    with pytest.raises(type(error), match=str(error)):
        run(square_video, RaisingBackend(error))


class SlowSecondCall(Backend):
    name = "slow"

    def __init__(self) -> None:
        super().__init__("slow")
        self.calls = 0

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.calls += 1
        if self.calls == 1:
            return tools(call("select_frames", timestamps=[2.2]))
        await asyncio.sleep(30)
        return submit("A")


def test_timeout_is_an_error_status_that_keeps_the_evidence(square_video: Path) -> None:
    result = run(square_video, SlowSecondCall(), timeout_s=1.0)
    assert result.status == "error"
    assert result.error == "timed out after 1s"
    assert result.verdict is None
    assert [r.name for r in result.evidence] == ["select_frames"]


async def test_timeout_also_bounds_a_graph_run_without_the_api(square_video: Path) -> None:
    graph = build_judge_graph(SlowSecondCall(), JudgeConfig(frames=2, timeout_s=1.0)).compile()
    output = await graph.ainvoke({"media": str(square_video), "question": Q, "response_a": A, "response_b": B})
    assert output["status"] == "error"
    assert output["judgment"]["error"] == "timed out after 1s"
    assert [r["name"] for r in output["judgment"]["evidence"]] == ["select_frames"]


def test_visual_memory_window_replaces_old_tool_images_with_notes(square_video: Path) -> None:
    backend = ScriptedBackend(
        [
            tools(call("select_frames", timestamps=[0.5, 1.0])),
            tools(call("select_frames", timestamps=[1.5, 2.0])),
            tools(call("select_frames", timestamps=[2.5, 3.0])),
            submit("A"),
        ]
    )
    result = run(square_video, backend, max_images=7)
    assert result.status == "ok"
    last = backend.requests[-1]
    assert len(image_labels(last)) == 7
    # The oldest tool images left first; the overview and the newest frames stayed.
    assert image_labels(last) == [
        *("frame t=0.60s", "frame t=1.87s", "frame t=3.10s", "frame t=4.37s"),
        *("frame t=2.00s", "frame t=2.50s", "frame t=3.00s"),
    ]
    notes = [p.text for r in last.messages[2].tool_results for p in r.parts if p.type == "text"]
    assert prompts.forgotten_image_note("frame t=0.50s") in notes
    assert prompts.forgotten_image_note("frame t=1.00s") in notes
    assert result.images_sent == 4 + 6 + 7 + 7


def test_backend_image_limit_caps_the_window_too(square_video: Path) -> None:
    capped = Capabilities(max_images_per_request=3)
    backend = ScriptedBackend([tools(call("select_frames", timestamps=[1.0, 2.0])), submit("B")], capabilities=capped)
    assert run(square_video, backend).status == "ok"
    assert [len(image_labels(r)) for r in backend.requests] == [3, 3]
    assert image_labels(backend.requests[1]) == ["frame t=4.37s", "frame t=1.00s", "frame t=2.00s"]


def test_native_video_backends_get_video_parts(square_video: Path) -> None:
    backend = ScriptedBackend(
        [
            tools(call("reexamine_clip", start=1.0, end=3.0, num_frames=4), call("select_frames", timestamps=[2.2])),
            submit("A"),
        ],
        capabilities=Capabilities(native_video=True),
    )
    result = run(square_video, backend, frames=8)
    assert result.status == "ok"
    first = backend.requests[0].messages[0]
    (video,) = [p for p in first.parts if isinstance(p, VideoPart)]
    assert (video.start, video.end, video.fps) == (0.0, 5.0, pytest.approx(8 / 5.0))
    assert image_labels(backend.requests[0]) == []
    clip, frames = last_tool_results(backend.requests[1])
    (clip_video,) = [p for p in clip.parts if isinstance(p, VideoPart)]
    assert clip_video.start == 1.0
    assert clip_video.end == pytest.approx(3.0 + 1 / 30)
    assert [p.label for p in frames.parts if isinstance(p, ImagePart)] == ["frame t=2.20s"]
    assert len(result.evidence[0].images) == 4  # the clip's frames are still in the evidence log


def test_still_images_work_as_media(square_image: Path) -> None:
    backend = ScriptedBackend([tools(call("zoom", timestamp=0, box=[300, 400, 450, 600])), submit("A")])
    result = run(square_image, backend, frames=16)
    assert result.status == "ok"
    assert image_labels(backend.requests[0]) == ["frame t=0.00s"]
    assert result.evidence[0].ok


def test_config_defaults_apply() -> None:
    config = JudgeConfig()
    assert (config.max_turns, config.max_images, config.max_frames_per_call, config.frames) == (6, 48, 8, 16)
