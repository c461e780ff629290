"""A neutral conversation that exercises every translation rule a provider backend has.

system prompt; a user turn with text and two overview frames; an assistant turn with two tool
calls answered by one tool message (images in the results, one error result); a second round with
a zoom whose image has a different size. Image sizes are known so tests can decode what went on
the wire and compare.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from vrb_agent.judges.base import (
    ImagePart,
    Message,
    ModelRequest,
    TextPart,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from vrb_agent.tools.evidence import EvidenceStore, decode_jpeg
from vrb_agent.tools.visual import ARG_MODELS, schema_of, tool_description

FRAME_SIZE = (320, 240)  # width, height of overview/selected frames
ZOOM_SIZE = (448, 448)
TOOL_NAMES = ["select_frames", "zoom", "reexamine_clip", "submit_verdict"]


def tool_specs() -> list[ToolSpec]:
    """The four tools of DESIGN.md §2 (submit_verdict's schema written out as the graph sends it)."""
    specs = [ToolSpec(name=n, description=tool_description(m), parameters=schema_of(m)) for n, m in ARG_MODELS.items()]
    verdict = {
        "type": "object",
        "properties": {
            "preferred": {"type": "string", "enum": ["A", "B"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "rationale": {"type": "string"},
            "evidence": {"type": "array", "items": {"type": "object", "properties": {"note": {"type": "string"}}}},
        },
        "required": ["preferred", "confidence", "rationale", "evidence"],
    }
    return [*specs, ToolSpec(name="submit_verdict", description="Submit the final verdict.", parameters=verdict)]


def _image(width: int, height: int, value: int) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 0] = value
    image[: height // 2, : width // 2, 1] = 255 - value
    return image


@dataclass
class Conversation:
    request: ModelRequest
    store: EvidenceStore
    overview_ids: list[str]
    selected_ids: list[str]
    zoom_id: str


def build_conversation(*, second_round: bool = True) -> Conversation:
    """The conversation described in the module docstring, as a ModelRequest with its store."""
    store = EvidenceStore(max_side=768)
    w, h = FRAME_SIZE
    overview = [store.put(_image(w, h, 10 * i), f"frame t={i:.2f}s", timestamp=float(i)) for i in (1, 3)]
    selected = [store.put(_image(w, h, 100 + i), f"frame t={i:.2f}s", timestamp=float(i)) for i in (2, 4)]
    zoom = store.put(_image(*ZOOM_SIZE, 200), "zoom t=2.20s box=[250,250,750,750]", timestamp=2.2)
    messages = [
        Message(
            role="user",
            parts=[
                TextPart(text="Question: what is red? Response A: a square. Response B: a circle."),
                *(ImagePart(evidence_id=i) for i in overview),
            ],
        ),
        Message(
            role="assistant",
            parts=[TextPart(text="I will look closer.")],
            tool_calls=[
                ToolCall(id="call_sel", name="select_frames", arguments={"timestamps": [2.0, 4.0]}),
                ToolCall(id="call_bad", name="reexamine_clip", arguments={"start": 3.0, "end": 1.0}),
            ],
        ),
        Message(
            role="tool",
            tool_results=[
                ToolResult(
                    call_id="call_sel",
                    name="select_frames",
                    parts=[TextPart(text="2 frames"), *(ImagePart(evidence_id=i) for i in selected)],
                ),
                ToolResult(
                    call_id="call_bad",
                    name="reexamine_clip",
                    parts=[TextPart(text="reexamine_clip: end must be greater than start")],
                    is_error=True,
                ),
            ],
        ),
    ]
    if second_round:
        messages += [
            Message(
                role="assistant",
                tool_calls=[
                    ToolCall(id="call_zoom", name="zoom", arguments={"timestamp": 2.2, "box": [250] * 2 + [750] * 2})
                ],
            ),
            Message(
                role="tool",
                tool_results=[
                    ToolResult(
                        call_id="call_zoom", name="zoom", parts=[TextPart(text="zoomed"), ImagePart(evidence_id=zoom)]
                    )
                ],
            ),
        ]
    request = ModelRequest(
        system="You are a careful judge.",
        messages=messages,
        tools=tool_specs(),
        tool_choice="auto",
        temperature=0.0,
        max_output_tokens=512,
        seed=7,
        evidence=store,
    )
    return Conversation(request, store, overview, selected, zoom)


def decoded_size(data: str | bytes) -> tuple[int, int]:
    """(width, height) of base64 text, a data URL or raw bytes of an image."""
    if isinstance(data, str):
        data = base64.b64decode(data.split(",", 1)[-1])
    pixels = decode_jpeg(data)
    return pixels.shape[1], pixels.shape[0]
