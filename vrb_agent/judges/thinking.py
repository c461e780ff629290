"""Thinking checkpoints (Qwen3-VL-*-Thinking and the like): reasoning apart from the answer.

Their chat templates open `<think>` in the generation prompt, so a reply holds the reasoning, then
`</think>`, then the answer. A reply without `</think>` has no answer at all: it was cut off by the
token budget (or ended) while still reasoning, and nothing in it may be read as a verdict or a tool
call. Both the local `qwen` backend and `vllm` against a server without `--reasoning-parser` read
replies through `split_thinking`.
"""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class Thought:
    """A reply split into reasoning and answer; `finished` is False while `</think>` is missing."""

    reasoning: str
    answer: str
    finished: bool = True


def prompt_opens_thinking(prompt: str) -> bool:
    """True when the rendered prompt ends inside an open `<think>` (the model continues reasoning)."""
    return prompt.rfind(THINK_OPEN) > prompt.rfind(THINK_CLOSE)


def split_thinking(text: str, opened_in_prompt: bool) -> Thought:
    """Reasoning and answer of one reply. `opened_in_prompt`: the prompt ended inside `<think>`, so
    the reply starts in the reasoning even though it holds no opening tag."""
    if THINK_CLOSE in text:
        reasoning, answer = text.rsplit(THINK_CLOSE, 1)
        return Thought(reasoning.split(THINK_OPEN, 1)[-1].strip(), answer.strip())
    if THINK_OPEN in text:
        before, reasoning = text.split(THINK_OPEN, 1)
        return Thought(reasoning.strip(), before.strip(), finished=False)
    if opened_in_prompt:
        return Thought(text.strip(), "", finished=False)
    return Thought("", text.strip())


def unfinished_message(cut_off: bool, max_output_tokens: int | None = None) -> str:
    """Why a reply still inside its reasoning has no verdict, and what to change."""
    if cut_off:
        limit = f"after {max_output_tokens} tokens" if max_output_tokens else "at the output-token limit"
        return (
            f"the model's output was cut off {limit} while it was still reasoning (no </think>, so no "
            "answer was given); raise --max-output-tokens (a thinking checkpoint needs thousands of tokens) "
            "or use an Instruct checkpoint"
        )
    return "the model ended its reply inside its reasoning (no </think>), so it gave no answer"
