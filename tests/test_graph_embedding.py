"""LangGraph integration: the README's subgraph example runs as written; langgraph.json loads."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from tests.graph_support import call, submit, tools
from vrb_agent import JudgeConfig, build_judge_graph
from vrb_agent.judges.base import ConfigError
from vrb_agent.judges.scripted import ScriptedBackend

ROOT = Path(__file__).resolve().parents[1]


def readme_section_code(heading: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert blocks, f"no python example under '## {heading}'"
    return blocks[0]


def test_readme_subgraph_example_runs(tmp_path: Path) -> None:
    """Run the example as a user would: saved to a file and run by Python."""
    example = tmp_path / "example.py"
    example.write_text(readme_section_code("Embedding in LangGraph"), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(example)], check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["publish response A", "0.9 1.2"]
    assert (tmp_path / "demo.mp4").is_file()


def test_langgraph_json_exposes_the_judge_graph(
    square_video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = json.loads((ROOT / "langgraph.json").read_text(encoding="utf-8"))
    file_part, _, attr = spec["graphs"]["vrb_judge"].partition(":")
    module_name = file_part.removeprefix("./").removesuffix(".py").replace("/", ".")
    factory = getattr(importlib.import_module(module_name), attr)

    monkeypatch.delenv("VRB_BACKEND", raising=False)
    with pytest.raises(ConfigError, match="VRB_BACKEND"):
        factory()
    script = tmp_path / "script.json"
    script.write_text(json.dumps([submit("B").model_dump(mode="json")]))
    monkeypatch.setenv("VRB_BACKEND", "scripted")
    monkeypatch.setenv("VRB_BACKEND_OPTIONS", json.dumps({"script": str(script)}))
    monkeypatch.setenv("VRB_JUDGE_CONFIG", '{"frames": 2, "framez": 1}')
    with pytest.raises(ConfigError, match=r"VRB_JUDGE_CONFIG.*framez"):
        factory()
    monkeypatch.setenv("VRB_JUDGE_CONFIG", '{"frames": 2, "mode": "agentic"}')
    graph = factory()
    inputs = {"media": str(square_video), "question": "Q?", "response_a": "a", "response_b": "b"}
    output = asyncio.run(graph.ainvoke(inputs))  # the nodes are async
    assert output["status"] == "ok"
    assert output["verdict"]["preferred"] == "B"
    assert set(graph.get_graph().nodes) >= {"prepare", "deliberate", "act", "conclude", "finalize"}


class ParentState(TypedDict, total=False):
    media: str
    question: str
    response_a: str
    response_b: str
    status: str
    verdict: dict[str, Any] | None


async def test_subgraph_streams_its_events_to_the_parent(square_video: Path) -> None:
    backend = ScriptedBackend([tools(call("select_frames", timestamps=[1.0])), submit("B")])
    parent = StateGraph(ParentState)
    parent.add_node("judge", build_judge_graph(backend, JudgeConfig(frames=2)).compile())
    parent.add_edge(START, "judge")
    parent.add_edge("judge", END)
    inputs = {"media": str(square_video), "question": "Q?", "response_a": "a", "response_b": "b"}
    chunks = [c async for c in parent.compile().astream(inputs, stream_mode="custom", subgraphs=True)]
    assert [event["event"] for _, event in chunks] == ["tool_call", "observation", "verdict"]
    assert all(namespace[0].startswith("judge:") for namespace, _ in chunks)
    assert chunks[-1][1]["verdict"]["preferred"] == "B"
