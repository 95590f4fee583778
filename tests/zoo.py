"""One small float64 instance of every model class of the zoo, each with a tiny task whose
loss can fall: ``ZOO[name]() -> Task``.  Sequences are 8 steps long, the base length of
generic programs, so each kind of call compiles one program."""

from typing import Callable, NamedTuple

import numpy as np

import graphrnn as gr
from graphrnn.losses import cross_entropy, squared_error
from graphrnn.models import (GRU, LSTM, RNN, Autonomous, Elman, Embedding, Jordan, LanguageModel,
                             Linear, Readout, Seq2Seq)

F64 = np.float64
STEPS, N = 8, 16


class Task(NamedTuple):
    """A model, ``fit``'s data and loss, its learning rate and epochs, and the arguments of
    one call (``model.loss_and_grad(loss, *args)``)."""
    model: object
    data: tuple
    loss: Callable
    lr: float
    epochs: int
    args: tuple


def moving_sum(n=N, steps=STEPS, features=1, seed=0):
    """``y[t] = x[t] + x[t-1] + x[t-2]`` over uniform inputs, batch-major ``(n, T, D)``."""
    x = np.random.default_rng(seed).uniform(-1, 1, size=(n, steps, features))
    y = x.copy()
    y[:, 1:] += x[:, :-1]
    y[:, 2:] += x[:, :-2]
    return x, y


def mse(out, y, mask):
    return squared_error(out["output"], y, mask=mask)


def first_unit(out, y, mask):
    """A bare recurrent layer's first output unit against the target."""
    return squared_error(out["output"][:, :, 0:1], y, mask=mask)


def xent(out, y, mask):
    return cross_entropy(out["output"], y, mask=mask)


def _args(x):
    return (np.ascontiguousarray(x[:3].transpose(1, 0, 2)),)  # three sequences, time-major


def elman():
    x, y = moving_sum()
    return Task(Elman(1, 3, 1, activation="identity", dtype=F64, seed=0), (x, y), mse, 0.05, 30,
                _args(x))


def jordan():
    x, y = moving_sum(seed=1)
    return Task(Jordan(1, 6, 1, activation="tanh", dtype=F64, seed=0), (x, 0.3 * y), mse, 0.05,
                10, _args(x))


def autonomous():
    t = np.arange(1, STEPS + 1) * 0.4
    wave = np.stack([np.exp(-0.05 * t) * np.cos(t), np.exp(-0.05 * t) * np.sin(t)], -1)
    return Task(Autonomous(4, 2, dtype=F64, seed=0), (None, np.repeat(wave[None], 4, 0)), mse,
                0.05, 40, (STEPS, 2))


def rnn():
    x, y = moving_sum(seed=2)
    return Task(RNN(1, 4, dtype=F64, seed=0), (x, 0.3 * y), first_unit, 0.05, 10, _args(x))


def lstm_stacked_bidirectional():
    x, y = moving_sum(seed=3)
    return Task(LSTM(1, 2, num_layers=2, bidirectional=True, dtype=F64, seed=0), (x, 0.3 * y),
                first_unit, 0.05, 30, _args(x))


def gru():
    x, y = moving_sum(seed=4)
    return Task(GRU(1, 4, dtype=F64, seed=0), (x, 0.3 * y), first_unit, 0.05, 10, _args(x))


def readout():
    x, y = moving_sum(seed=5)
    return Task(Readout(GRU(1, 4, dtype=F64, seed=0), 1, seed=1), (x, y), mse, 0.05, 20,
                _args(x))


def readout_last():
    x, _ = moving_sum(seed=6)
    labels = (x.sum(axis=(1, 2)) > 0).astype(np.int64)
    return Task(Readout(LSTM(1, 4, dtype=F64, seed=0), 2, on="last", seed=1), (x, labels), xent,
                0.1, 30, _args(x))


def language_model():
    text = np.arange(N + STEPS + 1) % 4
    windows = np.stack([text[i:i + STEPS + 1] for i in range(N)])
    return Task(LanguageModel(4, embed=4, hidden=6, cell="rnn", dtype=F64, seed=0),
                (windows[:, :-1], windows[:, 1:]), xent, 0.05, 10,
                (np.ascontiguousarray(windows[:3, :-1].T),))


def seq2seq():
    """The decoder repeats the source's last token, which reaches it only through the
    encoder's final state (fed the targets shifted right after the start token 0)."""
    src = np.random.default_rng(7).integers(1, 4, size=(N, STEPS))
    target = np.repeat(src[:, -1:], STEPS, axis=1)
    tgt_in = np.concatenate([np.zeros((N, 1), np.int64), target[:, :-1]], axis=1)
    model = Seq2Seq(RNN(3, 8, dtype=F64, seed=1), RNN(3, 8, dtype=F64, seed=2),
                    Linear(8, 4, dtype=F64, seed=3),
                    src_embedding=Embedding(4, 3, dtype=F64, seed=4),
                    tgt_embedding=Embedding(4, 3, dtype=F64, seed=5))
    return Task(model, ({"src": src, "tgt_in": tgt_in}, target), xent, 0.05, 10,
                (np.ascontiguousarray(src[:3].T), np.ascontiguousarray(tgt_in[:3].T)))


ZOO = {f.__name__: f for f in (elman, jordan, autonomous, rnn, lstm_stacked_bidirectional, gru,
                                readout, readout_last, language_model, seq2seq)}


def lengths_of(model, steps: int = 3):
    """``graph``'s positional lengths for ``steps`` steps each."""
    return (steps,) * len(model.lengths)


def smooth_loss(out) -> gr.Node:
    """A scalar reading every float output nonlinearly, each with its own weight."""
    return gr.add_n([gr.sum(gr.tanh(v) * (0.7 + 0.3 * i) + v * v * 0.1)
                     for i, v in enumerate(out[k] for k in sorted(out)
                                           if np.dtype(out[k].dtype).kind == "f")])

