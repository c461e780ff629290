"""What a benchmark run measures: `BenchConfig`, its identity (what must match for a RUN_DIR to
resume) and the seeded per-sample choices (where the chosen response is shown, the judge's seed).

Position: whether the chosen response is shown as A or B is fixed per sample by a seeded hash, so
position cannot leak the answer, and every mode sees the same presentation (a fair paired test).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from vrb_agent.agents.judgment import sampling_warning
from vrb_agent.agents.protocol import get_protocol
from vrb_agent.agents.types import JudgeConfig, Order, ProtocolName
from vrb_agent.benchmark.controls import Control
from vrb_agent.benchmark.datasets import Dataset, Sample
from vrb_agent.benchmark.escalation import DEFAULT_THRESHOLD, EscalateWhen, policy_problem
from vrb_agent.benchmark.records import SECRET_NAME, Arm, ConditionKey
from vrb_agent.benchmark.shards import Shard
from vrb_agent.judges.provider import public_url

# Fields that define what a run measures. The others only say how much of it to do now, so they may
# change between resumes: concurrency, limit, dims, and the sweep axes (modes, frames, k, controls),
# since every record names its own condition, so a sweep that grows resumes its finished cells. The data is
# identified by its content (dataset_fingerprint), not by the path it was named with.
IDENTITY_FIELDS = (
    "dataset",
    "backend",
    "model",
    "base_url",
    "backend_options",
    "order",
    "max_turns",
    "temperature",
    "max_output_tokens",
    "max_side",
    "max_images",
    "seed",
    "field_map",
    "question_template",
    "dim_map",
    "protocol",
    "top_p",
)
BUDGET_FIELDS = ("max_output_tokens", "max_side", "max_images")
SHUFFLE_SCHEME = "media-derangement-1"  # benchmark.controls.donors; part of the identity of shuffled runs

# A run's modes: the judge's two, and `cascade` (benchmark.cascade: single-pass, escalated to
# agentic when uncertain), which the benchmark composes from them.
BenchMode = Literal["single", "agentic", "cascade"]


class BenchConfig(BaseModel):
    """What to run. Lists sweep: every (mode, frames, k) combination is its own condition."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = "generic"
    data: str
    backend: str = ""
    model: str | None = None
    base_url: str | None = None
    backend_options: dict[str, Any] = Field(default_factory=dict)
    modes: list[BenchMode] = Field(default_factory=lambda: list[BenchMode](["single", "agentic"]), min_length=1)
    frames: list[int] = Field(default_factory=lambda: [16], min_length=1)
    k: list[int] = Field(default_factory=lambda: [1], min_length=1)
    order: Order = "fixed"
    max_turns: int = Field(default=6, ge=1, le=50)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    protocol: ProtocolName = "vrb-agent"
    max_output_tokens: int | None = Field(default=None, ge=16)
    max_side: int | None = Field(default=None, ge=64)
    max_images: int | None = Field(default=None, ge=1)
    seed: int = 0
    field_map: dict[str, str] = Field(default_factory=dict)
    question_template: str | None = None  # videorewardbench: e.g. "{question}\nOptions: {options}"
    dim_map: dict[str, str] = Field(default_factory=dict)  # videorewardbench: file's name -> dimension
    concurrency: int = Field(default=8, ge=1, le=1024)
    limit: int | None = Field(default=None, ge=1)
    dims: list[str] | None = None
    shard: str | None = None  # "I/N": judge only the samples of shard I of N (see benchmark.shards)
    controls: list[Control] = Field(default_factory=list)  # blind, shuffled: see benchmark.controls
    control_modes: list[str] | None = None  # the modes the controls run in; None: every mode
    escalate_when: EscalateWhen = Field(default="disagree", validate_default=True)  # cascade: benchmark.escalation
    escalate_threshold: float = Field(default=DEFAULT_THRESHOLD, gt=0.5, le=1.0)
    budget_usd: float | None = Field(default=None, gt=0)  # stop before the estimated spend passes it

    @field_validator("frames")
    @classmethod
    def _frames_in_range(cls, value: list[int]) -> list[int]:
        if any(not 1 <= f <= 256 for f in value):
            raise ValueError("every frames value must be in 1..256")
        return list(dict.fromkeys(value))

    @field_validator("k")
    @classmethod
    def _k_positive(cls, value: list[int]) -> list[int]:
        if any(k < 1 for k in value):
            raise ValueError("every k must be >= 1")
        return list(dict.fromkeys(value))

    @field_validator("shard")
    @classmethod
    def _valid_shard(cls, value: str | None) -> str | None:
        return None if value is None else str(Shard.parse(value))

    @model_validator(mode="after")
    def _order_fits_protocol(self) -> BenchConfig:
        get_protocol(self.protocol).presentation_order(self.order)  # raises for e.g. vlrb with order=both
        return self

    @field_validator("modes")
    @classmethod
    def _unique_modes(cls, value: list[BenchMode]) -> list[BenchMode]:
        return list(dict.fromkeys(value))

    @field_validator("controls")
    @classmethod
    def _unique_controls(cls, value: list[Control]) -> list[Control]:
        return list(dict.fromkeys(value))

    @field_validator("control_modes")
    @classmethod
    def _control_modes_run(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        modes = info.data.get("modes", [])
        stray = sorted(set(value or []) - set(modes))
        if stray:
            raise ValueError(f"mode(s) {', '.join(stray)} not among the run's modes ({', '.join(modes)})")
        return value

    @field_validator("escalate_when")
    @classmethod
    def _measurable_policy(cls, value: EscalateWhen, info: ValidationInfo) -> EscalateWhen:
        data = info.data
        if "cascade" in data.get("modes", []):
            problem = policy_problem(value, data.get("order", "fixed"), data.get("k", [1]))
            if problem:
                raise ValueError(problem)
        return value

    def conditions(self) -> list[ConditionKey]:
        return [(m, f, k) for f in self.frames for k in self.k for m in self.modes]

    def arms(self) -> list[Arm]:
        """Every condition as a normal cell, then under each control (in the control modes)."""
        normal = [(*c, "") for c in self.conditions()]
        modes = self.control_modes or self.modes
        return normal + [(*c, control) for control in self.controls for c in self.conditions() if c[0] in modes]

    def identity(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", include=set(IDENTITY_FIELDS))
        data["base_url"] = public_url(self.base_url)
        data["backend_options"] = public_options(self.backend_options)
        for key in BUDGET_FIELDS:  # unset budgets are the judge's defaults: runs from before them still resume
            if data[key] is None:
                del data[key]
        for key in ("question_template", "dim_map"):  # unset: the identity of runs from before them
            if not data[key]:
                del data[key]
        if self.shard:  # only when sharded, so an unsharded run's identity (and hash) is unchanged
            data["shard"] = self.shard
        if "shuffled" in self.controls:  # which media a shuffled cell is shown; absent otherwise
            data["shuffle"] = SHUFFLE_SCHEME
        if "cascade" in self.modes:  # what a cascade record means; absent otherwise, as for shard
            data["cascade"] = {"escalate_when": self.escalate_when, "threshold": self.escalate_threshold}
        return data

    def select(self, dataset: Dataset) -> list[Sample]:
        """The samples this run judges: --dims, then --limit, then this machine's --shard."""
        samples = dataset.select(self.dims, self.limit)
        if self.shard is None:
            return samples
        shard = Shard.parse(self.shard)
        return [s for s in samples if shard.holds(s.id)]

    def judge_config(self, condition: ConditionKey, seed: int) -> JudgeConfig:
        mode, frames, k = condition
        given = {"temperature": self.temperature, "top_p": self.top_p, **{k: getattr(self, k) for k in BUDGET_FIELDS}}
        extra = {k: v for k, v in given.items() if v is not None}
        return JudgeConfig(
            mode=mode, frames=frames, k=k, max_turns=self.max_turns, order=self.order, seed=seed,
            protocol=self.protocol, **extra,
        )  # fmt: skip

    def sampling_notes(self) -> list[str]:
        """Warnings about how the run samples, for the run's notes (k > 1 draws at temperature 0)."""
        temperatures = {k: self.judge_config(("single", 1, k), 0).temperature for k in self.k if k > 1}
        return [sampling_warning(k, t) for k, t in temperatures.items() if t == 0]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def identity_hash(identity: dict[str, Any]) -> str:
    return digest(json.dumps(identity, sort_keys=True))[:16]


def chosen_position(sample_id: str, seed: int) -> Literal["A", "B"]:
    """'A' or 'B': where the chosen response is shown, from a seeded hash of the sample id."""
    return "B" if hashlib.sha256(f"{seed}\0{sample_id}".encode()).digest()[0] & 1 else "A"


def sample_seed(sample_id: str, seed: int) -> int:
    """The judge's seed for one sample (varies across samples, reproducible, same in every mode)."""
    return int.from_bytes(hashlib.sha256(f"judge\0{seed}\0{sample_id}".encode()).digest()[:4], "big") >> 1


def is_secret_name(name: str) -> bool:
    """api_key, token, password ...: a name whose value must never be recorded."""
    return bool(SECRET_NAME.search(name.upper())) or "KEY" in name.upper()


def public_options(options: dict[str, Any]) -> dict[str, Any]:
    """Backend options with the values of secret-looking keys (api_key, token, ...) replaced by ***."""
    return {k: "***" if is_secret_name(k) else v for k, v in options.items()}
