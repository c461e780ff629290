"""The layering rule, checked on the source: tools < judges < agents < benchmark < cli.

Every module's imports (top-level, inside functions, under TYPE_CHECKING, relative) and every
string naming a vrb_agent module ("vrb_agent.x.y" or "vrb_agent.x.y:Name", as lazy registries hold
them) must point at its own layer or one below. Modules directly under vrb_agent/ (errors.py,
pairblock.py, ...) are neutral: below tools, so they may import only each other. The package root
(vrb_agent/__init__.py, the public API that re-exports and registers) sits above everything.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vrb_agent"
LAYERS = ("tools", "judges", "agents", "benchmark", "cli")
NEUTRAL, ROOT = 0, len(LAYERS) + 1
MODULE_TEXT = re.compile(r"vrb_agent(?:\.\w+)+(?::\w+)?")


def rank(module: str) -> int:
    """0 for neutral modules, 1..5 for the layers in order, 6 for the package root."""
    parts = module.split(".")
    if len(parts) == 1:
        return ROOT
    return LAYERS.index(parts[1]) + 1 if parts[1] in LAYERS else NEUTRAL


def layer_name(module: str) -> str:
    names = ("neutral", *LAYERS, "the package root")
    return names[rank(module)]


def modules(package: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = [package.name, *path.relative_to(package).with_suffix("").parts]
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _from_target(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module a `from X import ...` reads from, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def references(path: Path, module: str, known: set[str]) -> list[tuple[int, str]]:
    """(line, vrb_agent module) for everything this file imports or names by import path."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _from_target(node, module, path.name == "__init__.py")
            for alias in node.names:
                child = f"{source}.{alias.name}"
                found.append((node.lineno, child if child in known else source))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_TEXT.fullmatch(node.value):
            named = node.value.partition(":")[0]
            if named in known:  # a lazy import path; other dotted texts (logger names) are not references
                found.append((node.lineno, named))
    return [(line, name) for line, name in found if name == "vrb_agent" or name.startswith("vrb_agent.")]


def violations(package: Path) -> list[str]:
    """Every reference from a module to a layer above its own, as `file:line: ...` lines."""
    found = modules(package)
    problems = []
    for module, path in found.items():
        for line, target in references(path, module, set(found)):
            if rank(target) > rank(module):
                where = path.relative_to(package.parent)
                problems.append(
                    f"{where}:{line}: {module} ({layer_name(module)}) imports {target} ({layer_name(target)})"
                )
    return problems


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert modules(PACKAGE), f"no modules found under {PACKAGE}"
    problems = violations(PACKAGE)
    assert not problems, "imports must point downward (tools < judges < agents < benchmark < cli):\n" + "\n".join(
        problems
    )


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_check_sees_every_kind_of_upward_reference(tmp_path: Path) -> None:
    package = tmp_path / "vrb_agent"
    for relative in ("__init__.py", "tools/__init__.py", "judges/__init__.py", "agents/__init__.py"):
        write(package, relative, "")
    write(package, "benchmark/__init__.py", "")
    write(package, "benchmark/sim.py", 'LOGGER = "vrb_agent"\nPATH = "vrb_agent.judges.nothing:Here"\n')
    write(package, "errors.py", "from vrb_agent.tools import media\n")
    write(package, "tools/media.py", "from vrb_agent import errors\nfrom vrb_agent.errors import VrbError\n")
    write(package, "tools/visual.py", "def late():\n    import vrb_agent.agents.graph\n")
    write(package, "judges/registry.py", 'TABLE = {"sim": "vrb_agent.benchmark.sim:SimBackend"}\n')
    write(package, "judges/sim.py", "from ..agents import prompts\nfrom . import registry\n")
    write(package, "agents/api.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import vrb_agent\n")
    write(
        package, "agents/graph.py", '"""Uses `vrb_agent.benchmark.runner` in prose only."""\nimport vrb_agent.judges\n'
    )
    problems = violations(package)
    assert [p.split(":")[0] for p in problems] == [
        "vrb_agent/agents/api.py",
        "vrb_agent/errors.py",
        "vrb_agent/judges/registry.py",
        "vrb_agent/judges/sim.py",
        "vrb_agent/tools/visual.py",
    ], problems
    assert "vrb_agent.agents (agents)" in next(p for p in problems if "judges/sim.py" in p)


@pytest.mark.parametrize(
    ("module", "expected"),
    [("vrb_agent.errors", 0), ("vrb_agent.tools.media", 1), ("vrb_agent.cli", 5), ("vrb_agent", 6)],
)
def test_ranks(module: str, expected: int) -> None:
    assert rank(module) == expected
