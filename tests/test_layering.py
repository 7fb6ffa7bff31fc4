"""The import graph of rramsim: no circles anywhere, and the studies in their documented order.

Every ``import`` statement counts, those inside functions included. ``from package import name``
is an edge to the module ``package.name`` when there is one, otherwise to the package's
``__init__``; the implicit import of a module's parent package is not an edge.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "rramsim"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _imported(node: ast.AST, here: str, is_package: bool) -> list[str]:
    """The rramsim modules one import statement names."""
    mods = modules()
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in mods]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:   # relative: resolve against this module's package
        pkg = here.split(".") if is_package else here.split(".")[:-1]
        pkg = pkg[:len(pkg) - node.level + 1]
        base = ".".join(pkg + ([base] if base else []))
    out = []
    for a in node.names:
        full = f"{base}.{a.name}"
        if full in mods:
            out.append(full)
        elif base in mods:
            out.append(base)
    return out


def imports_of(name: str, *, top_only: bool = False) -> set[str]:
    """The rramsim modules that module ``name`` imports (anywhere in it, or at its top)."""
    path = modules()[name]
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_only else ast.walk(tree)
    out: set[str] = set()
    for node in nodes:
        out.update(_imported(node, name, path.name == "__init__.py"))
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    return {m: imports_of(m) for m in modules()}


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def studies_order() -> list[str]:
    """The studies' modules in the order of ``rramsim/studies/__init__.py``'s docstring."""
    doc = ast.get_docstring(ast.parse((PKG / "studies" / "__init__.py").read_text()))
    return re.findall(r"^\s*\d+\. :mod:`~?(rramsim\.studies\.[\w.]+)`", doc, re.M)


def test_no_import_circles_in_rramsim():
    found = circles(graph())
    assert found == [], f"import circles: {found}"


def test_the_circle_check_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_studies_order_lists_every_studies_module_once():
    order = studies_order()
    assert len(order) == len(set(order)), "a module is listed twice"
    have = {m for m, p in modules().items()
            if m.startswith("rramsim.studies.") and p.name != "__init__.py"}
    assert set(order) == have, {"not listed": sorted(have - set(order)),
                                "not a module": sorted(set(order) - have)}


def test_studies_modules_import_only_modules_before_them():
    """Function-level imports included: no studies module imports one after it in the
    documented order, nor a sub-package's ``__init__``."""
    order = studies_order()
    pos = {m: i for i, m in enumerate(order)}
    for m in order:
        for dep in imports_of(m):
            if dep.startswith("rramsim.studies"):
                assert dep in pos, f"{m} imports the package face {dep}"
                assert pos[dep] < pos[m], f"{m} imports {dep}, listed after it"


#: Function-level imports of rramsim's own modules that stay lazy: modules that load a heavy
#: optional library at their top.
LAZY = {("rramsim.studies.sweep.run", "rramsim.studies.sweep.worker"): "Dask.distributed"}


@pytest.mark.parametrize("name", [m for m in sorted(modules()) if m.startswith("rramsim.studies")])
def test_studies_import_rramsim_at_module_top(name):
    late = {d for d in imports_of(name) - imports_of(name, top_only=True)
            if (name, d) not in LAZY}
    assert not late, f"{name} imports {sorted(late)} inside functions"


def test_lower_packages_never_import_the_studies():
    for m in modules():
        if not m.startswith("rramsim.studies") and m != "rramsim.cli":
            assert not any(d.startswith("rramsim.studies") for d in imports_of(m)), m
