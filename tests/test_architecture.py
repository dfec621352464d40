"""The package's shape, read from the source with ``ast`` (nothing is imported): no import cycle (module-level and
function-level imports both count), no file over 400 lines, at most 8 modules at the package root, and no model
file that imports the CPU backend."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ltx2"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The ltx2 modules ``path`` imports anywhere in its body: ``import a.b``, ``from a import b`` (b a module or
    a name in a), relative imports resolved against the module's package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                child = f"{source}.{alias.name}"
                found.add(child if child in modules else source)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    # ltx2.experiment.runner imports ltx2.loading.model_set inside run_job only
    assert "ltx2.loading.model_set" in graph["ltx2.experiment.runner"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_file_over_400_lines():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


ROOT_MODULES = {"__init__.py", "errors.py", "ops.py",  # the package, its one error, the op seam
                "run.py", "rerun.py", "diff.py", "download.py", "doctor.py", "quantize.py"}  # `python -m` entry points


def test_only_entry_points_at_the_package_root():
    """The root holds the entry points (`python -m ltx2.<name>`), the op seam and the error; everything else lives
    in a layer's folder. A new root module is a new entry point: add it here on purpose."""
    root = {p.name for p in PACKAGE.glob("*.py")}
    assert root <= ROOT_MODULES, f"modules at ltx2/ that are not entry points: {sorted(root - ROOT_MODULES)}"


def _models_importing_backends() -> list[str]:
    graph = import_graph()
    return sorted(f"{m} -> {', '.join(sorted(i for i in imports if i.startswith('ltx2.backends')))}"
                  for m, imports in graph.items()
                  if m.startswith("ltx2.models") and any(i.startswith("ltx2.backends") for i in imports))


def test_no_model_file_imports_the_backend():
    offenders = _models_importing_backends()
    assert not offenders, "model modules importing ltx2.backends: " + "; ".join(offenders)
