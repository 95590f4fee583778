"""The logistic function and its log, in forms that stay accurate and never overflow.

``sigmoid`` is ``1 / (1 + exp(min(-x, L)))`` with ``L = log(largest float)``: PyTorch's
form, within a few ulp wherever the result is a normal number, with the exponent clamped so
that nothing overflows (no warning, no inf); where the exact value is subnormal (x below
about -87 in float32, -708 in float64) the result is at most the smallest normal number
(the tanh form ``(1 + tanh(x / 2)) / 2`` lost relative accuracy below -15 and was 0 below
-38).  Five ufunc calls in place, no temporary.  ``log_sigmoid`` is
``min(x, 0) - log1p(exp(-|x|))``, finite wherever ``x`` is.
"""

from __future__ import annotations

import numpy as np

from .elementwise import _unary, mul, neg, sub

__all__ = ["sigmoid", "log_sigmoid", "EXP_LIMIT"]


def _exp_neg_abs(xp, x):
    """``exp(-|x|)`` in a fresh array (in (0, 1]: never overflows)."""
    e = xp.abs(x, out=xp.empty_like(x))
    xp.negative(e, out=e)
    return xp.exp(e, out=e)


def _exp_limit(t) -> float:
    """The largest value of type ``t`` whose ``exp`` is finite in ``t``."""
    t = np.dtype(t).type
    with np.errstate(over="ignore"):
        x = t(np.log(np.finfo(t).max))
        while not np.isfinite(np.exp(x)):
            x = np.nextafter(x, t(0))
    return float(x)


#: per float type, the largest ``x`` with a finite ``exp(x)``: the clamp of ``sigmoid``
EXP_LIMIT = {np.dtype(t): _exp_limit(t) for t in (np.float16, np.float32, np.float64)}


def _sigmoid_kernel(xp, x):
    """``1 / (1 + exp(min(-x, L)))`` in one fresh array: five ufuncs, no overflow, NaN stays
    NaN.  The compiled NumPy code runs these ufuncs in this order (compiler/emit.py): the
    same bits."""
    e = xp.negative(x, out=xp.empty_like(x))
    xp.minimum(e, EXP_LIMIT[x.dtype], out=e)
    xp.exp(e, out=e)
    xp.add(e, 1, out=e)
    return xp.divide(1, e, out=e)


def _log_sigmoid_kernel(xp, x):
    """``min(x, 0) - log1p(exp(-|x|))``: log(sigmoid(x)) without underflow to -inf."""
    d = _exp_neg_abs(xp, x)
    xp.log1p(d, out=d)
    out = xp.minimum(x, 0, out=xp.empty_like(x))
    return xp.subtract(out, d, out=out)


# the same forms in C++ ({0} may be a literal such as -2.0, so every use is parenthesized):
# sigmoid clamps like the NumPy kernel (a NaN fails the comparison and stays NaN);
# log_sigmoid takes one branch per sign
sigmoid = _unary("sigmoid", _sigmoid_kernel,
                 lambda n, g: (mul(g, mul(n, sub(1.0, n))),), "1 / (1 + e ** -x), stable",
                 cuda="({T}(1) / ({T}(1) + exp(({0}) < {T}(-{LOGMAX}) ? {T}({LOGMAX})"
                      " : -({0}))))")
log_sigmoid = _unary("log_sigmoid", _log_sigmoid_kernel,
                     lambda n, g: (mul(g, sigmoid(neg(n.args[0]))),),
                     "log(sigmoid(x)) = -softplus(-x), stable",
                     cuda="(({0}) < {T}(0) ? ({0}) - log1p(exp({0}))"
                          " : {T}(0) - log1p(exp(-({0}))))")
