"""The reliability catalogue's building blocks (see docs/reliability.md).

A *case* is one bad input or fault: a call that must raise a named error type whose message
names the culprit, and must leave every piece of state it was given exactly as it was.
The ``tests/test_reliability_*.py`` modules list their cases as tables of :class:`Bad` and
run each through :func:`check`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import pytest


@dataclass(frozen=True)
class Bad:
    """``call()`` must raise ``error`` with a message matching ``match`` (a regex searched in
    the message), and ``snapshot()`` (when given) must be equal before and after."""
    id: str
    call: Callable[[], Any]
    error: type
    match: str
    snapshot: Optional[Callable[[], Any]] = None


def same(a, b) -> bool:
    """Deep equality of snapshots: dicts, lists/tuples, arrays (bitwise, NaN equal to NaN)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    return a == b or (a != a and b != b)


def check(case: Bad) -> BaseException:
    """Run one case; returns the raised error for further checks."""
    before = case.snapshot() if case.snapshot else None
    with pytest.raises(case.error) as info:
        case.call()
    message = str(info.value)
    assert re.search(case.match, message), f"{case.id}: {message!r} does not match {case.match!r}"
    if case.snapshot:
        assert same(before, case.snapshot()), f"{case.id}: state changed by a failed call"
    return info.value


def ids(cases):
    """pytest ids of a case table."""
    return [c.id for c in cases]
