"""The backend registry: built-in providers by import path, others added with `register_backend`;
`sim` is registered from the package root, lazily, so judges never import the benchmark."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vrb_agent.cli import app
from vrb_agent.judges import (
    Backend,
    ConfigError,
    ModelReply,
    ModelRequest,
    ScriptedBackend,
    backend_names,
    get_backend,
    register_backend,
    registry,
)


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = dict(registry._BACKENDS)
    yield
    registry._BACKENDS.clear()
    registry._BACKENDS.update(saved)


def test_every_design_name_is_registered() -> None:
    assert set(backend_names()) >= {"openai", "vllm", "anthropic", "gemini", "qwen", "scripted", "sim"}


class Echo(Backend):
    """A minimal backend for registration tests."""

    name = "echo"

    async def complete(self, request: ModelRequest) -> ModelReply:
        return ModelReply(text=request.messages[-1].text, model=self.model)


def test_registration_by_class_callable_or_path(clean_registry: None) -> None:
    register_backend("echo", Echo)
    register_backend("echo-by-path", "tests.test_registry:Echo")
    register_backend("named", lambda **options: Echo(model=options.get("model", "x")))
    assert isinstance(get_backend("echo", model="e"), Echo)
    assert type(get_backend("echo-by-path", model="p")).__name__ == "Echo"
    assert get_backend("named", model="m1").model == "m1"
    assert {"echo", "echo-by-path", "named"} <= set(backend_names())
    register_backend("echo", Echo)  # the same again: a no-op


def test_bad_registrations_are_config_errors(clean_registry: None) -> None:
    with pytest.raises(ConfigError, match="already registered"):
        register_backend("sim", ScriptedBackend)
    with pytest.raises(ConfigError, match=r"package\.module:Name"):
        register_backend("broken", "vrb_agent.judges.scripted")
    with pytest.raises(ConfigError, match="must be a word"):
        register_backend("two words", ScriptedBackend)
    register_backend("missing", "vrb_agent.no_such_module:Backend")
    with pytest.raises(ConfigError, match="'missing' cannot be loaded"):
        get_backend("missing")
    with pytest.raises(ConfigError, match=r"unknown backend 'nope'; choose one of: .*sim"):
        get_backend("nope")


def test_sim_is_lazy_and_judges_never_load_the_benchmark() -> None:
    """Importing the backends (which registers `sim` through the package root) loads no benchmark
    module; asking for `sim` does."""
    code = (
        "import sys\n"
        "from vrb_agent.judges import backend_names, get_backend\n"
        "assert 'sim' in backend_names()\n"
        "assert not [m for m in sys.modules if m.startswith('vrb_agent.benchmark')], 'benchmark loaded early'\n"
        "backend = get_backend('sim')\n"
        "print(type(backend).__module__, backend.name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["vrb_agent.benchmark.sim.backend", "sim"]


def test_cli_judges_with_sim(probe_suite: Path) -> None:
    row = probe_suite.read_text().splitlines()[0]
    sample = json.loads(row)
    args = [
        "judge",
        str(probe_suite.parent / sample["media"]),
        "--question",
        sample["question"],
        "--response-a",
        sample["rejected"],
        "--response-b",
        sample["chosen"],
        "--backend",
        "sim",
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["verdict"]["preferred"] == "B"
