"""One place that turns user input into numbers, or refuses it with the caller's error type.

NumPy converts almost anything: a complex array to float drops the imaginary part (with only a
warning), ``np.asarray(["0.5"], float)`` parses text, ragged lists raise a bare ``ValueError`` and
``int(3.7)`` truncates. These helpers accept real numbers only and raise the project's own
exception (``CrossbarError``, ``DeviceModelError``, ``MappingError``, ...) naming the field:

* :func:`real_array` -- an array of real numbers (bool, integer or float) as float64, without a
  copy when the input already is one; complex, object, string, bytes, structured and datetime
  arrays and ragged nestings are refused.
* :func:`real_scalar` -- one real number (``float``), optionally finite / positive / >= 0.
* :func:`integer` -- an integer (``3.7``, ``"3"`` and ``True`` are refused; ``3.0`` too).
* :func:`shape` -- an int or a tuple of ints, each >= 0 (or >= 1).
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

from rramsim.errors import RramsimError

__all__ = ["real_array", "real_scalar", "integer", "shape"]

_KIND_NAMES = {"c": "complex", "O": "objects", "U": "text", "S": "bytes", "V": "structured",
               "M": "datetimes", "m": "timedeltas"}


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def real_array(value, name: str, error: type[RramsimError], *, ndim: int | None = None
               ) -> np.ndarray:
    """``value`` as a float64 ndarray of real numbers, or ``error`` naming ``name``.

    An ndarray that already is float64 is returned as it is (views, including zero-stride
    broadcasts, stay views). NaN and infinities are not checked here (callers say which cells).
    """
    if isinstance(value, np.ndarray):
        arr = value
    else:
        if isinstance(value, (str, bytes)):
            raise error(f"{name} must be numbers, got text {_describe(value)}")
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as exc:  # ragged nestings, objects that refuse arrays
            raise error(f"{name} must be a rectangular array of numbers (ragged or mixed "
                        f"input: {exc})") from None
    kind = arr.dtype.kind
    if kind in _KIND_NAMES:
        if kind == "O" and arr.size and all(isinstance(x, numbers.Real) and not
                                             isinstance(x, bool | np.bool_) and
                                             np.ndim(x) == 0 for x in arr.flat):
            arr = arr.astype(float)  # e.g. Fractions or Decimals that are plain real numbers
        else:
            raise error(f"{name} must be real numbers, got an array of {_KIND_NAMES[kind]} "
                        f"(dtype {arr.dtype})")
    if kind not in "biuf" and kind != "O":
        raise error(f"{name} must be real numbers, got dtype {arr.dtype}")
    if arr.dtype != np.float64:
        arr = arr.astype(np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise error(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return arr


def real_scalar(value, name: str, error: type[RramsimError], *, finite: bool = True,
                positive: bool = False, nonnegative: bool = False, unit: str = "") -> float:
    """One real number as ``float``, or ``error`` naming ``name`` (text and complex refused)."""
    unit_text = f" ({unit})" if unit else ""
    if isinstance(value, (str, bytes, bool, np.bool_)) or not isinstance(
            value, numbers.Real | np.ndarray):
        raise error(f"{name} must be a real number{unit_text}, got {_describe(value)}")
    if isinstance(value, np.ndarray):
        if value.ndim != 0 or value.dtype.kind not in "iuf":
            raise error(f"{name} must be a real number{unit_text}, got an array of shape "
                        f"{value.shape} and dtype {value.dtype}")
        value = value[()]
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise error(f"{name} must be a real number{unit_text}, got {_describe(value)}") from exc
    if finite and not np.isfinite(x):
        raise error(f"{name} must be finite, got {x}")
    if positive and not x > 0:
        raise error(f"{name} must be > 0{unit_text}, got {x}")
    if nonnegative and not x >= 0:
        raise error(f"{name} must be >= 0{unit_text}, got {x}")
    return x


def integer(value, name: str, error: type[RramsimError], *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """An integer (Python or NumPy) as ``int``; fractional numbers, floats, text and bools refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise error(f"{name} must be an integer, got {_describe(value)}")
    n = operator.index(value)
    if minimum is not None and n < minimum:
        raise error(f"{name} must be >= {minimum}, got {n}")
    if maximum is not None and n > maximum:
        raise error(f"{name} must be <= {maximum}, got {n}")
    return n


def shape(value, name: str, error: type[RramsimError], *, ndim: int | None = None,
          minimum: int = 0) -> tuple[int, ...]:
    """An int or a sequence of ints as a shape tuple, each >= ``minimum``."""
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        dims = (value,)
    elif isinstance(value, (tuple, list)):
        dims = tuple(value)
    elif isinstance(value, np.ndarray) and value.ndim <= 1:
        dims = tuple(value.reshape(-1).tolist())
    else:
        raise error(f"{name} must be an integer or a tuple of integers, got {_describe(value)}")
    out = tuple(integer(d, f"{name}[{k}]", error, minimum=minimum) for k, d in enumerate(dims))
    if ndim is not None and len(out) != ndim:
        raise error(f"{name} must have {ndim} dimensions, got {out}")
    return out
