"""The op registry: one :class:`Op` per operation, holding its shape rule, kernel and VJP.

``apply("tanh", x)`` checks the arguments with the op's shape rule and returns the
(hash-consed) node.  Kernels are written against an array module ``xp`` (numpy or
cupy) and called as ``kernel(xp, *arrays, **attrs)`` (plus ``shape=`` the resolved
output shape for ops that declare ``wants_shape``).  VJPs build graph nodes, so
gradients are graphs and can be differentiated again.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np

from ..ir import Node, dtype_name
from ..shapes import ShapeError, format_shape

__all__ = ["Op", "OPS", "O", "register", "apply", "Frozen", "check_float", "same_dtype"]


class Op:
    """An operation: ``shape_rule(*args, **attrs) -> (shape, dtype)``, ``kernel`` and ``vjp``.

    ``vjp(node, g)`` returns one gradient node (or ``None``) per argument.
    ``elementwise`` marks ops whose output element depends only on the same element
    of each (equally shaped) argument, for fusion.  ``cuda`` is such an op's scalar
    C++ expression for fused GPU kernels: ``{0}``, ``{1}``... name the arguments, ``{T}``
    the result's C type and ``{attr}`` an attribute (``"tanh({0})"``); one without
    placeholders is an n-ary infix operator (``add_n``'s ``"+"``).
    """

    __slots__ = ("name", "shape_rule", "kernel", "vjp", "elementwise", "wants_shape", "doc",
                 "cuda")

    def __init__(self, name: str, shape_rule: Callable, kernel: Callable,
                 vjp: Optional[Callable] = None, *, elementwise: bool = False,
                 wants_shape: bool = False, doc: str = "", cuda: Optional[str] = None):
        self.name, self.shape_rule, self.kernel, self.vjp = name, shape_rule, kernel, vjp
        self.elementwise, self.wants_shape, self.doc = elementwise, wants_shape, doc
        self.cuda = cuda

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None

    def __repr__(self):
        return f"<Op {self.name}>"


OPS: Dict[str, Op] = {}


class _ByName:
    """The registered ops as attributes: ``O.tanh is OPS["tanh"]``.  Code outside ``ops/``
    names an op this way and compares ops by identity (``node.op is O.add``), so a typo
    fails loudly instead of comparing unequal."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Op:
        try:
            return OPS[name]
        except KeyError:
            raise AttributeError(f"no op named {name!r} is registered") from None

    def __dir__(self):
        return sorted(OPS)


#: every registered op, by attribute (see :class:`_ByName`)
O = _ByName()


def register(op: Op) -> Op:
    """Add ``op`` to the registry (names are unique)."""
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} is already registered")
    OPS[op.name] = op
    return op


def apply(op, *args: Node, **attrs) -> Node:
    """Build the node ``op(*args, **attrs)`` after checking the op's shape rule."""
    if isinstance(op, str):
        op = OPS[op]
    for i, a in enumerate(args):
        if not isinstance(a, Node):
            raise TypeError(f"{op.name}: argument {i} must be a Node, got {type(a).__name__}")
    shape, dtype = op.shape_rule(*args, **attrs)
    return Node(op, args, tuple(sorted(attrs.items())), tuple(shape), dtype)


class Frozen:
    """A read-only array usable as a hashable node attribute (for constants)."""

    __slots__ = ("array", "_hash")

    def __init__(self, value):
        a = np.array(value, copy=True)
        a.setflags(write=False)
        self.array = a
        self._hash = hash((a.shape, a.dtype.str, a.tobytes()))

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return (isinstance(other, Frozen) and self.array.shape == other.array.shape
                and self.array.dtype == other.array.dtype
                and self.array.tobytes() == other.array.tobytes())

    def summary(self) -> str:
        a = self.array
        if a.size <= 6:
            return np.array2string(a, separator=",").replace("\n", "")
        return f"array<{dtype_name(a.dtype)}{format_shape(a.shape)}>"

    __repr__ = summary


def check_float(opname: str, x: Node) -> None:
    """Raise unless ``x`` has a floating dtype."""
    if x.dtype.kind != "f":
        raise ShapeError(f"{opname}: expects a floating-point argument, got "
                         f"{dtype_name(x.dtype)}{format_shape(x.shape)}")


def same_dtype(opname: str, *xs: Node):
    """The common dtype of ``xs``; raises naming the op when they differ."""
    dts = {x.dtype for x in xs}
    if len(dts) > 1:
        shown = " and ".join(f"{dtype_name(x.dtype)}{format_shape(x.shape)}" for x in xs)
        raise ShapeError(f"{opname}: dtypes differ: {shown} (cast explicitly with astype)")
    return xs[0].dtype


def same_shape(opname: str, *xs: Node):
    """The common shape of ``xs``; raises naming the op and all shapes when they differ."""
    if any(x.shape != xs[0].shape for x in xs):
        shown = ", ".join(format_shape(x.shape) for x in xs)
        raise ShapeError(f"{opname}: arguments must have equal shapes, got {shown}")
    return xs[0].shape


def norm_axis(opname: str, axis: int, ndim: int) -> int:
    """``axis`` as a non-negative int, or a ShapeError naming the op."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise ShapeError(f"{opname}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{opname}: axis {axis} is out of range for {ndim} dimensions")
    return int(axis) % ndim

