"""A tiny real judgment per provider, run only where a real API key is set (`pytest -m live`).

Skipped otherwise: the rest of the suite never touches the internet.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vrb_agent.agents.api import ajudge
from vrb_agent.judges.registry import get_backend

LIVE = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}


@pytest.mark.live
@pytest.mark.parametrize("provider", list(LIVE))
async def test_live_tiny_judgment(provider: str, square_video: Path) -> None:
    if not any(os.environ.get(name) for name in LIVE[provider]):
        pytest.skip(f"no {' or '.join(LIVE[provider])} set")
    backend = get_backend(provider)
    try:
        judgment = await ajudge(
            square_video,
            "What shape appears in the middle of the video, and what colour is it?",
            "A red square.",
            "A blue circle.",
            backend=backend,
            mode="agentic",
            frames=4,
            max_turns=2,
        )
    finally:
        await backend.aclose()
    assert judgment.status != "error", judgment.error
    assert judgment.usage.calls >= 1 and judgment.usage.input_tokens > 0
    assert judgment.usage.cost_usd is not None and judgment.usage.cost_usd > 0
