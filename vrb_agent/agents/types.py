"""Public result types of a judgment: the verdict, the configuration and the Judgment itself."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from vrb_agent.judges.base import Usage

Preference = Literal["A", "B"]
Mode = Literal["single", "agentic"]
Order = Literal["fixed", "random", "both"]
Status = Literal["ok", "invalid", "tie", "refused", "error"]
ProtocolName = Literal["vrb-agent", "vlrb", "videorewardbench"]


class EvidenceItem(BaseModel):
    """A piece of visual evidence the judge cites: a time, a span or a region, and a note."""

    timestamp: float | None = None
    start: float | None = None
    end: float | None = None
    box: list[float] | None = None
    note: str = ""


class Verdict(BaseModel):
    """Which response is better, always in the sample's own A/B terms."""

    preferred: Preference
    confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="the judge's own confidence (agentic, k=1); the winning vote share when k>1; "
        "None for a single-pass text verdict, which states none",
    )
    rationale: str = ""
    evidence: list[EvidenceItem] = Field(default_factory=list)


class JudgeConfig(BaseModel):
    """Every knob of one judgment. Its hash identifies a benchmark configuration."""

    mode: Mode = "agentic"
    frames: int = Field(default=16, ge=1, le=256, description="overview frames (uniform)")
    max_turns: int = Field(default=6, ge=1, le=50, description="model calls before conclude")
    max_images: int = Field(default=48, ge=1, description="images kept in context")
    max_frames_per_call: int = Field(default=8, ge=1, le=16)
    max_side: int = Field(default=768, ge=64, description="long side of images sent, px")
    jpeg_quality: int = Field(default=85, ge=10, le=100)
    order: Order = "fixed"
    seed: int = 0
    k: int = Field(default=1, ge=1, description="samples for majority vote")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="unset: the protocol's default")
    top_p: float | None = Field(default=None, gt=0.0, le=1.0, description="nucleus sampling; None: the provider's")
    max_output_tokens: int = Field(default=2048, ge=16)
    timeout_s: float = Field(default=600.0, gt=0, description="per-judgment wall-clock limit")
    protocol: ProtocolName = Field(
        default="vrb-agent", description="prompts, parsing, order, sampling and vote (vrb_agent.Protocol)"
    )

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_name(cls, value: Any) -> Any:
        """A `Protocol` object stands for its name (the config stays plain, hashable data)."""
        return getattr(value, "name", value)

    @model_validator(mode="after")
    def _protocol_defaults(self) -> JudgeConfig:
        """The protocol's sampling where the caller set none, and its presentation order."""
        from vrb_agent.agents.protocol import get_protocol  # noqa: PLC0415 - protocol.py imports this module

        preset = get_protocol(self.protocol)
        temperature, top_p = preset.sampling(self.k)
        # Written past __setattr__, so they stay unset: a copy with another protocol or k re-derives them.
        if "temperature" not in self.model_fields_set:
            self.__dict__["temperature"] = temperature
        if "top_p" not in self.model_fields_set:
            self.__dict__["top_p"] = top_p
        self.__dict__["order"] = preset.presentation_order(self.order)
        return self


class ToolCallRecord(BaseModel):
    """One tool call of the judge as it ran: what it asked, whether it was valid, what it saw."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    ok: bool = True
    message: str = ""
    images: list[str] = Field(default_factory=list, description="evidence ids returned")
    timestamps: list[float] = Field(default_factory=list)
    box: list[float] | None = None
    turn: int = 0
    sample: int = 0


class SampleOutcome(BaseModel):
    """One of the k (or 2k with order=both) samples of a judgment, before the vote."""

    sample: int
    swapped: bool = Field(description="True when response B was presented first (as 'Answer A')")
    status: Status
    preferred: Preference | None = Field(default=None, description="in the sample's own A/B terms")
    confidence: float | None = None
    turns: int = 0
    error: str | None = None
    fallback: bool = Field(
        default=False, description="read only by the tolerant fallback parser (the protocol's official one failed)"
    )


class Judgment(BaseModel):
    """The outcome of judging one pair: status, verdict (only when ok), evidence log and costs."""

    status: Status
    verdict: Verdict | None = None
    error: str | None = None
    mode: Mode = "agentic"
    order: Order = "fixed"
    k: int = 1
    frames: int = 16
    protocol: ProtocolName = "vrb-agent"
    votes: list[Preference | None] = Field(default_factory=list)
    order_agreement: bool | None = None
    evidence: list[ToolCallRecord] = Field(default_factory=list)
    samples: list[SampleOutcome] = Field(default_factory=list)
    images_sent: int = Field(default=0, description="image parts sent, summed over every model request")
    notes: list[str] = Field(
        default_factory=list,
        description="what the backend changed to make requests fit (e.g. images downscaled or left out for the "
        "model's context)",
    )
    usage: Usage = Field(default_factory=Usage)
    timings: dict[str, float] = Field(default_factory=dict)
    backend: str = ""
    model: str = ""
    transcript: list[dict[str, Any]] = Field(
        default_factory=list,
        description="per sample: {'sample', 'swapped', 'system', 'messages'} (images as evidence ids)",
    )
