"""The moving-sum demo: ``y[t] = x[t] + x[t-1] + x[t-2]`` with a linear 3-unit Elman RNN.

It declares the RNN as a recurrence, unrolls it, shows the exact hand-made solution,
differentiates the loss (BPTT), checks the gradient against finite differences,
and trains the RNN from a random start with gradient descent.
"""

from __future__ import annotations

import time
from typing import Dict

import numpy as np

from ..core import ops as F
from ..transforms.autodiff import grad_graph
from ..runtime.evaluate import Evaluator
from ..runtime.gradcheck import gradcheck
from ..core.ir import Graph
from .catalog import EXACT, moving_sum_recurrence

F64 = np.float64

def moving_sum_graph(steps: int, dtype=F64) -> Graph:
    """The moving-sum RNN unrolled for ``steps``, with outputs ``y`` ``(T, B, 1)`` and the
    mean squared error ``loss`` against the input ``target``."""
    unrolled = moving_sum_recurrence(dtype).unroll(steps)
    y = unrolled.outputs["y"]
    target = F.input("target", y.shape, dtype)
    return Graph({"y": y, "loss": F.mean(F.square(y - target))}, name="moving_sum")


def moving_sum_data(steps: int, batch: int, rng: np.random.Generator):
    """Random sequences ``(T, B, 1)`` and their moving sums of three."""
    x = rng.uniform(-1, 1, size=(steps, batch, 1))
    y = x.copy()
    y[1:] += x[:-1]
    y[2:] += x[:-2]
    return x, y


def train(steps: int = 8, batch: int = 32, epochs: int = 250, lr: float = 0.01,
          seed: int = 0, log=print) -> Dict[str, object]:
    """Train the linear 3-unit Elman RNN with Adam from a random start (``graphrnn.fit``)."""
    from ..train.losses import squared_error
    from ..models import Elman
    from ..train.optim import Adam
    from ..train.fit import fit

    x, y = moving_sum_data(steps, 256, np.random.default_rng(seed))
    x, y = x.transpose(1, 0, 2), y.transpose(1, 0, 2)  # fit takes (N, T, D)
    model = Elman(1, 3, 1, activation="identity", dtype=F64, seed=seed)
    history = fit(model, (x, y), lambda out, target, mask: squared_error(out["output"], target),
                  Adam(model.parameters(), lr=lr), epochs=epochs, batch_size=batch, seed=seed,
                  early_stopping=None, progress=False)
    for e in sorted({0, epochs // 4, epochs // 2, 3 * epochs // 4, epochs - 1}):
        log(f"  epoch {e + 1:4d}   loss {history['epoch_loss'][e]:.3e}")
    return {"model": model, "history": history["epoch_loss"],
            "iterations": len(history["loss"]), "fit_history": history}


def run_demo(steps: int = 5, seed: int = 0, epochs: int = 250,
             log=print) -> Dict[str, object]:
    """The whole demo; returns its figures and the two graphs (for the diagrams)."""
    log("graphrnn demo: the moving sum y[t] = x[t] + x[t-1] + x[t-2]\n")
    log(moving_sum_recurrence().describe() + "\n")
    g = moving_sum_graph(steps)
    x = np.arange(1.0, steps + 1).reshape(steps, 1, 1)
    y = Evaluator(g)({"x": x, "target": np.zeros_like(x)}, EXACT)["y"]
    log(f"1. Exact 3-unit linear RNN on x = {x.ravel().tolist()}:")
    log(f"   y = {np.round(y.ravel(), 12).tolist()}\n")

    t0 = time.perf_counter()
    dg = grad_graph(g, loss="loss")
    log(f"2. Unrolled for T={steps}: {len(g)} nodes; with BPTT gradients: {len(dg)} nodes "
        f"({(time.perf_counter() - t0) * 1e3:.1f} ms)")
    log(g.dump(max_lines=16) + "\n")

    rng = np.random.default_rng(seed)
    xs, ys = moving_sum_data(steps, 4, rng)
    start = {k: rng.normal(size=v.shape) * 0.5 for k, v in EXACT.items()}
    check = gradcheck(Graph({"loss": g.outputs["loss"]}), {"x": xs, "target": ys}, start)
    log("3. " + str(check) + "\n")

    log("4. Training from a random start (graphrnn.fit, Adam, T=8, batch 32):")
    t0 = time.perf_counter()
    result = train(seed=seed, epochs=epochs, log=log)
    secs = time.perf_counter() - t0
    log(f"   final loss {result['history'][-1]:.3e} after {result['iterations']} steps "
        f"({secs:.1f} s)")
    learned = result["model"].state_dict()
    log("   learned weights next to the analytic shift-matrix solution (different weights,")
    log("   the same input-output map):")
    for k in ("W", "U", "V"):
        log(f"   {k} learned  {np.round(learned[k], 3).tolist()}")
        log(f"   {k} analytic {EXACT[k].tolist()}")
    log("")
    return {"y_exact": y.ravel().tolist(), "nodes": len(g), "grad_nodes": len(dg),
            "gradcheck_ok": check.ok, "final_loss": result["history"][-1],
            "iterations": result["iterations"], "graph": g, "grad_graph": dg,
            "fit_history": result["fit_history"],
            "recurrence": moving_sum_recurrence()}
