"""Choosing the next token from logits: greedy, temperature and top-k sampling, seeded."""

from __future__ import annotations

import math
import numbers
from typing import Optional

import numpy as np

__all__ = ["sample_next", "check_sampling"]

_INF = math.inf
_max, _sum, _cumsum = np.maximum.reduce, np.add.reduce, np.add.accumulate


def check_sampling(temperature: float, top_k: Optional[int] = None,
                   owner: str = "sample_next") -> None:
    """Refuse a ``temperature`` that is not a finite number >= 0 (0 is greedy) and a ``top_k``
    that is not None or an int >= 1, naming ``owner`` and the argument."""
    if (isinstance(temperature, bool) or not isinstance(temperature, numbers.Real)
            or not math.isfinite(temperature) or temperature < 0):
        raise ValueError(f"{owner}: temperature must be a finite number >= 0 (0 is greedy), "
                         f"got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral)
                              or top_k < 1):
        raise ValueError(f"{owner}: top_k must be None or an int >= 1, got {top_k!r}")


def sample_next(logits: np.ndarray, temperature: float = 1.0, top_k: Optional[int] = None,
                rng: Optional[np.random.Generator] = None) -> int:
    """A token id from 1-D ``logits``: the argmax when ``temperature`` is 0, else a draw from
    ``softmax(logits / temperature)`` restricted to the ``top_k`` most likely tokens.
    Logits with NaN or +inf (a diverged model) raise ``ValueError``.

    A draw takes one ``rng.choice(len(logits), p=probabilities)``: for a NumPy ``Generator``
    it is computed as ``choice`` computes it (the same uniform draw, the same cumulative
    sum searched), without its per-call overhead, so a seed gives the same tokens."""
    if not (type(temperature) is float and 0.0 <= temperature < _INF
            and (top_k is None or type(top_k) is int and top_k >= 1)):
        check_sampling(temperature, top_k)  # raises, or passes other number types
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    # (the ufuncs' reduce and accumulate: what max, sum and cumsum call, without their
    # Python wrappers)
    top = _max(logits) if logits.size else np.nan  # NaN when any is NaN
    if not -_INF < top < _INF:  # empty, NaN or +inf, or all -inf
        bad = np.isnan(logits) | np.isposinf(logits)
        raise ValueError(f"sample_next: logits must be non-empty, free of NaN and +inf, and "
                         f"not all -inf; got {logits.size} values, {int(bad.sum())} of them "
                         f"NaN or +inf")
    if temperature == 0:
        return int(logits.argmax())
    z = np.divide(logits, temperature)
    if top_k is not None and top_k < z.size:  # (keeping them all changes nothing)
        cut = np.partition(z, z.size - int(top_k))[z.size - int(top_k)]  # k-th largest
        np.copyto(z, -np.inf, where=z < cut)
    # max(z) is top / temperature exactly: a correctly rounded division by a positive number
    # keeps the order, and top-k keeps the largest
    p = np.subtract(z, top / temperature, out=z)
    np.exp(p, out=p)
    total = _sum(p)
    p /= total
    rng = rng if rng is not None else np.random.default_rng()
    if type(rng) is not np.random.Generator or not 0 < total < _INF:
        return int(rng.choice(p.size, p=p))  # (which refuses probabilities that are NaN)
    cdf = _cumsum(p)  # what Generator.choice(n, p=p) draws, step by step
    cdf /= cdf[-1]
    return int(cdf.searchsorted(rng.random(), side="right"))
