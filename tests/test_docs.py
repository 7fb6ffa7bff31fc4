"""The documentation cannot rot silently: what README.md and docs/*.md point to exists.

Checked, statically (nothing is imported):

* every relative link ``[text](path)`` or image ``![alt](path)`` resolves to a file or folder of
  the repository, and a ``#anchor`` on a Markdown target names one of its headings (GitHub's
  heading slugs);
* every repository path under ``rramsim/``, ``tests/``, ``scripts/`` or ``docs/`` (in code spans,
  fenced blocks or prose) exists, and ``tests/x.py::name`` names a function of that file;
* every dotted name ``rramsim.a.b`` in backticks (or ``solver.solve``, ``devmodel.form``, ... as
  the docs import them) is a module of the package, or a module followed by a name defined (or
  imported) at its top level, and ``Class.attr`` a name in that class's body;
* the import table of ``docs/architecture.md`` is what the package's ``import`` statements
  (inside functions too) say;
* no page refers to a tracker's issue or a planning note, in any spelling;
* ``docs/README.md`` lists every page.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]

_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_INLINE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_PATH = re.compile(r"(?<![\w./-])((?:rramsim|tests|scripts|docs)/[\w./*-]*\w)(?:::(\w+))?")
_DOTTED = re.compile(r"(?<![\w.])(rramsim(?:\.\w+)+)")
#: Names written the way the docs import them (``from rramsim import solver``): ``solver.solve``,
#: ``devmodel.form``, ... (not ``nn.``, whose dotted names in the docs are network-file fields).
_SHORT = re.compile(r"(?<![\w./])((?:crossbar|devmodel|mapper|netlists|solver)(?:\.\w+)+)")
_SUFFIXES = {".py", ".md", ".va", ".toml", ".sh", ".png", ".npz", ".json", ".csv", ".txt"}


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def _code_spans(text: str) -> list[str]:
    """The contents of fenced blocks and of inline code spans, in order of appearance."""
    spans = [m.group(0) for m in _FENCE.finditer(text)]
    rest = _FENCE.sub("", text)
    return spans + [m.group(1) for m in _INLINE.finditer(rest)]


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def _anchors(path: Path) -> frozenset[str]:
    text = _FENCE.sub("", path.read_text())
    return frozenset(_slug(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M))


@cache
def _module_file(dotted: str) -> Path | None:
    base = ROOT.joinpath(*dotted.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


@cache
def _top_names(path: Path) -> dict[str, ast.AST | None]:
    """Names bound at a module's top level: definitions, assignments, imports (node or None)."""
    names: dict[str, ast.AST | None] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names[n.id] = None
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                names[(a.asname or a.name).split(".")[0]] = None
    return names


def _class_names(cls: ast.ClassDef) -> set[str]:
    out = set()
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
        elif isinstance(node, ast.Assign):
            out.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return out


