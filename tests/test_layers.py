"""The service's import graph: imports only point down the layers, and no two modules import each other.

Layers, top to bottom (a module may import its own layer or any layer below):
  1. composition: function_app.py, local_host.py
  2. the HTTP edge: functions/http/
  3. the steps: functions/steps/ (each step on its own; only the step table imports them)
  4. running a step: functions/runtime/ (step runner, services, intake, waiting, outbound calls, subjects)
  5. the biometric core: functions/biometrics/ (face, liveness, signature, the decision; no storage, no queues)
  6. the base: functions/storage/, functions/crypto/ and the modules directly in functions/
     (errors, settings, messages, records, images, manifests, ONNX models)

`python -m tests.test_layers` prints the graph's figures: modules per layer, cycles, upward imports, floors.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("composition", "http", "steps", "runtime", "biometrics", "base")
# Only these may import the Azure Functions SDK: the composition and the HTTP edge.
FUNCTIONS_SDK_LAYERS = ("composition", "http")


def service_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file, for function_app.py, local_host.py and everything under functions/."""
    modules = {name: root / f"{name}.py" for name in ("function_app", "local_host") if (root / f"{name}.py").is_file()}
    for path in sorted((root / "functions").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_names(path: Path, module: str) -> set[str]:
    """Every dotted name the file imports, at module level or inside functions (a lazy import is still a dependency)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve_from(module, is_package, node)
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def import_graph(root: Path = ROOT) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(edges between service modules, every imported name per module)."""
    modules = service_modules(root)
    edges, raw = {}, {}
    for module, path in modules.items():
        names = imported_names(path, module)
        raw[module] = names
        edges[module] = {n for n in names if n in modules and n != module}
    return edges, raw


def layer_of(module: str) -> str:
    if module in ("function_app", "local_host"):
        return "composition"
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in ("http", "steps", "runtime", "biometrics"):
        return parts[1]
    return "base"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(1000, 10 * len(edges)))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def upward_imports(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    rank = {name: i for i, name in enumerate(LAYERS)}
    return sorted((a, b) for a, targets in edges.items() for b in targets if rank[layer_of(b)] < rank[layer_of(a)])


def floors(edges: dict[str, set[str]]) -> int:
    """Modules on the longest import chain (a cycle counts as one floor)."""
    component_of = {}
    for component in cycles(edges):
        for m in component:
            component_of[m] = component[0]
    node = lambda m: component_of.get(m, m)  # noqa: E731
    dag: dict[str, set[str]] = {}
    for a, targets in edges.items():
        dag.setdefault(node(a), set()).update(node(b) for b in targets if node(b) != node(a))
    depth: dict[str, int] = {}

    def height(v: str) -> int:
        if v not in depth:
            depth[v] = 1 + max((height(w) for w in dag.get(v, ())), default=0)
        return depth[v]

    return max((height(v) for v in dag), default=0)


def test_no_two_modules_import_each_other():
    edges, _ = import_graph()
    assert cycles(edges) == []


def test_imports_only_point_down_the_layers():
    edges, _ = import_graph()
    assert upward_imports(edges) == []


def test_a_step_imports_no_other_step():
    """Steps hand on through the table and the queues, never by calling each other."""
    edges, _ = import_graph()
    for module, targets in edges.items():
        if layer_of(module) == "steps" and module != "functions.steps.table":
            assert not [t for t in targets if layer_of(t) == "steps" and t != "functions.steps"], module


STEP_TABLE = "functions.steps.table"


def is_queue_step(module: str) -> bool:
    """A module of one queue step (functions/steps/<step>.py): not the package, not the table."""
    return layer_of(module) == "steps" and module not in ("functions.steps", STEP_TABLE)


def test_only_the_step_table_imports_a_queue_step():
    """The Functions app, the sync chain and the HTTP edge reach the steps through the table, never a step module."""
    edges, _ = import_graph()
    for module, targets in edges.items():
        if module.startswith("functions") and module != STEP_TABLE:
            assert not [t for t in targets if is_queue_step(t)], module


def test_the_biometric_core_knows_no_storage_queues_runner_or_http():
    """The core takes plain values: nothing of storage, the step runner, the steps or the HTTP edge, nor Azure."""
    _, raw = import_graph()
    core = [m for m in raw if layer_of(m) == "biometrics"]
    assert len(core) > 5
    for module in core:
        reached = [n for n in raw[module] if n.startswith("functions.")]
        assert not [n for n in reached if layer_of(n) in ("http", "steps", "runtime") or n.startswith("functions.storage")], module
        assert not [n for n in raw[module] if n.split(".")[0] == "azure"], module


def test_model_export_imports_the_core_and_the_base_never_a_step():
    """Training and serving share the core, so they cannot drift apart; a step is serving plumbing."""
    imported = {}
    for path in sorted((ROOT / "model_export").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        imported[module] = {n for n in imported_names(path, module) if n.startswith("functions")}
    assert any("functions.biometrics" in n for names in imported.values() for n in names)
    for module, names in imported.items():
        assert not [n for n in names if layer_of(n) in ("http", "steps")], module


def test_only_the_composition_and_the_http_edge_import_the_functions_sdk():
    _, raw = import_graph()
    users = sorted(m for m, names in raw.items() if any(n == "azure.functions" or n.startswith("azure.functions.") for n in names))
    assert users and all(layer_of(m) in FUNCTIONS_SDK_LAYERS for m in users), users


def test_the_service_imports_no_training_code():
    _, raw = import_graph()
    for module, names in raw.items():
        assert not [n for n in names if n.split(".")[0] in ("model_export", "torch", "torchvision")], module


def test_the_checks_see_a_planted_cycle_and_upward_import():
    edges = {"functions.steps.a": {"functions.http.b"}, "functions.http.b": {"functions.steps.a"}}
    assert cycles(edges) == [["functions.http.b", "functions.steps.a"]]
    assert upward_imports(edges) == [("functions.steps.a", "functions.http.b")]


def report(root: Path = ROOT) -> str:
    edges, _ = import_graph(root)
    per_layer: dict[str, int] = {}
    for m in edges:
        per_layer[layer_of(m)] = per_layer.get(layer_of(m), 0) + 1
    lines = [f"modules: {len(edges)} ({', '.join(f'{k} {per_layer.get(k, 0)}' for k in LAYERS)})",
             f"imports between them: {sum(len(t) for t in edges.values())}",
             f"cycles: {len(cycles(edges))} {cycles(edges)}",
             f"upward imports: {len(upward_imports(edges))} {upward_imports(edges)}",
             f"floors: {floors(edges)}"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT))
