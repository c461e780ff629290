"""The probe answer grammar: the sentences the probe suite writes and the claims `sim` reads back.

Each probe kind answers in one template; a wrong answer is the same template with one value
changed. The writers and `parse_claim` sit side by side so the two cannot drift apart. Claim kinds:
`count`, `flash`, `number`, `order`, `shape` (probe kinds count, brief_event, small_text,
temporal_order, attribute).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from vrb_agent.benchmark.synth import NAMED_COLORS

NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)
_NUMBER_VALUES = {word: value for value, word in enumerate(NUMBER_WORDS)}


# ---- writers (the probe suite's answers) --------------------------------------------------------


def count_answer(n: int, color: str, shape: str) -> str:
    return f"There are {NUMBER_WORDS[n]} {color} {shape}s in the video."


def flash_answer(color: str, start: float) -> str:
    return f"A {color} square flashes briefly at about {start:.1f} seconds."


def number_answer(digits: str) -> str:
    return f"The small number printed in the video is {digits}."


def order_answer(first: str, second: str) -> str:
    """`first` and `second` are "colour shape", e.g. "red circle"."""
    return f"The {first} appears first, then the {second}."


def shape_answer(color: str, shape: str) -> str:
    return f"The small {color} object is a {shape}."


# ---- the parser (what the sim reads) --------------------------------------------------------------

_COLORS = "|".join(NAMED_COLORS)
_CLAIMS: dict[str, re.Pattern[str]] = {
    "count": re.compile(rf"there (?:are|is) (?P<n>\w+) (?P<color>{_COLORS}) (?P<shape>square|circle)s?\b", re.I),
    "flash": re.compile(rf"an? (?P<color>{_COLORS}) square flashes briefly at about (?P<t>\d+(?:\.\d+)?) s", re.I),
    "number": re.compile(r"number printed in the video is (?P<digits>\d+)\b", re.I),
    "order": re.compile(
        rf"the (?P<c1>{_COLORS}) (?P<s1>square|circle) appears first, then the (?P<c2>{_COLORS}) "
        r"(?P<s2>square|circle)\b",
        re.I,
    ),
    "shape": re.compile(rf"the small (?P<color>{_COLORS}) object is an? (?P<shape>square|circle)\b", re.I),
}


@dataclass(frozen=True)
class Claim:
    """What one answer asserts, in the probe grammar."""

    kind: str
    fields: dict[str, Any] = field(hash=False)


def parse_claim(answer: str) -> Claim | None:
    """The claim of an answer, or None when the answer is not in the grammar."""
    for kind, pattern in _CLAIMS.items():
        match = pattern.search(answer)
        if not match:
            continue
        values: dict[str, Any] = {k: v.lower() for k, v in match.groupdict().items()}
        if kind == "count":
            n = values["n"]
            values["n"] = int(n) if n.isdigit() else _NUMBER_VALUES.get(n)
            if values["n"] is None:
                return None
        if kind == "flash":
            values["t"] = float(values["t"])
        return Claim(kind, values)
    return None
