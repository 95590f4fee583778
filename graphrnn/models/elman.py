"""The Elman network of the lecture notes: ``h[t] = act(h[t-1] @ W + x[t] @ U + b)``,
``y[t] = out_act(h[t] @ V + c)``, any activation including the identity (the linear RNN that
computes a moving sum exactly)."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..core import ops as F
from ..core.ir import Graph
from ..frontend.recurrence import Recurrence, t
from ..core.shapes import B
from .checks import check_size
from .jordan import _act
from .module import Module

__all__ = ["Elman"]


class Elman(Module):
    """Elman RNN with a readout, in the notes' row layout: parameters ``W (H, H)``,
    ``U (D, H)``, ``b (H,)``, ``V (H, O)``, ``c (O,)``.  ``output, h_n = elman(x)``."""

    num_layers, num_directions, state_names = 1, 1, ("h",)

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 activation: str = "tanh", output_activation: str = "identity", dtype=None,
                 seed: Optional[int] = None):
        super().__init__(dtype, seed)
        check_size("Elman", input_size=input_size, hidden_size=hidden_size,
                   output_size=output_size)
        self.act = _act(activation, "Elman")
        self.out_act = _act(output_activation, "Elman", "output_activation")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        bound = 1 / math.sqrt(hidden_size)
        self.uniform("W", (hidden_size, hidden_size), bound)
        self.uniform("U", (input_size, hidden_size), bound)
        self.uniform("b", (hidden_size,), bound)
        self.uniform("V", (hidden_size, output_size), bound)
        self.uniform("c", (output_size,), bound)

    def recurrence(self, init=None) -> Recurrence:
        """The folded recurrence (``init``: a ``(B, H)`` node for h[0], zeros otherwise)."""
        p = {k: self.param_node(k) for k in self._params}
        rec = Recurrence("elman", dtype=self.dtype)
        x = rec.input("x", self.input_size)
        h = rec.state("h", self.hidden_size, init=init if init is not None else "zeros")
        rec.update(h, self.act(h[t - 1] @ p["W"] + x[t] @ p["U"] + p["b"]))
        rec.output("y", self.out_act(h @ p["V"] + p["c"]))
        return rec

    def graph(self, steps: int, initial_states: bool = False, mask: bool = False) -> Graph:
        """Input ``input`` ``(T, B, D)`` (and ``h0`` ``(1, B, H)``, ``mask``); outputs
        ``output`` ``(T, B, O)`` and ``h_n`` ``(1, B, H)``."""
        x = F.input("input", (steps, B, self.input_size), self.dtype)
        init = None
        if initial_states:
            init = F.input("h0", (1, B, self.hidden_size), self.dtype)[0]
        g = self.recurrence(init).unroll(steps, mask=mask, sources={"x": x})
        return Graph({"output": g.outputs["y"],
                      "h_n": F.reshape(g.outputs["h_final"], (1, B, self.hidden_size))},
                     name="elman")

    def __call__(self, x):
        """``output, h_n`` for a time-major array ``x``."""
        x = np.asarray(x, dtype=self.dtype)
        out = self.run(("forward",), lambda T: self.graph(T), {"input": x})
        return out["output"], out["h_n"]
