"""One way to limit BLAS threads, shared by training (:mod:`rramsim.nn.train`) and the studies.

The networks' products are many small matrices: on a shared 2-core machine multi-threaded OpenBLAS
spins and slows them several-fold, and a fixed thread count keeps the floating-point summation
order, hence the numbers, the same on every machine. The limit goes through threadpoolctl (a
dependency of scikit-learn); without it the context does nothing.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager


def blas_threads(n: int | None = 1) -> AbstractContextManager:
    """Context limiting BLAS to ``n`` threads inside the block.

    ``None`` leaves the thread count as it is; so does a missing threadpoolctl.

    Examples
    --------
    >>> import numpy as np
    >>> with blas_threads(1):
    ...     float((np.ones((3, 3)) @ np.ones(3))[0])
    3.0
    """
    if n is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")
