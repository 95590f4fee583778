"""Constant folding: an op whose arguments are all known constants becomes a constant
(a small array, or a fill when its shape involves the symbolic batch)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ...core import ops as F
from ...core.ir import Graph, Node
from ...core.shapes import is_concrete
from .rewrite import constant_value, rewrite

__all__ = ["constant_fold", "MAX_FOLD"]

#: Largest constant (in elements) folding may create.
MAX_FOLD = 4096


def _rule(n: Node) -> Optional[Node]:
    if not n.args or n.op.name in ("broadcast_to", "numel"):
        return None  # leaves; a broadcast of a constant stays a cheap view
    values = [constant_value(a) for a in n.args]
    if any(v is None for v in values):
        return None
    if not is_concrete(n.shape):
        # only scalars broadcast over a symbolic shape fold (into a fill)
        if not n.op.elementwise or any(v.ndim for v in values):
            return None
        out = np.asarray(n.op.kernel(np, *values, **dict(n.attrs)))
        return F.full(n.shape, out.item(), n.dtype) if out.ndim == 0 else None
    if int(np.prod(n.shape, dtype=np.int64)) > MAX_FOLD:
        return None
    full = [np.broadcast_to(v, a.shape) if is_concrete(a.shape) else v
            for v, a in zip(values, n.args)]
    kwargs = dict(n.attrs)
    if n.op.wants_shape:
        kwargs["shape"] = n.shape
    out = np.asarray(n.op.kernel(np, *full, **kwargs), dtype=n.dtype)
    if out.shape != n.shape:
        return None
    return F.const(out.item(), n.dtype) if out.ndim == 0 else F.const(out, n.dtype)


def constant_fold(graph: Graph):
    """Fold constant subexpressions; ``(graph, rewrites)``."""
    return rewrite(graph, _rule, "constant_fold")
