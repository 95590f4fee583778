"""Joining and splitting along an axis: concat, stack and split (a split is indexing)."""

from __future__ import annotations

from typing import Sequence

from ..ir import Node
from ..shapes import ShapeError, Sym, format_shape
from .registry import Op, apply, norm_axis, register, same_dtype
from .shape_ops import index

__all__ = ["concat", "stack", "split"]


def _concat_rule(*xs, axis):
    if not xs:
        raise ShapeError("concat: needs at least one argument")
    dtype = same_dtype("concat", *xs)
    ref = xs[0].shape
    total = 0
    for x in xs:
        if x.ndim != len(ref) or any(a != b for i, (a, b) in enumerate(zip(x.shape, ref))
                                     if i != axis):
            shown = ", ".join(format_shape(y.shape) for y in xs)
            raise ShapeError(f"concat: shapes {shown} differ outside axis {axis}")
        d = x.shape[axis]
        if isinstance(d, Sym) or isinstance(total, Sym):
            if not (isinstance(d, Sym) and (total == 0 or isinstance(total, Sym))
                    and (total == 0 or total.name == d.name)):
                raise ShapeError(f"concat: cannot join a symbolic and a concrete size along "
                                 f"axis {axis}")
            total = d if total == 0 else Sym(d.name, total.coeff + d.coeff)
        else:
            total += d
    return ref[:axis] + (total,) + ref[axis + 1:], dtype


def _concat_vjp(node, g):
    axis, out, start = node.attr("axis"), [], 0
    for x in node.args:
        d = x.shape[axis]
        if isinstance(d, Sym):
            raise ShapeError("concat: gradient along a symbolic axis is not supported")
        key = [slice(None)] * x.ndim
        key[axis] = slice(start, start + d)
        out.append(index(g, tuple(key)))
        start += d
    return tuple(out)


def _stack_rule(*xs, axis):
    if not xs:
        raise ShapeError("stack: needs at least one argument")
    dtype = same_dtype("stack", *xs)
    if any(x.shape != xs[0].shape for x in xs):
        shown = ", ".join(format_shape(y.shape) for y in xs)
        raise ShapeError(f"stack: all shapes must be equal, got {shown}")
    s = xs[0].shape
    return s[:axis] + (len(xs),) + s[axis:], dtype


def _stack_vjp(node, g):
    axis = node.attr("axis")
    return tuple(index(g, (slice(None),) * axis + (i,)) for i in range(len(node.args)))


def _concat_numpy(e) -> str:
    """One concatenate; a run of steps ``(n, rows, ...)`` joins as ``(n * rows, ...)``."""
    pieces = [f"{x}.reshape({e.sh((-1,) + tuple(e.arg_shape(i)[2:]))})" if e.is_run(i) else x
              for i, x in enumerate(e.args)]
    return (f"{e.v} = np.concatenate(({', '.join(pieces)},), axis={e.attrs['axis']}, "
            f"out={e.out})")


def _stack_numpy(e) -> str:
    """One stack; with runs of steps, a concatenate of the runs and the single steps."""
    axis = e.attrs["axis"]
    runs = [e.is_run(i) for i in range(len(e.args))]
    if not any(runs):
        return f"{e.v} = np.stack(({', '.join(e.args)},), axis={axis}, out={e.out})"
    pieces = [x if r else f"{x}[None]" for x, r in zip(e.args, runs)]
    return f"{e.v} = np.concatenate(({', '.join(pieces)},), axis={axis}, out={e.out})"


register(Op("concat", _concat_rule, lambda xp, *xs, axis: xp.concatenate(xs, axis=axis),
            _concat_vjp, doc="Join along an existing axis.", numpy=_concat_numpy,
            join="existing", aggregate=True))
register(Op("stack", _stack_rule, lambda xp, *xs, axis: xp.stack(xs, axis=axis),
            _stack_vjp, doc="Join along a new axis (e.g. T steps into (T, B, H)).",
            numpy=_stack_numpy, join="new", aggregate=True))


def concat(xs: Sequence[Node], axis: int = -1) -> Node:
    """Join nodes along an existing axis."""
    xs = tuple(xs)
    if len(xs) == 1:
        return xs[0]
    axis = norm_axis("concat", axis, xs[0].ndim) if xs else 0
    return apply("concat", *xs, axis=axis)


def stack(xs: Sequence[Node], axis: int = 0) -> Node:
    """Join equally shaped nodes along a new axis."""
    xs = tuple(xs)
    axis = norm_axis("stack", axis, xs[0].ndim + 1) if xs else 0
    return apply("stack", *xs, axis=axis)


def split(x: Node, sizes, axis: int = -1):
    """Cut ``x`` along ``axis`` into pieces of the given sizes (or ``n`` equal pieces)."""
    axis = norm_axis("split", axis, x.ndim)
    d = x.shape[axis]
    if isinstance(sizes, int):
        if isinstance(d, Sym) or d % sizes:
            raise ShapeError(f"split: axis {axis} of {format_shape(x.shape)} does not divide "
                             f"into {sizes} equal parts")
        sizes = [d // sizes] * sizes
    if sum(sizes) != d:
        raise ShapeError(f"split: sizes {list(sizes)} do not add up to {d} on axis {axis}")
    out, start = [], 0
    for s in sizes:
        out.append(index(x, (slice(None),) * axis + (slice(start, start + s),)))
        start += s
    return out
