"""`langgraph dev` as a user runs it: the in-memory server on a loopback port, driven through
langgraph_sdk with the scripted backend (no keys). Start-up is bounded, so CI cannot hang here."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client

from tests.graph_support import call, submit, tools

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 150
INPUT_KEYS = {"media", "question", "response_a", "response_b"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"langgraph dev exited with {process.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/ok", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"langgraph dev not up after {START_TIMEOUT_S} s:\n{log.read_text(errors='replace')[-4000:]}")


def config_outside_the_repo(workdir: Path) -> Path:
    """The repository's langgraph.json with its paths made absolute, so the server can run (and
    keep its .langgraph_api/ state) in a temporary folder instead of the checkout."""
    spec = json.loads((ROOT / "langgraph.json").read_text(encoding="utf-8"))
    spec["dependencies"] = [str((ROOT / d).resolve()) for d in spec["dependencies"]]
    spec["graphs"] = {name: str(ROOT / target.removeprefix("./")) for name, target in spec["graphs"].items()}
    path = workdir / "langgraph.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dev server with VRB_BACKEND=scripted and no default script: each run brings its own."""
    workdir = tmp_path_factory.mktemp("langgraph-dev")  # the server writes .langgraph_api/ here
    port = free_port()
    env = {
        **os.environ,
        "VRB_BACKEND": "scripted",
        "LANGSMITH_TRACING": "false",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "PYTHONPATH": str(ROOT),
    }
    for name in ("VRB_MODEL", "VRB_BACKEND_OPTIONS", "VRB_JUDGE_CONFIG", "VRB_SCRIPT"):
        env.pop(name, None)
    cli = Path(sys.executable).with_name("langgraph")  # the console script the dev extra installs
    command = [str(cli), "dev", "--config", str(config_outside_the_repo(workdir))]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-browser", "--no-reload"]
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, url, log)
        yield url
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """End the server and the workers it started (its own process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            continue


def script_file(tmp_path: Path, replies: list[Any]) -> str:
    path = tmp_path / "script.json"
    path.write_text(json.dumps([r.model_dump(mode="json") for r in replies]), encoding="utf-8")
    return str(path)


async def stream_run(url: str, run_input: dict[str, Any], **options: Any) -> list[tuple[str, Any]]:
    client = get_client(url=url)
    chunks = client.runs.stream(None, "vrb_judge", input=run_input, stream_mode=["custom", "values"], **options)
    return [(chunk.event, chunk.data) async for chunk in chunks]


def test_studio_schemas_show_only_inputs_outputs_and_run_options(server: str) -> None:
    async def schemas() -> dict[str, Any]:
        client = get_client(url=server)
        assistant = (await client.assistants.search(graph_id="vrb_judge"))[0]
        return await client.assistants.get_schemas(assistant["assistant_id"])

    found = asyncio.run(schemas())
    assert set(found["input_schema"]["properties"]) == INPUT_KEYS
    assert set(found["input_schema"]["required"]) == INPUT_KEYS
    assert set(found["output_schema"]["properties"]) == {"status", "verdict", "judgment"}
    assert {"backend", "model", "backend_options", "judge", "show_images"} <= set(found["context_schema"]["properties"])


def test_studio_draws_the_judge_with_its_presentation_subgraph(server: str) -> None:
    async def drawn() -> dict[str, Any]:
        client = get_client(url=server)
        assistant = (await client.assistants.search(graph_id="vrb_judge"))[0]
        return await client.assistants.get_graph(assistant["assistant_id"], xray=True)

    graph = asyncio.run(drawn())
    nodes = {node["id"] for node in graph["nodes"]}
    assert {"prepare", "finalize", "present:deliberate", "present:act", "present:conclude"} <= nodes
    edges = {(edge["source"], edge["target"]) for edge in graph["edges"]}
    assert ("present:deliberate", "present:act") in edges
    assert ("present:act", "present:deliberate") in edges


def test_a_judgment_round_trip_streams_events_and_the_images_seen(
    server: str, square_video: Path, tmp_path: Path
) -> None:
    script = script_file(tmp_path, [tools(call("select_frames", timestamps=[1.0, 2.0])), submit("B", 0.75)])
    run_input = {"media": str(square_video), "question": "Q?", "response_a": "a", "response_b": "b"}
    context = {"backend": "scripted", "backend_options": {"script": script}, "judge": {"frames": 3}}
    chunks = asyncio.run(stream_run(server, run_input, context=context))

    assert not [data for event, data in chunks if event == "error"], chunks
    events = [data for event, data in chunks if event == "custom"]
    assert [(e["event"], e.get("name")) for e in events] == [
        ("observation", "overview"),
        ("tool_call", "select_frames"),
        ("observation", "select_frames"),
        ("verdict", None),
    ]
    overview, _, seen, verdict = events
    assert len(overview["images"]) == len(overview["image_urls"]) == 3
    assert len(seen["image_urls"]) == 2
    assert all(u.startswith("data:image/jpeg;base64,/9j/") for u in overview["image_urls"] + seen["image_urls"])
    assert verdict["status"] == "ok"
    assert verdict["verdict"]["preferred"] == "B"
    final = [data for event, data in chunks if event == "values"][-1]
    assert final["status"] == "ok"
    assert final["verdict"]["preferred"] == "B"
    assert final["judgment"]["evidence"][0]["timestamps"] == [1.0, 2.0]
    assert "data:image" not in json.dumps(final), "pixels must not enter the graph state"


def test_missing_inputs_and_bad_options_get_clear_errors(server: str, square_video: Path, tmp_path: Path) -> None:
    script = script_file(tmp_path, [submit("A")])
    options = {"backend": "scripted", "backend_options": {"script": script}}
    missing = {"media": str(square_video), "question": "Q?", "response_a": "a"}
    chunks = asyncio.run(stream_run(server, missing, config={"configurable": options}))
    errors = [data for event, data in chunks if event == "error"]
    assert errors, chunks
    assert errors[0]["error"] == "JudgeInputError"
    assert "response_b" in errors[0]["message"]

    complete = {**missing, "response_b": "b"}
    chunks = asyncio.run(stream_run(server, complete, context={**options, "judge": {"framez": 2}}))
    errors = [data for event, data in chunks if event == "error"]
    assert errors, chunks
    assert "framez" in errors[0]["message"]

    chunks = asyncio.run(stream_run(server, {**complete, "media": str(tmp_path / "none.mp4")}, context=options))
    errors = [data for event, data in chunks if event == "error"]
    assert errors, chunks
    assert "none.mp4" in errors[0]["message"]
