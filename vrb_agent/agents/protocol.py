"""Judging protocols: which prompts the judge sees, how its text verdict is read, in which order
the K draws present the pair, how they are sampled and how they are voted.

- `vrb-agent` (default): vrb-agent's own prompts (A/B, a system prompt, the pair in tags; the
  criteria include harmlessness), the tolerant parser with one repair request, `JudgeConfig.order`,
  temperature 0 unless set, and the majority of the valid draws.
- `vlrb`: VL-RewardBench's official protocol (vl-rewardbench/VL_RewardBench: prompt.py,
  inference_hf.py, cal.py): one user message with no system prompt, its template ("Answer 1" /
  "Answer 2", four criteria) followed by the image, `<image>\\n` removed; the official regex reads
  the verdict, vrb-agent's tolerant parser is a fallback whose use is recorded per draw; no repair
  request; temperature 0.2 / top_p 0.2 unless set; each draw in its own seeded random order; cal.py's
  strict majority (more than half of all K draws, unparsable ones included).
- `videorewardbench`: what the paper (arXiv 2509.00484) publishes: pairwise, the order randomised
  and reversed across the K draws, temperature 1.0 when K > 1. Where it is silent (prompt, parsing,
  vote, K = 1 sampling) vrb-agent's choices apply; README lists them.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Literal

from vrb_agent.agents import prompts
from vrb_agent.agents.types import Mode, Order, Preference, ProtocolName
from vrb_agent.agents.verdict import VoteRule, parse_judgment_text
from vrb_agent.judges.base import ImagePart, Message, Part, TextPart

PROTOCOL_NAMES: tuple[ProtocolName, ...] = ("vrb-agent", "vlrb", "videorewardbench")
OrderPolicy = Literal["config", "independent", "alternating"]
Reader = Literal["tolerant", "official"]

# inference_hf.py's pattern, applied (case-insensitively) to the reply with newlines and `*` removed.
VLRB_VERDICT = re.compile(
    r"(?:Overall Judgment|Therefore)\s*.*\s*-*\s*Answer\s*(\d+)\s*is\s*(?:the\s*)?(?:slightly\s*)?better",
    re.IGNORECASE,
)
_VLRB_LABELS: dict[str, Preference] = {"1": "A", "2": "B"}


@dataclass(frozen=True)
class TextVerdict:
    """What a single-pass reply says: the presented label it prefers (None: unreadable) and whether
    only the fallback parser could read it (a protocol with an official parser reports those apart)."""

    preferred: Preference | None
    fallback: bool = False


def read_vlrb_verdict(text: str) -> Preference | None:
    """The presented label the official regex finds ("Answer 1" is A), or None. A number other than
    1 or 2 is None here (cal.py would count it as agreeing with the human label)."""
    match = VLRB_VERDICT.search(text.replace("\n", "").replace("*", ""))
    return _VLRB_LABELS.get(match.group(1)) if match else None


@dataclass(frozen=True)
class Protocol:
    """A judging protocol (see the module docstring); `get_protocol(name)` gives the built-in ones."""

    name: ProtocolName
    description: str
    vote_rule: VoteRule
    order: OrderPolicy
    reader: Reader
    repair: bool
    temperature: float
    temperature_k: float | None = None  # the temperature when k > 1, if it differs
    top_p: float | None = None

    def sampling(self, k: int) -> tuple[float, float | None]:
        """(temperature, top_p) the protocol uses for k draws when the caller sets none."""
        hot = self.temperature_k if k > 1 and self.temperature_k is not None else self.temperature
        return hot, self.top_p

    def presentation_order(self, order: Order) -> Order:
        """`JudgeConfig.order` under this protocol: protocols that randomise the order themselves
        take `fixed` (the default) as `random` and refuse `both` (2K draws are not theirs)."""
        if self.order == "config":
            return order
        if order == "both":
            raise ValueError(
                f"order 'both' is not part of the {self.name} protocol, which presents each of the K draws in a "
                "seeded random order itself; leave --order at its default (or use --protocol vrb-agent)"
            )
        return "random"

    def swapped(self, k: int, order: Order, seed: int) -> list[bool]:
        """`swapped` per draw: independent seeded coin flips (vlrb), else alternating from the first,
        which is seeded-random for order=random (videorewardbench, and vrb-agent's --order random)."""
        if self.order == "independent":
            return [random.Random(f"{self.name}-order\0{seed}\0{i}").random() < 0.5 for i in range(k)]
        count = k * (2 if order == "both" else 1)
        first_swapped = order == "random" and random.Random(seed).random() < 0.5
        return [first_swapped != (i % 2 == 1) for i in range(count)]

    def system_prompt(self, mode: Mode, max_turns: int) -> str:
        return prompts.system_prompt(mode, max_turns, self.name)

    def first_message(
        self, mode: Mode, pair: tuple[str, str, str], media_note: str, images: list[Part], still: bool
    ) -> Message:
        """The first user message: the text, then the media. vlrb sends its template and, single-pass,
        the image unlabelled right after it (an agentic judge also gets the media note and the
        frames' times, which its tools need); `still` says the media is one image."""
        question, first, second = pair
        if self.name != "vlrb":
            text = prompts.first_user_text(question, first, second, media_note)
            return Message(role="user", parts=[TextPart(text=text), *images])
        text = prompts.vlrb_user_text(question, first, second)
        if mode == "single" and still:
            images = [p.model_copy(update={"unlabelled": True}) if isinstance(p, ImagePart) else p for p in images]
        else:
            text = f"{text}\n\n{media_note}"
        return Message(role="user", parts=[TextPart(text=text), *images])

    def read_text(self, text: str) -> TextVerdict:
        """A single-pass reply's verdict: the official parser first where there is one, then the
        tolerant one (flagged as fallback); never a guess."""
        if self.reader == "official":
            official = read_vlrb_verdict(text)
            if official is not None:
                return TextVerdict(official)
            tolerant = parse_judgment_text(text)
            return TextVerdict(tolerant, fallback=tolerant is not None)
        return TextVerdict(parse_judgment_text(text))


VRB_AGENT = Protocol(
    name="vrb-agent",
    description="vrb-agent's own prompts (criteria include harmlessness), tolerant parsing with one repair, "
    "JudgeConfig.order, temperature 0 unless set, majority of the valid draws",
    vote_rule="valid",
    order="config",
    reader="tolerant",
    repair=True,
    temperature=0.0,
)
VLRB = Protocol(
    name="vlrb",
    description="VL-RewardBench's official prompt, regex, sampling (T 0.2, top_p 0.2), per-draw random order "
    "and cal.py's strict majority over all K draws",
    vote_rule="strict",
    order="independent",
    reader="official",
    repair=False,
    temperature=0.2,
    top_p=0.2,
)
VIDEOREWARDBENCH = Protocol(
    name="videorewardbench",
    description="VideoRewardBench's published setup: order randomised and reversed across the K draws, "
    "T 1.0 when K > 1; vrb-agent's prompts, parser (no repair) and valid-draw majority where the paper is silent",
    vote_rule="valid",
    order="alternating",
    reader="tolerant",
    repair=False,
    temperature=0.0,
    temperature_k=1.0,
)
PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (VRB_AGENT, VLRB, VIDEOREWARDBENCH)}


def get_protocol(name: str) -> Protocol:
    """The built-in protocol of a name."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"protocol {name!r} is unknown; choose one of: {', '.join(PROTOCOLS)}") from None
