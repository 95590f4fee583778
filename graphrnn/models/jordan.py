"""Output feedback and input-free systems: ``Jordan`` and ``Autonomous``."""

from __future__ import annotations

import math
from typing import Dict, Optional

import numpy as np

from ..core import ops as F
from ..core.ir import Graph, Node
from ..frontend.recurrence import Recurrence, t
from ..core.shapes import B
from .checks import check_size
from .module import Module

__all__ = ["Jordan", "Autonomous"]

_ACT = {"tanh": F.tanh, "sigmoid": F.sigmoid, "relu": F.relu, "identity": lambda v: v}


def _act(name, owner: str = "model", arg: str = "activation"):
    if not isinstance(name, str) or name not in _ACT:
        raise ValueError(f"{owner}: {arg} must be one of {sorted(_ACT)}, got {name!r}")
    return _ACT[name]


class Jordan(Module):
    """Jordan network: the state is fed by the previous *output*.

    ``h[t] = act(x[t] W_ih^T + y[t-1] W_yh^T + b_h)``, ``y[t] = out_act(h[t] W_hy^T + b_y)``,
    with ``y[0] = 0``.  ``output, h_n = jordan(x)``.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 activation: str = "sigmoid", output_activation: str = "identity", dtype=None,
                 seed: Optional[int] = None):
        super().__init__(dtype, seed)
        check_size("Jordan", input_size=input_size, hidden_size=hidden_size,
                   output_size=output_size)
        self.act = _act(activation, "Jordan")
        self.out_act = _act(output_activation, "Jordan", "output_activation")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.activation, self.output_activation = activation, output_activation
        bh, by = 1 / math.sqrt(hidden_size), 1 / math.sqrt(output_size)
        self.uniform("weight_ih", (hidden_size, input_size), bh)
        self.uniform("weight_yh", (hidden_size, output_size), bh)
        self.uniform("bias_h", (hidden_size,), bh)
        self.uniform("weight_hy", (output_size, hidden_size), by)
        self.uniform("bias_y", (output_size,), by)

    def recurrence(self, prefix: str = "") -> Recurrence:
        """The folded Jordan recurrence (for rendering or custom unrolling)."""
        p = {k: self.param_node(k, prefix) for k in self._params}
        rec = Recurrence(f"{prefix}jordan", dtype=self.dtype)
        x = rec.input("x", self.input_size)
        h = rec.state("h", self.hidden_size)
        y = rec.output("y", self.out_act(h @ p["weight_hy"].T + p["bias_y"]))
        rec.update(h, self.act(x[t] @ p["weight_ih"].T + y[t - 1] @ p["weight_yh"].T
                               + p["bias_h"]))
        return rec

    def build(self, x: Node, prefix: str = "") -> Dict[str, Node]:
        """``output`` ``(T, B, output_size)`` and ``h_n`` ``(B, H)`` over ``x`` ``(T, B, D)``."""
        g = self.recurrence(prefix).unroll(x.shape[0], sources={"x": x})
        return {"output": g.outputs["y"], "h_n": g.outputs["h_final"]}

    def __call__(self, x):
        """``output, h_n`` for a time-major array ``x``."""
        x = np.asarray(x, dtype=self.dtype)
        out = self.run(("forward",), lambda T: Graph(self.build(
            F.input("input", (T, B, self.input_size), self.dtype))), {"input": x})
        return out["output"], out["h_n"]


class Autonomous(Module):
    """A system with no input: ``s[t] = act(s[t-1] W^T + b)``, ``y[t] = s[t] V^T``, from a
    learned initial state ``s0``.  ``autonomous(steps, batch=1)`` returns ``y`` ``(T, B, out)``."""

    def __init__(self, state_size: int, output_size: Optional[int] = None,
                 activation: str = "tanh", dtype=None, seed: Optional[int] = None):
        super().__init__(dtype, seed)
        check_size("Autonomous", state_size=state_size,
                   **({} if output_size is None else {"output_size": output_size}))
        self.act = _act(activation, "Autonomous")
        self.state_size, self.output_size = state_size, output_size or state_size
        bound = 1 / math.sqrt(state_size)
        self.uniform("weight", (state_size, state_size), bound)
        self.uniform("bias", (state_size,), bound)
        self.uniform("weight_out", (self.output_size, state_size), bound)
        self.register("s0", self.rng.standard_normal(state_size))

    def recurrence(self, prefix: str = "") -> Recurrence:
        """The folded recurrence."""
        p = {k: self.param_node(k, prefix) for k in self._params}
        rec = Recurrence(f"{prefix}autonomous", dtype=self.dtype)
        s = rec.state("s", self.state_size, init=F.broadcast_to(p["s0"], (B, self.state_size)))
        rec.update(s, self.act(s[t - 1] @ p["weight"].T + p["bias"]))
        rec.output("y", s @ p["weight_out"].T)
        return rec

    def build(self, steps: int, prefix: str = "") -> Dict[str, Node]:
        """``output`` ``(T, B, output_size)`` and ``s_n`` for ``steps`` steps."""
        g = self.recurrence(prefix).unroll(steps)
        return {"output": g.outputs["y"], "s_n": g.outputs["s_final"]}

    def __call__(self, steps: int, batch: int = 1):
        """The trajectory ``(T, batch, output_size)`` from the learned initial state."""
        check_size("Autonomous", steps=steps, batch=batch)
        return self.run(("forward",), lambda T: Graph(self.build(T)), {},
                        dims={"B": batch, "T": steps})["output"]
