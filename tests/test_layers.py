"""The import structure stays layered: arrows point only down, and no module imports itself
back through others (no cycles). Every import statement counts, at module level or inside a
function, except those under ``if TYPE_CHECKING:`` (annotations only)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: lowest first; a module may import its own layer or lower ones
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("xlalite.version", "xlalite.options", "xlalite.distributed")),
    ("ir", ("xlalite.ir",)),
    ("ops", ("xlalite.ops",)),
    ("runtime", ("xlalite.runtime",)),
    ("passes", ("xlalite.passes",)),
    ("backends", ("xlalite.backends",)),
    ("compiler", ("xlalite.compiler", "xlalite.differential")),
    ("frontend", ("xlalite.frontend",)),
    ("training and tools", ("xlalite.nn", "xlalite.optim", "xlalite.data", "xlalite.serialize",
                            "xlalite.onnx", "xlalite.tools", "xlalite.graph", "xlalite.utils")),
    ("public API", ("xlalite",)),
]
FOLDERS = {"xlalite": "xlalite", "passes": "xlalite.passes", "backends": "xlalite.backends"}


def modules() -> dict[str, Path]:
    out = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


def layer_of(module: str) -> int:
    best, index = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, index = len(p), i
    assert index >= 0, f"{module} is in no layer: add it to LAYERS"
    return index


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported xlalite module, line) for each import in `path`. ``from pkg import sub``
    names the submodule; the package's ``__init__`` counts only when a name defined there
    is imported (a submodule import runs it, but does not depend on what it defines)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name in known]
            continue
        base = node.module or ""
        if node.level:
            up = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(up + ([node.module] if node.module else []))
        for a in node.names:
            sub = f"{base}.{a.name}"
            if sub in known:
                out.append((sub, node.lineno))
            elif base in known:
                out.append((base, node.lineno))
    return out


def graph() -> dict[str, list[tuple[str, int]]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_every_import_points_down_or_sideways():
    upward = []
    for name, deps in graph().items():
        for dep, line in deps:
            if layer_of(dep) > layer_of(name):
                upward.append(f"{name}:{line} imports {dep} "
                              f"({LAYERS[layer_of(name)][0]} -> {LAYERS[layer_of(dep)][0]})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def cycles(g: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in g:
        if start in index:
            continue
        work = [(start, iter(sorted({d for d, _ in g[start]})))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted({d for d, _ in g.get(w, [])}))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_no_import_cycles():
    g = graph()
    found = cycles(g)
    detail = []
    for comp in found:
        members = set(comp)
        detail.append(" <-> ".join(comp) + "\n" + "\n".join(
            f"    {m}:{line} imports {d}" for m in comp for d, line in g[m] if d in members))
    assert not found, "import cycles:\n" + "\n".join(detail)


def test_no_module_imports_the_root_package():
    offenders = [f"{name}:{line}" for name, deps in graph().items() if name != "xlalite"
                 for dep, line in deps if dep == "xlalite"]
    assert not offenders, "import the module you need, not the xlalite package: " + ", ".join(offenders)


def test_the_checks_can_fail():
    """The detector sees a cycle and an upward import when there is one."""
    g = {"xlalite.ir.core": [("xlalite.ops.registry", 1)],
         "xlalite.ops.registry": [("xlalite.ir.core", 2)]}
    assert cycles(g) == [["xlalite.ir.core", "xlalite.ops.registry"]]
    assert layer_of("xlalite.ops.registry") > layer_of("xlalite.ir.core")
