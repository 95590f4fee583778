"""The logistic function and its log, in forms that are accurate over the whole range.

``sigmoid`` is ``max(x >= 0, e) / (1 + e)`` with ``e = exp(-|x|)``: ``1 / (1 + e)`` for
``x >= 0`` and ``e / (1 + e)`` below, so nothing overflows and small results keep their
relative accuracy (a few ulp, subnormal tails included; ``(1 + tanh(x / 2)) / 2`` lost it
below -15 and was 0 below -38).  ``log_sigmoid`` is ``min(x, 0) - log1p(exp(-|x|))``.
"""

from __future__ import annotations

from .elementwise import _unary, mul, neg, sub

__all__ = ["sigmoid", "log_sigmoid"]


def _exp_neg_abs(xp, x):
    """``exp(-|x|)`` in a fresh array (in (0, 1]: never overflows)."""
    e = xp.abs(x, out=xp.empty_like(x))
    xp.negative(e, out=e)
    return xp.exp(e, out=e)


def _sigmoid_kernel(xp, x):
    """``max(x >= 0, e) / (1 + e)`` with ``e = exp(-|x|)``, that is ``1 / (1 + e)`` for
    ``x >= 0`` and ``e / (1 + e)`` below: within a few ulp of the exact value over the whole
    range (subnormal tails included), one exp, never overflows, NaN stays NaN.  The compiled
    NumPy code runs these ufuncs in this order (compiler/emit.py): the same bits."""
    d = _exp_neg_abs(xp, x)
    out = xp.greater_equal(x, 0, out=xp.empty_like(x))
    xp.maximum(out, d, out=out)
    xp.add(d, 1, out=d)
    return xp.divide(out, d, out=out)


def _log_sigmoid_kernel(xp, x):
    """``min(x, 0) - log1p(exp(-|x|))``: log(sigmoid(x)) without underflow to -inf."""
    d = _exp_neg_abs(xp, x)
    xp.log1p(d, out=d)
    out = xp.minimum(x, 0, out=xp.empty_like(x))
    return xp.subtract(out, d, out=out)


# the same forms in C++, one branch per sign ({0} may be a literal such as -2.0, so every
# use is parenthesized; NaN takes the second branch and stays NaN)
sigmoid = _unary("sigmoid", _sigmoid_kernel,
                 lambda n, g: (mul(g, mul(n, sub(1.0, n))),), "1 / (1 + e ** -x), stable",
                 cuda="(({0}) < {T}(0) ? exp({0}) / ({T}(1) + exp({0}))"
                      " : {T}(1) / ({T}(1) + exp(-({0}))))")
log_sigmoid = _unary("log_sigmoid", _log_sigmoid_kernel,
                     lambda n, g: (mul(g, sigmoid(neg(n.args[0]))),),
                     "log(sigmoid(x)) = -softplus(-x), stable",
                     cuda="(({0}) < {T}(0) ? ({0}) - log1p(exp({0}))"
                          " : {T}(0) - log1p(exp(-({0}))))")
