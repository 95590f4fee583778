"""Run under ``mpiexec -n N``: data-parallel ``fit`` against one process on the same global
batches, in several configurations; rank 0 prints the largest parameter difference of each
as JSON.  ``argv[1]``: a folder for the checkpoint of the resume cycle."""

import json
import os
import sys

import numpy as np

import graphrnn as gr
from graphrnn.distributed import from_environment
from graphrnn.losses import sequence_loss, squared_error
from graphrnn.models import GRU, LSTM, RNN
from graphrnn.optim import SGD, Adam, CosineLR, StepLR

comm = from_environment()
F64 = np.float64
rng = np.random.default_rng(0)
FIXED = (rng.normal(size=(25, 6, 2)), rng.normal(size=(25, 6, 3)))
LENGTHS = rng.integers(2, 11, size=23)
VARIABLE = ([rng.normal(size=(k, 2)) for k in LENGTHS], [rng.normal(size=(k, 3)) for k in LENGTHS])
VALID = ([rng.normal(size=(k, 2)) for k in (3, 9, 5)], [rng.normal(size=(k, 3)) for k in (3, 9, 5)])


def masked(out, y, mask):
    return squared_error(out["output"], y, mask=mask)


def summed_over_time(out, y, mask):  # the mean over sequences of their summed losses
    return sequence_loss(gr.sum(gr.square(out["output"] - y), axis=2), mask, over_time="sum")


def summed(out, y, mask):  # a plain sum over every real entry
    return squared_error(out["output"], y, mask=mask, reduction="sum")


def run(cls, data, distributed, epochs, opt="adam", sched=None, loss=masked, **kw):
    model = cls(2, 3, dtype=F64, seed=1)
    optimizer = (Adam(model.parameters(), lr=0.05) if opt == "adam"
                 else SGD(model.parameters(), lr=0.1, momentum=0.9))
    scheduler = {"step": lambda: StepLR(optimizer, step_size=1, gamma=0.5),
                 "cosine": lambda: CosineLR(optimizer, t_max=3)}.get(sched, lambda: None)()
    hist = gr.fit(model, data, loss, optimizer, epochs=epochs, seed=3, progress=False,
                  scheduler=scheduler, distributed=distributed, **kw)
    return model, hist


CONFIGS = {
    # 25 sequences in batches of 8: the last global batch has one, so one rank gets none
    "rnn-fixed-clip-steplr": (RNN, FIXED, dict(batch_size=8, clip_norm=0.5, sched="step")),
    "lstm-variable-cosine-validation": (LSTM, VARIABLE, dict(
        batch_size=6, clip_value=0.1, sched="cosine", validation=VALID,
        metrics={"mse": lambda o, y, m: float(np.mean((o - y) ** 2))})),
    "lstm-variable-tbptt": (LSTM, VARIABLE, dict(batch_size=5, tbptt=4, opt="sgd")),
    # losses that do not average over unmasked steps say what they divide by
    "rnn-summed-over-time": (RNN, VARIABLE, dict(batch_size=8, loss=summed_over_time,
                                                  normalizer="sequences", clip_norm=1.0)),
    "gru-sum": (GRU, VARIABLE, dict(batch_size=8, loss=summed, normalizer="none",
                                    opt="sgd", validation=VALID)),
}

report = {"size": comm.size}
for name, (cls, data, kw) in CONFIGS.items():
    many, hist = run(cls, data, None, 3, **kw)
    if comm.rank == 0:
        alone, ref = run(cls, data, False, 3, **kw)
        report[name] = {
            "params": max(float(np.abs(v - alone.state_dict()[k]).max())
                          for k, v in many.state_dict().items()),
            "loss": max(abs(a - b) for a, b in zip(hist["loss"], ref["loss"])),
            "val": max([abs(a - b) for a, b in zip(hist.get("val_loss", []),
                                                    ref.get("val_loss", []))] + [0.0]),
            "mse": max([abs(a - b) for a, b in zip(hist.get("mse", []), ref.get("mse", []))]
                       + [0.0]),
            "steps": len(hist["loss"])}

# a checkpoint/resume cycle: 2 epochs written by rank 0, resumed on every rank to 4
path = os.path.join(sys.argv[1], "dp.npz")
run(RNN, FIXED, None, 2, batch_size=8, clip_norm=0.5, sched="step", checkpoint_every=1,
    checkpoint_path=path)
resumed, _ = run(RNN, FIXED, None, 4, batch_size=8, clip_norm=0.5, sched="step",
                 checkpoint_every=1, checkpoint_path=path, resume=path)
if comm.rank == 0:
    alone, _ = run(RNN, FIXED, False, 4, batch_size=8, clip_norm=0.5, sched="step")
    report["resume"] = {"params": max(float(np.abs(v - alone.state_dict()[k]).max())
                                      for k, v in resumed.state_dict().items())}
    json.dump(report, sys.stdout)
