"""The judge as a LangGraph graph (DESIGN.md §1, §4).

    prepare --Send x k--> present [ deliberate <-> act -> conclude ] --> finalize

`prepare` probes the media, shows the judge a uniform overview and sends one task per
presentation of the pair (k samples, 2k with order=both, presentation order alternating); each
runs the per-presentation subgraph concurrently: `deliberate` calls the model, `act` runs the tool
calls it made and answers them in one tool message, `conclude` is the last call once the turn
budget is spent (only submit_verdict is offered). Their outcomes are gathered by a reducer and
`finalize` votes, in the sample's own A/B terms.

The nodes are module-level functions; what they share but the state must not hold (backend,
configuration, evidence store, media) is the run's `JudgeContext`, passed by LangGraph as
`runtime.context`. The state holds evidence ids, never pixels, so checkpoints stay small.
"""

from __future__ import annotations

import asyncio
import functools
import operator
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, Send
from typing_extensions import TypedDict

from vrb_agent.agents import prompts
from vrb_agent.agents.context import JudgeContext
from vrb_agent.agents.judgment import judgment_dict, judgment_of
from vrb_agent.agents.protocol import get_protocol
from vrb_agent.agents.turns import (
    Phase,
    Presentation,
    Update,
    build_request,
    call_model,
    emit,
    new_presentation,
    read_agentic_reply,
    read_concluding_reply,
    read_single_reply,
    run_tool_calls,
    user,
)
from vrb_agent.agents.types import JudgeConfig, Status
from vrb_agent.errors import VrbError
from vrb_agent.judges.base import Backend, ImagePart, Part, VideoPart
from vrb_agent.tools.evidence import EvidenceStore
from vrb_agent.tools.media import Media, MediaError
from vrb_agent.tools.visual import overview

INPUT_KEYS = ("media", "question", "response_a", "response_b")


class JudgeInputError(VrbError, ValueError):
    """A graph input is missing or not text. Also a ValueError, so LangGraph's server shows clients
    this message instead of a generic internal error."""


class MediaInputError(MediaError, ValueError):
    """The `media` input of a graph run cannot be used (a MediaError that servers show as it is)."""


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
    outcomes: Annotated[list[Presentation], operator.add]


def presentation_orders(config: JudgeConfig) -> list[bool]:
    """`swapped` per sample: k samples alternating order (2k for order=both), random seeded; the
    protocol may decide otherwise (vlrb: each draw its own seeded coin flip)."""
    return get_protocol(config.protocol).swapped(config.k, config.order, config.seed)


def recursion_limit(config: JudgeConfig) -> int:
    """Graph steps a presentation can need: (deliberate, act) per turn, a reminder or repair, conclude."""
    return 2 * config.max_turns + 6


def judge_context(runtime: Runtime[Any], bound: JudgeContext | None) -> JudgeContext:
    """The run's context; a graph built with a backend falls back on the one it was built with."""
    if isinstance(runtime.context, JudgeContext):
        return runtime.context
    if bound is not None:
        return bound
    raise VrbError(
        "this judge graph was built without a backend: run it with context=JudgeContext.create(backend, config), "
        "or build it with build_judge_graph(backend, config)"
    )


def check_inputs(state: JudgeState) -> None:
    """Name the missing inputs (a bare KeyError('response_a') tells a Studio user nothing)."""
    missing = [k for k in INPUT_KEYS if not isinstance(state.get(k), str)]
    if missing:
        raise JudgeInputError(
            f"missing judge input(s): {', '.join(missing)}. The judge needs media (a path to a video or image "
            "readable by the process that runs the graph), question, response_a and response_b, all text."
        )


async def overview_parts(ctx: JudgeContext, media: Media) -> tuple[str, list[Part]]:
    """What the judge sees first: uniform frames as images, or the whole video for native-video backends."""
    if ctx.native_video and media.kind == "video":
        fps = min(media.fps, ctx.config.frames / media.duration_s)
        note = f"The video follows ({media.duration_s:.2f}s, {media.width}x{media.height}), sampled at {fps:.2f} fps."
        return note, [VideoPart(media_path=str(media.path), start=0.0, end=media.duration_s, fps=fps)]
    frames = ctx.config.frames
    seen = await ctx.observe(media, "overview", {"n": frames}, lambda: overview(media, frames, limits=ctx.limits))
    if not seen.ok:
        raise MediaInputError(media.path, seen.text)
    return f"{seen.text} The frames follow.", list(seen.image_parts)


