"""The judge under LangGraph checkpointers: state holds evidence ids, so checkpoints stay small."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from tests.graph_support import call, submit, tools
from vrb_agent import JudgeConfig
from vrb_agent.agents.graph import build_judge_graph
from vrb_agent.judges.scripted import ScriptedBackend

LIMIT = 100_000
INPUTS = {"question": "What appears at 2 s?", "response_a": "A red square.", "response_b": "A blue circle."}


def full_judgment() -> ScriptedBackend:
    """16 overview frames and three tool rounds (2 + 1 + 8 images), then the verdict."""
    return ScriptedBackend(
        [
            tools(call("select_frames", timestamps=[2.2, 4.0])),
            tools(call("zoom", timestamp=2.2, box=[250, 350, 500, 650])),
            tools(call("reexamine_clip", start=1.0, end=3.0, num_frames=8)),
            submit("A", 0.9, evidence=[{"start": 2.0, "end": 2.5, "note": "red square"}]),
        ]
    )


async def test_in_memory_checkpoint_stays_small(square_video: Path) -> None:
    saver = InMemorySaver()
    graph = build_judge_graph(full_judgment(), JudgeConfig(frames=16)).compile(checkpointer=saver)
    thread = {"configurable": {"thread_id": "judgment-1"}}
    output = await graph.ainvoke({"media": str(square_video), **INPUTS}, thread)
    assert output["status"] == "ok"
    assert output["verdict"]["preferred"] == "A"

    snapshot = await graph.aget_state(thread)
    assert snapshot.values["verdict"]["preferred"] == "A"
    assert len(snapshot.values["judgment"]["evidence"]) == 3
    checkpoint = saver.get_tuple(thread).checkpoint
    _, blob = saver.serde.dumps_typed(checkpoint["channel_values"])
    assert 2_000 < len(blob) < LIMIT, len(blob)
    history = [s async for s in graph.aget_state_history(thread)]
    assert len(history) >= 4  # the input step, prepare, present, finalize
    every = list(saver.list(None))  # the judgment's and its presentation subgraph's checkpoints
    namespaces = {c.config["configurable"]["checkpoint_ns"] for c in every}
    assert any(ns.startswith("present:") for ns in namespaces), namespaces
    assert len(every) >= 4 + 8  # plus the presentation: input, 4 x deliberate, 3 x act
    for saved in every:
        _, step_blob = saver.serde.dumps_typed(saved.checkpoint["channel_values"])
        assert len(step_blob) < LIMIT


async def test_sqlite_checkpoint_stays_small(square_video: Path, tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.sqlite"
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        graph = build_judge_graph(full_judgment(), JudgeConfig(frames=16)).compile(checkpointer=saver)
        thread = {"configurable": {"thread_id": "judgment-1"}}
        output = await graph.ainvoke({"media": str(square_video), **INPUTS}, thread)
        assert output["status"] == "ok"
        assert (await graph.aget_state(thread)).values["status"] == "ok"
    with sqlite3.connect(path) as db:
        sizes = [row[0] for row in db.execute("SELECT length(checkpoint) FROM checkpoints")]
        writes = db.execute("SELECT max(length(value)) FROM writes").fetchone()[0]
    assert sizes
    assert max(sizes) < LIMIT, max(sizes)
    assert writes < LIMIT
    assert path.stat().st_size < 20 * LIMIT  # the whole history of one judgment, not pixels
