"""Compare two metric results field by field: integers, strings and None exactly, floats to 1e-12.

The array functions bin the records directly with ``np.bincount`` (record order), the accumulator
sums over its tie table (sorted-value order); the two agree to floating-point rounding, which is
what these helpers check (absolute 1e-12 on values in [0, 1]).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

TOL = 1e-12


def _same(a: Any, b: Any, path: str, tol: float) -> None:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None or isinstance(a, str):
        assert a == b, f"{path}: {a!r} != {b!r}"
    elif isinstance(a, int) and isinstance(b, int):
        assert a == b, f"{path}: {a} != {b}"
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
        assert math.isclose(a, b, rel_tol=0.0, abs_tol=tol), f"{path}: {a!r} vs {b!r}"
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{path}: keys {a.keys()} != {b.keys()}"
        for k in a:
            _same(a[k], b[k], f"{path}.{k}", tol)
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{path}: lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]", tol)
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def assert_same(a: BaseModel, b: BaseModel, tol: float = TOL) -> None:
    """Both results agree: every int/str/None field equal, every float within ``tol``."""
    assert type(a) is type(b)
    _same(a.model_dump(), b.model_dump(), type(a).__name__, tol)
