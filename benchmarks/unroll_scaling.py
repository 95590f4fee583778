"""How unrolling, differentiation, compilation and execution scale with T.

A hand-declared LSTM (input 32, hidden 64, batch 16, float32) is unrolled for T steps,
differentiated (BPTT over a mean-squared loss of all states), compiled at O2 (optimize +
code generation) for that one length and run forward+backward; the reference evaluator's
plan and run times are shown beside (all linear in T).  The last columns are the program
generic in T (``gr.compile(lambda T: ...)``), compiled once before the table, run at each T.
Prints a table and, with --json, writes the figures.

    python benchmarks/unroll_scaling.py [--steps 100 1000 5000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import graphrnn as gr
from graphrnn.catalog import lstm_recurrence


def loss_grad(g):
    """The training graph of an unrolled LSTM: BPTT of the mean square of its states."""
    return gr.grad_graph(gr.Graph({"loss": gr.mean(g.outputs["h"] * g.outputs["h"])}))


def measure(steps: int, input_size=32, hidden=64, batch=16, evaluate=True,
            generic=None) -> dict:
    t0 = time.perf_counter()
    g = lstm_recurrence(input_size, hidden, dtype=np.float32).unroll(steps)
    t1 = time.perf_counter()
    dg = loss_grad(g)
    t2 = time.perf_counter()
    row = {"T": steps, "forward_nodes": len(g), "grad_nodes": len(dg),
           "unroll_s": t1 - t0, "grad_s": t2 - t1}
    if evaluate:
        rng = np.random.default_rng(0)
        params = {k: (rng.normal(size=p.shape) * 0.1).astype(np.float32)
                  for k, p in dg.params.items()}
        x = rng.normal(size=(steps, batch, input_size)).astype(np.float32)
        run = gr.Evaluator(dg)
        t3 = time.perf_counter()
        run({"x": x}, params)
        t4 = time.perf_counter()
        row["plan_s"], row["run_s"] = t3 - t2, t4 - t3
        program = gr.compile(dg, keep_graph=False)
        t5 = time.perf_counter()
        program({"x": x}, params, copy=False)
        row["compile_s"], row["program_run_s"] = t5 - t4, time.perf_counter() - t5
        if generic is not None:
            t6 = time.perf_counter()
            generic({"x": x}, params, copy=False)
            row["generic_run_s"] = time.perf_counter() - t6
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 1000, 5000])
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    rec = lstm_recurrence(32, 64, dtype=np.float32)
    t0 = time.perf_counter()
    generic = gr.compile(lambda T: loss_grad(rec.unroll(T)))
    generic_s = time.perf_counter() - t0
    print(f"generic program: compiled once in {generic_s:.3f} s (generic={generic.generic})")
    rows = [measure(T, generic=generic) for T in args.steps]
    print(f"{'T':>6} {'fwd nodes':>10} {'grad nodes':>11} {'unroll s':>9} {'grad s':>8} "
          f"{'compile s':>10} {'program run s':>14} {'evaluator plan/run s':>21} "
          f"{'total us/step':>14} {'generic run s':>14}")
    for r in rows:
        per = (r["unroll_s"] + r["grad_s"] + r["compile_s"]) / r["T"] * 1e6
        print(f"{r['T']:>6} {r['forward_nodes']:>10} {r['grad_nodes']:>11} {r['unroll_s']:>9.3f} "
              f"{r['grad_s']:>8.3f} {r['compile_s']:>10.3f} {r['program_run_s']:>14.3f} "
              f"{r['plan_s']:>10.3f}/{r['run_s']:<10.3f} {per:>14.0f} {r['generic_run_s']:>14.3f}")
    for r in rows:
        r["generic_compile_s"] = generic_s
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
