"""dltrain's import graph has no cycles.

Built with ``ast`` from every module under dltrain/: module-level and function-level imports,
``from dltrain.x import y`` (an edge to dltrain.x.y when y is a submodule, else to dltrain.x)
and relative imports. Imports under ``if TYPE_CHECKING:`` never run and are left out, and so
are the parent packages an import runs implicitly (every ``__init__`` would be a cycle) and the
registry's lazy ``importlib.import_module`` strings. Cycles are the strongly connected
components of the graph (Tarjan); each is reported with one shortest cycle through it.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import dltrain

PACKAGE = Path(dltrain.__file__).parent


def module_names(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module under ``root`` by dotted name (a package by its ``__init__.py``)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Every Import / ImportFrom node, at any depth, except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the dltrain modules it imports (itself left out)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                while target and target not in modules:  # `import dltrain.x.y.attr`-like
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return sorted(found)


def shortest_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One shortest cycle inside ``component``, as a -> b -> ... -> a."""
    members = set(component)
    best: list[str] | None = None
    for start in component:
        previous = {start: None}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for child in sorted(graph[node] & members):
                if child == start:
                    path = [node]
                    while previous[path[-1]] is not None:
                        path.append(previous[path[-1]])
                    cycle = [*reversed(path), start]
                    if best is None or len(cycle) < len(best):
                        best = cycle
                    queue.clear()
                    break
                if child not in previous:
                    previous[child] = node
                    queue.append(child)
    assert best is not None
    return best


def cycles_report(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{len(c)} modules {c}; e.g. {' -> '.join(shortest_cycle(graph, c))}"
        for c in strongly_connected(graph)
    ]


def test_the_graph_sees_every_kind_of_import(tmp_path: Path):
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "import pkg.b\n",
        "b.py": "def f():\n    from pkg.sub import c\n",  # function-level, submodule
        "sub/__init__.py": "",
        "sub/c.py": "from ..d import thing\n",  # relative, attribute of a module
        "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n"
        "from . import a\nthing = 1\n",
        "e.py": "from pkg import sub\nimport os\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    graph = import_graph(module_names(root))
    assert graph == {
        "pkg": set(),
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.sub.c"},
        "pkg.sub": set(),
        "pkg.sub.c": {"pkg.d"},
        "pkg.d": {"pkg.a"},
        "pkg.e": {"pkg.sub"},
    }
    assert strongly_connected(graph) == [["pkg.a", "pkg.b", "pkg.d", "pkg.sub.c"]]
    assert shortest_cycle(graph, ["pkg.a", "pkg.b", "pkg.d", "pkg.sub.c"]) == [
        "pkg.a", "pkg.b", "pkg.sub.c", "pkg.d", "pkg.a",
    ]  # fmt: skip


def test_dltrain_has_no_import_cycles():
    graph = import_graph(module_names())
    assert len(graph) > 50 and graph["dltrain.cli.train"], "the graph found the modules"
    report = cycles_report(graph)
    assert not report, "import cycles in dltrain:\n" + "\n".join(report)
