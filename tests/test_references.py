"""Every reference in the code, docs and tests points to something a reader of the repository can
open: no notes that live outside it, no issue numbers of a tracker the repository does not carry."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Names of planning notes kept outside the repository, and tracker references (spelt in pieces,
#: so that a search of the tree for the names finds no false hit here).
_NOTES = (r"\bBRI" r"EF\b", r"SOLVER-" r"NOTES", r"DESI" r"GN\.md", r"STY" r"LE\.md",
          r"\.\./sha" r"red/", r"\biss" r"ue [0-9]+\b", r"\bthe iss" r"ue's\b", r"\bthe bri" r"ef\b")
DEAD = re.compile("|".join(_NOTES), re.IGNORECASE)


def _files():
    for top in ("rramsim", "tests", "scripts", "docs"):
        for p in sorted((ROOT / top).rglob("*")):
            if p.is_file() and p.suffix in {".py", ".md", ".toml", ".va", ".sh"}:
                yield p
    yield ROOT / "README.md"
    yield ROOT / "setup.sh"


def test_no_reference_to_files_outside_the_repository():
    # this file and the docs checker spell the names they look for
    skip = {Path(__file__).resolve(), (ROOT / "tests" / "test_docs.py").resolve()}
    hits = []
    for p in _files():
        if p.resolve() in skip:
            continue
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
            if DEAD.search(line):
                hits.append(f"{p.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "references a reader cannot follow:\n" + "\n".join(hits)


def test_docs_named_in_the_readme_exist():
    text = (ROOT / "README.md").read_text()
    named = set(re.findall(r"`(docs/[\w./-]+\.md)`", text))
    assert named, "the README names its docs"
    missing = sorted(n for n in named if not (ROOT / n).is_file())
    assert not missing, missing
