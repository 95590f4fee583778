"""Reductions over axes: sum, mean, max, logsumexp; softmax and log_softmax (stable)."""

from __future__ import annotations

from ..ir import Node
from ..shapes import ShapeError, format_shape
from .elementwise import cast, div, equal, exp, mul, sub
from .registry import Op, apply, check_float, norm_axis, register
from .shape_ops import broadcast_to, reshape
from .source import numel

__all__ = ["sum", "mean", "max", "logsumexp", "softmax", "log_softmax"]


def _axes(opname, x: Node, axis):
    if axis is None:
        return tuple(range(x.ndim))
    if isinstance(axis, int):
        axis = (axis,)
    elif not isinstance(axis, (tuple, list)):
        raise ShapeError(f"{opname}: axis must be an int, a tuple of ints or None, got {axis!r}")
    axes = tuple(sorted({norm_axis(opname, a, x.ndim) for a in axis}))
    if len(axes) != len(tuple(axis)):
        raise ShapeError(f"{opname}: repeated axis in {axis!r}")
    return axes


def _reduced(x_shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(x_shape))
    return tuple(d for i, d in enumerate(x_shape) if i not in axes)


def _reduce_rule(opname, floats=False):
    def rule(x, *, axes, keepdims):
        if floats:
            check_float(opname, x)
        return _reduced(x.shape, axes, keepdims), x.dtype
    return rule


def expand_back(g: Node, x: Node, axes) -> Node:
    """Broadcast a reduced gradient ``g`` back to the shape of ``x``."""
    return broadcast_to(reshape(g, _reduced(x.shape, axes, True)), x.shape)


def _reduce_numpy(ufunc: str, function: str):
    """A reduction into the output buffer: the ufunc's ``reduce`` on NumPy (it skips a
    wrapper), ``function`` (a reduction kernel) on CuPy."""
    def emit(e) -> str:
        fn = f"{ufunc}.reduce" if e.ufunc_reduce else function
        return (f"{e.v} = np.{fn}({e.args[0]}, axis={tuple(e.attrs['axes'])!r}, "
                f"keepdims={e.attrs['keepdims']}, out={e.out})")
    return emit


register(Op("sum", _reduce_rule("sum"),
            lambda xp, x, *, axes, keepdims: xp.sum(x, axis=axes, keepdims=keepdims),
            lambda n, g: (expand_back(g, n.args[0], n.attr("axes")),),
            doc="sum over axes", numpy=_reduce_numpy("add", "sum")))


def sum(x: Node, axis=None, keepdims: bool = False) -> Node:
    """Sum over ``axis`` (an int, a tuple, or ``None`` for all)."""
    axes = _axes("sum", x, axis)
    return apply("sum", x, axes=axes, keepdims=bool(keepdims)) if axes else x


def mean(x: Node, axis=None, keepdims: bool = False) -> Node:
    """Mean over ``axis``; the count is a constant, or a runtime count over the batch axis."""
    axes = _axes("mean", x, axis)
    check_float("mean", x)
    return div(sum(x, axes, keepdims), numel(x, axes)) if axes else x


def _max_vjp(n, g):
    x, axes = n.args[0], n.attr("axes")
    m = expand_back(n, x, axes)
    hit = cast(equal(x, m), x.dtype)  # ties share the gradient equally
    share = div(hit, expand_back(sum(hit, axes), x, axes))
    return (mul(expand_back(g, x, axes), share),)


def _max_rule(x, *, axes, keepdims):
    empty = [a for a in axes if x.shape[a] == 0]
    if empty:
        raise ShapeError(f"max: axis {empty[0]} of {format_shape(x.shape)} is empty; the maximum "
                         f"of no elements is undefined (logsumexp of nothing is -inf)")
    return _reduced(x.shape, axes, keepdims), x.dtype


register(Op("max", _max_rule,
            lambda xp, x, *, axes, keepdims: xp.max(x, axis=axes, keepdims=keepdims),
            _max_vjp, doc="maximum over axes (ties share the gradient)",
            numpy=_reduce_numpy("maximum", "amax")))


def max(x: Node, axis=None, keepdims: bool = False) -> Node:
    """Maximum over ``axis``; the gradient goes to the maximal entries, split among ties."""
    axes = _axes("max", x, axis)
    return apply("max", x, axes=axes, keepdims=bool(keepdims)) if axes else x


def _lse_kernel(xp, x, *, axes, keepdims):
    if any(x.shape[a] == 0 for a in axes):  # the log of an empty sum, as torch gives it
        return xp.full(_reduced(x.shape, axes, keepdims), -xp.inf, dtype=x.dtype)
    m = xp.max(x, axis=axes, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    out = xp.log(xp.sum(xp.exp(x - m), axis=axes, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axes)


register(Op("logsumexp", _reduce_rule("logsumexp", floats=True), _lse_kernel,
            lambda n, g: (mul(expand_back(g, n.args[0], n.attr("axes")),
                              exp(sub(n.args[0], expand_back(n, n.args[0], n.attr("axes"))))),),
            doc="log(sum(exp(x))) over axes, shifted by the max"))


def logsumexp(x: Node, axis=None, keepdims: bool = False) -> Node:
    """``log(sum(exp(x), axis))``, computed stably; -inf over an empty axis."""
    return apply("logsumexp", x, axes=_axes("logsumexp", x, axis), keepdims=bool(keepdims))


def _softmax_kernel(xp, x, *, axis):
    if x.shape[axis] == 0:  # nothing to normalize (max of nothing is undefined)
        return xp.empty_like(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def _log_softmax_kernel(xp, x, *, axis):
    if x.shape[axis] == 0:
        return xp.empty_like(x)
    s = x - xp.max(x, axis=axis, keepdims=True)
    return s - xp.log(xp.sum(xp.exp(s), axis=axis, keepdims=True))


def _softmax_vjp(n, g):
    axis = n.attr("axis")
    gs = mul(g, n)
    return (sub(gs, mul(n, expand_back(sum(gs, axis), n, (axis,)))),)


def _log_softmax_vjp(n, g):
    axis = n.attr("axis")
    return (sub(g, mul(exp(n), expand_back(sum(g, axis), n, (axis,)))),)


def _axis_rule(opname):
    def rule(x, *, axis):
        check_float(opname, x)
        return x.shape, x.dtype
    return rule


register(Op("softmax", _axis_rule("softmax"), _softmax_kernel, _softmax_vjp,
            doc="exp(x) / sum(exp(x)) along one axis, stable"))
register(Op("log_softmax", _axis_rule("log_softmax"), _log_softmax_kernel, _log_softmax_vjp,
            doc="x - logsumexp(x) along one axis, stable"))


def softmax(x: Node, axis: int = -1) -> Node:
    """Softmax along ``axis`` (max-shifted, so it never overflows)."""
    return apply("softmax", x, axis=norm_axis("softmax", axis, x.ndim))


def log_softmax(x: Node, axis: int = -1) -> Node:
    """``log(softmax(x))`` along ``axis``, computed stably."""
    return apply("log_softmax", x, axis=norm_axis("log_softmax", axis, x.ndim))
