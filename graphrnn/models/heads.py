"""Recurrent layers with a readout, ready to train: ``Readout`` (per step or on the final
state, for classification and regression) and ``LanguageModel`` (next-token prediction with
embedding, recurrent layers and a vocabulary readout, and sampling)."""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from .. import ops as F
from ..ir import Graph, Node
from ..shapes import B
from .layers import Embedding, Linear
from .module import Module
from .rnn import GRU, LSTM, RNN, RNNBase

__all__ = ["Readout", "LanguageModel"]


class Readout(Module):
    """``rnn`` followed by a linear readout of its states: ``on="all"`` gives ``(T, B, out)``
    (sequence prediction), ``on="last"`` gives ``(B, out)`` from the final state of the last
    layer (classification, with padded steps masked out)."""

    def __init__(self, rnn: RNNBase, out_features: int, on: str = "all", seed=None):
        super().__init__(rnn.dtype)
        if on not in ("all", "last"):
            raise ValueError(f"Readout: on must be 'all' or 'last', got {on!r}")
        self.rnn = self.add("rnn", rnn)
        width = rnn.hidden_size * (rnn.num_directions if on == "all" else 1)
        self.head = self.add("head", Linear(width, out_features, dtype=rnn.dtype, seed=seed))
        self.on, self.out_features = on, out_features

    @property
    def state_names(self):
        return self.rnn.state_names

    def build(self, x: Node, init=None, mask: bool = False) -> Dict[str, Node]:
        """``output`` (the readout) and the rnn's final states over ``x`` ``(T, B, D)``."""
        out = self.rnn.build(x, init, prefix="rnn.", mask=mask)
        feats = out["output"] if self.on == "all" else F.index(out["h_n"], -1)
        return {**out, "output": self.head.build(feats, prefix="head.")}

    def graph(self, steps: int, initial_states: bool = False, mask: bool = False) -> Graph:
        """Inputs ``input`` ``(T, B, D)`` (and ``h0``/``c0``, ``mask``); outputs as :meth:`build`."""
        x = F.input("input", (steps, B, self.rnn.input_size), self.dtype)
        init = None
        if initial_states:
            init = self.rnn.state_inputs()
        return Graph(self.build(x, init, mask), name="readout")

    def __call__(self, x, lengths=None):
        """The readout for a time-major array ``x``."""
        x = np.asarray(x, dtype=self.dtype)
        feeds = {"input": x}
        if lengths is not None:
            feeds["mask"] = np.arange(x.shape[0])[:, None] < np.asarray(lengths)[None, :]
        masked = lengths is not None
        return self.run(("forward", masked), lambda T: self.graph(T, mask=masked),
                        feeds)["output"]


class LanguageModel(Module):
    """Next-token model: ``Embedding(vocab, embed)`` -> ``cell`` layers -> ``Linear(hidden, vocab)``.

    The graph takes integer tokens ``input`` ``(T, B)`` and gives ``output`` logits
    ``(T, B, vocab)``; :meth:`generate` samples a continuation.
    """

    def __init__(self, vocab: int, embed: int = 32, hidden: int = 64, num_layers: int = 1,
                 cell: str = "lstm", dtype=None, seed=None):
        super().__init__(dtype, seed)
        cls = {"rnn": RNN, "lstm": LSTM, "gru": GRU}[cell.lower()]
        self.vocab = vocab
        self.embedding = self.add("embedding", Embedding(vocab, embed, dtype=self.dtype, seed=seed))
        self.rnn = self.add("rnn", cls(embed, hidden, num_layers=num_layers, dtype=self.dtype,
                                       seed=None if seed is None else seed + 1))
        self.head = self.add("head", Linear(hidden, vocab, dtype=self.dtype,
                                            seed=None if seed is None else seed + 2))

    @property
    def state_names(self):
        return self.rnn.state_names

    def build(self, tokens: Node, init=None, mask: bool = False) -> Dict[str, Node]:
        """Logits and final states for integer ``tokens`` ``(T, B)``."""
        x = self.embedding.build(tokens, prefix="embedding.")
        out = self.rnn.build(x, init, prefix="rnn.", mask=mask)
        return {**out, "output": self.head.build(out["output"], prefix="head.")}

    def graph(self, steps: int, initial_states: bool = False, mask: bool = False) -> Graph:
        """Inputs ``input`` (int tokens ``(T, B)``), optional ``h0``/``c0`` and ``mask``."""
        tokens = F.input("input", (steps, B), np.int64)
        init = None
        if initial_states:
            init = self.rnn.state_inputs()
        return Graph(self.build(tokens, init, mask), name="language_model")

    def generate(self, prompt, length: int, temperature: float = 1.0, top_k: Optional[int] = None,
                 seed: Optional[int] = None) -> np.ndarray:
        """``prompt`` (a sequence of token ids) continued by ``length`` sampled tokens.

        ``temperature=0`` is greedy; ``top_k`` keeps the k most likely tokens; seeded."""
        from ..sampling import sample_next

        prompt = np.asarray(prompt, dtype=np.int64).reshape(-1, 1)
        rng = np.random.default_rng(seed)
        shape = (self.rnn.num_layers, 1, self.rnn.hidden_size)
        states = {f"{s}0": np.zeros(shape, self.dtype) for s in self.state_names}
        out = self.run(("states",), lambda T: self.graph(T, True), {"input": prompt, **states})
        tokens = list(prompt[:, 0])
        for _ in range(length):
            tok = sample_next(out["output"][-1, 0], temperature, top_k, rng)
            tokens.append(tok)
            states = {f"{s}0": out[f"{s}_n"] for s in self.state_names}
            out = self.run(("states",), lambda T: self.graph(T, True),
                           {"input": np.array([[tok]], dtype=np.int64), **states})
        return np.array(tokens, dtype=np.int64)
