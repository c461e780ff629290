"""The judge graph's run context: shared observations, context per run, clear input errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.graph_support import call, submit, tools
from vrb_agent import JudgeConfig, judge
from vrb_agent.agents.context import JudgeContext
from vrb_agent.agents.graph import JudgeInputError, MediaInputError, build_judge_graph
from vrb_agent.agents.observations import OBSERVATIONS, ObservationCache, SeenObservation
from vrb_agent.errors import VrbError
from vrb_agent.judges.scripted import ScriptedBackend
from vrb_agent.tools.evidence import EvidenceImage, EvidenceStore
from vrb_agent.tools.media import MediaError

Q, A, B = "What appears at 2 seconds?", "A red square.", "A blue circle."


def looking_judge() -> ScriptedBackend:
    return ScriptedBackend(
        [tools(call("select_frames", timestamps=[2.2]), call("zoom", timestamp=2.2, box=[0, 0, 500, 500])), submit("A")]
    )


def test_a_second_judgment_of_the_same_media_encodes_nothing(square_video: Path) -> None:
    OBSERVATIONS.clear()
    first_store, second_store = EvidenceStore(), EvidenceStore()
    first = judge(square_video, Q, A, B, backend=looking_judge(), frames=5, store=first_store)
    second = judge(square_video, "Another question?", B, A, backend=looking_judge(), frames=5, store=second_store)
    assert first.status == second.status == "ok"
    assert first_store.encodings > 0
    assert second_store.encodings == 0  # overview, frames and zoom were all seen before
    assert [e.images for e in second.evidence] == [e.images for e in first.evidence]
    for image_id in first_store.ids():
        assert second_store.get(image_id).jpeg == first_store.get(image_id).jpeg
    assert len(second_store) == len(first_store)


def test_other_limits_or_encodings_are_other_observations(square_video: Path) -> None:
    OBSERVATIONS.clear()
    small, large = EvidenceStore(max_side=128), EvidenceStore(max_side=256)
    judge(square_video, Q, A, B, backend=looking_judge(), frames=3, store=small, max_side=128)
    judge(square_video, Q, A, B, backend=looking_judge(), frames=3, store=large, max_side=256)
    assert large.encodings > 0
    assert {large.get(i).width for i in large.ids()} != {small.get(i).width for i in small.ids()}


def test_identical_concurrent_observations_are_computed_once() -> None:
    cache = ObservationCache(1 << 20)
    calls, gate = [], threading.Event()

    def slow() -> SeenObservation:
        calls.append(1)
        gate.wait(5)
        return SeenObservation(tool="select_frames", text="ok", ok=True)

    key = ("m", "select_frames", "{}", None, 85, 768)
    results: list[SeenObservation] = []
    workers = [threading.Thread(target=lambda: results.append(cache.compute(key, slow))) for _ in range(4)]  # type: ignore[arg-type]
    for worker in workers:
        worker.start()
    time.sleep(0.2)
    gate.set()
    for worker in workers:
        worker.join(5)
    assert len(calls) == 1
    assert len(results) == 4
    assert len({id(r) for r in results}) == 1


def test_the_observation_cache_is_bounded_in_bytes() -> None:
    cache = ObservationCache(max_bytes=2500)

    def seen(tag: str) -> SeenObservation:
        image = EvidenceImage(id=f"ev-{tag}", jpeg=b"x" * 1000, width=1, height=1, label=tag)
        return SeenObservation(tool="zoom", text=tag, ok=True, images=(image,))

    keys = [("m", "zoom", tag, None, 85, 768) for tag in "abc"]
    for key in keys:
        cache.put(key, seen(key[2]))  # type: ignore[arg-type]
    assert len(cache) == 2
    assert cache.get(keys[0]) is None  # type: ignore[arg-type]
    assert cache.get(keys[2]).text == "c"  # type: ignore[arg-type, union-attr]


async def test_missing_inputs_are_named(square_video: Path) -> None:
    graph = build_judge_graph(ScriptedBackend([submit("A")]), JudgeConfig(frames=2)).compile()
    with pytest.raises(JudgeInputError, match="response_b") as caught:
        await graph.ainvoke({"media": str(square_video), "question": Q, "response_a": A})
    assert isinstance(caught.value, ValueError)  # LangGraph's server shows ValueError messages to clients
    with pytest.raises(MediaInputError, match=r"none\.mp4") as bad_media:
        await graph.ainvoke(
            {"media": str(square_video.parent / "none.mp4"), "question": Q, "response_a": A, "response_b": B}
        )
    assert isinstance(bad_media.value, MediaError)
    assert isinstance(bad_media.value, ValueError)


async def test_a_graph_without_a_backend_needs_its_context(square_video: Path) -> None:
    inputs = {"media": str(square_video), "question": Q, "response_a": A, "response_b": B}
    graph = build_judge_graph().compile()
    with pytest.raises(VrbError, match="context=JudgeContext"):
        await graph.ainvoke(inputs)
    ctx = JudgeContext.create(ScriptedBackend([submit("B")]), JudgeConfig(frames=2))
    output = await graph.ainvoke(inputs, context=ctx)
    assert output["verdict"]["preferred"] == "B"
    assert ctx.finished is not None
    assert ctx.finished.status == "ok"


async def test_a_run_context_replaces_the_backend_the_graph_was_built_with(square_video: Path) -> None:
    inputs = {"media": str(square_video), "question": Q, "response_a": A, "response_b": B}
    built, chosen = ScriptedBackend([submit("A")]), ScriptedBackend([submit("B")])
    graph = build_judge_graph(built, JudgeConfig(frames=2)).compile()
    output = await graph.ainvoke(inputs, context=JudgeContext.create(chosen, JudgeConfig(frames=2)))
    assert output["verdict"]["preferred"] == "B"
    assert (len(built.requests), len(chosen.requests)) == (0, 1)


def test_the_graph_shows_its_presentation_subgraph() -> None:
    """What Studio draws: prepare, the presentation subgraph (deliberate, act, conclude), finalize."""
    drawn = build_judge_graph().compile().get_graph(xray=True)
    assert set(drawn.nodes) >= {"prepare", "finalize", "present:deliberate", "present:act", "present:conclude"}
    edges = {(e.source, e.target) for e in drawn.edges}
    assert {("present:deliberate", "present:act"), ("present:act", "present:deliberate")} <= edges
    assert ("present:act", "present:act") not in edges  # typed routers: only the moves that can happen
    assert ("present:conclude", "present:__end__") in edges


async def test_show_images_puts_data_urls_in_the_events_and_not_in_the_state(square_video: Path) -> None:
    backend = ScriptedBackend([tools(call("select_frames", timestamps=[1.0])), submit("A")])
    store = EvidenceStore()
    graph = build_judge_graph(backend, JudgeConfig(frames=2), store=store, show_images=True).compile()
    inputs = {"media": str(square_video), "question": Q, "response_a": A, "response_b": B}
    chunks = [c async for c in graph.astream(inputs, stream_mode=["custom", "values"])]
    events = [data for mode, data in chunks if mode == "custom"]
    assert [(e["event"], e.get("name")) for e in events][:3] == [
        ("observation", "overview"),
        ("tool_call", "select_frames"),
        ("observation", "select_frames"),
    ]
    assert len(events[0]["image_urls"]) == 2
    assert events[2]["image_urls"] == [store.get(events[2]["images"][0]).data_url]
    assert "data:image" not in repr([data for mode, data in chunks if mode == "values"])


def test_runs_without_show_images_have_no_overview_event(square_video: Path) -> None:
    events: list[dict] = []
    backend = ScriptedBackend([tools(call("select_frames", timestamps=[1.0])), submit("A")])
    judge(square_video, Q, A, B, backend=backend, frames=2, on_event=events.append)
    assert [e["event"] for e in events] == ["tool_call", "observation", "verdict"]
    assert "image_urls" not in events[1]


def test_a_context_serving_many_runs_forgets_unfinished_ones_beyond_a_bound(square_video: Path) -> None:
    """A context bound to a long-lived graph: a run that never reaches finalize (it raised, or was
    cancelled) never releases its bookkeeping, so the context keeps the newest MAX_RUNS runs only."""
    from vrb_agent.agents.context import MAX_RUNS

    ctx = JudgeContext.create(ScriptedBackend([submit("A")]), JudgeConfig(frames=2))
    for n in range(MAX_RUNS + 50):  # runs that started a presentation and never finished
        ctx.track({"run_id": f"run-{n}", "index": 0, "n": n})
        ctx.toolbox(f"run-{n}", str(square_video), 0)
    kept = sorted(s["n"] for s in ctx.tracked())
    assert kept == list(range(50, MAX_RUNS + 50))  # the oldest 50 forgotten
    box = ctx.toolbox(f"run-{MAX_RUNS + 49}", str(square_video), 0)
    assert ctx.toolbox(f"run-{MAX_RUNS + 49}", str(square_video), 0) is box  # a live run keeps its toolbox
    ctx.release(f"run-{MAX_RUNS + 49}")
    assert MAX_RUNS + 49 not in [s["n"] for s in ctx.tracked()]
