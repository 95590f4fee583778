"""The logistic function and its log, in forms that stay accurate and never overflow.

``sigmoid`` is ``1 / (1 + exp(min(-x, L)))`` with ``L = log(largest float)``: PyTorch's
form, within a few ulp wherever the result is a normal number, with the exponent clamped so
that nothing overflows (no warning, no inf); where the exact value is subnormal (x below
about -87 in float32, -708 in float64) the result is at most the smallest normal number
(the tanh form ``(1 + tanh(x / 2)) / 2`` lost relative accuracy below -15 and was 0 below
-38).  Five ufunc calls in place, no temporary: the kernel runs them and compiled NumPy code
is their text (one sequence, :func:`_sigmoid_calls`, so the same bits).  ``log_sigmoid`` is
``min(x, 0) - log1p(exp(-|x|))``, finite wherever ``x`` is.
"""

from __future__ import annotations

import numpy as np

from .elementwise import unary_op, mul, neg, sub
from .forms import run_ufuncs, ufunc_text

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


def _sigmoid_calls(x, e, limit):
    """``1 / (1 + exp(min(-x, L)))`` as five ufunc calls writing ``e`` in place: no
    overflow, NaN stays NaN.  ``x``/``e`` are arrays (the kernel) or texts (the emission)."""
    return (("negative", x), ("minimum", e, limit), ("exp", e), ("add", e, 1), ("divide", 1, e))


def _sigmoid_kernel(xp, x):
    """The sigmoid of ``x`` in one fresh array (:func:`_sigmoid_calls`)."""
    e = xp.empty_like(x)
    return run_ufuncs(xp, _sigmoid_calls(x, e, EXP_LIMIT[x.dtype]), e)


def _sigmoid_numpy(e) -> str:
    """Compiled NumPy code: the kernel's calls, in place in the output buffer."""
    return ufunc_text(_sigmoid_calls(e.args[0], e.v, EXP_LIMIT[e.dtype]), e.v, e.out)


_SIGMOID_CUDA = ("({T}(1) / ({T}(1) + exp(({0}) < {T}(-{LOGMAX}) ? {T}({LOGMAX})"
                 " : -({0}))))")


def _sigmoid_cuda(node, args, ctype) -> str:
    """The C++ form, clamped at the largest ``exp`` argument of the node's type."""
    return _SIGMOID_CUDA.format(*args, T=ctype, LOGMAX=repr(EXP_LIMIT.get(node.dtype, 0.0)))


def _log_sigmoid_kernel(xp, x):
    """``min(x, 0) - log1p(exp(-|x|))``: log(sigmoid(x)) without underflow to -inf."""
    d = _exp_neg_abs(xp, x)
    xp.log1p(d, out=d)
    out = xp.minimum(x, 0, out=xp.empty_like(x))
    return xp.subtract(out, d, out=out)


# the same forms in C++ ({0} may be a literal such as -2.0, so every use is parenthesized):
# sigmoid clamps like the NumPy kernel (a NaN fails the comparison and stays NaN);
# log_sigmoid takes one branch per sign
sigmoid = unary_op("sigmoid", _sigmoid_kernel,
                 lambda n, g: (mul(g, mul(n, sub(1.0, n))),), "1 / (1 + e ** -x), stable",
                 cuda=_sigmoid_cuda, numpy=_sigmoid_numpy, inplace=(0,), broadcasting=True)
log_sigmoid = unary_op("log_sigmoid", _log_sigmoid_kernel,
                     lambda n, g: (mul(g, sigmoid(neg(n.args[0]))),),
                     "log(sigmoid(x)) = -softplus(-x), stable",
                     cuda="(({0}) < {T}(0) ? ({0}) - log1p(exp({0}))"
                          " : {T}(0) - log1p(exp(-({0}))))")
