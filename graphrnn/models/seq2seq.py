"""Encoder-decoder (seq2seq): the encoder's final states initialize the decoder.

Training uses teacher forcing (the decoder reads the true previous tokens); generation feeds
back the decoder's own prediction, greedily or sampled with a temperature, until an end
token or a maximum length.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from ..core import ops as F
from ..core.ir import Graph, Node
from ..core.shapes import B
from .checks import check_size, check_tokens, lengths_mask
from .layers import Embedding, Linear
from .module import Module
from .rnn import RNNBase
from .stepping import Stepper

__all__ = ["Seq2Seq"]


class Seq2Seq(Module):
    """``Seq2Seq(encoder, decoder, readout, src_embedding=None, tgt_embedding=None)``.

    ``encoder`` and ``decoder`` are unidirectional layers of the same cell type, depth and
    hidden size; ``readout`` maps decoder states to logits (or values).  With embeddings the
    sequences are integer token ids ``(T, B)`` (ids outside an embedding's vocabulary raise
    :class:`~graphrnn.models.TokenError`); without, float features ``(T, B, D)``.

    Its graph reads two sequences, ``src`` (length ``S``) and ``tgt_in`` (length ``T``, the
    outputs' length), and gives ``output`` (the decoder's logits, also named ``logits``).
    ``fit`` trains it on ``({"src": ..., "tgt_in": ...}, targets)``.
    """

    lengths = ("S", "T")
    sequence_inputs = {"src": "S", "tgt_in": "T"}

    def __init__(self, encoder: RNNBase, decoder: RNNBase, readout: Linear,
                 src_embedding: Optional[Embedding] = None,
                 tgt_embedding: Optional[Embedding] = None):
        rnn = (RNNBase, "an RNN, LSTM or GRU")
        emb = ((Embedding, type(None)), "an Embedding or None")
        for name, part, (cls, want) in (("encoder", encoder, rnn), ("decoder", decoder, rnn),
                                        ("readout", readout, (Linear, "a Linear")),
                                        ("src_embedding", src_embedding, emb),
                                        ("tgt_embedding", tgt_embedding, emb)):
            if not isinstance(part, cls):
                raise TypeError(f"Seq2Seq: {name} must be {want}, got {type(part).__name__}")
        super().__init__(encoder.dtype)
        if type(encoder) is not type(decoder):
            raise ValueError(f"Seq2Seq: encoder is {type(encoder).__name__} but decoder is "
                             f"{type(decoder).__name__}; their states must match")
        if encoder.bidirectional or decoder.bidirectional:
            raise ValueError("Seq2Seq: encoder and decoder must be unidirectional (the decoder "
                             "runs forward, one state per layer)")
        if (encoder.num_layers, encoder.hidden_size) != (decoder.num_layers, decoder.hidden_size):
            raise ValueError(f"Seq2Seq: encoder has {encoder.num_layers} layers of "
                             f"{encoder.hidden_size}, decoder {decoder.num_layers} of "
                             f"{decoder.hidden_size}; they must match")
        if readout.in_features != decoder.hidden_size:
            raise ValueError(f"Seq2Seq: readout takes {readout.in_features} features, the "
                             f"decoder gives {decoder.hidden_size}")
        for name, emb, rnn in (("src_embedding", src_embedding, encoder),
                               ("tgt_embedding", tgt_embedding, decoder)):
            if emb is not None and emb.embedding_dim != rnn.input_size:
                raise ValueError(f"Seq2Seq: {name} gives {emb.embedding_dim} features, the "
                                 f"{'encoder' if rnn is encoder else 'decoder'} takes "
                                 f"{rnn.input_size}")
        if tgt_embedding is None and readout.out_features != decoder.input_size:
            raise ValueError("Seq2Seq: without a target embedding the decoder reads its own "
                             f"outputs, so readout.out_features ({readout.out_features}) must "
                             f"equal decoder.input_size ({decoder.input_size})")
        self.encoder, self.decoder, self.readout = (self.add("encoder", encoder),
                                                    self.add("decoder", decoder),
                                                    self.add("readout", readout))
        self.src_embedding = self.add("src_embedding", src_embedding) if src_embedding else None
        self.tgt_embedding = self.add("tgt_embedding", tgt_embedding) if tgt_embedding else None

    def token_inputs(self) -> Dict[str, int]:
        return {name: emb.num_embeddings for name, emb in (("src", self.src_embedding),
                                                          ("tgt_in", self.tgt_embedding))
                if emb is not None}

    # ------------------------------------------------------------ graphs
    def _seq(self, name: str, steps: int, emb: Optional[Embedding], rnn: RNNBase) -> Node:
        """The input sequence ``name``: embedded token ids, or float features."""
        if emb is None:
            return F.input(name, (steps, B, rnn.input_size), self.dtype)
        prefix = "src_embedding." if emb is self.src_embedding else "tgt_embedding."
        return emb.build(F.input(name, (steps, B), np.int64), prefix)

    def encode(self, src_steps: int) -> Dict[str, Node]:
        """The encoder's final states (``h0`` and, for an LSTM, ``c0`` for the decoder)."""
        enc = self.encoder.build(self._seq("src", src_steps, self.src_embedding, self.encoder),
                                 prefix="encoder.")
        return {f"{s}0": enc[f"{s}_n"] for s in self.encoder.state_names}

    def decode(self, tgt_steps: int, init: Dict[str, Node], mask: bool = False
               ) -> Dict[str, Node]:
        """Decoder logits ``(T, B, out)`` over the input ``tgt_in`` from states ``init``
        (with ``mask``, padded target steps read the input ``mask``)."""
        dec = self.decoder.build(self._seq("tgt_in", tgt_steps, self.tgt_embedding, self.decoder),
                                 init=init, prefix="decoder.", mask=mask)
        out = {"logits": self.readout.build(dec["output"], prefix="readout.")}
        out.update({f"{s}_n": dec[f"{s}_n"] for s in self.decoder.state_names})
        return out

    def graph(self, src_steps: int, tgt_steps: int, initial_states: bool = False,
              mask: bool = False) -> Graph:
        """Teacher forcing: inputs ``src`` and ``tgt_in`` (the targets shifted right, starting
        with the start token), with ``mask`` a bool ``(T_tgt, B)`` ``mask`` of real target
        steps; output ``output`` ``(T_tgt, B, out)``, the logits (also named ``logits``).
        The decoder starts from the encoder's states: ``initial_states`` is refused."""
        if initial_states:
            raise ValueError("Seq2Seq: the decoder starts from the encoder's final states; "
                             "initial states cannot be given")
        logits = self.decode(tgt_steps, self.encode(src_steps), mask)["logits"]
        return Graph({"output": logits, "logits": logits}, name="seq2seq")

    def recurrence(self, part: str = "encoder", layer: int = 0):
        """The folded recurrence of one layer of the ``"encoder"`` or the ``"decoder"``."""
        if part not in ("encoder", "decoder"):
            raise ValueError(f"Seq2Seq.recurrence: part must be 'encoder' or 'decoder', got "
                             f"{part!r}")
        return getattr(self, part).recurrence(layer, prefix=f"{part}.")

    # ------------------------------------------------------------ running
    def feed(self, src, tgt_in, lengths=None):
        """Feeds for time-major ``src`` and ``tgt_in`` (token ids ``(T, B)`` with an
        embedding, else float features ``(T, B, D)``); ``lengths`` (one per sequence) masks
        padded target steps."""
        feeds = {"src": self._as(src, self.src_embedding, "src"),
                 "tgt_in": self._as(tgt_in, self.tgt_embedding, "tgt_in")}
        if lengths is not None:
            steps, batch = feeds["tgt_in"].shape[:2]
            feeds["mask"] = lengths_mask(lengths, steps, batch, "Seq2Seq")
        return feeds, None

    def _src(self, src, owner: str) -> np.ndarray:
        """``src`` checked: time-major ids ``(T, B)`` with a source embedding, else
        ``(T, B, D)`` values."""
        src = self._as(src, self.src_embedding, "src")
        if src.ndim != (2 if self.src_embedding is not None else 3):
            raise ValueError(f"{owner}: src must be time-major "
                             f"{'(T, B) ids' if self.src_embedding is not None else '(T, B, D)'}"
                             f", got shape {src.shape}")
        return src

    def _as(self, a, emb, name):
        if emb is None:
            return np.asarray(a, dtype=self.dtype)
        return check_tokens(a, emb.num_embeddings, f"Seq2Seq: input {name!r}")

    def __call__(self, src, tgt_in, lengths=None):
        """Teacher-forced logits for time-major ``src`` and ``tgt_in``.  ``loss_and_grad(
        loss_fn, src, tgt_in, extra={"target": ids})`` differentiates a loss of the outputs
        (``output``, alias ``logits``); a loss reading the targets declares them with the
        logits' leading shape, ``gr.input("target", out["logits"].shape[:2], np.int64)``, so
        one program serves every length."""
        return self.forward(*self.feed(src, tgt_in, lengths))["output"]

    def generate(self, src, max_len: int, start, end: Optional[int] = None,
                 temperature: float = 0.0, seed: Optional[int] = None) -> np.ndarray:
        """Decode from ``src`` feeding back the decoder's own predictions.

        Tokens (with a target embedding): ``start`` is the start token id; each step takes the
        argmax (``temperature=0``) or samples ``softmax(logits / temperature)``; a sequence
        stops at ``end``, and later positions are filled with ``end``.  Returns ``(B, L)`` ids,
        ``L <= max_len``.  Continuous outputs (no target embedding): ``start`` is the first
        input vector and each output becomes the next input; returns ``(max_len, B, out)``.
        """
        from .sampling import check_sampling

        src = self._src(src, "Seq2Seq.generate")
        check_size("Seq2Seq.generate", max_len=max_len)
        check_sampling(temperature, owner="Seq2Seq.generate")
        if self.tgt_embedding is not None:
            vocab = self.tgt_embedding.num_embeddings
            start = int(check_tokens(np.asarray(start), vocab, "Seq2Seq.generate: start"))
            if end is not None:
                end = int(check_tokens(np.asarray(end), vocab, "Seq2Seq.generate: end"))
        stepper = self.stepper(src)
        rng = np.random.default_rng(seed)
        if self.tgt_embedding is None:
            prev = np.broadcast_to(np.asarray(start, self.dtype), stepper.step_shape)
            outs = []
            for _ in range(max_len):
                prev = stepper.step(prev)
                outs.append(prev.copy())
            return np.stack(outs)
        tokens = np.full(stepper.batch, int(start), dtype=np.int64)
        done = np.zeros(stepper.batch, dtype=bool)
        result = []
        for _ in range(max_len):
            logits = stepper.step(tokens).astype(np.float64)
            if temperature > 0:
                z = logits / temperature
                p = np.exp(z - z.max(-1, keepdims=True))
                p /= p.sum(-1, keepdims=True)
                tokens = np.array([rng.choice(p.shape[-1], p=row) for row in p], dtype=np.int64)
            else:
                tokens = logits.argmax(-1).astype(np.int64)
            if end is not None:
                tokens = np.where(done, end, tokens)
                done |= tokens == end
            result.append(tokens)
            if end is not None and done.all():
                break
        return np.stack(result, axis=1)

    def stepper(self, src) -> Stepper:
        """A :class:`~graphrnn.models.stepping.Stepper` of the decoder, from the encoder's
        final states over ``src`` (time-major, as a call takes it): ``step(tgt)`` feeds one
        target step (``(B,)`` ids with a target embedding, else ``(B, D)``) and returns its
        logits ``(B, out)``; ``reset()`` goes back to the encoder's states."""
        src = self._src(src, "Seq2Seq.stepper")
        states = self.run(("encode",), lambda S: Graph(self.encode(S)), {"src": src})
        step_graph = lambda: Graph(self.decode(1, {
            k: F.input(k, (self.decoder.num_layers, B, self.decoder.hidden_size), self.dtype)
            for k in states}))
        program = self.program(("step",), step_graph, checked=False)
        emb = self.tgt_embedding
        return Stepper(self, program, src.shape[1], states,
                       () if emb is not None else (self.decoder.input_size,), self.dtype,
                       emb.num_embeddings if emb is not None else None, input="tgt_in",
                       output="logits", owner="Seq2Seq.stepper")
