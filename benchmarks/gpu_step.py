"""One float32 training step on the GPU: engine (CuPy, with and without CUDA-graph replay)
vs torch.nn with cuDNN vs the hand-written CuPy implementation, measured in one run.

Each method runs forward + backward of the sum-of-squares loss used by ``train_step.py``;
times are medians of synchronized runs.  The engine's results are checked against the
hand-written CuPy step before timing.  Prints a table and, with --json, writes the figures.

    python benchmarks/gpu_step.py [--cells RNN LSTM GRU] [--configs 100,64,64,256 ...]
                                  [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import graphrnn as gr  # noqa: E402
import train_step  # noqa: E402
from reference_numpy import Reference  # noqa: E402
from train_step import engine_step, params_for, torch_step  # noqa: E402

CONFIGS = [(100, 64, 64, 256), (50, 32, 32, 128)]


def timed(f, x, sync, rounds=30, warmup=3):
    for _ in range(warmup):
        f(x)
    sync()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        f(x)
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", nargs="+", default=["RNN", "LSTM", "GRU"])
    ap.add_argument("--configs", nargs="+", default=None, help="T,B,D,H ...")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    try:
        backend = gr.get_backend("cupy")
    except RuntimeError as e:
        raise SystemExit(f"gpu_step.py runs on a GPU: {e}")
    cp, sync = backend.xp, backend.synchronize
    torch = train_step.torch
    if torch is not None and not torch.cuda.is_available():
        torch = None
    configs = [tuple(map(int, c.split(","))) for c in args.configs] if args.configs else CONFIGS
    dev = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    print(f"float32 on {dev}; cupy {cp.__version__}"
          + (f", torch {torch.__version__} cuDNN {torch.backends.cudnn.version()}" if torch
             else ", torch with CUDA not available"))
    cols = ["engine", "engine_graph", "cupy_by_hand"] + (["cudnn"] if torch else [])
    print(f"{'cell':<5} {'T,B,D,H':<16} " + " ".join(f"{c + ' ms':>16}" for c in cols)
          + "  eng/hand graph/hand graph/cudnn")
    rows = []
    for cell in args.cells:
        for cfg in configs:
            T, B, D, H = cfg
            params = params_for(cell, D, H)
            x_np = np.random.default_rng(0).normal(size=(T, B, D)).astype(np.float32)
            x = cp.asarray(x_np)
            ref = Reference(cell, T, B, D, H, params, np.float32, xp=cp)
            steps = {"cupy_by_hand": ref.step}
            steps["engine"], _, program = engine_step(cell, T, B, D, H, params, backend="cupy")
            steps["engine_graph"] = engine_step(cell, T, B, D, H, params, backend="cupy",
                                                cuda_graph=True)[0]
            # the engine agrees with the hand-written step (worst error relative to each
            # array's largest entry, float32); a disagreement is reported, not hidden
            want_loss, want = ref.step(x)
            check = {}
            for name in ("engine", "engine_graph"):
                got = steps[name](x)
                worst = abs(float(got["loss"]) - want_loss) / abs(want_loss)
                for k, v in want.items():
                    diff = float(cp.max(cp.abs(got[f"dloss/d{k}"] - v)))
                    worst = max(worst, diff / (float(cp.max(cp.abs(v))) + 1e-30))
                check[name] = worst
                if worst > 1e-3:
                    print(f"!! {cell} {cfg} {name} disagrees with the hand-written step: "
                          f"worst relative error {worst:.2e}", flush=True)
            if torch:
                steps["cudnn"] = torch_step(cell, T, B, D, H, params, device="cuda")
            ms = {}
            for name, f in steps.items():
                arg = torch.as_tensor(x_np, device="cuda") if name == "cudnn" else x
                ms[name] = timed(f, arg, (torch.cuda.synchronize if name == "cudnn" else sync))
            row = {"cell": cell, "config": cfg, "ms": ms, "kernels": len(program.kernels),
                   "worst_relative_error": check,
                   "kernel_calls": program.source.count("E["),
                   "ratio": {"engine/hand": ms["engine"] / ms["cupy_by_hand"],
                             "graph/hand": ms["engine_graph"] / ms["cupy_by_hand"]}}
            if torch:
                row["ratio"]["graph/cudnn"] = ms["engine_graph"] / ms["cudnn"]
                row["ratio"]["engine/cudnn"] = ms["engine"] / ms["cudnn"]
            rows.append(row)
            r = row["ratio"]
            print(f"{cell:<5} {','.join(map(str, cfg)):<16} "
                  + " ".join(f"{ms[c]:>16.3f}" for c in cols)
                  + f"  {r['engine/hand']:>8.2f} {r['graph/hand']:>10.2f} "
                  + (f"{r['graph/cudnn']:>11.2f}" if torch else "        n/a"), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
