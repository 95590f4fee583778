"""Anomaly mode: when a NaN or an infinity comes out, name the operation that made it.

Inside ``with gr.detect_anomaly():`` every evaluation and every compiled program's call
checks its outputs.  When one is not finite, the graph is run again by the reference
evaluator node by node, and :class:`AnomalyError` names the first node whose value is not
finite although its arguments are: its op, its equation and its time step (or the input or
parameter that already held one).  Off by default: the check costs a pass over every output.
The mode is per thread, like PyTorch's ``detect_anomaly``.  The search itself is the
evaluator's (:func:`graphrnn.runtime.evaluate.find_anomaly`): it runs graphs node by node.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Optional

import numpy as np

__all__ = ["AnomalyError", "detect_anomaly", "anomaly_enabled", "describe_bad"]


class AnomalyError(FloatingPointError):
    """A NaN or infinity came out; the message names the first node that produced one."""


class _Mode(threading.local):
    """Per thread: whether anomaly mode is on (read on every call: a plain attribute)."""

    def __init__(self):
        self.on = False


_MODE = _Mode()


@contextlib.contextmanager
def detect_anomaly(enabled: bool = True):
    """Check every output for NaN/Inf inside the block (this thread only)."""
    previous = _MODE.on
    _MODE.on = bool(enabled)
    try:
        yield
    finally:
        _MODE.on = previous


def anomaly_enabled() -> bool:
    """Whether anomaly mode is on in this thread."""
    return _MODE.on


def describe_bad(value, xp) -> Optional[str]:
    """A description of ``value``'s non-finite entries, or None when it has none."""
    if getattr(value, "dtype", None) is None or value.dtype.kind not in "fc":
        return None
    finite = xp.isfinite(value)
    if bool(finite.all()):
        return None
    arr = value.get() if hasattr(value, "get") else np.asarray(value)
    bad = ~np.isfinite(arr)
    kinds = [k for k, hit in (("nan", np.isnan(arr).any()), ("inf", np.isposinf(arr).any()),
                              ("-inf", np.isneginf(arr).any())) if hit]
    first = tuple(int(i) for i in np.argwhere(bad)[0]) if arr.ndim else ()
    return (f"{int(bad.sum())} of {arr.size} entries are {'/'.join(kinds)}"
            + (f" (first at index {first})" if first else ""))
