"""Every exception type of the package lives in rramsim/errors.py and derives from RramsimError;
the modules that raise one re-export it where it was used before."""

import ast
import inspect
from pathlib import Path

import rramsim.errors as errors

ROOT = Path(__file__).resolve().parents[1] / "rramsim"


def _bases(node: ast.ClassDef) -> list[str]:
    return [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]


def test_exception_classes_are_defined_only_in_errors_py():
    """(A private BaseException used for control flow, like ngspice's interrupt relay, is not an
    error type and may live beside its use.)"""
    known = {name for name, obj in vars(errors).items()
             if inspect.isclass(obj) and issubclass(obj, Exception)}
    outside = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "errors.py" and path.parent == ROOT:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    b in known or b.endswith(("Error", "Exception")) for b in _bases(node)) \
                    and "BaseException" not in _bases(node):
                outside.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name}")
    assert not outside, outside


def test_every_error_type_derives_from_the_project_base():
    for name, obj in vars(errors).items():
        if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == errors.__name__:
            assert issubclass(obj, errors.RramsimError), name


def test_moved_types_are_still_importable_where_they_were():
    from rramsim.nn.experiment import TrainingStopped
    from rramsim.solver._factor import NotPositiveDefinite

    assert TrainingStopped is errors.TrainingStopped
    assert NotPositiveDefinite is errors.NotPositiveDefinite
    assert str(errors.NotPositiveDefinite(7)) == "matrix not positive definite at unknown 7"
