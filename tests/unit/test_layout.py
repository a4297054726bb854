"""The package's shape: no import cycle, no class longer than about 200 lines without a reason.

Imports under ``if TYPE_CHECKING:`` count too: a cycle there is still a circle a reader must
untangle, and it becomes a real one the day an annotation is evaluated.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tap_marketo_bulk"
#: Classes longer than this must say in their docstring why they are not split.
MAX_CLASS_LINES = 200
REASON = "Why this class is long:"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """Package modules this module imports (``from x import y`` counts ``x.y`` if a module)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(target for target in targets if target in modules and target != name)
    return found


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: _imports(path, name, modules) for name, path in paths.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph, as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_checker_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_sees_relative_and_type_checking_imports():
    graph = _graph()
    assert "tap_marketo_bulk.sandbox.data" in graph["tap_marketo_bulk.sandbox.server"]
    assert "tap_marketo_bulk.instance" in graph["tap_marketo_bulk.streams.base"]  # under TYPE_CHECKING


def test_no_import_cycle_in_the_package():
    assert _cycle(_graph()) is None


def test_only_the_tap_module_imports_the_tap():
    importers = sorted(name for name, targets in _graph().items() if "tap_marketo_bulk.tap" in targets)
    assert importers == ["tap_marketo_bulk.cli"]


def test_long_classes_say_why():
    long_without_reason = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_CLASS_LINES and REASON not in (ast.get_docstring(node) or ""):
                    long_without_reason.append(f"{path.relative_to(PACKAGE)}:{node.name} ({lines} lines)")
    assert long_without_reason == []
