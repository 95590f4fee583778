"""Input binding, shared by the reference evaluator and compiled programs: the values a call
is given, checked against the graph's declared inputs and parameters (names, dtypes,
shapes), and the symbolic sizes (``B``, ``T``) bound from their shapes."""

from __future__ import annotations

from typing import Dict, Mapping, Optional

import numpy as np

from ..core.ir import Graph, Node, dtype_name
from ..core.shapes import bind, format_shape

__all__ = ["bind_values", "InputError", "EvaluationError"]


class InputError(ValueError):
    """A value given at call time is missing, unknown, or has the wrong shape or dtype."""


class EvaluationError(RuntimeError):
    """A kernel failed; the message names the node (op, time step, origin)."""


def _check_leaves(graph: Graph, backend, kind: str, given: Mapping, table: Dict[str, Node],
                  env: dict, out: dict) -> None:
    other = "params" if kind == "input" else "inputs"
    for name in given:
        if name not in table:
            known = ", ".join(repr(k) for k in table) or "none"
            hint = (f" ({name!r} is a{'n input' if kind == 'param' else ' parameter'}; "
                    f"pass it in {other})") if name in (
                graph.params if kind == "input" else graph.inputs) else ""
            raise InputError(f"unknown {kind} {name!r} for graph {graph.name!r}; "
                             f"its {kind}s are: {known}{hint}")
    for name, node in table.items():
        if name not in given:
            raise InputError(f"missing {kind} {name!r} (expected "
                             f"{dtype_name(node.dtype)}{format_shape(node.shape)})")
        v = given[name]
        if hasattr(v, "dtype") and hasattr(v, "shape"):
            if v.dtype != node.dtype:
                raise InputError(
                    f"{kind} {name!r}: expected dtype {dtype_name(node.dtype)}, got "
                    f"{dtype_name(v.dtype)} (dtypes never change silently; cast it first)")
            arr = v if backend.is_native(v) else backend.asarray(v)
        else:
            probe = np.asarray(v)
            if probe.dtype.kind == "f" and node.dtype.kind != "f" or probe.dtype.kind not in "biuf":
                raise InputError(f"{kind} {name!r}: cannot use {probe.dtype} data for "
                                 f"{dtype_name(node.dtype)}")
            arr = backend.asarray(probe, dtype=node.dtype)
        bind(node.shape, arr.shape, env, f"{kind} {name!r}")
        out[name] = arr


def bind_values(graph: Graph, backend, inputs: Optional[Mapping], params: Optional[Mapping],
                dims: Optional[Mapping[str, int]] = None):
    """Check call-time values against the graph's declarations.

    Returns ``(arrays by leaf name, symbol bindings)``; raises :class:`InputError` or
    ``ShapeError`` naming the input and the expected shape.
    """
    for kind, given in (("inputs", inputs), ("params", params), ("dims", dims)):
        if given is not None and not isinstance(given, Mapping):
            raise InputError(f"{kind} must be a mapping of names to values (a dict), got "
                             f"{type(given).__name__}")
    env: Dict[str, int] = {}
    for name, size in (dims or {}).items():
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) \
                or size < 0:
            raise InputError(f"dims: size {name!r} must be an int >= 0, got {size!r}")
        env[name] = int(size)
    out: Dict[str, object] = {}
    _check_leaves(graph, backend, "input", inputs or {}, graph.inputs, env, out)
    _check_leaves(graph, backend, "param", params or {}, graph.params, env, out)
    return out, env
