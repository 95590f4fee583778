"""Operator overloading: ``+ - * / ** @``, unary ``-``, comparisons, ``.T``, indexing and a few
methods build nodes, so equations read as they are written on a blackboard.

``==`` stays identity (nodes are hash-consed values); use :func:`graphrnn.equal` for an
elementwise comparison.
"""

from __future__ import annotations

from . import ops as F
from .ir import Node


def _getitem(self, key):
    select = getattr(key, "select", None)  # the front end's time index: h[t-1]
    return select(self) if select is not None else F.index(self, key)


def _install():
    def binary(fn, swap=False):
        if swap:
            return lambda self, other: fn(other, self)
        return lambda self, other: fn(self, other)

    table = {
        "__add__": binary(F.add), "__radd__": binary(F.add, True),
        "__sub__": binary(F.sub), "__rsub__": binary(F.sub, True),
        "__mul__": binary(F.mul), "__rmul__": binary(F.mul, True),
        "__truediv__": binary(F.div), "__rtruediv__": binary(F.div, True),
        "__matmul__": binary(F.matmul), "__rmatmul__": binary(F.matmul, True),
        "__gt__": binary(F.greater), "__lt__": binary(F.less),
        "__ge__": binary(F.greater_equal), "__le__": binary(F.less_equal),
        "__and__": binary(F.logical_and), "__or__": binary(F.logical_or),
        "__neg__": lambda self: F.neg(self), "__invert__": lambda self: F.logical_not(self),
        "__pos__": lambda self: self,
        "__pow__": lambda self, p: F.pow(self, p),
        "__getitem__": _getitem,
        "T": property(lambda self: F.swap_last(self), doc="the last two axes swapped"),
        "sum": lambda self, axis=None, keepdims=False: F.sum(self, axis, keepdims),
        "mean": lambda self, axis=None, keepdims=False: F.mean(self, axis, keepdims),
        "max": lambda self, axis=None, keepdims=False: F.max(self, axis, keepdims),
        "reshape": lambda self, *shape: F.reshape(
            self, shape[0] if len(shape) == 1 and isinstance(shape[0], tuple) else shape),
        "astype": lambda self, dtype: F.cast(self, dtype),
        "transpose": lambda self, *axes: F.transpose(self, axes or None),
    }
    for name, fn in table.items():
        setattr(Node, name, fn)
    Node.__iter__ = None  # nodes are not iterable; avoid a silent __getitem__ loop


_install()
