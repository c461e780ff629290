"""The judge as a LangGraph state machine (DESIGN.md §1, §4).

    prepare -> deliberate <-> act -> conclude -> finalize

`prepare` probes the media and shows the judge a uniform overview; `deliberate` calls the model;
`act` runs the tool calls it made and answers them in one tool message; `conclude` is the last call
once the turn budget is spent (only submit_verdict is offered); `finalize` validates, maps the
presentation order back to the sample's own A/B and votes over the k samples.

The k samples (2k with order=both) live side by side in `samples` and every node works on all the
samples in its phase at once, so their model calls run concurrently. The state holds evidence ids,
never pixels: images live in an `EvidenceStore` and messages reference them by id, which keeps
checkpoints small and lets the graph run under any LangGraph checkpointer.

What the nodes share but the state must not hold (backend, configuration, evidence store, media)
is a `JudgeRuntime`: either bound when the graph is built (`build_judge_graph`) or passed per run
as LangGraph's run-scoped context (`graph.astream(..., context=runtime)`), which is how the Python
API runs one compiled graph for every judgment.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command
from typing_extensions import TypedDict

from vrb_agent.agents import prompts
from vrb_agent.agents.observations import SeenObservation, cached, observation_key, observe
from vrb_agent.agents.types import JudgeConfig, Judgment, SampleOutcome, Status, ToolCallRecord, Verdict
from vrb_agent.agents.verdict import majority, map_verdict, parse_judgment_text, parse_submission
from vrb_agent.errors import VrbError
from vrb_agent.judges.base import (
    AuthError,
    Backend,
    BackendError,
    Capabilities,
    ConfigError,
    ImagePart,
    Message,
    ModelReply,
    ModelRequest,
    Part,
    RefusalError,
    TextPart,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
    VideoPart,
)
from vrb_agent.tools.evidence import EvidenceStore
from vrb_agent.tools.media import Media, MediaError, open_media
from vrb_agent.tools.visual import ToolBox, ToolLimits, overview

Phase = Literal["deliberate", "act", "conclude", "done"]
MEDIA_CACHE_SIZE = 8
PARSED_MESSAGES = 4096
INPUT_KEYS = ("media", "question", "response_a", "response_b")


class JudgeInputError(VrbError, ValueError):
    """A graph input is missing or not text. Also a ValueError, so LangGraph's server shows clients
    this message instead of a generic internal error."""


class MediaInputError(MediaError, ValueError):
    """The `media` input of a graph run cannot be used (a MediaError that servers show as it is)."""


class SampleState(TypedDict):
    """One presentation of the pair to the judge: its conversation, budget and outcome."""

    index: int
    swapped: bool
    phase: Phase
    messages: list[dict[str, Any]]
    turns: int
    reminded: bool
    repaired: bool
    status: Status | None
    verdict: dict[str, Any] | None
    error: str | None
    evidence: list[dict[str, Any]]
    usage: dict[str, Any]
    images_sent: int
    model_s: float
    tools_s: float
    notes: list[str]


def merge_samples(old: dict[str, SampleState] | None, new: dict[str, SampleState]) -> dict[str, SampleState]:
    """Reducer: nodes return only the samples they advanced."""
    return {**(old or {}), **new}


class JudgeInput(TypedDict):
    """What a caller (or a parent graph) provides: a media path and the pair (the responses in the
    sample's own A/B terms)."""

    media: str
    question: str
    response_a: str
    response_b: str


class JudgeOutput(TypedDict, total=False):
    """What the graph returns: the status, the verdict (sample's A/B terms) and the full Judgment."""

    status: Status
    verdict: dict[str, Any] | None
    judgment: dict[str, Any]


class JudgeState(JudgeInput, JudgeOutput, total=False):
    """Inputs, outputs and the internal fields (not part of the input or output schema)."""

    run_id: str
    started: float
    samples: Annotated[dict[str, SampleState], merge_samples]


def presentation_orders(config: JudgeConfig) -> list[bool]:
    """`swapped` per sample: k samples alternating order (2k for order=both); random is seeded."""
    count = config.k * (2 if config.order == "both" else 1)
    first_swapped = config.order == "random" and random.Random(config.seed).random() < 0.5
    return [first_swapped != (i % 2 == 1) for i in range(count)]


def recursion_limit(config: JudgeConfig) -> int:
    """Graph steps a judgment can need: each step advances at least one sample by one phase, and a
    sample has at most prepare + (deliberate, act) per turn + a reminder + conclude + finalize."""
    samples = len(presentation_orders(config))
    return samples * (2 * config.max_turns + 4) + 4


def window_images(messages: list[Message], limit: int) -> list[Message]:
    """Keep at most `limit` images, each dropped one replaced by a text note of what it showed.

    Older tool images leave first, then overview frames (oldest first); the images of the latest
    tool message, which the judge just asked for, leave only when nothing else is left.
    """
    latest_tool = max((i for i, m in enumerate(messages) if m.role == "tool"), default=-1)
    older: list[tuple[int, int | None, int]] = []
    overview_slots: list[tuple[int, int | None, int]] = []
    latest: list[tuple[int, int | None, int]] = []
    for mi, message in enumerate(messages):
        overview_slots += [(mi, None, pi) for pi, p in enumerate(message.parts) if isinstance(p, ImagePart)]
        for ri, result in enumerate(message.tool_results):
            slots = [(mi, ri, pi) for pi, p in enumerate(result.parts) if isinstance(p, ImagePart)]
            (latest if mi == latest_tool else older).extend(slots)
    order = older + overview_slots + latest
    excess = len(order) - limit
    if excess <= 0:
        return messages
    out = list(messages)
    copied: set[int] = set()
    for mi, ri, pi in order[:excess]:
        if mi not in copied:
            out[mi] = out[mi].model_copy(deep=True)
            copied.add(mi)
        parts = out[mi].parts if ri is None else out[mi].tool_results[ri].parts
        parts[pi] = TextPart(text=prompts.forgotten_image_note(parts[pi].label))
    return out


def _emit(event: dict[str, Any]) -> None:
    """A custom stream event (`stream_mode="custom"`); a no-op outside a streaming run."""
    get_stream_writer()(event)


def _copy(sample: SampleState) -> SampleState:
    """A sample to modify without touching the state (checkpointers may hold the original)."""
    return {**sample, "messages": list(sample["messages"]), "evidence": list(sample["evidence"])}


def _finish(sample: SampleState, status: Status, error: str | None = None, verdict: Verdict | None = None) -> None:
    sample["phase"] = "done"
    sample["status"] = status
    sample["error"] = error
    sample["verdict"] = map_verdict(verdict, sample["swapped"]).model_dump() if verdict else None


@dataclass
class JudgeRuntime:
    """What the nodes share but the state must not hold: the backend, media, evidence and tools."""

    backend: Backend
    config: JudgeConfig
    store: EvidenceStore
    media: Media | None = None
    show_images: bool = False
    finished: Judgment | None = None
    _opened: OrderedDict[str, Media] = field(default_factory=OrderedDict)
    _toolboxes: dict[tuple[str, int], ToolBox] = field(default_factory=dict)
    _parsed: OrderedDict[int, tuple[dict[str, Any], Message]] = field(default_factory=OrderedDict)

    @classmethod
    def create(
        cls,
        backend: Backend,
        config: JudgeConfig | None = None,
        *,
        store: EvidenceStore | None = None,
        media: Media | None = None,
        show_images: bool = False,
    ) -> JudgeRuntime:
        """`show_images` adds each image as a JPEG data URL to the stream events (for Studio)."""
        cfg = config or JudgeConfig()
        evidence = store if store is not None else EvidenceStore(cfg.jpeg_quality, cfg.max_side)
        return cls(backend=backend, config=cfg, store=evidence, media=media, show_images=show_images)

    @property
    def limits(self) -> ToolLimits:
        return ToolLimits(max_side=self.config.max_side, max_frames_per_call=self.config.max_frames_per_call)

    @functools.cached_property
    def caps(self) -> Capabilities:
        """The backend's capabilities, read once per runtime (some backends build them per call)."""
        return self.backend.capabilities()

    @property
    def native_video(self) -> bool:
        return self.caps.native_video

    def opened(self, path: str) -> Media | None:
        """The media for a path if already open: the caller's own `Media` or one opened before."""
        if self.media is not None and str(self.media.path) == path:
            return self.media
        return self._opened.get(path)

    def media_for(self, path: str) -> Media:
        """The opened media for a path, opened once (blocking: probes the file)."""
        known = self.opened(path)
        if known is not None:
            return known
        self._opened[path] = opened = open_media(path)
        while len(self._opened) > MEDIA_CACHE_SIZE:
            self._opened.popitem(last=False)
        return opened

    def toolbox(self, run_id: str, media: Media, index: int) -> ToolBox:
        """One ToolBox per sample, so repeat detection is per conversation."""
        return self._toolboxes.setdefault((run_id, index), ToolBox(media, self.limits))

    def release(self, run_id: str) -> None:
        for key in [k for k in self._toolboxes if k[0] == run_id]:
            del self._toolboxes[key]

    # ---- the conversation -----------------------------------------------------------------------

    def append(self, sample: SampleState, message: Message) -> None:
        """Add a message to a sample: JSON in the state (any checkpointer can store it), the parsed
        object remembered so the next request does not validate the whole conversation again."""
        raw = message.model_dump(mode="json")
        sample["messages"].append(raw)
        self._remember(raw, message)

    def _remember(self, raw: dict[str, Any], message: Message) -> None:
        self._parsed[id(raw)] = (raw, message)  # holding `raw` keeps its id from being reused
        while len(self._parsed) > PARSED_MESSAGES:
            self._parsed.popitem(last=False)

    def conversation(self, sample: SampleState) -> list[Message]:
        """The sample's messages as objects; only those this runtime has not seen (e.g. restored
        from a checkpoint) are validated."""
        out = []
        for raw in sample["messages"]:
            known = self._parsed.get(id(raw))
            if known is None or known[0] is not raw:
                known = (raw, Message.model_validate(raw))
                self._remember(raw, known[1])
            out.append(known[1])
        return out

    # ---- model calls ----------------------------------------------------------------------------

    def request(self, sample: SampleState, tools: list[ToolSpec], tool_choice: str) -> ModelRequest:
        messages = self.conversation(sample)
        limit = min(self.config.max_images, self.caps.max_images_per_request)
        return ModelRequest(
            system=prompts.system_prompt(self.config.mode, self.config.max_turns),
            messages=window_images(messages, limit),
            tools=tools,
            tool_choice=tool_choice,
            temperature=self.config.temperature,
            max_output_tokens=self.config.max_output_tokens,
            seed=self.config.seed + sample["index"],
            evidence=self.store,
        )

    async def call_model(self, sample: SampleState, request: ModelRequest, started: float) -> ModelReply | None:
        """One model call, accounted to the sample and bounded by the judgment's deadline (`started`
        + timeout_s, wall clock). Refusals, backend failures and the deadline finish the sample;
        configuration and authentication errors propagate (the caller must fix them)."""
        remaining = started + self.config.timeout_s - time.time()
        if remaining <= 0:
            _finish(sample, "error", f"timed out after {self.config.timeout_s:g}s")
            return None
        sample["turns"] += 1
        sample["images_sent"] += request.image_count()
        began = time.perf_counter()
        try:
            async with asyncio.timeout(remaining):  # no extra task per call, unlike wait_for
                reply = await self.backend.complete(request)
        except (AuthError, ConfigError):
            raise
        except TimeoutError:
            _finish(sample, "error", f"timed out after {self.config.timeout_s:g}s")
            return None
        except RefusalError as exc:
            _finish(sample, "refused", str(exc))
            return None
        except BackendError as exc:
            _finish(sample, "error", str(exc))
            return None
        finally:
            sample["model_s"] += time.perf_counter() - began
        used = reply.usage if reply.usage.calls else reply.usage.model_copy(update={"calls": 1})
        sample["usage"] = (Usage.model_validate(sample["usage"]) + used).model_dump()
        sample["notes"] = list(dict.fromkeys([*sample.get("notes", []), *reply.notes]))
        if reply.stop_reason == "refusal":
            self.append(sample, Message(role="assistant", parts=_text_parts(reply.text)))
            _finish(sample, "refused", reply.text.strip()[:300] or "the model refused to answer")
            return None
        if reply.unfinished:  # e.g. cut off inside its reasoning: nothing in it is an answer
            self.append(sample, Message(role="assistant", reasoning=reply.reasoning))
            _finish(sample, "invalid", reply.unfinished)
            return None
        return reply

    # ---- outcomes of a reply --------------------------------------------------------------------

    def next_phase(self, sample: SampleState) -> Phase:
        return "conclude" if sample["turns"] >= self.config.max_turns else "deliberate"

    def single_outcome(self, sample: SampleState, reply: ModelReply) -> None:
        """Parse the paper-style verdict; one repair request, then `invalid`. Never guesses."""
        self.append(sample, Message(role="assistant", parts=_text_parts(reply.text), reasoning=reply.reasoning))
        preferred = parse_judgment_text(reply.text)
        if preferred is not None:
            _finish(sample, "ok", verdict=Verdict(preferred=preferred, rationale=reply.text.strip()))
        elif not sample["repaired"]:
            sample["repaired"] = True
            self.append(sample, Message(role="user", parts=[TextPart(text=prompts.REPAIR)]))
        else:
            _finish(sample, "invalid", "no parseable 'Overall Judgment: Answer X is better.' after a repair request")

    def agentic_outcome(self, sample: SampleState, reply: ModelReply, concluding: bool = False) -> None:
        """A valid submit_verdict ends the sample; tool calls go to `act`; plain text gets one reminder."""
        assistant = Message(
            role="assistant", parts=_text_parts(reply.text), tool_calls=reply.tool_calls, reasoning=reply.reasoning
        )
        self.append(sample, assistant)
        submissions = [
            parse_submission(c.arguments) for c in reply.tool_calls if c.name == "submit_verdict" and not c.parse_error
        ]
        verdict = next((s for s in submissions if isinstance(s, Verdict)), None)
        if verdict is not None:
            _finish(sample, "ok", verdict=verdict)
        elif concluding:
            unreadable = [c.parse_error for c in reply.tool_calls if c.name == "submit_verdict" and c.parse_error]
            problems = [s for s in submissions if isinstance(s, str)]
            problems += [prompts.invalid_json_message("submit_verdict", e) for e in unreadable]
            _finish(sample, "invalid", problems[0] if problems else "no submit_verdict call once the turns were spent")
        elif reply.tool_calls:
            sample["phase"] = "act"
        elif sample["turns"] >= self.config.max_turns:
            sample["phase"] = "conclude"
        elif not sample["reminded"]:
            sample["reminded"] = True
            self.append(sample, Message(role="user", parts=[TextPart(text=prompts.REMINDER)]))
        else:
            _finish(sample, "invalid", "the judge answered in plain text without calling submit_verdict")

    # ---- tools ----------------------------------------------------------------------------------

    async def observe(
        self, media: Media, tool: str, arguments: dict[str, Any], run: Callable[[], Any]
    ) -> SeenObservation:
        """A tool's result with its images in the store: reused when the same call on the same
        media was seen before (no decoding, hashing or encoding), else run in a worker thread."""
        key = observation_key(media, tool, arguments, self.limits, self.store)
        seen = cached(key, self.store)
        if seen is None:
            seen = await asyncio.to_thread(observe, key, self.store, run)
        return seen

    async def run_call(
        self, toolbox: ToolBox, call: ToolCall, sample: SampleState
    ) -> tuple[ToolCallRecord, ToolResult]:
        """Run one tool call (never raises for bad input) and store the images it returned."""
        turn, index = sample["turns"], sample["index"]
        if call.parse_error is not None:
            seen = SeenObservation.refusal(call.name, prompts.invalid_json_message(call.name, call.parse_error))
        elif call.name == "submit_verdict":  # a valid one would have ended the sample
            seen = SeenObservation.refusal(call.name, str(parse_submission(call.arguments)))
        elif (refused := toolbox.check(call.name, call.arguments, turn)) is not None:
            seen = SeenObservation.refusal(call.name, refused.text)
        else:
            seen = await self.observe(
                toolbox.media, call.name, call.arguments, lambda: toolbox.run(call.name, call.arguments)
            )
        parts: list[Part] = [TextPart(text=seen.text)]
        if self.native_video and call.name == "reexamine_clip" and seen.ok and toolbox.media.kind == "video":
            parts.append(_clip_part(toolbox.media, seen))
        else:
            parts += seen.image_parts
        record = ToolCallRecord(
            name=call.name,
            arguments=call.arguments,
            ok=seen.ok,
            message=seen.text,
            images=seen.ids,
            timestamps=seen.timestamps,
            box=seen.box,
            turn=turn,
            sample=index,
        )
        return record, ToolResult(call_id=call.id, name=call.name, parts=parts, is_error=not seen.ok)

    def image_urls(self, ids: list[str]) -> dict[str, Any]:
        """The event field that lets a viewer show the images (data URLs), when `show_images` is on."""
        return {"image_urls": [self.store.get(i).data_url for i in ids]} if self.show_images else {}


def _text_parts(text: str) -> list[Part]:
    return [TextPart(text=text)] if text else []


def _clip_part(media: Media, seen: SeenObservation) -> VideoPart:
    """A re-examined window as native video, at the frame density the model asked for."""
    start, end = seen.timestamps[0], seen.timestamps[-1] + 1.0 / media.fps
    fps = min(media.fps, len(seen.images) / max(end - start, 1e-3))
    return VideoPart(media_path=str(media.path), start=start, end=end, fps=fps, label=f"clip {start:.2f}s-{end:.2f}s")


async def overview_parts(rt: JudgeRuntime, media: Media) -> tuple[str, list[Part]]:
    """What the judge sees first: uniform frames as images, or the whole video for native-video backends."""
    if rt.native_video and media.kind == "video":
        fps = min(media.fps, rt.config.frames / media.duration_s)
        note = f"The video follows ({media.duration_s:.2f}s, {media.width}x{media.height}), sampled at {fps:.2f} fps."
        return note, [VideoPart(media_path=str(media.path), start=0.0, end=media.duration_s, fps=fps)]
    frames = rt.config.frames
    seen = await rt.observe(media, "overview", {"n": frames}, lambda: overview(media, frames, limits=rt.limits))
    if not seen.ok:
        raise MediaInputError(media.path, seen.text)
    return f"{seen.text} The frames follow.", list(seen.image_parts)


def new_sample(index: int, swapped: bool) -> SampleState:
    """A sample before its first message (added with `JudgeRuntime.append`)."""
    return SampleState(
        index=index,
        swapped=swapped,
        phase="deliberate",
        messages=[],
        turns=0,
        reminded=False,
        repaired=False,
        status=None,
        verdict=None,
        error=None,
        evidence=[],
        usage=Usage().model_dump(),
        images_sent=0,
        model_s=0.0,
        tools_s=0.0,
        notes=[],
    )


def summarize(state: JudgeState, rt: JudgeRuntime, error: str | None = None) -> Judgment:
    """The Judgment of a (possibly partial) state: vote over finished samples, map order, sum costs.

    `error` marks an interrupted run (e.g. a timeout): the status is then `error` whatever finished.
    """
    samples = sorted((state.get("samples") or {}).values(), key=lambda s: s["index"])
    outcomes = [
        SampleOutcome(
            sample=s["index"],
            swapped=s["swapped"],
            status=s["status"] or "error",
            preferred=(s["verdict"] or {}).get("preferred"),
            confidence=(s["verdict"] or {}).get("confidence"),
            turns=s["turns"],
            error=s["error"] or (None if s["status"] else "unfinished"),
        )
        for s in samples
    ]
    votes = [o.preferred if o.status == "ok" else None for o in outcomes]
    status, verdict, reason = _vote(samples, outcomes, votes)
    if error is not None:
        status, verdict, reason = "error", None, error
    usage = total_usage([s["usage"] for s in samples])
    started = state.get("started")
    cfg = rt.config
    return Judgment(
        status=status,
        verdict=verdict,
        error=reason,
        mode=cfg.mode,
        order=cfg.order,
        k=cfg.k,
        frames=cfg.frames,
        votes=votes,
        order_agreement=_order_agreement(outcomes) if cfg.order == "both" else None,
        samples=outcomes,
        evidence=[ToolCallRecord.model_validate(r) for s in samples for r in s["evidence"]],
        images_sent=sum(s["images_sent"] for s in samples),
        notes=list(dict.fromkeys(n for s in samples for n in s.get("notes", []))),
        usage=usage,
        timings={
            "total_s": round(time.time() - started, 4) if started else 0.0,
            "model_s": round(sum(s["model_s"] for s in samples), 4),
            "tools_s": round(sum(s["tools_s"] for s in samples), 4),
        },
        backend=rt.backend.name,
        model=rt.backend.model,
        transcript=[
            {
                "sample": s["index"],
                "swapped": s["swapped"],
                "system": prompts.system_prompt(cfg.mode, cfg.max_turns),
                "messages": s["messages"],
            }
            for s in samples
        ],
    )


def total_usage(usages: list[dict[str, Any]]) -> Usage:
    """The sum of the samples' usage dicts (cost stays None unless some call was priced)."""
    costs = [u["cost_usd"] for u in usages if u.get("cost_usd") is not None]
    fields = ("input_tokens", "output_tokens", "images", "calls")
    totals = {name: sum(u.get(name, 0) for u in usages) for name in fields}
    return Usage(**totals, cost_usd=sum(costs) if costs else None)


def judgment_dict(judgment: Judgment) -> dict[str, Any]:
    """The Judgment as JSON for the graph's output; the transcript already is JSON (the state's own
    messages), and dumping it again would be most of the work."""
    return {**judgment.model_dump(mode="json", exclude={"transcript"}), "transcript": judgment.transcript}


def _vote(
    samples: list[SampleState], outcomes: list[SampleOutcome], votes: list[Any]
) -> tuple[Status, Verdict | None, str | None]:
    """Majority over valid votes; a tie is a status. Without valid votes the samples' failure decides."""
    if any(v is not None for v in votes):
        winner = majority(votes)
        if winner is None:
            return "tie", None, f"the votes are tied: {votes}"
        chosen = next(s for s, v in zip(samples, votes, strict=True) if v == winner)
        verdict = Verdict.model_validate(chosen["verdict"])
        if len(votes) > 1:
            verdict.confidence = votes.count(winner) / len(votes)
        return "ok", verdict, None
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


def build_judge_graph(
    backend: Backend,
    config: JudgeConfig | None = None,
    *,
    store: EvidenceStore | None = None,
    media: Media | None = None,
) -> StateGraph:
    """The judge state machine, uncompiled, so applications can embed it as a subgraph.

    Input keys: `media` (path), `question`, `response_a`, `response_b`. Output keys: `status`,
    `verdict` (sample's A/B terms, or None) and `judgment` (a `Judgment` as a dict). Nodes are async:
    run it with `ainvoke`/`astream`, with `recursion_limit=recursion_limit(config)`.
    """
    return graph_for(JudgeRuntime.create(backend, config, store=store, media=media))


def runtime_of(bound: JudgeRuntime | None, runtime: Runtime[Any]) -> JudgeRuntime:
    """The runtime a node works with: the one the graph was built with, else the run's context."""
    if bound is not None:
        return bound
    if not isinstance(runtime.context, JudgeRuntime):
        raise VrbError(
            "this judge graph was built without a backend: run it with context=JudgeRuntime(...), "
            "or build it with build_judge_graph(backend, config)"
        )
    return runtime.context


def check_inputs(state: JudgeState) -> None:
    """Name the missing inputs (a bare KeyError('response_a') tells a Studio user nothing)."""
    missing = [k for k in INPUT_KEYS if not isinstance(state.get(k), str)]
    if missing:
        raise JudgeInputError(
            f"missing judge input(s): {', '.join(missing)}. The judge needs media (a path to a video or image "
            "readable by the process that runs the graph), question, response_a and response_b, all text."
        )


def graph_for(bound: JudgeRuntime | None, context_schema: type[Any] | None = None) -> StateGraph:
    """The state machine over one runtime (backend, config, evidence store, media).

    With `bound=None` the nodes take the runtime from the run's context (`context=JudgeRuntime`),
    so one compiled graph serves every judgment of the Python API (compiling per judgment is a
    measurable CPU cost). `context_schema` describes a bound graph's run options to servers.
    """

    async def prepare(state: JudgeState, runtime: Runtime[Any]) -> Command[str]:
        rt = runtime_of(bound, runtime)
        check_inputs(state)
        try:
            opened = rt.opened(state["media"]) or await asyncio.to_thread(rt.media_for, state["media"])
        except MediaError as exc:
            raise MediaInputError(exc.path, exc.reason) from None
        note, images = await overview_parts(rt, opened)
        if rt.show_images:
            ids = [p.evidence_id for p in images if isinstance(p, ImagePart)]
            _emit({"event": "observation", "sample": None, "name": "overview", "ok": True, "message": note,
                   "images": ids, **rt.image_urls(ids)})  # fmt: skip
        samples: dict[str, SampleState] = {}
        for index, swapped in enumerate(presentation_orders(rt.config)):
            pair = (state["response_a"], state["response_b"])
            first, second = reversed(pair) if swapped else pair
            text = prompts.first_user_text(state["question"], first, second, note)
            samples[str(index)] = sample = new_sample(index, swapped)
            rt.append(sample, Message(role="user", parts=[TextPart(text=text), *images]))
        return Command(
            update={"run_id": uuid.uuid4().hex, "started": time.time(), "samples": samples}, goto=route(samples)
        )

    def on_phase(
        phase: Phase, work: Callable[[JudgeRuntime, JudgeState, SampleState], Awaitable[None]]
    ) -> Callable[..., Any]:
        """A node that advances every sample in `phase` concurrently."""

        async def node(state: JudgeState, runtime: Runtime[Any]) -> Command[str]:
            rt = runtime_of(bound, runtime)
            todo = [_copy(s) for s in state["samples"].values() if s["phase"] == phase]
            if len(todo) == 1:  # the common k=1 case: no task to create
                await work(rt, state, todo[0])
            else:
                await asyncio.gather(*(work(rt, state, s) for s in todo))
            advanced = {str(s["index"]): s for s in todo}
            return Command(update={"samples": advanced}, goto=route({**state["samples"], **advanced}))

        return node

    async def finalize(state: JudgeState, runtime: Runtime[Any]) -> dict[str, Any]:
        rt = runtime_of(bound, runtime)
        judgment = summarize(state, rt)
        rt.finished = judgment
        rt.release(state.get("run_id", ""))
        verdict = judgment.verdict.model_dump() if judgment.verdict else None
        _emit({"event": "verdict", "status": judgment.status, "verdict": verdict, "votes": judgment.votes})
        return {"status": judgment.status, "verdict": verdict, "judgment": judgment_dict(judgment)}

    graph = StateGraph(JudgeState, context_schema, input_schema=JudgeInput, output_schema=JudgeOutput)
    graph.add_node("prepare", prepare, destinations=NEXT_NODES)
    graph.add_node("deliberate", on_phase("deliberate", deliberate_one), destinations=NEXT_NODES)
    graph.add_node("act", on_phase("act", act_one), destinations=NEXT_NODES)
    graph.add_node("conclude", on_phase("conclude", conclude_one), destinations=NEXT_NODES)
    graph.add_node("finalize", finalize)
    graph.add_edge(START, "prepare")
    graph.add_edge("finalize", END)
    return graph


async def deliberate_one(rt: JudgeRuntime, state: JudgeState, sample: SampleState) -> None:
    cfg = rt.config
    request = rt.request(sample, prompts.tool_specs(cfg.mode), "auto")
    reply = await rt.call_model(sample, request, state["started"])
    if reply is None:
        return
    if cfg.mode == "single":
        rt.single_outcome(sample, reply)
    else:
        rt.agentic_outcome(sample, reply)


async def act_one(rt: JudgeRuntime, state: JudgeState, sample: SampleState) -> None:
    toolbox = rt.toolbox(state["run_id"], rt.opened(state["media"]) or rt.media_for(state["media"]), sample["index"])
    calls = rt.conversation(sample)[-1].tool_calls
    results = []
    started = time.perf_counter()
    for call in calls:
        _emit(
            {
                "event": "tool_call",
                "sample": sample["index"],
                "turn": sample["turns"],
                "name": call.name,
                "arguments": call.arguments,
            }
        )
        record, result = await rt.run_call(toolbox, call, sample)
        entry = record.model_dump(mode="json")
        sample["evidence"].append(entry)
        results.append(result)
        seen = {k: entry[k] for k in ("name", "ok", "message", "images", "timestamps", "box")}
        _emit({"event": "observation", "sample": sample["index"], **seen, **rt.image_urls(entry["images"])})
    sample["tools_s"] += time.perf_counter() - started
    rt.append(sample, Message(role="tool", tool_results=results))
    sample["phase"] = rt.next_phase(sample)


async def conclude_one(rt: JudgeRuntime, state: JudgeState, sample: SampleState) -> None:
    rt.append(sample, Message(role="user", parts=[TextPart(text=prompts.CONCLUDE)]))
    request = rt.request(sample, [prompts.SUBMIT_VERDICT], "submit_verdict")
    reply = await rt.call_model(sample, request, state["started"])
    if reply is not None:
        rt.agentic_outcome(sample, reply, concluding=True)


NEXT_NODES = ("act", "deliberate", "conclude", "finalize")


def route(samples: dict[str, SampleState]) -> str:
    """The next node: tools first (cheap, and they bring samples back in step), then model calls.
    Nodes route themselves (`Command(goto=...)`): a conditional edge costs LangGraph a copy of
    every channel per step, a measurable share of a judgment's CPU."""
    phases = {s["phase"] for s in samples.values()}
    return next((p for p in NEXT_NODES[:3] if p in phases), "finalize")


def compile_judge_graph(
    backend: Backend,
    config: JudgeConfig | None = None,
    *,
    store: EvidenceStore | None = None,
    media: Media | None = None,
    checkpointer: Any = None,
) -> CompiledStateGraph:
    """`build_judge_graph` compiled, with the recursion limit its budget needs."""
    cfg = config or JudgeConfig()
    compiled = graph_for(JudgeRuntime.create(backend, cfg, store=store, media=media)).compile(checkpointer=checkpointer)
    return compiled.with_config(recursion_limit=recursion_limit(cfg))
