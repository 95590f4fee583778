"""Output feedback and input-free systems: ``Jordan`` and ``Autonomous``."""

from __future__ import annotations

import math
from typing import Dict, Optional

from ..core import ops as F
from ..core.ir import Graph, Node
from ..frontend.recurrence import Recurrence, t
from ..core.shapes import B
from .activations import activation as activation_named
from .checks import check_size
from .module import Module

__all__ = ["Jordan", "Autonomous"]


class Jordan(Module):
    """Jordan network: the state is fed by the previous *output*.

    ``h[t] = act(x[t] W_ih^T + y[t-1] W_yh^T + b_h)``, ``y[t] = out_act(h[t] W_hy^T + b_y)``,
    with ``y[0] = 0`` (or ``y0`` given).  ``output, h_n = jordan(x)``; the state carried
    from call to call is the last output, ``y_n`` ``(1, B, output_size)``.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 activation: str = "sigmoid", output_activation: str = "identity", dtype=None,
                 seed: Optional[int] = None):
        super().__init__(dtype, seed)
        check_size("Jordan", input_size=input_size, hidden_size=hidden_size,
                   output_size=output_size)
        self.act = activation_named(activation, "Jordan")
        self.out_act = activation_named(output_activation, "Jordan", "output_activation")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.activation, self.output_activation = activation, output_activation
        bh, by = 1 / math.sqrt(hidden_size), 1 / math.sqrt(output_size)
        self.uniform("weight_ih", (hidden_size, input_size), bh)
        self.uniform("weight_yh", (hidden_size, output_size), bh)
        self.uniform("bias_h", (hidden_size,), bh)
        self.uniform("weight_hy", (output_size, hidden_size), by)
        self.uniform("bias_y", (output_size,), by)

    def _readout(self, h: Node, prefix: str = "") -> Node:
        return self.out_act(h @ self.param_node("weight_hy", prefix).T
                            + self.param_node("bias_y", prefix))

    def recurrence(self, prefix: str = "", init: Optional[Node] = None) -> Recurrence:
        """The folded Jordan recurrence (for rendering or custom unrolling); ``init``: a
        ``(B, output_size)`` node for y[0], zeros otherwise."""
        p = {k: self.param_node(k, prefix) for k in self._params}
        rec = Recurrence(f"{prefix}jordan", dtype=self.dtype)
        x = rec.input("x", self.input_size)
        h = rec.state("h", self.hidden_size)
        y = rec.output("y", self._readout(h, prefix), init=init if init is not None else "zeros")
        rec.update(h, self.act(x[t] @ p["weight_ih"].T + y[t - 1] @ p["weight_yh"].T
                               + p["bias_h"]))
        return rec

    def state_shapes(self, batch=B) -> Dict[str, tuple]:
        """``{"y": (1, batch, output_size)}``: the output fed back."""
        return {"y": (1, batch, self.output_size)}

    def build(self, x: Node, init: Optional[Dict[str, Node]] = None, prefix: str = "",
              mask: bool = False) -> Dict[str, Node]:
        """``output`` ``(T, B, output_size)``, ``h_n`` ``(1, B, H)`` and ``y_n``
        ``(1, B, output_size)`` over ``x`` ``(T, B, D)``; ``init`` may map ``"y0"`` to a
        ``(1, B, output_size)`` node."""
        y0 = (init or {}).get("y0")
        rec = self.recurrence(prefix, None if y0 is None else y0[0])
        g = rec.unroll(x.shape[0], mask=mask, sources={"x": x})
        h_n = g.outputs["h_final"]  # held at each sequence's last real step
        return {"output": g.outputs["y"],
                "h_n": F.reshape(h_n, (1, B, self.hidden_size)),
                "y_n": F.reshape(self._readout(h_n, prefix), (1, B, self.output_size))}

    def graph(self, steps: int, initial_states: bool = False, mask: bool = False) -> Graph:
        """Input ``input`` ``(T, B, D)`` (and ``y0``, ``mask``); outputs as :meth:`build`."""
        x = F.input("input", (steps, B, self.input_size), self.dtype)
        init = self.state_inputs() if initial_states else None
        return Graph(self.build(x, init, mask=mask), name="jordan")

    def feed(self, x, hx=None, lengths=None):
        """Feeds for ``x`` ``(T, B, D)`` (converted to the model's dtype), the fed-back output
        ``hx`` ``(1, B, output_size)`` and ``lengths`` (padded steps masked)."""
        return self.sequence_feed(x, hx, lengths, cast=True)

    def __call__(self, x, hx=None, lengths=None):
        """``output, h_n`` for a time-major array ``x`` (see :meth:`feed`)."""
        out = self.forward(*self.feed(x, hx, lengths))
        return out["output"], out["h_n"]


class Autonomous(Module):
    """A system with no input: ``s[t] = act(s[t-1] W^T + b)``, ``y[t] = s[t] V^T``, from a
    learned initial state ``s0`` (or one given).  ``autonomous(steps, batch=1)`` returns
    ``y`` ``(T, B, out)``; ``fit`` trains it on ``(None, targets)``."""

    sequence_inputs: Dict[str, str] = {}

    def __init__(self, state_size: int, output_size: Optional[int] = None,
                 activation: str = "tanh", dtype=None, seed: Optional[int] = None):
        super().__init__(dtype, seed)
        check_size("Autonomous", state_size=state_size,
                   **({} if output_size is None else {"output_size": output_size}))
        self.act = activation_named(activation, "Autonomous")
        self.state_size, self.output_size = state_size, output_size or state_size
        bound = 1 / math.sqrt(state_size)
        self.uniform("weight", (state_size, state_size), bound)
        self.uniform("bias", (state_size,), bound)
        self.uniform("weight_out", (self.output_size, state_size), bound)
        self.register("s0", self.rng.standard_normal(state_size))

    def recurrence(self, prefix: str = "", init: Optional[Node] = None) -> Recurrence:
        """The folded recurrence; ``init``: a ``(B, state_size)`` node for s[0], the learned
        ``s0`` otherwise."""
        p = {k: self.param_node(k, prefix) for k in self._params}
        rec = Recurrence(f"{prefix}autonomous", dtype=self.dtype)
        if init is None:
            init = F.broadcast_to(p["s0"], (B, self.state_size))
        s = rec.state("s", self.state_size, init=init)
        rec.update(s, self.act(s[t - 1] @ p["weight"].T + p["bias"]))
        rec.output("y", s @ p["weight_out"].T)
        return rec

    def state_shapes(self, batch=B) -> Dict[str, tuple]:
        """``{"s": (1, batch, state_size)}``."""
        return {"s": (1, batch, self.state_size)}

    def build(self, steps: int, prefix: str = "", init: Optional[Dict[str, Node]] = None,
              mask: bool = False) -> Dict[str, Node]:
        """``output`` ``(T, B, output_size)`` and ``s_n`` ``(1, B, state_size)`` for
        ``steps`` steps; ``init`` may map ``"s0"`` to a ``(1, B, state_size)`` node."""
        s0 = (init or {}).get("s0")
        g = self.recurrence(prefix, None if s0 is None else s0[0]).unroll(steps, mask=mask)
        return {"output": g.outputs["y"],
                "s_n": F.reshape(g.outputs["s_final"], (1, B, self.state_size))}

    def graph(self, steps: int, initial_states: bool = False, mask: bool = False) -> Graph:
        """No sequence input (``B`` is given by ``dims`` or a target); with
        ``initial_states`` the input ``s0`` replaces the learned one; outputs as
        :meth:`build`."""
        init = self.state_inputs() if initial_states else None
        return Graph(self.build(steps, init=init, mask=mask), name="autonomous")

    def feed(self, steps: int, batch: int = 1, s0=None):
        """No feeds but an initial state ``s0`` ``(1, batch, state_size)`` if given; the
        sizes ``T = steps`` and ``B = batch``."""
        check_size("Autonomous", steps=steps, batch=batch)
        return self.state_feeds(s0), {"B": int(batch), "T": int(steps)}

    def __call__(self, steps: int, batch: int = 1, s0=None):
        """The trajectory ``(T, batch, output_size)`` from the learned initial state (or
        ``s0``)."""
        return self.forward(*self.feed(steps, batch, s0))["output"]
