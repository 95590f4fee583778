"""The moving-sum demo: ``y[t] = x[t] + x[t-1] + x[t-2]`` with a linear 3-unit Elman RNN.

It declares the RNN as a recurrence, unrolls it, shows the exact hand-made solution,
differentiates the loss (BPTT), checks the gradient against finite differences,
and trains the RNN from a random start with gradient descent.
"""

from __future__ import annotations

import time
from typing import Dict

import numpy as np

from . import ops as F
from .autodiff import grad_graph
from .evaluate import Evaluator
from .gradcheck import gradcheck
from .ir import Graph
from .examples import EXACT, moving_sum_recurrence

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


def train(steps: int = 8, batch: int = 32, iterations: int = 3000, lr: float = 0.01,
          seed: int = 0, tol: float = 1e-6, log=print) -> Dict[str, object]:
    """Train the moving-sum RNN with Adam from a random start; stops once the loss < ``tol``."""
    rng = np.random.default_rng(seed)
    g = grad_graph(moving_sum_graph(steps), loss="loss")
    run = Evaluator(g)
    params = {k: rng.uniform(-0.5, 0.5, size=v.shape) for k, v in EXACT.items()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    s = {k: np.zeros_like(v) for k, v in params.items()}
    history = []
    for it in range(1, iterations + 1):
        x, y = moving_sum_data(steps, batch, rng)
        out = run({"x": x, "target": y}, params)
        loss = float(out["loss"])
        history.append(loss)
        if it == 1 or it % 250 == 0 or loss < tol:
            log(f"  iteration {it:5d}   loss {loss:.3e}")
        if loss < tol:
            break
        for k in params:  # Adam (beta1 0.9, beta2 0.999)
            gk = out[f"dloss/d{k}"]
            m[k] = 0.9 * m[k] + 0.1 * gk
            s[k] = 0.999 * s[k] + 0.001 * gk * gk
            params[k] = params[k] - lr * (m[k] / (1 - 0.9 ** it)) / (
                np.sqrt(s[k] / (1 - 0.999 ** it)) + 1e-12)
    return {"params": params, "history": history, "iterations": len(history)}


def run_demo(steps: int = 5, seed: int = 0, iterations: int = 3000,
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

    log("4. Training from a random start (Adam, T=8, batch 32):")
    t0 = time.perf_counter()
    result = train(seed=seed, iterations=iterations, log=log)
    secs = time.perf_counter() - t0
    log(f"   final loss {result['history'][-1]:.3e} after {result['iterations']} iterations "
        f"({secs:.1f} s)\n")
    return {"y_exact": y.ravel().tolist(), "nodes": len(g), "grad_nodes": len(dg),
            "gradcheck_ok": check.ok, "final_loss": result["history"][-1],
            "iterations": result["iterations"], "graph": g, "grad_graph": dg,
            "recurrence": moving_sum_recurrence()}
