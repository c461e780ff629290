"""LangGraph integration: the README's subgraph example runs as written; langgraph.json loads."""

from __future__ import annotations

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


def studio_import(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import the module langgraph.json names, as the server does when it loads its graphs."""
    spec = json.loads((ROOT / "langgraph.json").read_text(encoding="utf-8"))
    file_part, _, attr = spec["graphs"]["vrb_judge"].partition(":")
    module_name = file_part.removeprefix("./").removesuffix(".py").replace("/", ".")
    code = f"import {module_name} as m; print(callable(m.{attr}), m.DEFAULTS.model_dump_json())"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VRB_")}
    return subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=ROOT, env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_langgraph_json_graph_checks_its_environment_at_load() -> None:
    missing = studio_import({})
    assert missing.returncode != 0
    assert "set VRB_BACKEND" in missing.stderr
    bad = studio_import({"VRB_BACKEND": "sim", "VRB_JUDGE_CONFIG": '{"frames": 2, "framez": 1}'})
    assert bad.returncode != 0
    assert "VRB_JUDGE_CONFIG" in bad.stderr
    assert "framez" in bad.stderr
    ok = studio_import({"VRB_BACKEND": "sim", "VRB_MODEL": "m1", "VRB_JUDGE_CONFIG": '{"mode": "single"}'})
    assert ok.returncode == 0, ok.stderr
    flag, defaults = ok.stdout.split(" ", 1)
    assert flag == "True"
    assert json.loads(defaults) == {
        "backend": "sim", "model": "m1", "backend_options": {}, "judge": {"mode": "single"}, "show_images": True
    }  # fmt: skip


def test_studio_run_options_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRB_BACKEND", "sim")
    studio = importlib.import_module("vrb_agent.agents.studio")
    defaults = studio.StudioOptions(backend="gemini", backend_options={"video": "native"}, judge={"k": 3})
    chosen = studio.run_options(defaults, {"thread_id": "t", "judge": {"mode": "single"}}, None)
    assert chosen.backend == "gemini"
    assert chosen.backend_options == {"video": "native"}
    assert chosen.judge == {"k": 3, "mode": "single"}
    context = {"backend": "scripted", "backend_options": {"script": "s.json"}, "show_images": False}
    chosen = studio.run_options(defaults, {"judge": {"k": 5}}, context)  # context wins over configurable
    assert (chosen.backend, chosen.show_images, chosen.judge) == ("scripted", False, {"k": 3})
    assert chosen.backend_options == {"video": "native", "script": "s.json"}
    with pytest.raises(studio.StudioConfigError, match="bakend"):
        studio.run_options(defaults, {}, {"bakend": "x"})
    assert isinstance(studio.StudioConfigError("x"), ValueError)  # so the server shows the message


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