# ---- the judgment graph -------------------------------------------------------------------------


async def prepare(
    state: JudgeState, runtime: Runtime[Any], bound: JudgeContext | None = None
) -> Command[Literal["present"]]:
    """Open the media, show the overview and send one presentation per sample."""
    ctx = judge_context(runtime, bound)
    check_inputs(state)
    try:
        known = ctx.opened(state["media"])
        opened = known if known is not None else await asyncio.to_thread(ctx.media_for, state["media"])
    except MediaError as exc:
        raise MediaInputError(exc.path, exc.reason) from None
    note, images = await overview_parts(ctx, opened)
    if ctx.show_images:
        ids = [p.evidence_id for p in images if isinstance(p, ImagePart)]
        emit({"event": "observation", "sample": None, "name": "overview", "ok": True, "message": note,
              "images": ids, **ctx.image_urls(ids)})  # fmt: skip
    run_id, started = uuid.uuid4().hex, time.time()
    sends, protocol = [], get_protocol(ctx.config.protocol)
    for index, swapped in enumerate(presentation_orders(ctx.config)):
        pair = (state["response_a"], state["response_b"])
        first, second = reversed(pair) if swapped else pair
        shown = (state["question"], first, second)
        message = protocol.first_message(ctx.config.mode, shown, note, images, still=opened.kind == "image")
        sends.append(
            Send(
                "present",
                new_presentation(index, swapped, first=message, media=state["media"], run_id=run_id, started=started),
            )
        )
    return Command(update={"run_id": run_id, "started": started}, goto=sends)


async def present(task: Presentation, runtime: Runtime[Any], bound: JudgeContext | None = None) -> Update:
    """Run one presentation through its subgraph with the run's context (its events go to this
    run's stream) and hand its outcome to the reducer. (Streaming the subgraph's own values and
    events instead would cost about 3 ms of CPU per model call.)"""
    ctx = judge_context(runtime, bound)
    ctx.track(task)
    limits: RunnableConfig = {"recursion_limit": recursion_limit(ctx.config)}
    outcome = await PRESENTATION.ainvoke(task, limits, context=ctx.streaming_to(runtime.stream_writer))
    return {"outcomes": [outcome]}


async def finalize(state: JudgeState, runtime: Runtime[Any], bound: JudgeContext | None = None) -> JudgeOutput:
    """Vote over the presentations and return the Judgment (and stream the verdict)."""
    ctx = judge_context(runtime, bound)
    judgment = judgment_of(state["outcomes"], ctx, state.get("started"))
    ctx.finished = judgment
    ctx.release(state.get("run_id", ""))
    verdict = judgment.verdict.model_dump() if judgment.verdict else None
    emit({"event": "verdict", "status": judgment.status, "verdict": verdict, "votes": judgment.votes})
    return {"status": judgment.status, "verdict": verdict, "judgment": judgment_dict(judgment)}


# ---- the per-presentation subgraph --------------------------------------------------------------


Step = Literal["deliberate", "act", "conclude", "__end__"]


async def deliberate(state: Presentation, runtime: Runtime[JudgeContext]) -> Command[Step]:
    """One model call with the tools (agentic) or without (single-pass), and what its reply means."""
    ctx, cfg = runtime.context, runtime.context.config
    request = build_request(ctx, state, prompts.tool_specs(cfg.mode), "auto", [])
    reply, update = await call_model(ctx, state, request)
    if reply is not None and cfg.mode == "single":
        update |= read_single_reply(state, reply, get_protocol(cfg.protocol))
    elif reply is not None:
        update |= read_agentic_reply(state, reply, update["turns"], cfg.max_turns)
    ctx.track(state, update)
    return Command(update=update, goto=after_deliberate(update))


