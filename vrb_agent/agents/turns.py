"""One presentation of the pair to the judge, turn by turn: small functions the graph's nodes compose.

Each function takes the presentation's state (and the run context where it needs the backend,
the evidence store or the tools) and returns what changed, as a LangGraph state update:
  build_request      the conversation (visual memory window applied) as a ModelRequest
  call_model         one model call, accounted and bounded by the deadline -> the reply, or a status
  read_single_reply  the paper-style text verdict; one repair request, then `invalid`
  read_agentic_reply submit_verdict ends it; tool calls go to `act`; plain text gets one reminder
  run_tool_calls     the tools the last reply asked for, answered in one tool message
The messages are `Message` objects from start to end; they become JSON once, in the Judgment.
"""

from __future__ import annotations

import asyncio
import operator
import time
from typing import Annotated, Any, Literal

from langgraph.config import get_stream_writer
from typing_extensions import TypedDict

from vrb_agent.agents import prompts
from vrb_agent.agents.context import JudgeContext
from vrb_agent.agents.observations import SeenObservation
from vrb_agent.agents.protocol import VRB_AGENT, Protocol
from vrb_agent.agents.types import Status, ToolCallRecord, Verdict
from vrb_agent.agents.verdict import map_verdict, parse_submission
from vrb_agent.judges.base import (
    AuthError,
    BackendError,
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
from vrb_agent.tools.media import Media
from vrb_agent.tools.visual import ToolBox

Phase = Literal["deliberate", "act", "conclude", "done"]
Update = dict[str, Any]


class Presentation(TypedDict):
    """One presentation of the pair (sample `index`, the responses swapped or not): its conversation,
    budget and outcome. Messages and evidence are appended by their reducers."""

    index: int
    swapped: bool
    media: str
    run_id: str
    started: float
    messages: Annotated[list[Message], operator.add]
    phase: Phase
    turns: int
    reminded: bool
    repaired: bool
    status: Status | None
    verdict: Verdict | None
    error: str | None
    evidence: Annotated[list[ToolCallRecord], operator.add]
    usage: Usage
    images_sent: int
    model_s: float
    tools_s: float
    notes: list[str]
    fallback: bool  # its verdict was read only by the fallback parser (protocols with an official one)


def new_presentation(
    index: int, swapped: bool, *, first: Message, media: str, run_id: str, started: float
) -> Presentation:
    """A presentation before its first model call: only the first user message."""
    return Presentation(
        index=index, swapped=swapped, media=media, run_id=run_id, started=started, messages=[first],
        phase="deliberate", turns=0, reminded=False, repaired=False, status=None, verdict=None, error=None,
        evidence=[], usage=Usage(), images_sent=0, model_s=0.0, tools_s=0.0, notes=[], fallback=False,
    )  # fmt: skip


def emit(event: dict[str, Any]) -> None:
    """A custom stream event (`stream_mode="custom"`); a no-op outside a streaming run."""
    get_stream_writer()(event)


def finished(state: Presentation, status: Status, error: str | None = None, verdict: Verdict | None = None) -> Update:
    """The update that ends a presentation; the verdict is mapped back to the sample's own A/B."""
    mapped = map_verdict(verdict, state["swapped"]) if verdict else None
    return {"phase": "done", "status": status, "error": error, "verdict": mapped}


def text_parts(text: str) -> list[Part]:
    return [TextPart(text=text)] if text else []


def said_by(reply: ModelReply) -> Message:
    """The assistant message of a reply: its text, tool calls and reasoning."""
    return Message(
        role="assistant", parts=text_parts(reply.text), tool_calls=reply.tool_calls, reasoning=reply.reasoning
    )


def user(text: str) -> Message:
    return Message(role="user", parts=[TextPart(text=text)])


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
    for mi, result_index, pi in order[:excess]:
        if mi not in copied:
            out[mi] = out[mi].model_copy(deep=True)
            copied.add(mi)
        parts = out[mi].parts if result_index is None else out[mi].tool_results[result_index].parts
        image = parts[pi]
        if isinstance(image, ImagePart):  # every slot is an image part
            parts[pi] = TextPart(text=prompts.forgotten_image_note(image.label))
    return out


def build_request(
    ctx: JudgeContext, state: Presentation, tools: list[ToolSpec], tool_choice: str, extra: list[Message]
) -> ModelRequest:
    """The conversation so far plus `extra` (not yet in the state) as the next request."""
    limit = min(ctx.config.max_images, ctx.caps.max_images_per_request)
    return ModelRequest(
        system=prompts.system_prompt(ctx.config.mode, ctx.config.max_turns, ctx.config.protocol),
        messages=window_images([*state["messages"], *extra], limit),
        tools=tools,
        tool_choice=tool_choice,
        temperature=ctx.config.temperature,
        top_p=ctx.config.top_p,
        max_output_tokens=ctx.config.max_output_tokens,
        seed=ctx.config.seed + state["index"],
        evidence=ctx.store,
    )


async def call_model(ctx: JudgeContext, state: Presentation, request: ModelRequest) -> tuple[ModelReply | None, Update]:
    """One model call, accounted to the presentation and bounded by the judgment's deadline
    (`started` + timeout_s, wall clock). Refusals, backend failures and the deadline end the
    presentation (reply None); configuration and authentication errors propagate (the caller must
    fix them)."""
    timeout = f"timed out after {ctx.config.timeout_s:g}s"
    remaining = state["started"] + ctx.config.timeout_s - time.time()
    if remaining <= 0:
        return None, finished(state, "error", timeout)
    update: Update = {"turns": state["turns"] + 1, "images_sent": state["images_sent"] + request.image_count()}
    began = time.perf_counter()
    try:
        async with asyncio.timeout(remaining):  # no extra task per call, unlike wait_for
            reply = await ctx.backend.complete(request)
    except (AuthError, ConfigError):
        raise
    except TimeoutError:
        return None, {**update, **finished(state, "error", timeout)}
    except RefusalError as exc:
        return None, {**update, **finished(state, "refused", str(exc))}
    except BackendError as exc:
        return None, {**update, **finished(state, "error", str(exc))}
    finally:
        update["model_s"] = state["model_s"] + time.perf_counter() - began
    used = reply.usage if reply.usage.calls else reply.usage.model_copy(update={"calls": 1})
    update["usage"] = state["usage"] + used
    update["notes"] = list(dict.fromkeys([*state["notes"], *reply.notes]))
    if reply.stop_reason == "refusal":
        said = Message(role="assistant", parts=text_parts(reply.text))
        ended = finished(state, "refused", reply.text.strip()[:300] or "the model refused to answer")
        return None, {**update, **ended, "messages": [said]}
    if reply.unfinished:  # e.g. cut off inside its reasoning: nothing in it is an answer
        said = Message(role="assistant", reasoning=reply.reasoning)
        return None, {**update, **finished(state, "invalid", reply.unfinished), "messages": [said]}
    return reply, update


def read_single_reply(state: Presentation, reply: ModelReply, protocol: Protocol = VRB_AGENT) -> Update:
    """Parse the paper-style verdict as the protocol reads it; one repair request (where the
    protocol has one), then `invalid`. Never guesses."""
    said = Message(role="assistant", parts=text_parts(reply.text), reasoning=reply.reasoning)  # no tools offered
    read = protocol.read_text(reply.text)
    if read.preferred is not None:
        verdict = Verdict(preferred=read.preferred, rationale=reply.text.strip())
        return {"messages": [said], "fallback": read.fallback, **finished(state, "ok", verdict=verdict)}
    if protocol.repair and not state["repaired"]:
        return {"messages": [said, user(prompts.REPAIR)], "repaired": True, "phase": "deliberate"}
    after = "after a repair request" if state["repaired"] else f"(the {protocol.name} protocol asks no repair)"
    problem = f"no parseable 'Overall Judgment: Answer X is better.' {after}"
    return {"messages": [said], **finished(state, "invalid", problem)}


def read_agentic_reply(state: Presentation, reply: ModelReply, turns: int, max_turns: int) -> Update:
    """A valid submit_verdict ends the presentation; tool calls go to `act`; plain text gets one
    reminder; once the turns are spent the judge must conclude."""
    said = said_by(reply)
    verdict = next((s for s in _submissions(reply) if isinstance(s, Verdict)), None)
    if verdict is not None:
        return {"messages": [said], **finished(state, "ok", verdict=verdict)}
    if reply.tool_calls:
        return {"messages": [said], "phase": "act"}
    if turns >= max_turns:
        return {"messages": [said], "phase": "conclude"}
    if not state["reminded"]:
        return {"messages": [said, user(prompts.REMINDER)], "reminded": True, "phase": "deliberate"}
    problem = "the judge answered in plain text without calling submit_verdict"
    return {"messages": [said], **finished(state, "invalid", problem)}


def read_concluding_reply(state: Presentation, reply: ModelReply) -> Update:
    """The last call may only submit a verdict: anything else is `invalid`, naming what was wrong."""
    said = said_by(reply)
    submissions = _submissions(reply)
    verdict = next((s for s in submissions if isinstance(s, Verdict)), None)
    if verdict is not None:
        return {"messages": [said], **finished(state, "ok", verdict=verdict)}
    unreadable = [c.parse_error for c in reply.tool_calls if c.name == "submit_verdict" and c.parse_error]
    problems = [s for s in submissions if isinstance(s, str)]
    problems += [prompts.invalid_json_message("submit_verdict", e) for e in unreadable]
    problem = problems[0] if problems else "no submit_verdict call once the turns were spent"
    return {"messages": [said], **finished(state, "invalid", problem)}


def _submissions(reply: ModelReply) -> list[Verdict | str]:
    """Each readable submit_verdict call as a Verdict, or the message that says what is wrong with it."""
    return [parse_submission(c.arguments) for c in reply.tool_calls if c.name == "submit_verdict" and not c.parse_error]


async def run_tool_calls(ctx: JudgeContext, state: Presentation, toolbox: ToolBox, max_turns: int) -> Update:
    """Run the last reply's tool calls (never raising for bad input), streaming each call and what it
    showed, and answer them all in one tool message."""
    calls = state["messages"][-1].tool_calls
    index, turn = state["index"], state["turns"]
    records, results = [], []
    started = time.perf_counter()
    for call in calls:
        ctx.emit({"event": "tool_call", "sample": index, "turn": turn, "name": call.name, "arguments": call.arguments})
        seen = await _look(ctx, toolbox, call, turn)
        record = ToolCallRecord(
            name=call.name, arguments=call.arguments, ok=seen.ok, message=seen.text, images=seen.ids,
            timestamps=seen.timestamps, box=seen.box, turn=turn, sample=index,
        )  # fmt: skip
        records.append(record)
        results.append(ToolResult(call_id=call.id, name=call.name, parts=_result_parts(ctx, toolbox.media, call, seen),
                                  is_error=not seen.ok))  # fmt: skip
        shown = record.model_dump(mode="json", include={"name", "ok", "message", "images", "timestamps", "box"})
        ctx.emit({"event": "observation", "sample": index, **shown, **ctx.image_urls(record.images)})
    return {
        "evidence": records,
        "messages": [Message(role="tool", tool_results=results)],
        "tools_s": state["tools_s"] + time.perf_counter() - started,
        "phase": "conclude" if turn >= max_turns else "deliberate",
    }


async def _look(ctx: JudgeContext, toolbox: ToolBox, call: ToolCall, turn: int) -> SeenObservation:
    """What one tool call shows: a corrective message for a bad call, else the tool's observation."""
    if call.parse_error is not None:
        return SeenObservation.refusal(call.name, prompts.invalid_json_message(call.name, call.parse_error))
    if call.name == "submit_verdict":  # a valid one would have ended the presentation
        return SeenObservation.refusal(call.name, str(parse_submission(call.arguments)))
    refused = toolbox.check(call.name, call.arguments, turn)
    if refused is not None:
        return SeenObservation.refusal(call.name, refused.text)
    return await ctx.observe(toolbox.media, call.name, call.arguments, lambda: toolbox.run(call.name, call.arguments))


def _result_parts(ctx: JudgeContext, media: Media, call: ToolCall, seen: SeenObservation) -> list[Part]:
    """The tool result's content: the text, then its images (a clip as native video where supported)."""
    parts: list[Part] = [TextPart(text=seen.text)]
    if ctx.native_video and call.name == "reexamine_clip" and seen.ok and media.kind == "video":
        return [*parts, clip_part(media, seen)]
    return [*parts, *seen.image_parts]


def clip_part(media: Media, seen: SeenObservation) -> VideoPart:
    """A re-examined window as native video, at the frame density the model asked for."""
    start, end = seen.timestamps[0], seen.timestamps[-1] + 1.0 / media.fps
    fps = min(media.fps, len(seen.images) / max(end - start, 1e-3))
    return VideoPart(media_path=str(media.path), start=start, end=end, fps=fps, label=f"clip {start:.2f}s-{end:.2f}s")
