"""The package's shape: wings whose calls go one way, no import cycle, no overlong class.

The data's path is the folder listing: ``marketo/`` (HTTP to Marketo), ``exports/`` (the bulk
job lifecycle), ``records/`` (file to Singer messages) and ``streams/``, with the modules the
whole tap uses at the top. Calls go down that path only: streams -> exports -> marketo, and
streams -> records; the records and marketo wings never import streams or exports.

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
#: Each wing and the wings it may import (besides the shared top-level modules below).
WINGS: dict[str, set[str]] = {
    "marketo": set(),
    "records": set(),
    "exports": {"marketo", "records"},
    "streams": {"marketo", "exports", "records"},
    "sandbox": set(),  # a Marketo look-alike: it shares no code with the tap
}
#: Top-level modules every wing may use; they import no wing and none of the modules below.
SHARED = {"errors", "interrupts", "windows", "sdk_private"}
#: Top-level modules that put the tap together: they may import any wing.
ASSEMBLY = {"tap", "cli", "instance", "settings"}
#: The top of the package holds no more modules than this (``__init__`` not counted).
MAX_TOP_LEVEL_MODULES = 8


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


def _part(module: str) -> str:
    """The wing (``marketo``, ...) or top-level module (``tap``, ...) a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _wrong_way(graph: dict[str, set[str]]) -> list[str]:
    """Imports against the wings' direction, as ``importer -> imported``."""
    wrong = []
    for importer, targets in graph.items():
        source = _part(importer)
        for target in targets:
            goal = _part(target)
            if goal in (source, "__init__"):  # the package itself: ``from tap_marketo_bulk import errors``
                continue
            if source in WINGS:
                allowed = WINGS[source] | (SHARED if source != "sandbox" else set())
                allowed |= {"instance"} if source == "streams" else set()
            elif source in SHARED:
                allowed = SHARED
            else:
                allowed = set(WINGS) - {"sandbox"} | SHARED | ASSEMBLY
            if goal not in allowed:
                wrong.append(f"{importer} -> {target}")
    return sorted(wrong)


def test_the_direction_checker_finds_a_wrong_way_import():
    graph = {
        "tap_marketo_bulk.records.reader": {"tap_marketo_bulk.exports.model", "tap_marketo_bulk.errors"},
        "tap_marketo_bulk.marketo.client": {"tap_marketo_bulk.streams.base"},
        "tap_marketo_bulk.exports.runner": {"tap_marketo_bulk.marketo.client", "tap_marketo_bulk.records.reader"},
        "tap_marketo_bulk.windows": {"tap_marketo_bulk.records.types"},
        "tap_marketo_bulk.exports.spend": {"tap_marketo_bulk.instance"},
        "tap_marketo_bulk.streams.leads": {"tap_marketo_bulk.instance", "tap_marketo_bulk.exports.model"},
        "tap_marketo_bulk.sandbox.server": {"tap_marketo_bulk.errors"},
    }
    assert _wrong_way(graph) == [
        "tap_marketo_bulk.exports.spend -> tap_marketo_bulk.instance",
        "tap_marketo_bulk.marketo.client -> tap_marketo_bulk.streams.base",
        "tap_marketo_bulk.records.reader -> tap_marketo_bulk.exports.model",
        "tap_marketo_bulk.sandbox.server -> tap_marketo_bulk.errors",
        "tap_marketo_bulk.windows -> tap_marketo_bulk.records.types",
    ]


def test_calls_go_one_way_between_the_wings():
    assert _wrong_way(_graph()) == []


def test_the_top_of_the_package_holds_only_what_the_whole_tap_uses():
    top = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__")
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    assert set(top) == SHARED | ASSEMBLY
    folders = sorted(path.name for path in PACKAGE.iterdir() if path.is_dir() and path.name != "__pycache__")
    assert folders == sorted(WINGS)
    assert all((PACKAGE / wing / "__init__.py").read_text().startswith('"""') for wing in WINGS)