def dotted_problem(dotted: str) -> str | None:
    """Why ``rramsim.a.b...`` names nothing in the package, or None when it resolves."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        path = _module_file(".".join(parts[:k]))
        if path is None:
            continue
        rest = parts[k:]
        if not rest:
            return None
        names = _top_names(path)
        if rest[0] not in names:
            return f"{'.'.join(parts[:k])} defines no {rest[0]!r}"
        node = names[rest[0]]
        if len(rest) > 1 and isinstance(node, ast.ClassDef) and rest[1] not in _class_names(node):
            return f"class {'.'.join(parts[:k + 1])} has no {rest[1]!r}"
        return None
    return "no such module"


def path_problem(path: str, func: str | None) -> str | None:
    """Why a repository path (and optional ``::function``) does not exist, or None; a path with
    ``*`` must match at least one file."""
    if "*" in path:
        return None if any(ROOT.glob(path)) else "no file matches"
    target = ROOT / path
    if Path(path).suffix not in _SUFFIXES and not target.is_dir():
        return None if target.exists() else "no such file or folder"
    if not target.exists():
        return "no such file"
    if func is not None and not re.search(rf"^\s*def {re.escape(func)}\(", target.read_text(),
                                          re.M):
        return f"no function {func}"
    return None


def link_problem(doc: Path, link: str) -> str | None:
    """Why a relative link of ``doc`` does not resolve, or None (web and mail links are skipped)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", link):
        return None
    target, _, anchor = link.partition("#")
    dest = doc if not target else (doc.parent / target).resolve()
    if not dest.exists():
        return "no such file"
    try:
        dest.relative_to(ROOT)
    except ValueError:
        return "outside the repository"
    if anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
        return f"no heading #{anchor}"
    return None


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_relative_links_resolve(doc):
    text = _FENCE.sub("", doc.read_text())
    bad = [f"({link}): {why}" for link in _LINK.findall(text)
           if (why := link_problem(doc, link)) is not None]
    assert not bad, f"{doc.relative_to(ROOT)} links to what is not there:\n" + "\n".join(bad)


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_code_paths_and_module_names_exist(doc):
    text = doc.read_text()
    bad = [f"`{path}{'::' + func if func else ''}`: {why}"
           for path, func in sorted(set(_PATH.findall(text)))
           if (why := path_problem(path, func or None)) is not None]
    for span in _code_spans(text):
        names = _DOTTED.findall(span) + [f"rramsim.{d}" for d in _SHORT.findall(span)
                                         if not re.search(r"\.(py|md)$", d)]
        for dotted in names:
            if (why := dotted_problem(dotted)) is not None:
                bad.append(f"`{dotted}`: {why}")
    assert not bad, f"{doc.relative_to(ROOT)} names what is not there:\n" + "\n".join(bad)


#: What a reader of the docs cannot follow, whatever its case: a tracker's issue by number, "the
#: issue's" target, "the brief" (tests/test_references.py checks the exact names everywhere).
_UNFOLLOWABLE = re.compile(r"(?i)\bissue\s*#?\d+|\bthe issue's\b|\bthe brief\b")


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_docs_point_to_nothing_outside_the_repository(doc):
    hits = [f"{n}: {line.strip()}" for n, line in enumerate(doc.read_text().splitlines(), 1)
            if _UNFOLLOWABLE.search(line)]
    assert not hits, f"{doc.relative_to(ROOT)} refers to what a reader cannot open:\n" + \
        "\n".join(hits)


def test_every_page_is_in_the_index():
    index = (ROOT / "docs" / "README.md").read_text()
    linked = {(ROOT / "docs" / t).resolve() for t in _LINK.findall(index)}
    missing = [p.name for p in DOCS if p.parent == ROOT / "docs" and p.name != "README.md"
               and p.resolve() not in linked]
    assert not missing, f"docs/README.md does not list {missing}"


#: Modules every package may import (the shared types and every private top-level helper such as
#: ``rramsim/_io.py``); the architecture's import table leaves them out.
FOUNDATION = {"errors", "solution", "__version__"} | {
    p.stem for p in (ROOT / "rramsim").glob("_*.py") if not p.stem.startswith("__")}


def measured_imports() -> dict[str, set[str]]:
    """Per top-level part of the package (``crossbar``, ``solver``, ...), the other parts it
    imports anywhere in its source; the foundation is left out, except for the foundation's own
    modules, which list every import."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / "rramsim").rglob("*.py")):
        rel = path.relative_to(ROOT / "rramsim").parts
        src = rel[0].removesuffix(".py")
        if src in ("__init__", "__main__"):
            continue
        deps = out.setdefault(src, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = ([f"rramsim.{a.name}" for a in node.names] if node.module == "rramsim"
                         else [node.module])
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "rramsim" and len(parts) > 1 and (
                        src in FOUNDATION or parts[1] not in FOUNDATION):
                    deps.add(parts[1])
        deps.discard(src)
    return out


def documented_imports() -> dict[str, set[str]]:
    """The rows ``| `package` | `a`, `b` (or none) | ... |`` of the architecture's Layering section."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Layering", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]*) \|", section, re.M)
    return {pkg: set(re.findall(r"`(\w+)`", deps)) for pkg, deps in rows}


