"""top_p on the wire: every backend that can send it does (real SDKs against the loopback fakes),
the ones that cannot say so explicitly, and the judge sends the protocol's top_p."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes.anthropic_fake import anthropic_server, message
from tests.fakes.gemini_fake import gemini_server, generate
from tests.fakes.openai_fake import completion, openai_server
from vrb_agent.agents.api import ajudge
from vrb_agent.judges.base import ConfigError, Message, ModelReply, ModelRequest, TextPart
from vrb_agent.judges.registry import get_backend
from vrb_agent.judges.scripted import ScriptedBackend


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "fake-openai-key-0123456789")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-anthropic-key-0123456789")
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-fake-0123456789")
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GOOGLE_GENAI_USE_VERTEXAI", raising=False)


def request(top_p: float | None, temperature: float = 0.2) -> ModelRequest:
    return ModelRequest(
        messages=[Message(role="user", parts=[TextPart(text="hello")])], temperature=temperature, top_p=top_p
    )


@pytest.mark.parametrize("name", ["openai", "vllm"])
async def test_openai_and_vllm_send_top_p_only_when_set(name: str) -> None:
    with openai_server([completion("ok"), completion("ok")]) as server:
        judge = get_backend(name, base_url=server.url + "/v1", model="gpt-4.1", retry_base_s="0.001")
        await judge.complete(request(0.2))
        await judge.complete(request(None))
    first, second = (r.json for r in server.requests)
    assert first["top_p"] == 0.2 and first["temperature"] == 0.2
    assert "top_p" not in second  # unset: the server's own default


async def test_openai_reasoning_model_refuses_a_top_p_it_cannot_take() -> None:
    with openai_server([completion("ok")]) as server:
        judge = get_backend("openai", base_url=server.url + "/v1", model="gpt-5", retry_base_s="0.001")
        with pytest.raises(ConfigError, match=r"gpt-5 is a reasoning model.*--top-p 1"):
            await judge.complete(request(0.2))
        await judge.complete(request(1.0))  # no nucleus cut: nothing to refuse, nothing sent
    (sent,) = server.requests
    assert "top_p" not in sent.json and "temperature" not in sent.json


async def test_gemini_sends_top_p_in_generation_config() -> None:
    with gemini_server([generate("ok"), generate("ok")]) as server:
        judge = get_backend("gemini", base_url=server.url, model="gemini-2.5-flash", retry_base_s="0.001")
        await judge.complete(request(0.2))
        await judge.complete(request(None))
    first, second = (r.json["generationConfig"] for r in server.requests)
    assert first["topP"] == 0.2 and first["temperature"] == 0.2
    assert "topP" not in second


async def test_anthropic_cannot_send_top_p_and_says_so_in_the_reply_notes() -> None:
    with anthropic_server([message("ok"), message("ok")]) as server:
        judge = get_backend("anthropic", base_url=server.url, retry_base_s="0.001")
        noted = await judge.complete(request(0.2))
        plain = await judge.complete(request(None))
    assert all("top_p" not in r.json and "temperature" not in r.json for r in server.requests)
    (note,) = noted.notes
    assert note == "anthropic: top_p=0.2 not applied (the Messages API of SDK 2.x takes no sampling parameters)"
    assert plain.notes == []


def test_qwen_generate_samples_with_the_requests_top_p(tiny_qwen_dirs: dict[str, Path]) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from vrb_agent.judges.qwen import QwenBackend

    path = tiny_qwen_dirs["qwen3_vl_8b_instruct"]
    network = AutoModelForImageTextToText.from_pretrained(path)
    network.generation_config.update(do_sample=True, temperature=1.0, top_k=0, top_p=1.0)
    auto = QwenBackend.from_model(network, AutoProcessor.from_pretrained(path))
    base = ModelRequest(messages=[Message(role="user", parts=[TextPart(text="Say something.")])], max_output_tokens=8)
    hot = auto._sampling_options(base.model_copy(update={"temperature": 0.2, "top_p": 0.2}))
    assert (hot["do_sample"], hot["temperature"], hot["top_p"]) == (True, 0.2, 0.2)
    assert auto._sampling_options(base.model_copy(update={"temperature": 0.2}))["top_p"] == 1.0
    checkpoint = auto._sampling_options(base.model_copy(update={"top_p": 0.3}))  # T 0, the checkpoint samples
    assert checkpoint["do_sample"] is True and checkpoint["top_p"] == 0.3
    assert auto.generate(base.model_copy(update={"temperature": 0.2, "top_p": 0.2, "seed": 1})).text is not None


async def test_the_judge_sends_the_protocols_top_p_and_warns_at_temperature_0(square_image: Path) -> None:
    seen: list[ModelRequest] = []

    def reply(req: ModelRequest) -> ModelReply:
        seen.append(req)
        return ModelReply(text="Overall Judgment: Answer 1 is better.")

    judgment = await ajudge(square_image, "Q?", "a", "b", backend=ScriptedBackend(reply), mode="single",
                            protocol="vlrb", k=3)  # fmt: skip
    assert [(r.temperature, r.top_p) for r in seen] == [(0.2, 0.2)] * 3
    assert not any("temperature 0" in n for n in judgment.notes)
    seen.clear()
    cold: Any = await ajudge(square_image, "Q?", "a", "b", backend=ScriptedBackend(reply), mode="single", k=2,
                             top_p=0.5)  # fmt: skip
    assert [(r.temperature, r.top_p) for r in seen] == [(0.0, 0.5)] * 2
    assert any(n.startswith("k=2 draws at temperature 0") for n in cold.notes)
