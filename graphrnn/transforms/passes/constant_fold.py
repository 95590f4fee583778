"""Constant folding, a rule of the canonicalize phase: an op whose arguments are all known
constants becomes a constant (a small array, or a fill when its shape involves the symbolic
batch).  Exact: the op's own kernel computes the value, in the node's dtype."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ...core import ops as F
from ...core.ir import Node
from ...core.ops import O
from ...core.shapes import is_concrete
from .patterns import Pat, Rule, RuleSet
from .rewrite import constant_value

__all__ = ["FOLD", "MAX_FOLD"]

#: Largest constant (in elements) folding may create.
MAX_FOLD = 4096


_KEPT = frozenset([O.broadcast_to, O.numel])
_CONSTANT_LIKE = frozenset([O.const, O.fill, O.broadcast_to, O.reshape, O.transpose])


def _foldable(n: Node) -> bool:
    """Not a leaf, not a cheap view of a constant (a broadcast) nor a size, and every
    argument may be a constant (a quick test before the values are looked at)."""
    if not n.args or n.op in _KEPT:
        return False
    for a in n.args:
        if a.op not in _CONSTANT_LIKE:
            return False
    return True


def _fold(n: Node) -> Optional[Node]:
    """The constant ``n`` computes when its arguments are known constants, else None."""
    values = []
    for a in n.args:
        v = constant_value(a)
        if v is None:
            return None
        values.append(v)
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


#: the folding rule (any op whose arguments are all constants).
FOLD = RuleSet([Rule("constant-fold", Pat(name="n", where=_foldable), _fold,
                     doc="an op of constants -> the constant it computes")])
