"""Issue 12's size rules, enforced: a module a newcomer can read in one sitting, functions that do
one thing. Counts are physical lines, as `wc -l` and an editor show them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vrb_agent"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_under_the_line_limit() -> None:
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in modules()}
    long = {name: n for name, n in sizes.items() if n >= MAX_MODULE_LINES}
    assert not long, f"modules of {MAX_MODULE_LINES}+ lines: {long}"


def test_every_function_is_under_the_line_limit() -> None:
    long = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, "functions over the limit: " + "; ".join(long)


def test_the_size_check_sees_the_package() -> None:
    assert len(modules()) > 30  # the glob found the package, so an empty pass is impossible
