"""Choosing the next token from logits: greedy, temperature and top-k sampling, seeded."""

from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["sample_next"]


def sample_next(logits: np.ndarray, temperature: float = 1.0, top_k: Optional[int] = None,
                rng: Optional[np.random.Generator] = None) -> int:
    """A token id from 1-D ``logits``: the argmax when ``temperature`` is 0, else a draw from
    ``softmax(logits / temperature)`` restricted to the ``top_k`` most likely tokens."""
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return int(np.argmax(logits))
    z = logits / temperature
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        cut = np.sort(z)[-min(top_k, z.size)]
        z = np.where(z >= cut, z, -np.inf)
    p = np.exp(z - z.max())
    p /= p.sum()
    rng = rng if rng is not None else np.random.default_rng()
    return int(rng.choice(p.size, p=p))
