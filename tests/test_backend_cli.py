"""`vrb-agent judge --backend openai|anthropic|gemini|vllm` end to end in a subprocess: the CLI
finds the key and base URL in the standard environment variables and talks to a loopback fake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes import anthropic_fake, gemini_fake, openai_fake
from tests.fakes.server import FakeServer, Reply

ROOT = Path(__file__).resolve().parents[1]
VERDICT = {"preferred": "B", "confidence": 0.7, "rationale": "B matches frame t=2.2s.", "evidence": []}
PROVIDER_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "VLLM_API_KEY",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "VRB_BACKEND",
)


def run_cli(media: Path | str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PROVIDER_ENV}
    command = [sys.executable, "-m", "vrb_agent.cli", "judge", str(media), "--question", "What is red?"]
    command += ["--response-a", "A blue circle.", "--response-b", "A red square.", *args]
    return subprocess.run(
        command,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def openai_turns() -> list[Reply]:
    return [
        openai_fake.completion(None, [openai_fake.tool_call("c1", "select_frames", {"timestamps": [2.2]})]),
        openai_fake.completion(None, [openai_fake.tool_call("c2", "submit_verdict", VERDICT)]),
    ]


def anthropic_turns() -> list[Reply]:
    return [
        anthropic_fake.message(None, [anthropic_fake.tool_use("c1", "select_frames", {"timestamps": [2.2]})]),
        anthropic_fake.message(None, [anthropic_fake.tool_use("c2", "submit_verdict", VERDICT)]),
    ]


def gemini_turns() -> list[Reply]:
    return [
        gemini_fake.generate(None, [gemini_fake.function_call("select_frames", {"timestamps": [2.2]})]),
        gemini_fake.generate(None, [gemini_fake.function_call("submit_verdict", VERDICT)]),
    ]


CLI_CASES: dict[str, tuple[Callable[[list[Reply]], FakeServer], Callable[[], list[Reply]], Callable[[str], dict]]] = {
    "openai": (
        openai_fake.openai_server,
        openai_turns,
        lambda url: {"OPENAI_API_KEY": "sk-cli-fake", "OPENAI_BASE_URL": url + "/v1"},
    ),
    "anthropic": (
        anthropic_fake.anthropic_server,
        anthropic_turns,
        lambda url: {"ANTHROPIC_API_KEY": "sk-ant-cli-fake", "ANTHROPIC_BASE_URL": url},
    ),
    "gemini": (
        gemini_fake.gemini_server,
        gemini_turns,
        lambda url: {"GEMINI_API_KEY": "AIza-cli-fake", "GOOGLE_GEMINI_BASE_URL": url},
    ),
}


@pytest.mark.parametrize("provider", list(CLI_CASES))
def test_cli_judge_end_to_end(provider: str, square_video: Path) -> None:
    make_server, turns, env = CLI_CASES[provider]
    with make_server(turns()) as server:
        result = run_cli(square_video, "--backend", provider, "--json", env=env(server.url))
    assert result.returncode == 0, result.stderr
    judgment = json.loads(result.stdout)
    assert judgment["status"] == "ok"
    assert judgment["verdict"]["preferred"] == "B"
    assert [r["name"] for r in judgment["evidence"]] == ["select_frames"]
    assert judgment["usage"]["calls"] == len(server.requests) == 2
    assert judgment["usage"]["cost_usd"] > 0  # default models are in the price table
    secret = next(v for k, v in env(server.url).items() if k.endswith("_KEY"))
    assert secret not in result.stdout + result.stderr


def test_cli_vllm_with_base_url_and_backend_options(square_video: Path) -> None:
    with openai_fake.openai_server(openai_turns()) as server:
        result = run_cli(
            square_video,
            *("--backend", "vllm", "--base-url", server.url + "/v1", "--model", "Qwen/Qwen3-VL-8B-Instruct"),
            *("--backend-option", "max_images=32", "--json"),
            env={"OPENAI_API_KEY": "sk-must-not-leak"},
        )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["verdict"]["preferred"] == "B"
    sent = server.requests[0]
    assert sent.json["model"] == "Qwen/Qwen3-VL-8B-Instruct"
    assert "sk-must-not-leak" not in sent.headers["authorization"]


def test_cli_missing_key_is_exit_3_before_media_is_read(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "not-there.mp4", "--backend", "gemini", env={})
    assert result.returncode == 3, result.stderr
    assert "GEMINI_API_KEY" in result.stderr
