"""The package's imports run one way: from the command line down to the spec, never back up.

Every `import` in hwgen/ (module level and inside functions) is resolved and checked against the
layers below. A module may import its own layer and the layers beneath it; the generator and the
export are siblings and import neither each other; the product reaches sim/ (verification) only
through sim's package root (`hwgen build --check`), and the command line wires `hwgen sim` to
sim/cli.py.

KNOWN_UPWARD lists the imports that still run the wrong way, each with its reason; it may only
shrink (the test fails on any import not listed, and on a listed one that is gone).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: layer of each hwgen module (prefix match, most specific first); higher numbers may import lower
LAYERS = [
    ("hwgen.cli", 5), ("hwgen.entry", 5), ("hwgen.sweep", 5), ("hwgen.api", 5),
    ("hwgen.build", 4), ("hwgen.fit", 4), ("hwgen.outdir", 4), ("hwgen.models", 4),
    ("hwgen.toolchain.limits", 1.5), ("hwgen.toolchain.targets", 0), ("hwgen.toolchain", 4),
    ("hwgen.expected", 3),
    ("hwgen.export", 2), ("hwgen.evaluate", 2), ("hwgen.generator", 2),
    ("hwgen.qmodel_file", 1), ("hwgen.spec.summary", 1), ("hwgen.spec.random_qmodel", 1), ("hwgen.spec.stimulus", 1),
    ("hwgen.spec.golden", 0.5), ("hwgen.spec.activation", 0.4), ("hwgen.spec.ir", 0.2), ("hwgen.spec.tokens", 0.1),
    ("hwgen.spec.fixedpoint", 0), ("hwgen.spec", 0), ("hwgen.files", 0), ("hwgen.extras", 0), ("hwgen", 0),
]
SIBLINGS = {("hwgen.generator", "hwgen.export"), ("hwgen.export", "hwgen.generator")}
#: (importer, imported): imports against the direction, each to be removed (none left)
KNOWN_UPWARD: set[tuple[str, str]] = set()


def layer(module: str) -> tuple[str, float]:
    for prefix, n in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return prefix, n
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def imports(path: Path, module: str):
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            yield name
            for alias in node.names:  # `from . import x` may name a module
                yield f"{name}.{alias.name}"


def modules():
    for path in sorted((ROOT / "hwgen").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        yield path, ".".join(parts)


def violations():
    found = set()
    for path, module in modules():
        own, n = layer(module)
        for target in imports(path, module):
            if target == "sim" or target.startswith("sim."):
                wiring = n == 5 and target.startswith("sim.cli")  # the `hwgen sim` subcommand
                if target not in ("sim", "sim.check_build", "sim.simulate") and not wiring:
                    found.add((module, target))
                continue
            if not target.startswith("hwgen"):
                continue
            try:
                other, m = layer(target)
            except AssertionError:
                continue  # a name imported from a module (`from .x import y`), not a module
            if other == own or (own.startswith(other + ".") or other.startswith(own + ".")):
                continue
            if (own, other) in SIBLINGS or m > n:
                found.add((own, other))
    return found


def test_imports_run_from_the_command_line_down_to_the_spec():
    assert violations() - KNOWN_UPWARD == set()


def test_the_known_exceptions_are_still_there():
    """When one is fixed, take it off KNOWN_UPWARD."""
    assert KNOWN_UPWARD <= violations()


def import_graph() -> dict[str, set[str]]:
    """Module -> the hwgen modules it imports (at any depth of its code), packages' own
    ancestors left out (importing a submodule runs them anyway)."""
    known = {module for _, module in modules()}
    graph = {}
    for path, module in modules():
        targets = {t for t in imports(path, module) if t in known and t != module}
        graph[module] = {t for t in targets if not module.startswith(t + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert cycles(import_graph()) == []


def test_the_circle_check_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_generator_does_not_run_the_golden_model():
    for path, module in modules():
        if module.startswith("hwgen.generator"):
            assert not any(t.startswith("hwgen.spec.golden") for t in imports(path, module)), module
