"""A planned judge for cascade tests: per sample, what the single pass (both orders) and the agentic
judgment decide, paid for through the backend so a spend meter sees every call."""

from __future__ import annotations

from pathlib import Path

from vrb_agent.agents.types import Judgment, Verdict
from vrb_agent.benchmark import run_benchmark
from vrb_agent.benchmark.metrics import read_results
from vrb_agent.judges.base import ModelReply, ModelRequest, Usage
from vrb_agent.judges.scripted import ScriptedBackend

# What each stage does for sample number n, by n % 10 (single under --order both, agentic):
#   right/wrong: both orders agree on the chosen/rejected response; split: the orders disagree (tie);
#   half: one order invalid, the other right (ok, vote share 0.5, order agreement unknown);
#   invalid: no verdict; error: the judge raises.
PLAN = {
    0: ("right", "right"),
    1: ("right", "right"),
    2: ("right", "right"),
    3: ("wrong", "right"),  # confidently wrong: kept, the cascade is wrong too
    4: ("split", "right"),
    5: ("split", "right"),
    6: ("invalid", "right"),
    7: ("split", "error"),  # the escalation fails
    8: ("right", "wrong"),  # kept: the cascade is right where agentic is wrong
    9: ("half", "right"),
}
ESCALATED = {4, 5, 6, 7, 9}
CALLS = {"single": 2, "agentic": 6}  # model calls per judgment (both orders)
IMAGES = {"single": 4, "agentic": 20}


class PlannedJudge:
    """An `ajudge` stand-in that follows PLAN, pays for its calls through the backend (so a spend
    meter sees them) and logs every (sample number, mode) it judged."""

    def __init__(self, plan: dict[int, tuple[str, str]] = PLAN, votes: dict[int, list[str]] | None = None) -> None:
        self.plan = plan
        self.votes = votes or {}
        self.calls: list[tuple[int, str]] = []

    async def __call__(self, media, question, response_a, response_b, *, backend, mode, config, store=None):
        number = int(response_a.split()[-1])
        self.calls.append((number, mode))
        usage = Usage()
        for _ in range(CALLS[mode]):
            usage += (await backend.complete(ModelRequest(system="", messages=[]))).usage
        kind = self.plan[number % 10][0 if mode == "single" else 1]
        if kind == "error":
            raise RuntimeError(f"agentic judge failed on sample {number}")
        good = "A" if response_a.startswith("good") else "B"
        bad = "B" if good == "A" else "A"
        votes = {"right": [good, good], "wrong": [bad, bad], "split": [good, bad], "half": [good, None]}
        votes |= {"invalid": [None, None]}
        cast = self.votes.get(number, votes[kind])
        valid = [v for v in cast if v]
        top = max(set(valid), key=valid.count) if valid else None
        tied = bool(valid) and valid.count(top) * 2 == len(valid)
        status = "invalid" if not valid else ("tie" if tied else "ok")
        agree = None if None in cast[:2] else cast[0] == cast[1]
        verdict = Verdict(preferred=top, confidence=valid.count(top) / len(cast)) if status == "ok" else None
        return Judgment(
            status=status, verdict=verdict, mode=mode, order=config.order, k=config.k, frames=config.frames,
            votes=cast, order_agreement=agree if config.order == "both" else None,
            images_sent=IMAGES[mode], usage=usage, backend=backend.name, model=backend.model,
            error=None if status == "ok" else f"{status} in {mode}",
        )  # fmt: skip


CALL_USD = 0.001


def priced(request: ModelRequest) -> ModelReply:
    return ModelReply(text="ok", usage=Usage(input_tokens=100, output_tokens=10, calls=1, cost_usd=CALL_USD))


def bench(out: Path, data: Path, judge: PlannedJudge | None = None, **kwargs):
    kwargs.setdefault("backend", ScriptedBackend(priced, model="fake"))
    kwargs.setdefault("order", "both")
    judge = judge or PlannedJudge()
    return run_benchmark(out=out, dataset="generic", data=str(data), judge=judge, progress=False, **kwargs)


def by_mode(path: Path) -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = {}
    for r in read_results(path):
        out.setdefault(r["mode"], {})[int(r["sample_id"][1:])] = r
    return out
