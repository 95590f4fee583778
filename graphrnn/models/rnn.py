"""PyTorch-compatible recurrent layers: ``RNN`` (Elman), ``LSTM``, ``GRU``.

Stacked (``num_layers``) and bidirectional, time-major by default, with PyTorch's parameter
names, shapes, gate orders and initialization, so state dicts move both ways::

    lstm = LSTM(10, 20, num_layers=2)
    output, (h_n, c_n) = lstm(x)             # x: (T, B, 10) -> output (T, B, 20)
    lstm.load_state_dict({k: v.numpy() for k, v in torch_lstm.state_dict().items()})
"""

from __future__ import annotations

import math
from typing import Dict, Optional

from ..core import ops as F
from ..core.ir import Graph, Node
from ..frontend.recurrence import Recurrence
from ..core.shapes import B, Sym, format_shape
from .cells import CELLS
from .checks import check_size
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU"]


class RNNBase(Module):
    """A stack of recurrent layers of one cell type (``mode`` "RNN", "LSTM" or "GRU")."""

    mode = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, bidirectional: bool = False,
                 nonlinearity: Optional[str] = None, dtype=None, seed: Optional[int] = None):
        super().__init__(dtype, seed)
        if nonlinearity is not None and self.mode != "RNN":
            raise TypeError(f"{self.mode} has no nonlinearity option")
        nonlinearity = nonlinearity or "tanh"
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{type(self).__name__}: nonlinearity must be 'tanh' or 'relu', "
                             f"got {nonlinearity!r}")
        check_size(type(self).__name__, input_size=input_size, hidden_size=hidden_size,
                   num_layers=num_layers)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.nonlinearity = nonlinearity
        self.cell, gates, self._states = CELLS[self.mode]
        self.num_directions = 2 if bidirectional else 1
        bound = 1 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes(layer):
                self.uniform(f"weight_ih{suffix}", (gates * hidden_size, in_size), bound)
                self.uniform(f"weight_hh{suffix}", (gates * hidden_size, hidden_size), bound)
                if bias:
                    self.uniform(f"bias_ih{suffix}", (gates * hidden_size,), bound)
                    self.uniform(f"bias_hh{suffix}", (gates * hidden_size,), bound)

    @property
    def causal(self) -> bool:
        """False for a bidirectional stack (its outputs read later steps)."""
        return not self.bidirectional

    def state_shapes(self, batch=B) -> Dict[str, tuple]:
        """``h`` (and ``c`` for an LSTM): ``(layers * directions, batch, H)`` each."""
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        return {s: shape for s in self._states}

    def _suffixes(self, layer):
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    def extra_repr(self):
        extra = "".join(f", {k}={getattr(self, k)}" for k in ("num_layers", "bidirectional",
                                                              "batch_first")
                        if getattr(self, k) not in (1, False))
        return f"{self.input_size}, {self.hidden_size}{extra}"

    # ------------------------------------------------------------ graph building
    def build(self, x: Node, init: Optional[Dict[str, Node]] = None, prefix: str = "",
              mask: bool = False) -> Dict[str, Node]:
        """Nodes for the layer stack over a time-major ``(T, B, input_size)`` sequence ``x``.

        ``init`` maps ``"h0"`` (and ``"c0"`` for an LSTM) to ``(layers*directions, B, H)`` nodes;
        missing ones are zeros.  Returns ``output`` ``(T, B, directions*H)``, ``h_n`` (and
        ``c_n``) ``(layers*directions, B, H)``.  With ``mask`` the graph reads a bool ``(T, B)``
        input ``mask`` (padded steps keep their state).
        """
        steps = x.shape[0] if x.ndim else None
        if x.ndim != 3 or x.shape[2] != self.input_size or isinstance(steps, Sym):
            layout = (" (the batch axis B comes first: batch-major data; models take time-major "
                      "sequences, transpose it)" if x.ndim == 3 and isinstance(steps, Sym) else "")
            raise ValueError(f"{type(self).__name__}: expected a time-major input (T, B, "
                             f"{self.input_size}), got {format_shape(x.shape)}{layout}")
        init = dict(init or {})
        finals: Dict[str, list] = {s: [] for s in self.state_names}
        seq = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                idx = layer * self.num_directions + d
                rec = self.recurrence(layer, d, prefix, {s: init[f"{s}0"][idx] for s in
                                                         self.state_names if f"{s}0" in init})
                g = rec.unroll(steps, reverse=d == 1, mask=mask, sources={"x": seq})
                outs.append(g.outputs["h"])
                for s in self.state_names:
                    finals[s].append(g.outputs[f"{s}_final"])
            seq = F.concat(outs, axis=-1)
        result = {"output": seq}
        for s in self.state_names:
            result[f"{s}_n"] = F.stack(finals[s], axis=0)
        return result

    def recurrence(self, layer: int = 0, direction: int = 0, prefix: str = "",
                   init: Optional[Dict[str, Node]] = None) -> Recurrence:
        """The folded recurrence of one layer and direction (1 = reverse); ``init`` maps state
        names to initial-value nodes (zeros otherwise)."""
        suffix = self._suffixes(layer)[direction]
        in_size = self.input_size if layer == 0 else self.hidden_size * self.num_directions
        rec = Recurrence(f"{prefix}{self.mode.lower()}{suffix}", dtype=self.dtype)
        xv = rec.input("x", in_size)
        states = {s: rec.state(s, self.hidden_size, init=(init or {}).get(s, "zeros"))
                  for s in self.state_names}
        w = {k: self.param_node(f"{k}{suffix}", prefix)
             for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
             if f"{k}{suffix}" in self._params}
        self.cell(rec, xv, states, w, self.nonlinearity)
        return rec

    def graph(self, steps: int, initial_states: bool = False, mask: bool = False) -> Graph:
        """The unrolled model as a Graph with input ``input`` ``(T, B, input_size)`` (plus
        ``h0``/``c0`` when ``initial_states``, ``mask`` when ``mask``) and outputs
        ``output``, ``h_n`` (and ``c_n``)."""
        x = F.input("input", (steps, B, self.input_size), self.dtype)
        init = self.state_inputs() if initial_states else None
        return Graph(self.build(x, init, mask=mask), name=type(self).__name__)

    # ------------------------------------------------------------ running
    def feed(self, x, hx=None, lengths=None, owner: Optional[str] = None):
        """Feeds for ``x`` (``(T, B, input_size)``, ``(B, T, ...)`` with ``batch_first``, of
        the model's dtype), initial states ``hx`` (``h0``, or ``(h0, c0)`` for an LSTM,
        ``(layers * directions, B, H)``) and ``lengths`` (one per sequence: padded steps
        masked); ``owner`` names the model in errors."""
        return self.sequence_feed(x, hx, lengths, owner, self.batch_first)

    def _pack(self, out):
        output = out["output"]
        if self.batch_first:
            output = output.transpose(1, 0, 2)
        if self.mode == "LSTM":
            return output, (out["h_n"], out["c_n"])
        return output, out["h_n"]

    def __call__(self, x, hx=None, lengths=None):
        """Run on arrays: ``output, h_n = rnn(x)``; ``output, (h_n, c_n) = lstm(x, (h0, c0))``.

        ``x`` is ``(T, B, input_size)`` (``(B, T, ...)`` with ``batch_first``); ``lengths``
        (one per sequence) masks padded steps.  One compiled program serves every T and B.
        ``loss_and_grad(loss_fn, x, hx=None, lengths=None, extra=None)`` differentiates a
        loss of the outputs (:meth:`Module.loss_and_grad`); its ``grads["input"]`` is laid
        out as ``x``.
        """
        return self._pack(self.forward(*self.feed(x, hx, lengths)))


class RNN(RNNBase):
    """Elman RNN, ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, act tanh or relu."""

    mode = "RNN"


class LSTM(RNNBase):
    """LSTM with PyTorch's gate order i, f, g, o."""

    mode = "LSTM"


class GRU(RNNBase):
    """GRU with PyTorch's gate order r, z, n (reset applied after the recurrent matmul)."""

    mode = "GRU"
