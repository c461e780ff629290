"""Reading verdicts: the single-pass text format, submit_verdict arguments, order mapping, voting.

Parsing is tolerant of formatting (markdown, case, "Answer 1/2" for "A/B", "slightly better") but
never guesses: text that names no winner, names both without saying which is better, or declares a
tie yields None, which the graph turns into a repair request and then status `invalid`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Literal, TypeVar

from pydantic import ValidationError

from vrb_agent.agents.prompts import SubmitVerdictArgs
from vrb_agent.agents.types import Preference, Verdict

L = TypeVar("L", bound=str)

_LABEL = r"(?:answer|response|assistant|option|candidate)?\s*(?:#\s*)?\(?\s*([ab12])\s*\)?"
_LABELS: dict[str, Preference] = {"a": "A", "1": "A", "b": "B", "2": "B"}
_MARKUP = re.compile(r"[*_`#>|\[\]]")
_JUDGMENT = re.compile(r"(?:overall|final)\s+(?:judge?ment|verdict|answer|decision)|\bverdict\b|\bconclusion\b", re.I)
_TIE = re.compile(
    r"\b(?:tie|equally (?:good|bad|correct|accurate|valid)|neither|both (?:are )?(?:equally|equal))\b", re.I
)
_BETTER = r"(?:better|superior|preferred|preferable|more (?:accurate|correct|faithful|helpful|complete))"
_WORSE = r"(?:worse|inferior|less (?:accurate|correct|faithful|helpful))"
_QUAL = r"(?:(?:is|was|are)\s+)?(?:(?:slightly|much|far|significantly|clearly|somewhat|marginally|overall|the)\s+)*"
_NOUN = r"(?:answer|response|assistant|output|candidate)"
_NEGATION = re.compile(r"\bnot\b|n't\b|\bno longer\b", re.I)
_NAMED = re.compile(rf"\b{_NOUN}\s*(?:#\s*)?\(?\s*([ab12])\b\s*\)?\s*{_QUAL}", re.I)
_WINNER_FIRST = re.compile(rf"\b{_NOUN}\s*(?:#\s*)?\(?\s*([ab12])\b\s*\)?\s*{_QUAL}{_BETTER}", re.I)
_LOSER_FIRST = re.compile(rf"\b{_NOUN}\s*(?:#\s*)?\(?\s*([ab12])\b\s*\)?\s*{_QUAL}{_WORSE}", re.I)
_WINNER_AFTER = re.compile(
    rf"\b(?:better|best|preferred|winning|superior)\s+(?:answer|response|one)\s*(?:is|:)?\s*{_LABEL}\b"
    rf"|\bi\s+(?:would\s+)?(?:prefer|choose|pick|select)\s+{_LABEL}\b",
    re.I,
)
_BARE = re.compile(rf"^\s*[:\-=]?\s*{_LABEL}\s*[.!]?\s*$", re.I)


def _other(label: Preference) -> Preference:
    return "B" if label == "A" else "A"


def _winner_in(sentence: str) -> Preference | None:
    """The one winner a sentence names, or None when it names none or contradicts itself."""
    found: set[Preference] = set()
    for match in _WINNER_FIRST.finditer(sentence):
        found.add(_LABELS[match.group(1).lower()])
    for match in _WINNER_AFTER.finditer(sentence):
        label = next(g for g in match.groups() if g)
        found.add(_LABELS[label.lower()])
    for match in _LOSER_FIRST.finditer(sentence):
        found.add(_other(_LABELS[match.group(1).lower()]))
    return found.pop() if len(found) == 1 else None


def _only_label_in(text: str) -> Preference | None:
    """A judgment line that names exactly one answer ("Overall Judgment: Answer B") or a bare label."""
    bare = _BARE.match(text)
    if bare:
        return _LABELS[bare.group(1).lower()]
    labels = {_LABELS[m.group(1).lower()] for m in _NAMED.finditer(text)}
    return labels.pop() if len(labels) == 1 else None


def parse_judgment_text(text: str) -> Preference | None:
    """The presented label ("A"/"B") a single-pass reply prefers, or None when it does not say.

    Looks at the last "Overall Judgment"-style statement first, then at the last sentence that
    says one answer is better. A tie or "neither" is None.
    """
    clean = _MARKUP.sub(" ", text)
    markers = list(_JUDGMENT.finditer(clean))
    if markers:
        tail = clean[markers[-1].end() :]
        tail = re.split(r"\n\s*\n", tail.strip(" :\t\n-"), maxsplit=1)[0]
        winner = _winner_in(tail)
        if winner is None and not _TIE.search(tail) and not _NEGATION.search(tail):
            winner = _only_label_in(tail)
        if winner or _TIE.search(tail):
            return winner
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n+", clean) if s.strip()]
    for sentence in reversed(sentences):
        winner = _winner_in(sentence)
        if winner or _TIE.search(sentence):
            return winner
    return None


def parse_submission(arguments: object) -> Verdict | str:
    """submit_verdict arguments as a Verdict (presentation terms), or a corrective message."""
    try:
        args = SubmitVerdictArgs.model_validate(arguments)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors())
        return (
            f"submit_verdict: invalid arguments ({problems}). Call it as submit_verdict(preferred='A' or "
            "'B', confidence=0..1, rationale='...', evidence=[{timestamp, start, end, box, note}])."
        )
    return Verdict(**args.model_dump())


def to_sample_terms(label: Preference, swapped: bool) -> Preference:
    """Map a presented label back to the sample's own A/B (presentation B is sample A when swapped)."""
    return _other(label) if swapped else label


def map_verdict(verdict: Verdict, swapped: bool) -> Verdict:
    return verdict.model_copy(update={"preferred": to_sample_terms(verdict.preferred, swapped)})


VoteRule = Literal["valid", "strict"]
VOTE_RULES: tuple[VoteRule, ...] = ("valid", "strict")
"""How draws become one verdict: `valid`, the majority of the valid draws (vrb-agent's own rule);
`strict`, VL-RewardBench's cal.py: a label wins only with more than half of all K draws,
unparsable ones included."""


def majority(votes: Sequence[L | None]) -> L | None:
    """The label most valid votes chose; None when there are no valid votes or the top two tie."""
    counts = Counter(v for v in votes if v is not None).most_common()
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def strict_majority(votes: Sequence[L | None]) -> L | None:
    """The label chosen by more than half of all draws (invalid ones count in K); else None."""
    counts = Counter(v for v in votes if v is not None).most_common(1)
    return counts[0][0] if counts and 2 * counts[0][1] > len(votes) else None


def decide(votes: Sequence[L | None], rule: VoteRule = "valid") -> L | None:
    """The winner of the draws under a vote rule (see VOTE_RULES); None when no label wins."""
    if rule == "valid":
        return majority(votes)
    if rule == "strict":
        return strict_majority(votes)
    raise ValueError(f"vote rule {rule!r} is unknown; choose one of: {', '.join(VOTE_RULES)}")
