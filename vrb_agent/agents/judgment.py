"""From presentations to a Judgment: vote over the finished ones, map order, sum costs and times."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from typing import Any

from vrb_agent.agents import prompts
from vrb_agent.agents.context import JudgeContext
from vrb_agent.agents.protocol import get_protocol
from vrb_agent.agents.turns import Presentation
from vrb_agent.agents.types import JudgeConfig, Judgment, Preference, SampleOutcome, Status, Verdict
from vrb_agent.agents.verdict import VoteRule, decide, majority
from vrb_agent.judges.base import Usage


def judgment_of(
    presentations: Sequence[Presentation], ctx: JudgeContext, started: float | None, error: str | None = None
) -> Judgment:
    """The Judgment of (possibly unfinished) presentations. `error` marks an interrupted run (e.g. a
    deadline): the status is then `error` whatever finished, and unfinished samples say so."""
    done = sorted(presentations, key=lambda p: p["index"])
    outcomes = [_outcome(p) for p in done]
    votes = [o.preferred if o.status == "ok" else None for o in outcomes]
    cfg = ctx.config
    status, verdict, reason = vote(done, outcomes, votes, get_protocol(cfg.protocol).vote_rule)
    if error is not None:
        status, verdict, reason = "error", None, error
    system = prompts.system_prompt(cfg.mode, cfg.max_turns, cfg.protocol)
    notes = [*dict.fromkeys(n for p in done for n in p["notes"]), *protocol_notes(cfg, outcomes)]
    return Judgment(
        status=status, verdict=verdict, error=reason, mode=cfg.mode, order=cfg.order, k=cfg.k, frames=cfg.frames,
        protocol=cfg.protocol, votes=votes, order_agreement=_order_agreement(outcomes) if cfg.order == "both" else None,
        samples=outcomes, evidence=[r for p in done for r in p["evidence"]],
        images_sent=sum(p["images_sent"] for p in done), notes=notes, usage=total_usage([p["usage"] for p in done]),
        timings={
            "total_s": round(time.time() - started, 4) if started else 0.0,
            "model_s": round(sum(p["model_s"] for p in done), 4),
            "tools_s": round(sum(p["tools_s"] for p in done), 4),
        },
        backend=ctx.backend.name, model=ctx.backend.model, transcript=[_transcript(p, system) for p in done],
    )  # fmt: skip


def _outcome(p: Presentation) -> SampleOutcome:
    verdict = p["verdict"]
    return SampleOutcome(
        sample=p["index"], swapped=p["swapped"], status=p["status"] or "error",
        preferred=verdict.preferred if verdict else None, confidence=verdict.confidence if verdict else None,
        turns=p["turns"], error=p["error"] or (None if p["status"] else "unfinished"), fallback=p["fallback"],
    )  # fmt: skip


def _transcript(p: Presentation, system: str) -> dict[str, Any]:
    """A presentation's conversation as JSON: the one place its messages are converted."""
    messages = [m.model_dump(mode="json") for m in p["messages"]]
    return {"sample": p["index"], "swapped": p["swapped"], "system": system, "messages": messages}


def total_usage(usages: list[Usage]) -> Usage:
    """The sum of the presentations' usage (cost stays None unless some call was priced)."""
    return sum(usages, Usage())


def judgment_dict(judgment: Judgment) -> dict[str, Any]:
    """The Judgment as JSON for the graph's output; the transcript already is JSON."""
    return {**judgment.model_dump(mode="json", exclude={"transcript"}), "transcript": judgment.transcript}


def vote(
    done: list[Presentation], outcomes: list[SampleOutcome], votes: list[Preference | None], rule: VoteRule = "valid"
) -> tuple[Status, Verdict | None, str | None]:
    """The rule's winner (see verdict.VOTE_RULES); no winner is `tie`, unless (strict rule) most
    draws gave no vote or none did: then the samples' failure decides."""
    unvoted = votes.count(None)
    if votes and unvoted < len(votes) and not (rule == "strict" and 2 * unvoted > len(votes)):
        winner: Preference | None = decide(votes, rule)
        if winner is None:
            kind = "tied" if rule == "valid" else "without a strict majority (more than half of all draws)"
            return "tie", None, f"the votes are {kind}: {votes}"
        chosen = next(p["verdict"] for p, v in zip(done, votes, strict=True) if v == winner and p["verdict"])
        if len(votes) > 1:
            chosen = chosen.model_copy(update={"confidence": votes.count(winner) / len(votes)})
        return "ok", chosen, None
    statuses = {o.status for o in outcomes}
    first_error = next((o.error for o in outcomes if o.error), None)
    for status in ("error", "refused"):
        if status in statuses:
            return status, None, first_error
    return "invalid", None, first_error


def _order_agreement(outcomes: list[SampleOutcome]) -> bool | None:
    """Whether the majority in the original order equals the majority in the swapped order."""
    straight = majority([o.preferred for o in outcomes if not o.swapped and o.status == "ok"])
    swapped = majority([o.preferred for o in outcomes if o.swapped and o.status == "ok"])
    return None if straight is None or swapped is None else straight == swapped


def protocol_notes(cfg: JudgeConfig, outcomes: list[SampleOutcome]) -> list[str]:
    """What a reader of the numbers must know about how they were drawn and read."""
    notes = [sampling_warning(cfg.k, cfg.temperature)] if cfg.k > 1 and cfg.temperature == 0 else []
    for note in notes:
        log_once(note)
    fallback = sum(o.fallback for o in outcomes)
    if fallback:
        notes.append(
            f"{cfg.protocol}: {fallback} of {len(outcomes)} draws were read by the fallback parser (the official "
            "regex found no verdict); the official-only vote counts them as unparsable"
        )
    return notes


@functools.cache
def log_once(message: str) -> None:
    """Log a warning once per process (a benchmark would repeat it for every judgment)."""
    logging.getLogger(__name__).warning(message)


def sampling_warning(k: int, temperature: float) -> str:
    """The warning for k > 1 draws at temperature 0 (near-identical draws: the vote adds little)."""
    return (
        f"k={k} draws at temperature 0: a backend that applies it answers (nearly) the same each time, so the "
        "vote measures little; set a temperature (e.g. --temperature 1.0) or use k=1"
    )
