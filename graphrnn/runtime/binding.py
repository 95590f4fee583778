"""Input binding, shared by the reference evaluator and compiled programs: the values a call
is given, checked against the graph's declared inputs and parameters (names, dtypes,
shapes), and the symbolic sizes (``B``, ``T``) bound from their shapes."""

from __future__ import annotations

from typing import Dict, Mapping, Optional

import numpy as np

from ..core.ir import Graph, Node, dtype_name
from ..core.shapes import bind, format_shape

__all__ = ["bind_values", "InputError", "EvaluationError", "fingerprint", "BindCache"]


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


def fingerprint(inputs, params, dims, array_type):
    """What a call's check depends on: every value's name, shape and dtype (and ``dims``),
    when every value is a ``dict`` of arrays of exactly ``array_type``; else None (only
    such calls are remembered)."""
    key = []
    for group in (inputs, params):
        if group is None:
            key.append(None)
            continue
        if type(group) is not dict:
            return None
        for k, v in group.items():
            if type(v) is not array_type:
                return None
            key.append((k, v.shape, v.dtype))
        key.append(len(group))
    if dims:
        if type(dims) is not dict:
            return None
        key.append(tuple(dims.items()))
    return tuple(key)


class BindCache:
    """Bindings of calls already checked, by :func:`fingerprint`: a call like an earlier one
    (same names, shapes and dtypes) takes its sizes without checking again.  Bounded; a
    dict, so threads may share it."""

    def __init__(self, array_type, size: int = 32):
        self.array_type, self.size, self.entries = array_type, size, {}

    def find(self, inputs, params, dims):
        """``(fingerprint, entry)`` of a call: the entry put for an earlier call like it, or
        None (check this one, then :meth:`put` its entry under the fingerprint)."""
        key = fingerprint(inputs, params, dims, self.array_type)
        return key, (None if key is None else self.entries.get(key))

    @staticmethod
    def values(inputs, params) -> dict:
        """The arrays of a call found checked: inputs and parameters by name."""
        return {**(inputs or {}), **(params or {})}

    def put(self, key, entry) -> None:
        if key is None:
            return
        if len(self.entries) >= self.size:
            self.entries.clear()
        self.entries[key] = entry
