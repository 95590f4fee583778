"""What the stable sigmoid and the IEEE-exact passes cost (float32, NumPy, medians of
interleaved rounds):

- ``sigmoid`` alone on a (50, 32, 512) array and on a (32, 128) gate slice: the old emitted
  form ``(1 + tanh(x / 2)) / 2`` against the new one (``max(x >= 0, e) / (1 + e)``,
  ``e = exp(-|x|)``, exactly the ufuncs compiled programs run), the same with -|x| in two
  passes, and the naive ``1 / (1 + exp(-x))`` (0 and a warning where exp overflows);
- one training step (RNN, LSTM, GRU; as ``train_step.py`` builds it, compiled once for every
  length) three ways: the default (IEEE-exact passes, new sigmoid), ``fast_math=True`` (the
  rewrites exact for finite values only, as before), and ``fast_math=True`` with the old
  sigmoid emitted (the program as it was).

    python benchmarks/numerics_cost.py [--cells LSTM] [--config 50,32,32,128] [--rounds 21]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "2")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

import graphrnn as gr  # noqa: E402
from graphrnn import models  # noqa: E402
from graphrnn.compiler import emit  # noqa: E402
from graphrnn.core.ops import O  # noqa: E402

_NEW_TEXT = emit.OpText.op_text


def _old_text(self, ins, v, args, out):
    if ins.op is O.sigmoid:
        return (f"{v} = np.multiply({args[0]}, 0.5, out={out}); np.tanh({v}, out={v}); "
                f"np.multiply({v}, 0.5, out={v}); np.add({v}, 0.5, out={v})")
    return _NEW_TEXT(self, ins, v, args, out)


def old_sigmoid(x, v):
    np.multiply(x, 0.5, out=v); np.tanh(v, out=v); np.multiply(v, 0.5, out=v); np.add(v, 0.5, out=v)


def new_sigmoid(x, v):
    d = np.abs(x, out=np.empty_like(x)); np.negative(d, out=d); np.exp(d, out=d)
    np.greater_equal(x, 0, out=v); np.maximum(v, d, out=v); np.add(d, 1, out=d)
    np.divide(v, d, out=v)


def copysign_sigmoid(x, v):  # the same bits, -|x| in one pass
    d = np.copysign(x, -1, out=np.empty_like(x)); np.exp(d, out=d)
    np.greater_equal(x, 0, out=v); np.maximum(v, d, out=v); np.add(d, 1, out=d)
    np.divide(v, d, out=v)


def naive_sigmoid(x, v):  # 1 / (1 + exp(-x)): 0 (and an overflow warning) below -88.7 in f32
    np.negative(x, out=v); np.exp(v, out=v); np.add(v, 1, out=v); np.divide(1, v, out=v)


FORMS = {"old": old_sigmoid, "abs-neg": new_sigmoid, "new (copysign)": copysign_sigmoid,
         "naive": naive_sigmoid}


def medians(fns, rounds):
    """Median seconds of each callable, rounds interleaved."""
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def step(cell, T, B, D, H, fast, old):
    model = getattr(models, cell)(D, H, dtype=np.float32, seed=0)

    def build(T):
        g = model.graph(T)
        loss = gr.sum(g.outputs["output"] * g.outputs["output"])
        return gr.grad_graph(gr.Graph({"loss": loss}), loss="loss")
    emit.OpText.op_text = _old_text if old else _NEW_TEXT
    try:
        program = gr.compile(build, fast_math=fast)
    finally:
        emit.OpText.op_text = _NEW_TEXT
    params = model.parameters()
    x = np.random.default_rng(0).standard_normal((T, B, D)).astype(np.float32)
    return lambda: program({"input": x}, params, copy=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", nargs="+", default=["RNN", "LSTM", "GRU"])
    ap.add_argument("--config", default="50,32,32,128", help="T,B,D,H")
    ap.add_argument("--rounds", type=int, default=21)
    args = ap.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)
    rng = np.random.default_rng(0)
    for shape, src in (((50, 32, 512), None), ((32, 128), (32, 512))):
        x = (rng.standard_normal(src or shape) * 4).astype(np.float32)
        x = x[:, :128] if src else x
        v = np.empty(shape, np.float32)
        got = medians({k: (lambda f=f: f(x, v)) for k, f in FORMS.items()}, args.rounds * 5)
        print(f"sigmoid {shape}: " + "  ".join(f"{k} {t * 1e6:.1f} us (x{t / got['old']:.2f})"
                                               for k, t in got.items()))
    T, B, D, H = map(int, args.config.split(","))
    for cell in args.cells:
        fns = {"default (IEEE)": step(cell, T, B, D, H, False, False),
               "fast_math": step(cell, T, B, D, H, True, False),
               "before (fast_math, old sigmoid)": step(cell, T, B, D, H, True, True)}
        for f in fns.values():
            f()
        got = medians(fns, args.rounds)
        base = got["before (fast_math, old sigmoid)"]
        for k, t in got.items():
            print(f"{cell} {args.config}  {k:32s} {t * 1e3:8.2f} ms  x{t / base:.3f}")


if __name__ == "__main__":
    main()
