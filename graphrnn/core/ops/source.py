"""Leaves: named inputs and parameters, constants, fills, and runtime element counts."""

from __future__ import annotations

import numpy as np

from ..ir import Node
from ..shapes import ShapeError, as_shape, format_shape, is_concrete
from .forms import ATOM, leaf_name
from .registry import Frozen, Op, apply, register

__all__ = ["input", "param", "const", "full", "zeros", "ones", "zeros_like", "ones_like",
           "numel", "DEFAULT_DTYPE"]

#: dtype used when none is given (PyTorch's default).
DEFAULT_DTYPE = np.dtype("float32")


def _leaf_rule(kind):
    def rule(*, name, shape, dtype):
        if not isinstance(name, str) or not name:
            raise ShapeError(f"{kind}: name must be a non-empty string, got {name!r}")
        return shape, dtype
    return rule


def _missing(kind):
    def kernel(xp, **attrs):
        raise RuntimeError(f"{kind} {attrs.get('name')!r} has no value: the executor binds it")
    return kernel


register(Op("input", _leaf_rule("input"), _missing("input"),
            doc="A named value given at call time; its shape may use the symbolic batch B.",
            source="input", printing=leaf_name))
register(Op("param", _leaf_rule("param"), _missing("param"),
            doc="A named, trainable value with a concrete shape.", source="param",
            printing=leaf_name))


def input(name: str, shape, dtype=None) -> Node:
    """A named input leaf, e.g. ``input("x", ("B", 3))`` (``"B"`` is the symbolic batch)."""
    return apply("input", name=name, shape=as_shape(shape), dtype=np.dtype(dtype or DEFAULT_DTYPE))


def param(name: str, shape, dtype=None) -> Node:
    """A named parameter leaf with a concrete shape, e.g. ``param("W", (3, 3))``."""
    shape = as_shape(shape)
    if not is_concrete(shape):
        raise ShapeError(f"param {name!r}: shape {format_shape(shape)} must be concrete "
                         f"(parameters are shared across the batch)")
    return apply("param", name=name, shape=shape, dtype=np.dtype(dtype or DEFAULT_DTYPE))


def _const_rule(*, value, dtype):
    shape = value.array.shape if isinstance(value, Frozen) else ()
    return shape, dtype


def _const_kernel(xp, *, value, dtype):
    v = value.array if isinstance(value, Frozen) else value
    return xp.asarray(v, dtype=dtype)


def _const_printing(node, args):
    v = node.attr("value")
    return (v.summary() if isinstance(v, Frozen) else repr(v)), ATOM


register(Op("const", _const_rule, _const_kernel, doc="A constant scalar or array.",
            source="const", printing=_const_printing))


def const(value, dtype=None) -> Node:
    """A constant; a Python scalar stays an attribute, an array is stored frozen."""
    if isinstance(value, Node):
        raise TypeError("const() takes a number or an array, not a Node")
    if type(value) in (float, int) and dtype is not None and np.dtype(dtype).kind == "f":
        return apply("const", value=float(value), dtype=np.dtype(dtype))  # the common fast path
    arr = np.asarray(value)
    if dtype is None:
        dtype = arr.dtype if arr.dtype.kind in "biu" else (
            arr.dtype if arr.dtype.kind == "f" and arr.ndim else DEFAULT_DTYPE)
    dtype = np.dtype(dtype)
    if arr.ndim == 0:
        v = arr.astype(dtype).item()
        return apply("const", value=v, dtype=dtype)
    return apply("const", value=Frozen(arr.astype(dtype)), dtype=dtype)


def _fill_kernel(xp, *, shape, value, dtype):
    return xp.full(shape, value, dtype=dtype)


register(Op("fill", lambda *, shape, value, dtype: (shape, dtype), _fill_kernel,
            wants_shape=True, doc="An array of one value; its shape may be symbolic.",
            source="fill", printing=lambda node, args: (f"full({node.attr('value')!r})", ATOM)))


def full(shape, value, dtype=None) -> Node:
    """An array filled with ``value`` (shape may contain the symbolic batch)."""
    dtype = np.dtype(dtype or DEFAULT_DTYPE)
    return apply("fill", shape=as_shape(shape), value=np.asarray(value, dtype).item(), dtype=dtype)


def zeros(shape, dtype=None) -> Node:
    """Zeros of ``shape``."""
    return full(shape, 0, dtype)


def ones(shape, dtype=None) -> Node:
    """Ones of ``shape``."""
    return full(shape, 1, dtype)


def zeros_like(x: Node) -> Node:
    """Zeros with the shape and dtype of ``x``."""
    return full(x.shape, 0, x.dtype)


def ones_like(x: Node) -> Node:
    """Ones with the shape and dtype of ``x``."""
    return full(x.shape, 1, x.dtype)


def _numel_rule(x, *, axes):
    return (), x.dtype


def _numel_kernel(xp, x, *, axes):
    n = 1
    for a in axes:
        n *= x.shape[a]
    return xp.asarray(n, dtype=x.dtype)


register(Op("numel", _numel_rule, _numel_kernel, vjp=lambda node, g: (None,),
            doc="The number of elements of x over the given axes, known at run time."))


def numel(x: Node, axes=None) -> Node:
    """Scalar element count of ``x`` over ``axes``: a constant when concrete, else a runtime node."""
    axes = tuple(range(x.ndim)) if axes is None else tuple(axes)
    dims = [x.shape[a] for a in axes]
    if all(isinstance(d, int) for d in dims):
        return const(float(np.prod(dims, dtype=np.int64)), x.dtype)
    return apply("numel", x, axes=axes)
