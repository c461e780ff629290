"""The images on a trace page: each thumbnail links to the full-size JPEG the judge was sent, zoom
boxes are drawn on the frame they came from, numbered by tool call (the `#` of the tool sequence)
in distinct colours, and each crop says which call made it. Also the note that reconciles "images
sent" (summed over model calls) with the distinct images shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from vrb_agent.agents.trace import JudgmentTrace, TraceImage

ZOOM_COLOURS = ("#ff2d2d", "#00b3ff", "#ffd400", "#00d26a", "#ff6bd5", "#ff8c00", "#9d6bff", "#00e5d4", "#ffffff")
THUMB_W = 320  # every image is shown this wide, small crops included
LABEL_PX = 12  # box-number size as displayed


@dataclass(frozen=True)
class ZoomBox:
    """A valid zoom: its number in the tool sequence, the frame time and the 0–1000 box."""

    number: int
    timestamp: float
    box: tuple[float, float, float, float]

    @property
    def colour(self) -> str:
        return ZOOM_COLOURS[(self.number - 1) % len(ZOOM_COLOURS)]


def zoom_boxes(trace: JudgmentTrace) -> list[ZoomBox]:
    """Every valid zoom the judge made, numbered by its position in the judgment's tool sequence."""
    boxes = []
    for number, call in enumerate(trace.steps, 1):
        box = call.box or call.arguments.get("box")
        ts = call.arguments.get("timestamp", call.timestamps[0] if call.timestamps else None)
        if call.name == "zoom" and call.ok and box and ts is not None:
            x0, y0, x1, y1 = (float(v) for v in box)
            boxes.append(ZoomBox(number, float(ts), (x0, y0, x1, y1)))
    return boxes


def crop_calls(trace: JudgmentTrace) -> dict[str, int]:
    """Evidence id of each tool result image -> the number of the call that returned it."""
    made: dict[str, int] = {}
    for number, call in enumerate(trace.steps, 1):
        for image in call.images:
            made.setdefault(image, number)
    return made


def boxes_by_frame(trace: JudgmentTrace, index: dict[str, TraceImage]) -> dict[str, list[ZoomBox]]:
    """For each zoom, the seen full frame (no box of its own) closest in time gets its box drawn."""
    frames = [(i, index[i]) for i in trace.images if i in index and not index[i].box]
    drawn: dict[str, list[ZoomBox]] = {}
    for zoom in zoom_boxes(trace):
        timed = [(abs(e.timestamp - zoom.timestamp), i) for i, e in frames if e.timestamp is not None]
        if timed:
            drawn.setdefault(min(timed)[1], []).append(zoom)
    return drawn


def _box_svg(zoom: ZoomBox, w: int, h: int, scale: float) -> str:
    """The box outline and, at its top-left corner (kept inside the image), its call number."""
    x0, y0, x1, y1 = (zoom.box[0] / 1000 * w, zoom.box[1] / 1000 * h, zoom.box[2] / 1000 * w, zoom.box[3] / 1000 * h)
    size = LABEL_PX / scale
    tag_w, tag_h = size * (0.7 * len(str(zoom.number)) + 0.5), size * 1.2
    tx, ty = min(max(x0, 0.0), w - tag_w), min(max(y0, 0.0), h - tag_h)
    return (
        f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" fill="none" '
        f'stroke="{zoom.colour}" stroke-width="{max(2.0, w / 200):.1f}"/>'
        f'<rect x="{tx:.1f}" y="{ty:.1f}" width="{tag_w:.1f}" height="{tag_h:.1f}" fill="{zoom.colour}"/>'
        f'<text x="{tx + tag_w / 2:.1f}" y="{ty + size:.1f}" font-size="{size:.1f}" text-anchor="middle" '
        f'font-family="Verdana, DejaVu Sans, sans-serif" fill="#000">{zoom.number}</text>'
    )


def figure(href: str, entry: TraceImage, boxes: list[ZoomBox], made_by: int | None) -> str:
    """The image the judge saw as a link to the full-size file, with its numbered zoom boxes drawn."""
    w, h = entry.width or THUMB_W, entry.height or 180
    scale = THUMB_W / max(w, 1)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * scale:.0f}" height="{h * scale:.0f}" '
        f'viewBox="0 0 {w} {h}"><image href="{escape(href)}" width="{w}" height="{h}"/>'
        + "".join(_box_svg(z, w, h, scale) for z in boxes)
        + "</svg>"
    )
    caption = escape(entry.label or entry.id)
    if made_by is not None:
        caption += f" · from call #{made_by}"
    if boxes:
        caption += " · zoom boxes of calls " + ", ".join(f"#{z.number}" for z in boxes)
    link = f'<a href="{escape(href)}" target="_blank" title="open full size ({w}x{h})">{svg}</a>'
    return f"<figure>{link}<figcaption>{caption}</figcaption></figure>"


def images_note(trace: JudgmentTrace) -> str:
    """Why "images sent" can exceed the distinct images shown: every model call sends the images
    still in the judge's context, so later calls send earlier ones again."""
    sent, distinct, calls = trace.images_sent, len(dict.fromkeys(trace.images)), trace.model_calls
    text = f"images sent {sent}"
    if calls:
        text += f" (summed over {calls} model call{'s' if calls != 1 else ''})"
    if sent > distinct:
        text += (
            f": {distinct} distinct images plus {sent - distinct} sent again, because each model call "
            "re-sends the images still in the judge's context"
        )
    return text
