"""The cell equations of PyTorch's RNN, LSTM and GRU, written with the recurrence API.

Weights use PyTorch's layout: ``weight_ih`` is ``(gates*H, D)``, so a step computes
``x[t] @ weight_ih.T`` (the transpose reads no variable, so it is built once and shared by
every step).  Gates are stacked in PyTorch's order: LSTM ``i, f, g, o``; GRU ``r, z, n``.
"""

from __future__ import annotations

from typing import Dict, Optional

from ..core import ops as F
from ..core.ir import Node
from ..frontend.recurrence import Recurrence, t

__all__ = ["CELLS", "elman_cell", "lstm_cell", "gru_cell"]


def _affine(v: Node, weight: Node, bias: Optional[Node]) -> Node:
    out = v @ weight.T
    return out + bias if bias is not None else out


def elman_cell(rec: Recurrence, x: Node, states: Dict[str, Node], w: Dict[str, Node],
               nonlinearity: str = "tanh") -> None:
    """``h[t] = act(x[t] W_ih^T + b_ih + h[t-1] W_hh^T + b_hh)`` with act tanh or relu."""
    act = {"tanh": F.tanh, "relu": F.relu}[nonlinearity]
    h = states["h"]
    rec.update(h, act(_affine(x, w["weight_ih"], w.get("bias_ih"))
                      + _affine(h[t - 1], w["weight_hh"], w.get("bias_hh"))))


def lstm_cell(rec: Recurrence, x: Node, states: Dict[str, Node], w: Dict[str, Node],
              nonlinearity: str = "tanh") -> None:
    """``i, f, g, o`` gates; ``c[t] = f*c[t-1] + i*g``, ``h[t] = o*tanh(c[t])``."""
    h, c = states["h"], states["c"]
    gates = (_affine(x, w["weight_ih"], w.get("bias_ih"))
             + _affine(h[t - 1], w["weight_hh"], w.get("bias_hh")))
    i, f, g, o = F.split(gates, 4, axis=-1)
    rec.update(c, F.sigmoid(f) * c[t - 1] + F.sigmoid(i) * F.tanh(g))
    rec.update(h, F.sigmoid(o) * F.tanh(c))


def gru_cell(rec: Recurrence, x: Node, states: Dict[str, Node], w: Dict[str, Node],
             nonlinearity: str = "tanh") -> None:
    """``r, z, n`` gates with the reset gate applied after the recurrent matmul (PyTorch's GRU):
    ``n = tanh(x W_in^T + b_in + r * (h[t-1] W_hn^T + b_hn))``, ``h[t] = (1-z)*n + z*h[t-1]``."""
    h = states["h"]
    gi = _affine(x, w["weight_ih"], w.get("bias_ih"))
    gh = _affine(h[t - 1], w["weight_hh"], w.get("bias_hh"))
    i_r, i_z, i_n = F.split(gi, 3, axis=-1)
    h_r, h_z, h_n = F.split(gh, 3, axis=-1)
    r, z = F.sigmoid(i_r + h_r), F.sigmoid(i_z + h_z)
    n = F.tanh(i_n + r * h_n)
    rec.update(h, (1.0 - z) * n + z * h[t - 1])


#: mode -> (cell function, number of gates, state names)
CELLS = {"RNN": (elman_cell, 1, ("h",)), "LSTM": (lstm_cell, 4, ("h", "c")),
         "GRU": (gru_cell, 3, ("h",))}
