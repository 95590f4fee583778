"""Anomaly mode: when a NaN or an infinity comes out, name the operation that made it.

Inside ``with gr.detect_anomaly():`` every evaluation and every compiled program's call
checks its outputs.  When one is not finite, the graph is run again by the reference
evaluator node by node, and :class:`AnomalyError` names the first node whose value is not
finite although its arguments are: its op, its equation and its time step (or the input or
parameter that already held one).  Off by default: the check costs a pass over every output.
The mode is per thread, like PyTorch's ``detect_anomaly``.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Mapping, Optional

import numpy as np

__all__ = ["AnomalyError", "detect_anomaly", "anomaly_enabled", "find_anomaly",
           "check_outputs"]


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


def _bad(value, xp) -> Optional[str]:
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


def find_anomaly(graph, inputs: Optional[Mapping] = None, params: Optional[Mapping] = None,
                 dims: Optional[Mapping[str, int]] = None, backend="numpy",
                 output: Optional[str] = None) -> Optional[str]:
    """Run ``graph`` node by node and follow a non-finite ``output`` (default: the first such
    output) back through its arguments to the node that produced the non-finite value from
    finite arguments (or the leaf that held it); describe it, or return None when every
    output is finite.  Values a ``where`` discarded are never blamed: the walk only goes
    through arguments that are themselves not finite."""
    from .evaluate import Evaluator
    evaluator = Evaluator(graph, backend)
    xp = evaluator.backend.xp
    values = dict(evaluator.trace(inputs, params, dims))
    names = [output] if output is not None else list(graph.outputs)
    start = next((graph.outputs[n] for n in names if _bad(values[graph.outputs[n]], xp)), None)
    if start is None:
        return None
    node = start
    while True:
        worse = next((a for a in node.args if _bad(values[a], xp)), None)
        if worse is None:
            break
        node = worse
    bad = _bad(values[node], xp)
    if node.op.bound:
        return f"{node.op.source} {node.attr('name')!r} holds them: {bad}"
    where = f" at t={node.step}" if node.step is not None else ""
    origin = f" (from {node.origin})" if node.origin else ""
    return f"{node.label()}{where}{origin} produced them from finite arguments: {bad}"


def check_outputs(outs: Mapping, xp, graph: Callable[[], object], inputs, params, dims,
                  backend, what: str) -> None:
    """Raise :class:`AnomalyError` when an output is not finite, naming the first node that
    produced a non-finite value in ``graph()`` (the graph the outputs came from)."""
    for name, value in outs.items():
        bad = _bad(value, xp)
        if bad is None:
            continue
        try:
            g = graph()
            if g is None:
                raise LookupError("the program keeps no graph (compiled with keep_graph=False)")
            culprit = find_anomaly(g, inputs, params, dims, backend, output=name)
        except Exception as e:  # noqa: BLE001 - the report must not hide the anomaly
            culprit = f"(could not trace the graph: {type(e).__name__}: {e})"
        raise AnomalyError(f"{what}: output {name!r} is not finite ({bad}); first non-finite "
                           f"value: {culprit or 'none when evaluated op by op'}")
