"""The Elman network of the lecture notes: ``h[t] = act(h[t-1] @ W + x[t] @ U + b)``,
``y[t] = out_act(h[t] @ V + c)``, any activation including the identity (the linear RNN that
computes a moving sum exactly)."""

from __future__ import annotations

import math
from typing import Dict, Optional

from ..core import ops as F
from ..core.ir import Graph
from ..frontend.recurrence import Recurrence, t
from ..core.shapes import B
from .activations import activation as activation_named
from .checks import check_size
from .module import Module

__all__ = ["Elman"]


class Elman(Module):
    """Elman RNN with a readout, in the notes' row layout: parameters ``W (H, H)``,
    ``U (D, H)``, ``b (H,)``, ``V (H, O)``, ``c (O,)``.  ``output, h_n = elman(x)``;
    ``elman(x, h0, lengths)`` starts from ``h0`` ``(1, B, H)`` and masks padded steps."""

    num_layers, num_directions = 1, 1

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 activation: str = "tanh", output_activation: str = "identity", dtype=None,
                 seed: Optional[int] = None):
        super().__init__(dtype, seed)
        check_size("Elman", input_size=input_size, hidden_size=hidden_size,
                   output_size=output_size)
        self.act = activation_named(activation, "Elman")
        self.out_act = activation_named(output_activation, "Elman", "output_activation")
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

    def state_shapes(self, batch=B) -> Dict[str, tuple]:
        """``{"h": (1, batch, H)}``."""
        return {"h": (1, batch, self.hidden_size)}

    def graph(self, steps: int, initial_states: bool = False, mask: bool = False) -> Graph:
        """Input ``input`` ``(T, B, D)`` (and ``h0`` ``(1, B, H)``, ``mask``); outputs
        ``output`` ``(T, B, O)`` and ``h_n`` ``(1, B, H)``."""
        x = F.input("input", (steps, B, self.input_size), self.dtype)
        init = self.state_inputs()["h0"][0] if initial_states else None
        g = self.recurrence(init).unroll(steps, mask=mask, sources={"x": x})
        return Graph({"output": g.outputs["y"],
                      "h_n": F.reshape(g.outputs["h_final"], (1, B, self.hidden_size))},
                     name="elman")

    def feed(self, x, hx=None, lengths=None):
        """Feeds for ``x`` ``(T, B, D)`` (converted to the model's dtype), an initial state
        ``hx`` ``(1, B, H)`` and ``lengths`` (one per sequence: padded steps masked)."""
        return self.sequence_feed(x, hx, lengths, cast=True)

    def __call__(self, x, hx=None, lengths=None):
        """``output, h_n`` for a time-major array ``x`` (see :meth:`feed`)."""
        out = self.forward(*self.feed(x, hx, lengths))
        return out["output"], out["h_n"]
