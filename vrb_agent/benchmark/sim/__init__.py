"""`sim`: a deterministic, offline, pixel-grounded simulated judge, for demos and CI.

It is a stand-in so the whole product (graph, tools, benchmark, report) can run without API keys
or GPUs. It is not a reward model: it understands only the response grammar of the perception
probes (`vrb_agent.benchmark.probes`; its templates and parser are `grammar`) and perceives only
coloured blobs and printed digits.

What it perceives, like a model, comes only from the request: the question and the two answers in
the first user message, and the images it is sent (overview frames, tool results), resolved through
the request's evidence store. Frame times and zoom boxes come from the image labels
("frame t=12.40s", "zoom t=12.40s box=[x0,y0,x1,y1]", read by `vrb_agent.tools.labels`). It never
sees file names, metadata or the answer key. Its perception has explicit limits, in pixels of the image as sent:

- a colour blob is seen only when its core spans `ACUITY_PX` pixels in both directions (the core
  is the pixels within `CORE_V` of the named colour's brightness, so a blob blurred into the
  background by downscaling disappears rather than shrinking);
- a blob's shape (square or circle) is told only from `SHAPE_PX` pixels up;
- digits are read (template matching against the generator's Hershey font) only when their cap
  height is at least `READ_PX` pixels; smaller print is seen as a smudge of text, not read.

It extracts each answer's claim (`grammar`: the probes' own templates), checks both against what
it perceived, and prefers the answer whose claim is supported. In agentic mode (`request.tools`
non-empty) it calls visual tools where its evidence cannot separate the claims: zoom tiles when
the objects to count or inspect are below its acuity, a zoom onto unreadable print or a too-small
blob, a dense clip around a claimed event time, frames between the overview samples when an
ordered event was missed. When the evidence is still insufficient it says so, gives low confidence
and picks by a fixed rule seeded from `request.seed` and the request text: never from the ground
truth.

Modules: `perception` (blobs and print in one image), `digits` (reading print), `grammar` (the
probe answer templates and their parser), `findings` (judging two claims against what was seen),
`backend` (`SimBackend`). `vrb_agent/__init__.py` registers it with the backend registry as a
lazy entry, so `--backend sim` and `judge(..., backend="sim")` find it while the backends never
import the benchmark.
"""

from vrb_agent.benchmark.sim.backend import SimBackend

__all__ = ["SimBackend"]
