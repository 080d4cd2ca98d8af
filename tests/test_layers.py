"""The package's layers flow one way: no import cycles, and no import from a lower layer to a higher one.

Every import counts, inside functions too (a lazy import is still a dependency); only imports under
`if TYPE_CHECKING:` are left out. The layers are the README's map (docs/architecture.md): a module may import its
own layer and the ones below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "arabic_pref"
# bottom to top; a module belongs to the first layer one of whose names is the module or a package above it
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "foundation",
        (
            "errors",
            "secrets",
            "console",
            "distributed",
            "upstream",
            "metrics",
            "intervals",
            "pair_records",
            "metadata",
            "resources",
            "tracking",
            "hub",
            "chat_format",
            "plots",
            "builtin",
        ),
    ),
    (
        "config",
        ("config", "config_checks", "config_rules", "loss_checks", "config_reference", "conf_store", "run_names"),
    ),
    ("data", ("data",)),
    ("models", ("models", "checkpoints", "lora_targets", "fast_logprob", "generation")),
    ("evaluation", ("evaluation",)),
    ("training", ("training",)),
    ("sweep", ("sweep",)),
    ("compare", ("compare",)),
    ("entry points", ("train", "cli")),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        out[name] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for child in ast.walk(node)}
    return skipped


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (a name imported from a package resolves to its module)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _type_checking_nodes(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets |= {base} | {f"{base}.{a.name}" for a in node.names}
        resolved = set()
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and target != "arabic_pref":
                resolved.add(target)
        graph[name] = resolved
    return graph


def layer_of(module: str) -> int:
    parts = module.split(".")[1:]  # without "arabic_pref"
    for index, (_, names) in enumerate(LAYERS):
        if parts and parts[0] in names:
            return index
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS (and to docs/architecture.md)")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_imports_inside_functions_and_skips_type_checking():
    graph = import_graph()
    # a lazy import, inside a method: arabic_pref.training.dpo_trainer imports the evaluation runner in build()
    assert "arabic_pref.evaluation.runner" in graph["arabic_pref.training.dpo_trainer"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_imports_flow_down_the_layers():
    graph = import_graph()
    upward = sorted(
        f"{module} ({LAYERS[layer_of(module)][0]}) -> {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )
    assert upward == [], "\n".join(upward)
