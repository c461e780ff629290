"""One line of RUN_DIR/results.jsonl: `ResultRecord` (DESIGN.md §5 fields plus the trace extras the
runner adds), and how one is built from a judgment. RunDir (benchmark.rundir) writes them.

A record names its own cell: a sample judged under a condition (mode, frames, k) and a control
(`blind`, `shuffled`; benchmark.controls), "" for a normal cell and then absent from the line, so
lines of runs without controls are unchanged. The JSON written
is the record's set fields in declaration order, then any extras (keys of other versions are kept);
a record read from a line keeps that line's key order, so it writes out byte for byte the same. Error records carry no
trace extras (order_agreement, verdict_evidence, timings, notes, shown_first, shown): they are left unset,
not null. Every record of a sample that says where its decisive evidence is carries it (decisive_evidence).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from vrb_agent.agents.types import Judgment, Status
from vrb_agent.benchmark.datasets import Sample
from vrb_agent.benchmark.escalation import CascadeTrace
from vrb_agent.judges.base import Usage
from vrb_agent.judges.retry import redact

ConditionKey = tuple[str, int, int]  # (mode, frames, k): what a record was judged under (summary.Condition as a key)
CellKey = tuple[str, str, int, int, str]  # (sample_id, mode, frames, k, control): one record per cell
Arm = tuple[str, int, int, str]  # (mode, frames, k, control): a condition under a control ("" for none)
Side = Literal["A", "B"]
UNKNOWN_SOURCE = "unknown"

SECRET_NAME = re.compile(r"(API_KEY|TOKEN|SECRET|PASSWORD)$")


def usage_tokens(usage: dict[str, Any]) -> int:
    """Input plus output tokens of a record's `usage`."""
    return int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)


def redact_env(text: str) -> str:
    """`text` with the values of secret-looking environment variables (keys, tokens) replaced."""
    secrets = [v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= 8]
    return redact(text, secrets)


class ToolCallSummary(BaseModel):
    """§5 `tool_calls` entry: which tool, with what arguments, and whether the call was valid."""

    model_config = ConfigDict(extra="allow")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    ok: bool = True


class ResultRecord(BaseModel):
    """One results.jsonl line. Only the cell key is required, so lines of older versions still read;
    `to_json_line` writes the fields that were set (see the module docstring)."""

    model_config = ConfigDict(extra="allow")

    sample_id: str
    dataset: str = ""
    dimension: str = ""
    source: str = UNKNOWN_SOURCE  # the sample's source dataset; lines of versions before it read as unknown
    mode: str
    control: str = ""
    control_donor: str | None = None  # shuffled: the sample whose media was shown
    backend: str = ""
    model: str = ""
    k: int
    frames: int
    order: str = "fixed"
    chosen_position: Side | None = None
    config_hash: str = ""
    latency_s: float = 0.0
    status: Status = "error"
    preferred: Side | None = None
    confidence: float | None = None
    correct: bool | None = None
    rationale: str = ""
    tool_calls: list[ToolCallSummary] = Field(default_factory=list)
    images_sent: int = 0
    usage: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    votes: list[Side | None] = Field(default_factory=list)
    order_agreement: bool | None = None
    verdict_evidence: list[dict[str, Any]] = Field(default_factory=list)
    evidence: list[dict[str, Any]] = Field(default_factory=list)
    images: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    protocol: str = "vrb-agent"  # written only for another protocol, so default records read as before
    fallback_draws: list[int] = Field(
        default_factory=list, description="draws whose vote only the fallback parser read (the official one found none)"
    )
    shown_first: list[Side] = Field(default_factory=list)  # per vote: the sample's response shown in the first slot
    chosen_chars: int | None = None  # lengths of the two responses, for the length-bias panel
    rejected_chars: int | None = None
    # every image sent ({"t", "box"?}) and native-video span ({"start", "end"}): benchmark.views
    shown: list[dict[str, Any]] = Field(default_factory=list)
    # where the sample's decisive evidence is (its meta.evidence regions), for failure attribution
    decisive_evidence: list[dict[str, Any]] = Field(default_factory=list)
    escalated: bool | None = None  # cascade records: whether the single pass was escalated to agentic
    cascade: CascadeTrace | None = None  # cascade records: the rule, the reason and each stage
    _keys: tuple[str, ...] = PrivateAttr(default=())  # the key order of the line it was read from

    @property
    def condition(self) -> ConditionKey:
        return (self.mode, self.frames, self.k)

    @property
    def key(self) -> CellKey:
        return (self.sample_id, self.mode, self.frames, self.k, self.control)

    @property
    def tokens(self) -> int:
        return usage_tokens(self.usage)

    def to_dict(self) -> dict[str, Any]:
        """The record as the JSON object of its line."""
        data = self.model_dump(exclude_unset=True)
        if not self._keys:
            return data
        return {**{k: data[k] for k in self._keys if k in data}, **data}

    def to_json_line(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"

    @classmethod
    def from_json_line(cls, line: bytes | str) -> ResultRecord:
        """Parse one line; RecordLineError says what is wrong with a line that is not a record."""
        try:
            data = json.loads(line.decode("utf-8") if isinstance(line, bytes) else line)
        except UnicodeDecodeError as exc:
            raise RecordLineError(f"not UTF-8 at byte {exc.start}") from None
        except json.JSONDecodeError as exc:
            raise RecordLineError(f"{exc.msg} at column {exc.colno}") from None
        if not isinstance(data, dict):
            raise RecordLineError(f"a JSON {type(data).__name__}, not a record")
        try:
            record = cls.model_validate(data)
        except ValidationError as exc:
            fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]}))
            raise RecordLineError(f"not a result record ({fields} missing or malformed)") from None
        record._keys = tuple(data)
        return record


