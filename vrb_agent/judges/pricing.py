"""The one price table behind every cost estimate, and the default model of each API backend.

Prices are ESTIMATES: list prices per million tokens for standard (non-batch, non-cached,
short-context) usage as published by the providers, last checked on the date below. They are
not fetched at run time and may be out of date; a model not in the table has cost `None`
(unknown), never a guess. Images are billed as input tokens by all three providers, so the
providers' reported input-token counts already include them.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_CHECKED = "2026-11-23"


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float


# Keys are model names or prefixes of dated snapshots ("gpt-4.1" covers "gpt-4.1-2025-04-14");
# the longest matching key wins, so "gpt-4.1-mini" is not priced as "gpt-4.1". Models that the
# providers have already shut down are left out.
PRICES: dict[str, Price] = {
    # OpenAI (short-context standard tier)
    "gpt-6.2-sol": Price(2.00, 10.00),
    "gpt-6.1-sol": Price(2.00, 10.00),
    "gpt-6-sol": Price(2.00, 10.00),
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    # Anthropic
    "claude-sonnet-5-5": Price(2.00, 10.00),
    "claude-sonnet-5": Price(2.00, 10.00),
    "claude-sonnet-4-6": Price(3.00, 15.00),
    "claude-sonnet-4-5": Price(3.00, 15.00),
    "claude-opus-4-5": Price(5.00, 25.00),
    "claude-haiku-4-5": Price(1.00, 5.00),
    # Google (standard tier, prompts up to 200k tokens; thinking tokens billed as output)
    "gemini-3.5-flash": Price(1.50, 9.00),
    "gemini-3.1-pro-preview": Price(2.00, 12.00),
    "gemini-3.1-flash-lite": Price(0.25, 1.50),
    "gemini-3-flash-preview": Price(0.50, 3.00),
    "gemini-2.5-pro": Price(1.25, 10.00),
    "gemini-2.5-flash": Price(0.30, 2.50),
}

# Documented defaults (README "Backends"); `--model` overrides. vllm serves whatever it was
# started with: self-hosted, so it has no per-token price.
DEFAULT_MODELS: dict[str, str] = {
    "openai": "gpt-6.1-sol",
    "vllm": "Qwen/Qwen2.5-VL-72B-Instruct",
    "anthropic": "claude-sonnet-5-5",
    "gemini": "gemini-3.5-flash",
}


def price_of(model: str) -> Price | None:
    """The table entry for `model` (exact name or longest key that prefixes it), if any."""
    name = model.rsplit("/", 1)[-1].lower()
    matches = [key for key in PRICES if name == key or name.startswith(key + "-")]
    return PRICES[max(matches, key=len)] if matches else None


def estimate_cost(model: str, input_tokens: int, output_tokens: int) -> float | None:
    """Estimated USD for one call, or None when the model is not in the table."""
    price = price_of(model)
    if price is None:
        return None
    return (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1_000_000
