"""A catalog of small recurrences declared with the API: the moving-sum Elman RNN, a
hand-declared LSTM (four gate matrices, PyTorch's gate order i, f, g, o), and the built-in
models ``graphrnn render`` draws by name."""

from __future__ import annotations

import numpy as np

from ..core import ops as F
from ..frontend.recurrence import Recurrence, t

__all__ = ["EXACT", "moving_sum_recurrence", "lstm_recurrence", "builtin_recurrence",
           "BUILTIN_NAMES"]

F64 = np.float64

#: The hand-made solution (row-vector layout ``h[t] = h[t-1] @ W + x[t] @ U``).
EXACT = {"W": np.array([[0.0, 1, 0], [0, 0, 1], [0, 0, 0]]), "U": np.array([[1.0, 0, 0]]),
         "b": np.zeros(3), "V": np.ones((3, 1)), "c": np.zeros(1)}


def moving_sum_recurrence(dtype=F64) -> Recurrence:
    """The linear Elman RNN: ``h[t] = h[t-1] @ W + x[t] @ U + b``, ``y[t] = h[t] @ V + c``."""
    rec = Recurrence("moving_sum", dtype=dtype)
    x = rec.input("x", 1)
    h = rec.state("h", 3, init="zeros")
    W, U, b = rec.param("W", (3, 3)), rec.param("U", (1, 3)), rec.param("b", (3,))
    V, c = rec.param("V", (3, 1)), rec.param("c", (1,))
    rec.update(h, h[t - 1] @ W + x[t] @ U + b)
    rec.output("y", h[t] @ V + c)
    return rec


def lstm_recurrence(input_size: int, hidden: int, dtype=None, name: str = "lstm") -> Recurrence:
    """An LSTM written out by hand: ``i, f, g, o`` gates from ``x[t] @ W_* + h[t-1] @ U_* + b_*``,
    ``c[t] = f * c[t-1] + i * g``, ``h[t] = o * tanh(c[t])`` (states, unrolled as outputs)."""
    rec = Recurrence(name, dtype=dtype)
    x = rec.input("x", input_size)
    h, c = rec.state("h", hidden), rec.state("c", hidden)
    pre = {}
    for k in "ifgo":
        W = rec.param(f"W_{k}", (input_size, hidden))
        U = rec.param(f"U_{k}", (hidden, hidden))
        pre[k] = x[t] @ W + h[t - 1] @ U + rec.param(f"b_{k}", (hidden,))
    i, f, o = F.sigmoid(pre["i"]), F.sigmoid(pre["f"]), F.sigmoid(pre["o"])
    rec.update(c, f * c[t - 1] + i * F.tanh(pre["g"]))
    rec.update(h, o * F.tanh(c))
    return rec


def _zoo(name: str, *args) -> Recurrence:
    from .. import models  # the zoo builds on this module's siblings; import when asked

    return getattr(models, name)(*args, seed=0).recurrence()


_BUILTIN = {
    "elman": lambda: moving_sum_recurrence(),
    "rnn": lambda: _zoo("RNN", 2, 4),
    "lstm": lambda: _zoo("LSTM", 2, 4),
    "gru": lambda: _zoo("GRU", 2, 4),
    "jordan": lambda: _zoo("Jordan", 2, 4, 1),
    "autonomous": lambda: _zoo("Autonomous", 3),
    "lstm-by-hand": lambda: lstm_recurrence(2, 4),
}
#: Names accepted by :func:`builtin_recurrence`.
BUILTIN_NAMES = tuple(_BUILTIN)


def builtin_recurrence(name: str) -> Recurrence:
    """A small recurrence by name: ``elman`` (the moving sum), ``rnn``, ``lstm``, ``gru``,
    ``jordan``, ``autonomous`` (one layer of each zoo model), ``lstm-by-hand``."""
    if name not in _BUILTIN:
        raise KeyError(f"unknown model {name!r}; built-in models: {', '.join(BUILTIN_NAMES)}")
    return _BUILTIN[name]()
