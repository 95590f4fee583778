"""Choosing the next token from logits: greedy, temperature and top-k sampling, seeded."""

from __future__ import annotations

import math
import numbers
from typing import Optional

import numpy as np

__all__ = ["sample_next", "check_sampling"]


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
    Logits with NaN or +inf (a diverged model) raise ``ValueError``."""
    check_sampling(temperature, top_k)
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    bad = np.isnan(logits) | np.isposinf(logits)
    if logits.size == 0 or bad.any() or np.isneginf(logits).all():
        raise ValueError(f"sample_next: logits must be non-empty, free of NaN and +inf, and "
                         f"not all -inf; got {logits.size} values, {int(bad.sum())} of them "
                         f"NaN or +inf")
    if temperature == 0:
        return int(np.argmax(logits))
    z = logits / temperature
    if top_k is not None:
        cut = np.sort(z)[-min(int(top_k), z.size)]
        z = np.where(z >= cut, z, -np.inf)
    p = np.exp(z - z.max())
    p /= p.sum()
    rng = rng if rng is not None else np.random.default_rng()
    return int(rng.choice(p.size, p=p))
