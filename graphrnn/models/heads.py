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
from ..frontend.recurrence import Recurrence
from .checks import check_size, check_tokens, lengths_mask
from .layers import Embedding, Linear
from .module import Module
from .rnn import GRU, LSTM, RNN, RNNBase
from .sampling import sample_next

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
    def causal(self) -> bool:
        """The rnn's: False when it is bidirectional."""
        return self.rnn.causal

    @property
    def batch_first(self) -> bool:
        """The rnn's: calls take ``(B, T, ...)`` when it is ``batch_first``."""
        return self.rnn.batch_first

    def state_shapes(self, batch=B) -> Dict[str, tuple]:
        """The rnn's carried states."""
        return self.rnn.state_shapes(batch)

    def recurrence(self, layer: int = 0, direction: int = 0) -> Recurrence:
        """The folded recurrence of one layer and direction of the rnn."""
        return self.rnn.recurrence(layer, direction, prefix="rnn.")

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
        init = self.state_inputs() if initial_states else None
        return Graph(self.build(x, init, mask), name="readout")

    def feed(self, x, hx=None, lengths=None):
        """Feeds as the rnn's own call takes them (:meth:`RNNBase.feed`)."""
        return self.rnn.feed(x, hx, lengths, "Readout")

    def __call__(self, x, lengths=None, hx=None):
        """The readout for an array ``x`` laid out as the rnn's input: time-major
        ``(T, B, input_size)`` (``(B, T, ...)`` when the rnn is ``batch_first``), checked
        like the rnn's own call; ``lengths`` (one per sequence) masks padded steps; ``hx``
        gives the rnn's initial states."""
        out = self.forward(*self.feed(x, hx, lengths))["output"]
        return out.transpose(1, 0, 2) if self.on == "all" and self.batch_first else out


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

    def state_shapes(self, batch=B) -> Dict[str, tuple]:
        """The rnn's carried states."""
        return self.rnn.state_shapes(batch)

    def recurrence(self, layer: int = 0) -> Recurrence:
        """The folded recurrence of one of the rnn's layers."""
        return self.rnn.recurrence(layer, prefix="rnn.")

    def token_inputs(self) -> Dict[str, int]:
        """``{"input": vocab}``: calls check the token ids fed."""
        return {"input": self.vocab}

    def feed(self, tokens, hx=None, lengths=None):
        """Feeds for integer ``tokens`` ``(T, B)`` (time-major), the rnn's initial states
        ``hx`` and ``lengths`` (one per sequence: padded steps masked)."""
        tokens = check_tokens(tokens, self.vocab, "LanguageModel: input 'input'")
        if tokens.ndim != 2:
            raise ValueError(f"LanguageModel: tokens must be 2-D (T, B), got shape "
                             f"{tokens.shape}")
        feeds = {"input": tokens, **self.state_feeds(hx)}
        if lengths is not None:
            feeds["mask"] = lengths_mask(lengths, tokens.shape[0], tokens.shape[1],
                                         "LanguageModel")
        return feeds, None

    def __call__(self, tokens, lengths=None, hx=None) -> np.ndarray:
        """Logits ``(T, B, vocab)`` for integer ``tokens`` ``(T, B)`` (time-major);
        ``lengths`` (one per sequence) masks padded steps; ``hx`` gives initial states."""
        return self.forward(*self.feed(tokens, hx, lengths))["output"]

    def next_input(self, output: np.ndarray, rng: np.random.Generator,
                   temperature: float = 1.0, top_k: Optional[int] = None) -> np.ndarray:
        """The next tokens ``(B,)`` drawn from the last step's logits ``output`` ``(B, vocab)``
        (:func:`~graphrnn.models.sampling.sample_next`)."""
        tokens = np.empty(len(output), np.int64)
        for i in range(len(output)):  # (indexing rows: iterating a 2-D array costs more)
            tokens[i] = sample_next(output[i], temperature, top_k, rng)
        return tokens

    def build(self, tokens: Node, init=None, mask: bool = False) -> Dict[str, Node]:
        """Logits and final states for integer ``tokens`` ``(T, B)``."""
        x = self.embedding.build(tokens, prefix="embedding.")
        out = self.rnn.build(x, init, prefix="rnn.", mask=mask)
        return {**out, "output": self.head.build(out["output"], prefix="head.")}

    def graph(self, steps: int, initial_states: bool = False, mask: bool = False) -> Graph:
        """Inputs ``input`` (int tokens ``(T, B)``), optional ``h0``/``c0`` and ``mask``."""
        tokens = F.input("input", (steps, B), np.int64)
        init = self.state_inputs() if initial_states else None
        return Graph(self.build(tokens, init, mask), name="language_model")

    def generate(self, prompt, length: int, temperature: float = 1.0, top_k: Optional[int] = None,
                 seed: Optional[int] = None) -> np.ndarray:
        """``prompt`` (a non-empty sequence of token ids) continued by ``length`` sampled tokens.

        ``temperature=0`` is greedy; ``top_k`` keeps the k most likely tokens; seeded."""
        from .sampling import check_sampling

        shape = np.shape(prompt)
        if len(shape) != 1 or shape[0] == 0:
            raise ValueError(f"LanguageModel.generate: prompt must be a non-empty 1-D sequence "
                             f"of token ids, got shape {shape}")
        prompt = check_tokens(prompt, self.vocab, "LanguageModel.generate: prompt")
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
            raise ValueError(f"LanguageModel.generate: length must be an int >= 0, got "
                             f"{length!r}")
        check_sampling(temperature, top_k, "LanguageModel.generate")
        rng = np.random.default_rng(seed)
        stepper = self.stepper(1)  # the prompt in one call, then one program call per token
        logits = stepper.run(prompt.reshape(-1, 1))[-1]
        tokens, tok = prompt.tolist(), np.zeros(1, np.int64)  # one row: next_input's draw
        for i in range(length):
            tokens.append(sample_next(logits[0], temperature, top_k, rng))
            if i + 1 < length:  # (the last token's logits would go unused)
                tok[0] = tokens[-1]
                logits = stepper.step(tok)
        return np.array(tokens, dtype=np.int64)
