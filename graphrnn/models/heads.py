"""Recurrent layers with a readout, ready to train: ``Readout`` (per step or on the final
state, for classification and regression) and ``LanguageModel`` (next-token prediction with
embedding, recurrent layers and a vocabulary readout, and sampling).

Calls are time-major like every model (``(T, B, ...)``; ``batch_first`` layers take
``(B, T, ...)``); ``gr.fit`` takes data batch-major, ``(N, T, ...)``, and transposes each
batch itself."""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from ..core import ops as F
from ..core.ir import Graph, Node
from ..core.shapes import B
from .checks import check_size, check_tokens
from .layers import Embedding, Linear
from .module import Module
from .rnn import GRU, LSTM, RNN, RNNBase

__all__ = ["Readout", "LanguageModel"]


class Readout(Module):
    """``rnn`` followed by a linear readout of its states: ``on="all"`` gives ``(T, B, out)``
    (sequence prediction), ``on="last"`` gives ``(B, out)`` from the final state of the last
    layer (classification, with padded steps masked out).  A bidirectional layer's final
    state is, as PyTorch's ``h_n``, the forward direction's at the last step next to the
    reverse direction's at the first, concatenated: ``(B, 2 * hidden)`` into the head."""

    def __init__(self, rnn: RNNBase, out_features: int, on: str = "all", seed=None):
        if not isinstance(rnn, RNNBase):
            raise TypeError(f"Readout: rnn must be an RNN, LSTM or GRU, got "
                            f"{type(rnn).__name__}")
        super().__init__(rnn.dtype)
        check_size("Readout", out_features=out_features)
        if on not in ("all", "last"):
            raise ValueError(f"Readout: on must be 'all' or 'last', got {on!r}")
        self.rnn = self.add("rnn", rnn)
        width = rnn.hidden_size * rnn.num_directions
        self.head = self.add("head", Linear(width, out_features, dtype=rnn.dtype, seed=seed))
        self.on, self.out_features = on, out_features

    @property
    def state_names(self):
        return self.rnn.state_names

    def build(self, x: Node, init=None, mask: bool = False) -> Dict[str, Node]:
        """``output`` (the readout) and the rnn's final states over ``x`` ``(T, B, D)``."""
        out = self.rnn.build(x, init, prefix="rnn.", mask=mask)
        if self.on == "all":
            feats = out["output"]
        elif self.rnn.bidirectional:  # the last layer's forward and reverse final states
            feats = F.concat([out["h_n"][-2], out["h_n"][-1]], axis=-1)
        else:
            feats = out["h_n"][-1]
        return {**out, "output": self.head.build(feats, prefix="head.")}

    def graph(self, steps: int, initial_states: bool = False, mask: bool = False) -> Graph:
        """Inputs ``input`` ``(T, B, D)`` (and ``h0``/``c0``, ``mask``); outputs as :meth:`build`."""
        x = F.input("input", (steps, B, self.rnn.input_size), self.dtype)
        init = None
        if initial_states:
            init = self.rnn.state_inputs()
        return Graph(self.build(x, init, mask), name="readout")

    def __call__(self, x, lengths=None):
        """The readout for an array ``x`` laid out as the rnn's input: time-major
        ``(T, B, input_size)`` (``(B, T, ...)`` when the rnn is ``batch_first``), checked
        like the rnn's own call; ``lengths`` (one per sequence) masks padded steps."""
        feeds = self.rnn._feed(x, None, lengths, "Readout")
        masked = lengths is not None
        out = self.run(("forward", masked), lambda T: self.graph(T, mask=masked),
                       feeds)["output"]
        return out.transpose(1, 0, 2) if self.on == "all" and self.rnn.batch_first else out


class LanguageModel(Module):
    """Next-token model: ``Embedding(vocab, embed)`` -> ``cell`` layers -> ``Linear(hidden, vocab)``.

    ``model(tokens)`` gives the logits ``(T, B, vocab)`` for integer tokens ``(T, B)``
    (time-major, as the graph's ``input``/``output``); :meth:`generate` samples a
    continuation.  Token ids must be integers in ``0 .. vocab - 1``: others raise
    :class:`~graphrnn.models.TokenError` in every call, ``fit`` included.
    """

    def __init__(self, vocab: int, embed: int = 32, hidden: int = 64, num_layers: int = 1,
                 cell: str = "lstm", dtype=None, seed=None):
        super().__init__(dtype, seed)
        check_size("LanguageModel", vocab=vocab, embed=embed, hidden=hidden,
                   num_layers=num_layers)
        cells = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
        if not isinstance(cell, str) or cell.lower() not in cells:
            raise ValueError(f"LanguageModel: cell must be one of {sorted(cells)}, got {cell!r}")
        cls = cells[cell.lower()]
        self.vocab = vocab
        self.embedding = self.add("embedding", Embedding(vocab, embed, dtype=self.dtype, seed=seed))
        self.rnn = self.add("rnn", cls(embed, hidden, num_layers=num_layers, dtype=self.dtype,
                                       seed=None if seed is None else seed + 1))
        self.head = self.add("head", Linear(hidden, vocab, dtype=self.dtype,
                                            seed=None if seed is None else seed + 2))

    @property
    def state_names(self):
        return self.rnn.state_names

    def token_inputs(self) -> Dict[str, int]:
        return {"input": self.vocab}

    def __call__(self, tokens, lengths=None) -> np.ndarray:
        """Logits ``(T, B, vocab)`` for integer ``tokens`` ``(T, B)`` (time-major);
        ``lengths`` (one per sequence) masks padded steps."""
        tokens = check_tokens(tokens, self.vocab, "LanguageModel: input 'input'")
        if tokens.ndim != 2:
            raise ValueError(f"LanguageModel: tokens must be 2-D (T, B), got shape "
                             f"{tokens.shape}")
        feeds = {"input": tokens}
        if lengths is not None:
            lengths = np.asarray(lengths)
            steps, batch = tokens.shape
            if (lengths.shape != (batch,) or lengths.dtype.kind not in "iu"
                    or lengths.min() < 1 or lengths.max() > steps):
                raise ValueError(f"LanguageModel: lengths must be {batch} ints in 1..{steps}, "
                                 f"got {lengths.tolist()}")
            feeds["mask"] = np.arange(steps)[:, None] < lengths[None, :]
        masked = lengths is not None
        return self.run(("forward", masked), lambda T: self.graph(T, mask=masked),
                        feeds)["output"]

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
        """``prompt`` (a non-empty sequence of token ids) continued by ``length`` sampled tokens.

        ``temperature=0`` is greedy; ``top_k`` keeps the k most likely tokens; seeded."""
        from .sampling import check_sampling, sample_next

        shape = np.shape(prompt)
        if len(shape) != 1 or shape[0] == 0:
            raise ValueError(f"LanguageModel.generate: prompt must be a non-empty 1-D sequence "
                             f"of token ids, got shape {shape}")
        prompt = check_tokens(prompt, self.vocab, "LanguageModel.generate: prompt")
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
            raise ValueError(f"LanguageModel.generate: length must be an int >= 0, got "
                             f"{length!r}")
        check_sampling(temperature, top_k, "LanguageModel.generate")
        prompt = prompt.reshape(-1, 1)
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