async def act(state: Presentation, runtime: Runtime[JudgeContext]) -> Command[Literal["deliberate", "conclude"]]:
    """Run the tool calls of the last reply."""
    ctx = runtime.context
    toolbox = ctx.toolbox(state["run_id"], state["media"], state["index"])  # the media opened in prepare
    update = await run_tool_calls(ctx, state, toolbox, ctx.config.max_turns)
    ctx.track(state, update)
    return Command(update=update, goto=after_act(update))


async def conclude(state: Presentation, runtime: Runtime[JudgeContext]) -> Update:
    """The last call once the turns are spent: only submit_verdict is offered."""
    ctx = runtime.context
    prompt = user(prompts.CONCLUDE)
    request = build_request(ctx, state, [prompts.SUBMIT_VERDICT], "submit_verdict", [prompt])
    reply, update = await call_model(ctx, state, request)
    update["messages"] = [prompt, *update.get("messages", [])]
    if reply is not None:
        read = read_concluding_reply(state, reply)
        update |= {**read, "messages": [*update["messages"], *read["messages"]]}
    ctx.track(state, update)
    return update


def after_deliberate(update: Update) -> Step:
    """After a model call: run its tool calls, ask again (a reminder or repair), conclude, or end.
    Nodes route themselves with this (`Command(goto=...)`): a conditional edge costs LangGraph a
    task of its own and a copy of every channel per step, a measurable share of a judgment's CPU."""
    phase: Phase = update.get("phase", "deliberate")
    return "__end__" if phase == "done" else phase


def after_act(update: Update) -> Literal["deliberate", "conclude"]:
    """After a tool round: the next model call, or the last one once the turns are spent."""
    return "conclude" if update["phase"] == "conclude" else "deliberate"


def presentation_graph() -> StateGraph[Presentation, JudgeContext, Presentation, Presentation]:
    """deliberate <-> act -> conclude, over one presentation's state."""
    graph = StateGraph(Presentation, context_schema=JudgeContext)
    graph.add_node("deliberate", deliberate)
    graph.add_node("act", act)
    graph.add_node("conclude", conclude)
    graph.add_edge(START, "deliberate")
    graph.add_edge("conclude", END)
    return graph


PRESENTATION = presentation_graph().compile(name="presentation")


def _bound(node: Callable[..., Any], ctx: JudgeContext | None) -> Callable[..., Any]:
    """A node with the graph's own context as fallback; it keeps the node's name and source, which
    LangGraph reads to find the subgraph `present` runs (Studio draws it)."""
    return node if ctx is None else functools.update_wrapper(functools.partial(node, bound=ctx), node)


def build_judge_graph(
    backend: Backend | None = None,
    config: JudgeConfig | None = None,
    *,
    store: EvidenceStore | None = None,
    media: Media | None = None,
    show_images: bool = False,
    context_schema: type[Any] | None = None,
) -> StateGraph[JudgeState, Any, JudgeInput, JudgeOutput]:
    """The judge graph, uncompiled, so applications can embed it as a subgraph (`.compile()` it to run).

    Input keys: `media` (path), `question`, `response_a`, `response_b`. Output keys: `status`,
    `verdict` (sample's A/B terms, or None) and `judgment` (a `Judgment` as a dict). Nodes are async:
    run it with `ainvoke`/`astream`. With a backend, runs use it unless their `context` is a
    `JudgeContext`; without one, every run must bring its context. `context_schema` describes other
    run options to servers (Studio's form).
    """
    bound = JudgeContext.create(backend, config, store=store, media=media, show_images=show_images) if backend else None
    graph = StateGraph(JudgeState, context_schema or JudgeContext, input_schema=JudgeInput, output_schema=JudgeOutput)
    graph.add_node("prepare", _bound(prepare, bound), destinations=("present",))
    graph.add_node("present", _bound(present, bound))
    graph.add_node("finalize", _bound(finalize, bound))
    graph.add_edge(START, "prepare")
    graph.add_edge("present", "finalize")
    graph.add_edge("finalize", END)
    return graph
