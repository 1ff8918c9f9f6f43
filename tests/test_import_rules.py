"""The import rules of src/rightmodel (issue 18, "a core that knows no HTTP"), read from the source.

An AST walk, no imports of the code and no new dependency. An arrow is any ``import`` or
``from ... import`` statement in a module: at module level, inside a function (a lazy import
still runs, so it is still an arrow) and under ``if TYPE_CHECKING:`` (a type-only import is still
a dependency). Relative imports are resolved. ``from pkg import name`` points at the module
``pkg.name`` when there is one, else at ``pkg``. Importing ``a.b`` also runs ``a/__init__``; that
implicit arrow is not counted (each ``__init__`` is checked on its own imports).

A *part* is a top-level package or module under rightmodel (``gateway``, ``routing``,
``usage.py``...). The rules:

1. Nothing outside ``gateway/`` imports ``rightmodel.gateway`` except ``cli.py`` (the command
   line starts the server); nothing imports ``rightmodel.cli``. So specialists, registry, ledger,
   privacy, routing, report, distill, evaluate, data, constellation, backends (and auth, router,
   the shared modules) never reach the HTTP app.
2. ``backends/`` never imports ``routing/``: a backend answers, it does not decide.
3. No import cycles, counting every arrow above, lazy and type-only ones included: none between
   modules, and none between parts (so the parts form layers: docs/architecture.md).
"""

from __future__ import annotations

import ast
import textwrap
from collections import defaultdict
from pathlib import Path

import rightmodel

SRC = Path(rightmodel.__file__).resolve().parent
ROOT = "rightmodel"
MAY_IMPORT_GATEWAY = {"gateway", "cli"}
FORBIDDEN_FOR_BACKENDS = {"routing"}
DOMAIN = ("specialists", "registry", "ledger", "privacy", "routing", "report", "distill", "evaluate", "data", "constellation", "backends")


def module_names(src: Path, root: str = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under `src` (a package's name is its __init__'s)."""
    names = {}
    for path in sorted(src.rglob("*.py")):
        parts = [root, *path.relative_to(src).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def arrows(src: Path, root: str = ROOT) -> list[tuple[str, str, int]]:
    """(importer, imported module, line) for every import of a module under `src`, anywhere in the file."""
    modules = module_names(src, root)
    found = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module for alias in node.names]
            else:
                continue
            resolved = []
            for target in targets:
                while target not in modules and "." in target:  # `import a.b.c` of a name inside a.b
                    target = target.rpartition(".")[0]
                if target in modules and target != name and target not in resolved:
                    resolved.append(target)
            found += [(name, target, node.lineno) for target in resolved]
    return found


def part(module: str) -> str:
    """`rightmodel.gateway.chat` -> `gateway`; `rightmodel.usage` -> `usage`; `rightmodel` -> ``."""
    return module.split(".")[1] if "." in module else ""


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan's, iterative)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
        graph[b]
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def violations(src: Path, root: str = ROOT) -> list[str]:
    """Every broken rule under `src`, one readable line each (empty when all hold)."""
    edges = arrows(src, root)
    problems = []
    for importer, imported, line in edges:
        where = f"{importer} (line {line}) imports {imported}"
        if part(imported) == "gateway" and part(importer) not in MAY_IMPORT_GATEWAY:
            problems.append(f"only gateway/ and cli.py may import the gateway: {where}")
        if part(imported) == "cli" and importer != f"{root}.cli":
            problems.append(f"nothing imports cli.py: {where}")
        if part(importer) == "backends" and part(imported) in FORBIDDEN_FOR_BACKENDS:
            problems.append(f"backends/ never imports routing/: {where}")
    for component in cycles({(a, b) for a, b, _ in edges}):
        problems.append(f"import cycle between modules: {' <-> '.join(component)}")
    for component in cycles({(part(a), part(b)) for a, b, _ in edges if part(a) and part(b) and part(a) != part(b)}):
        problems.append(f"import cycle between parts: {' <-> '.join(component)}")
    return problems


def test_src_keeps_the_import_rules():
    assert violations(SRC) == []


def test_the_walk_sees_the_whole_tree_and_lazy_imports():
    """Not vacuous: every domain part exists, and arrows from inside functions are in the graph."""
    edges = {(a, b) for a, b, _ in arrows(SRC)}
    parts = {part(m) for m in module_names(SRC)}
    assert set(DOMAIN) <= parts and "gateway" in parts
    assert len(edges) > 200
    # gateway/state.py imports the capturer inside build_capturer(), the gateway's CLI its launcher
    # inside serve(), and the launcher the app inside run()
    assert ("rightmodel.gateway.state", "rightmodel.distill.capturer") in edges
    assert ("rightmodel.gateway.cli", "rightmodel.gateway.launch") in edges
    assert ("rightmodel.gateway.launch", "rightmodel.gateway.app") in edges


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_the_checker_reports_each_broken_rule(tmp_path):
    """The same checker on a synthetic package that breaks every rule once, in the hardest form:
    a lazy import, a relative import, a type-only import."""
    write(tmp_path, {
        "__init__.py": "",
        "cli.py": "",
        "gateway/__init__.py": "",
        "gateway/app.py": "import rightmodel.privacy.gate\n",
        "privacy/__init__.py": "",
        "privacy/gate.py": "def scrub():\n    from rightmodel.gateway import app  # lazy: still an arrow\n",
        "report/__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from rightmodel.cli import main\n",
        "routing/__init__.py": "",
        "routing/decision.py": "",
        "backends/__init__.py": "",
        "backends/specialist.py": "from ..routing.decision import NEVER_ACCEPT  # relative\n",
        "ledger/__init__.py": "",
        "ledger/one.py": "from rightmodel.ledger import two\n",
        "ledger/two.py": "def f():\n    from . import one\n",
    })
    assert sorted(violations(tmp_path)) == [
        "backends/ never imports routing/: rightmodel.backends.specialist (line 1) imports rightmodel.routing.decision",
        "import cycle between modules: rightmodel.gateway.app <-> rightmodel.privacy.gate",
        "import cycle between modules: rightmodel.ledger.one <-> rightmodel.ledger.two",
        "import cycle between parts: gateway <-> privacy",
        "nothing imports cli.py: rightmodel.report (line 3) imports rightmodel.cli",
        "only gateway/ and cli.py may import the gateway: rightmodel.privacy.gate (line 2) imports rightmodel.gateway.app",
    ]
    # mending the package mends the report
    write(tmp_path, {"privacy/gate.py": "", "report/__init__.py": "", "backends/specialist.py": "", "ledger/two.py": ""})
    assert violations(tmp_path) == []
