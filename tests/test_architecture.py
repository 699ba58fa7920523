"""The layout keeps its promises: imports run one way, with no cycle (function-level
imports included), click only in normcli/cli/, and no module past about 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "normcli"
#: The layers, from the top: a module may import its own layer and those below it.
LAYERS = [
    ("normcli.__main__",),
    ("normcli.cli",),
    ("normcli.api",),
    ("normcli.ops",),
    ("normcli.engines",),
]
MAX_LINES = 620


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every normcli module ``path`` imports, at any depth of the code (a function-level
    import counts: it would only hide a cycle)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name in known:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(path, known) - {name} for name, path in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle():
    edges = graph()
    # a package's __init__ importing its own submodules is how packages are made;
    # the cycle that matters is a submodule importing back its package's __init__
    # (or any other loop), which this graph shows as edges between named modules
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def layer(name: str) -> int | None:
    for i, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return i
    return None


def test_imports_run_one_way():
    """cli -> api -> ops -> engines -> (stats, normalizers, io, ...): never upwards."""
    upward = []
    for name, targets in graph().items():
        mine = layer(name)
        for target in targets:
            theirs = layer(target)
            if theirs is None:
                continue
            if mine is None or theirs < mine:
                upward.append(f"{name} imports {target}")
    assert not upward, upward


def test_click_only_in_the_cli_package():
    offenders = []
    for name, path in modules().items():
        if name.startswith("normcli.cli"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(
                a.name.split(".")[0] == "click" for a in node.names
            ):
                offenders.append(name)
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "click":
                offenders.append(name)
    assert not offenders, offenders


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_hold_one_concern(name):
    lines = modules()[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by concern"


def test_the_layout_the_docs_describe_exists():
    for name in ("normcli.api", "normcli.ops.normalize", "normcli.engines.local", "normcli.params"):
        assert name in modules()
    assert "normcli.engine" not in modules() and "normcli.cli" in modules()
