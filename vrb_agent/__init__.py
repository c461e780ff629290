"""vrb-agent: agentic judging of multimodal answers (select frames, zoom, re-examine, then judge)."""

__version__ = "0.1.0"
