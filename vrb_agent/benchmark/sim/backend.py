"""The `sim` backend: perceive every image of the request, check both claims, answer like a model."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vrb_agent.benchmark.sim.findings import judge_claims
from vrb_agent.benchmark.sim.grammar import parse_claim
from vrb_agent.benchmark.sim.perception import Seen, perceive
from vrb_agent.judges.base import (
    Backend,
    Capabilities,
    ImagePart,
    Message,
    ModelReply,
    ModelRequest,
    ToolCall,
    Usage,
)
from vrb_agent.lru import LRU
from vrb_agent.pairblock import extract_pair

CONFIDENT, PARTIAL, UNSURE = 0.9, 0.7, 0.5  # one claim held and the other refuted; one of those; neither


def seeded_pick(seed: int | None, text: str) -> str:
    """The fixed rule for an undecidable pair: a hash of the seed and the pair as presented
    (question and both answers; the whole first message when they cannot be found)."""
    digest = hashlib.sha256(f"{seed}|{text}".encode()).digest()
    return "A" if digest[0] % 2 == 0 else "B"


def _images(request: ModelRequest) -> Iterable[tuple[ImagePart, bool]]:
    """Every image of the conversation, and whether it is an overview frame (first user message)."""
    first = next((i for i, m in enumerate(request.messages) if m.role == "user"), -1)
    for index, message in enumerate(request.messages):
        yield from ((p, index == first) for p in message.parts if isinstance(p, ImagePart))
        for result in message.tool_results:
            yield from ((p, False) for p in result.parts if isinstance(p, ImagePart))


def _done_calls(messages: Sequence[Message]) -> list[tuple[str, dict[str, Any]]]:
    return [(c.name, c.arguments) for m in messages if m.role == "assistant" for c in m.tool_calls]


@dataclass
class Decision:
    preferred: str
    confidence: float
    rationale: str
    evidence: list[dict[str, Any]]
    actions: list[tuple[str, dict[str, Any]]]


class SimBackend(Backend):
    """The simulated judge; see the package docstring for what it can and cannot perceive."""

    name = "sim"
    CACHE_ENTRIES = 4096

    def __init__(self, model: str = "sim-1", **_: Any) -> None:
        super().__init__(model)
        self._seen: LRU[str, Seen | None] = LRU(self.CACHE_ENTRIES)

    def capabilities(self) -> Capabilities:
        return Capabilities(images_in_tool_results=True, max_images_per_request=1000)

    def _perceive(self, request: ModelRequest, part: ImagePart) -> Seen | None:
        if part.evidence_id in self._seen:  # a cached None means "looked, saw nothing"
            return self._seen.get(part.evidence_id)
        image = request.evidence_store().get(part.evidence_id)
        result = perceive(image.to_array(), part.label or image.label)
        self._seen.put(part.evidence_id, result)
        return result

    def decide(self, request: ModelRequest) -> Decision:
        """Perceive every image of the conversation, check both claims, and say what to do next."""
        first_user = next((m.text for m in request.messages if m.role == "user"), "")
        pair = extract_pair(first_user)
        pick = seeded_pick(request.seed, "\x1f".join(pair) if pair else first_user)
        if pair is None:
            return Decision(pick, UNSURE, "I could not find the question and the two answers.", [], [])
        _, answer_a, answer_b = pair
        claim_a, claim_b = parse_claim(answer_a), parse_claim(answer_b)
        if claim_a is None or claim_b is None or claim_a.kind != claim_b.kind:
            return Decision(pick, UNSURE, "I cannot extract comparable visual claims from the answers.", [], [])
        seen = [
            replace(s, overview=first) if first else s
            for s, first in ((self._perceive(request, p), first) for p, first in _images(request))
            if s is not None
        ]
        finding = judge_claims((claim_a, claim_b), seen)
        done = _done_calls(request.messages)
        actions = [a for a in finding.actions if a not in done]
        rationale = " ".join(finding.notes)
        support_a, support_b = finding.support
        if support_a != support_b:
            preferred = "A" if support_a > support_b else "B"
            confidence = CONFIDENT if abs(support_a - support_b) == 2 else PARTIAL
            verdict = f"Answer {preferred}'s claim matches what I see."
            return Decision(preferred, confidence, f"{rationale} {verdict}", finding.evidence, actions)
        rationale += " The evidence does not separate the two answers; this pick is a fixed seeded guess."
        return Decision(pick, UNSURE, rationale, finding.evidence, actions)

    async def complete(self, request: ModelRequest) -> ModelReply:
        decision = self.decide(request)
        usage = Usage(images=request.image_count(), calls=1)
        tools = {t.name for t in request.tools}
        if not tools or request.tool_choice == "none":
            text = f"{decision.rationale}\n\nOverall Judgment: Answer {decision.preferred} is better."
            return ModelReply(text=text, usage=usage, model=self.model)
        turn = sum(m.role == "assistant" for m in request.messages)
        forced = request.tool_choice == "submit_verdict" or tools == {"submit_verdict"}
        calls = [a for a in decision.actions if a[0] in tools] if not forced and decision.confidence < CONFIDENT else []
        if calls:
            tool_calls = [ToolCall(id=f"sim-{turn}-{i}", name=n, arguments=a) for i, (n, a) in enumerate(calls)]
            return ModelReply(
                text="Looking closer.", tool_calls=tool_calls, usage=usage, stop_reason="tool_calls", model=self.model
            )
        verdict = {
            "preferred": decision.preferred,
            "confidence": decision.confidence,
            "rationale": decision.rationale,
            "evidence": [
                {"note": e.get("note", "")} | {k: v for k, v in e.items() if k != "note"} for e in decision.evidence
            ],
        }
        call = ToolCall(id=f"sim-{turn}-verdict", name="submit_verdict", arguments=verdict)
        return ModelReply(text="", tool_calls=[call], usage=usage, stop_reason="tool_calls", model=self.model)
