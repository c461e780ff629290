"""Backend registry: `--backend` name -> backend class, imported lazily so a missing SDK only
matters when that backend is used. Adding a backend is one new file plus one line here."""

from __future__ import annotations

import importlib
from typing import Any

from vrb_agent.judges.base import Backend, ConfigError

BACKENDS: dict[str, str] = {
    "scripted": "vrb_agent.judges.scripted:ScriptedBackend",
    "openai": "vrb_agent.judges.openai:OpenAIBackend",
    "vllm": "vrb_agent.judges.openai:VLLMBackend",
    "anthropic": "vrb_agent.judges.anthropic:AnthropicBackend",
    "gemini": "vrb_agent.judges.gemini:GeminiBackend",
    "qwen": "vrb_agent.judges.qwen:QwenBackend",
    "sim": "vrb_agent.judges.sim:SimBackend",
}


def backend_names() -> list[str]:
    return sorted(BACKENDS)


def backend_class(name: str) -> type[Backend]:
    """The class registered under `name`; unknown names list the known ones."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown backend {name!r}; choose one of: {', '.join(backend_names())}") from None
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"backend {name!r} cannot be loaded: {exc}") from None
    return getattr(module, attr)


def get_backend(name: str, **options: Any) -> Backend:
    """Instantiate a backend by name; options are passed to its constructor (model, base_url, ...)."""
    cls = backend_class(name)
    factory = getattr(cls, "from_options", None)
    return factory(**options) if factory else cls(**options)