def test_architecture_import_table_is_the_code():
    code = measured_imports()
    for mod in sorted(FOUNDATION - {"__version__"}):
        assert code.pop(mod) <= FOUNDATION, f"rramsim.{mod} imports above the foundation"
    doc = documented_imports()
    assert doc, "docs/architecture.md has no import table under ## Layering"
    diff = {k: {"documented": sorted(doc.get(k, ())), "in the code": sorted(code.get(k, ()))}
            for k in sorted(set(doc) | set(code)) if doc.get(k) != code.get(k)}
    assert not diff, f"docs/architecture.md's import table is not what the code imports: {diff}"
    assert not any("studies" in deps for k, deps in code.items() if k != "studies")


@pytest.mark.ngspice
def test_the_architecture_example_runs_and_agrees_with_ngspice():
    """The data-flow example of docs/architecture.md, run as written: ngspice's currents equal
    ``v @ T`` of the tile, and the layer's currents equal the plan's matrix product."""
    import numpy as np

    text = (ROOT / "docs" / "architecture.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    ns: dict = {}
    exec(compile(code, "docs/architecture.md", "exec"), ns)  # the page's own example, as written
    ref, v, pm, y = ns["ref"], ns["v"], ns["pm"], ns["y"]
    assert np.max(np.abs(ref.i_out - v @ pm.transfer)) <= 1e-9 * np.max(np.abs(ref.i_out))
    want = ns["x"] @ ns["mapping"].layer_matrix(0, ns["mapping"].transfer_matrices())
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_the_checks_catch_what_they_are_for(tmp_path):
    """Each check refuses a dead reference of its kind (so a pass above means something)."""
    assert path_problem("rramsim/crossbar.py", None) is None
    assert path_problem("rramsim/no_such_module.py", None) == "no such file"
    assert path_problem("tests/test_docs.py", "test_relative_links_resolve") is None
    assert path_problem("tests/test_docs.py", "test_no_such") == "no function test_no_such"
    assert path_problem("rramsim/_*.py", None) is None
    assert path_problem("rramsim/no_such_*.py", None) == "no file matches"
    assert dotted_problem("rramsim.solver") is None
    assert dotted_problem("rramsim.solver.port_matrices") is None
    assert dotted_problem("rramsim.crossbar.Crossbar.effective_conductance") is None
    assert dotted_problem("rramsim.crossbar.Crossbar.no_such") is not None
    assert dotted_problem("rramsim.solver.no_such") is not None
    assert dotted_problem("rramsim.no_such") == "rramsim defines no 'no_such'"
    doc = ROOT / "docs" / "solver.md"
    assert link_problem(doc, "studies.md") is None
    assert link_problem(doc, "#memory") is None
    assert link_problem(doc, "studies.md#the-pipeline") is None
    assert link_problem(doc, "studies.md#no-such-heading") == "no heading #no-such-heading"
    assert link_problem(doc, "no_such.md") == "no such file"
    assert link_problem(doc, "https://arxiv.org/abs/2311.07164") is None
    assert _UNFOLLOWABLE.search("as Issue 4 asks") and _UNFOLLOWABLE.search("the issue's target")
    assert not _UNFOLLOWABLE.search("the tile's issue of current")
    assert _slug("The nodal solver (`rramsim.solver`)") == "the-nodal-solver-rramsimsolver"
    assert _SHORT.findall("`solver.solve(xb)`, `docs/solver.md`, `devmodel.form`") == [
        "solver.solve", "devmodel.form"]
    assert dotted_problem("rramsim.devmodel.write_verify") is None
    spans = _code_spans("a `rramsim/x.py` b\n```\npython scripts/y.py\n```\n")
    assert [p for s in spans for p, _ in _PATH.findall(s)] == ["scripts/y.py", "rramsim/x.py"]


def test_the_torch_page_examples_run(tmp_path, monkeypatch):
    """docs/torch.md's three examples, as written, in one namespace (the second continues the
    first); the two PyTorch ones only where PyTorch is installed."""
    import importlib.util

    text = (ROOT / "docs" / "torch.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    if importlib.util.find_spec("torch") is not None:
        ns: dict = {}
        for code in blocks[:2]:
            exec(compile(code, "docs/torch.md", "exec"), ns)  # the page's own example
        assert (tmp_path / "net.pt").is_file()
    ns = {}
    exec(compile(blocks[2], "docs/torch.md", "exec"), ns)
    assert ns["reads"].standin and ns["used"] == [0, 1, 2, 3]