class RecordLineError(ValueError):
    """A results.jsonl line that is not a result record; the message says why."""


class Cell(BaseModel):
    """What every record of one cell shares: the sample, its condition, and the run's identity."""

    sample: Sample
    condition: ConditionKey
    control: str = ""
    donor: str | None = None
    dataset: str
    position: Side
    order: str
    config_hash: str
    backend: str
    model: str

    def base(self, latency_s: float) -> dict[str, Any]:
        mode, frames, k = self.condition
        return {
            "sample_id": self.sample.id,
            "dataset": self.dataset,
            "dimension": self.sample.dimension,
            "source": self.sample.source or UNKNOWN_SOURCE,
            "mode": mode,
            **({"control": self.control} if self.control else {}),
            **({"control_donor": self.donor} if self.donor else {}),
            "backend": self.backend,
            "model": self.model,
            "k": k,
            "frames": frames,
            "order": self.order,
            "chosen_position": self.position,
            "config_hash": self.config_hash,
            "latency_s": round(latency_s, 4),
            **({"decisive_evidence": self.sample.meta["evidence"]} if self.sample.meta.get("evidence") else {}),
        }

    def lengths(self) -> dict[str, int]:
        """The character counts of the chosen and rejected responses (every record carries them)."""
        return {"chosen_chars": len(self.sample.chosen), "rejected_chars": len(self.sample.rejected)}

    def error_record(
        self, error: str | None, latency_s: float = 0.0, images: list[str] | None = None, usage: Usage | None = None
    ) -> ResultRecord:
        """The record of a cell that produced no judgment (bad media, a judge bug, a timeout), with
        the usage of any model calls it made before that."""
        return ResultRecord(
            **self.base(latency_s),
            status="error",
            preferred=None,
            confidence=None,
            correct=None,
            rationale="",
            tool_calls=[],
            images_sent=0,
            usage=usage.model_dump(mode="json") if usage and usage.calls else {},
            error=redact_env(error or "unknown error"),
            votes=[],
            evidence=[],
            images=images or [],
            **self.lengths(),
        )

    def judged_record(
        self, judgment: Judgment, latency_s: float, images: list[str], shown: list[dict[str, Any]] | None = None
    ) -> ResultRecord:
        """The record of a judgment (any status), with its trace fields for the report (`shown`:
        benchmark.views.shown_of)."""
        base = self.base(latency_s)
        verdict = judgment.verdict if judgment.status == "ok" else None
        optional = protocol_extras(judgment)
        if judgment.notes:  # e.g. images shrunk to fit the context
            optional["notes"] = judgment.notes
        if judgment.samples:  # which response each vote saw first (the first-slot bias panel)
            optional["shown_first"] = ["B" if s.swapped else "A" for s in judgment.samples]
        if shown is not None:
            optional["shown"] = shown
        return ResultRecord(
            **{**base, "backend": judgment.backend or self.backend, "model": judgment.model or self.model},
            status=judgment.status,
            preferred=verdict.preferred if verdict else None,
            confidence=verdict.confidence if verdict else None,
            correct=(verdict.preferred == self.position) if verdict else None,
            rationale=verdict.rationale if verdict else "",
            tool_calls=[{"name": e.name, "arguments": e.arguments, "ok": e.ok} for e in judgment.evidence],
            images_sent=judgment.images_sent,
            usage=judgment.usage.model_dump(mode="json"),
            error=redact_env(judgment.error) if judgment.error else None,
            votes=list(judgment.votes),
            order_agreement=judgment.order_agreement,
            verdict_evidence=[e.model_dump(mode="json") for e in verdict.evidence] if verdict else [],
            evidence=[e.model_dump(mode="json") for e in judgment.evidence],
            images=images,
            timings=judgment.timings,
            **optional,
            **self.lengths(),
        )


def iter_records(path: str | Path) -> Iterator[ResultRecord]:
    """The records of a results.jsonl (a partial trailing line from a killed run is skipped); a
    corrupt line raises RecordLineError naming the file and line."""
    with Path(path).open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith(b"\n") or not line.strip():
                continue
            try:
                yield ResultRecord.from_json_line(line)
            except RecordLineError as exc:
                raise RecordLineError(f"{path}:{number}: {exc}") from None


def read_records(path: str | Path) -> list[ResultRecord]:
    return list(iter_records(path))


def protocol_extras(judgment: Judgment) -> dict[str, Any]:
    """A non-default protocol and the draws only its fallback parser read (so the official-only
    vote can be recomputed from `votes`); nothing for a default judgment, whose line stays as it was."""
    extras: dict[str, Any] = {}
    if judgment.protocol != "vrb-agent":
        extras["protocol"] = judgment.protocol
    fallback = [i for i, s in enumerate(judgment.samples) if s.fallback]
    if fallback:
        extras["fallback_draws"] = fallback
    return extras
