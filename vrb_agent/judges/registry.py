"""Backend registry: `--backend` name -> backend factory, imported lazily so a missing SDK only
matters when that backend is used.

The providers of this package are listed here. Code above the backends (the benchmark's `sim`,
a plugin) adds its own with `register_backend`, so this module names nothing above it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from vrb_agent.judges.base import Backend, ConfigError

BackendFactory = Callable[..., Backend]

_BACKENDS: dict[str, str | BackendFactory] = {
    "scripted": "vrb_agent.judges.scripted:ScriptedBackend",
    "openai": "vrb_agent.judges.openai:OpenAIBackend",
    "vllm": "vrb_agent.judges.openai:VLLMBackend",
    "anthropic": "vrb_agent.judges.anthropic:AnthropicBackend",
    "gemini": "vrb_agent.judges.gemini:GeminiBackend",
    "qwen": "vrb_agent.judges.qwen:QwenBackend",
}


def register_backend(name: str, factory: str | BackendFactory) -> None:
    """Make `name` a `--backend` choice. `factory` is a Backend class (or a callable taking the
    backend options) or its import path "package.module:Name", imported on first use. Registering
    a name again with the same factory is a no-op; with another one it is an error."""
    if not name or not name.replace("-", "_").isidentifier():
        raise ConfigError(f"backend name {name!r} must be a word of letters, digits, '_' or '-'")
    if isinstance(factory, str) and ":" not in factory:
        raise ConfigError(f"backend {name!r}: import path {factory!r} must read 'package.module:Name'")
    known = _BACKENDS.get(name)
    if known is not None and known != factory:
        raise ConfigError(f"backend {name!r} is already registered (as {known!r})")
    _BACKENDS[name] = factory


def backend_names() -> list[str]:
    return sorted(_BACKENDS)


def _factory(name: str) -> BackendFactory:
    """The factory registered under `name`, imported now if registered by path; unknown names list the known ones."""
    try:
        target = _BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown backend {name!r}; choose one of: {', '.join(backend_names())}") from None
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"backend {name!r} cannot be loaded: {exc}") from None
    factory: BackendFactory = getattr(module, attr)
    return factory


def get_backend(name: str, **options: Any) -> Backend:
    """Instantiate a backend by name; options are passed to its constructor (model, base_url, ...)."""
    factory = _factory(name)
    from_options = getattr(factory, "from_options", None)
    return from_options(**options) if from_options else factory(**options)
