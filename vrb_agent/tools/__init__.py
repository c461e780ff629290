"""Media access and the judge's visual tools (no model code)."""

from vrb_agent.tools.evidence import EvidenceImage, EvidenceStore
from vrb_agent.tools.media import DECODERS, FRAME_CACHE, Frame, Media, MediaError, open_media
from vrb_agent.tools.visual import (
    ARG_MODELS,
    Observation,
    ObservedImage,
    ToolBox,
    ToolLimits,
    overview,
    reexamine_clip,
    schema_of,
    select_frames,
    zoom,
)

__all__ = [
    "ARG_MODELS",
    "DECODERS",
    "FRAME_CACHE",
    "EvidenceImage",
    "EvidenceStore",
    "Frame",
    "Media",
    "MediaError",
    "Observation",
    "ObservedImage",
    "ToolBox",
    "ToolLimits",
    "open_media",
    "overview",
    "reexamine_clip",
    "schema_of",
    "select_frames",
    "zoom",
]
