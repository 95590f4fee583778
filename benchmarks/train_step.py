"""One float32 training step (forward + backward of the sum of squares of the output
sequence) for RNN, LSTM and GRU, measured side by side in one run:

- engine: the model's graph, differentiated, optimized (O2) and compiled once for every
  length (``gr.compile(lambda T: ...)``, as models and ``fit`` compile it);
- numpy: the hand-written NumPy limit in ``numpy_rnn_ref.py`` (input projection as one
  GEMM, one tanh for all gates, derivative factors for all steps at once, 1 GEMM + 9/6
  ufunc calls per LSTM step; verified first against the engine's gradients);
- torch: ``torch.nn.RNN/LSTM/GRU``, and torch_loop: the same cell written as a torch loop
  (both when PyTorch is installed);
- jax: the cell under ``lax.scan`` with ``value_and_grad`` and ``jit`` (when JAX is installed);
- native: the engine's program on ``backend="native"`` (its fused elementwise groups
  compiled to C++; when a C++ compiler and Python's headers are there, unless --no-native).

Rounds are interleaved (every method once per round) and medians reported with the
ratios engine / reference; with --memory each method also runs in its own subprocess to
report its peak resident memory.  Threads are limited to 2 (as in CI).

    python benchmarks/train_step.py [--cells RNN LSTM GRU] [--configs 50,32,32,128 ...]
                                    [--memory] [--json out.json] [--quick]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "2")
# idle OpenMP threads sleep instead of spinning, so a method timed right after torch is not
# slowed by torch's busy-waiting threads
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import graphrnn as gr  # noqa: E402
from graphrnn import models  # noqa: E402
from numpy_rnn_ref import REFS  # noqa: E402

try:
    import torch  # noqa: E402
    torch.set_num_threads(2)
except ImportError:
    torch = None
try:
    if "--no-jax" in sys.argv:  # JAX's thread pool must not run beside the others
        raise ImportError
    import jax  # noqa: E402
    jax.config.update("jax_platforms", "cpu")
except ImportError:
    jax = None

CONFIGS = [(50, 32, 32, 128), (100, 64, 64, 256), (200, 16, 16, 64), (20, 1, 8, 32),
           (1000, 8, 16, 64)]


def loss_of(out):
    return gr.sum(out["output"] * out["output"])


def engine_step(cell, T, B, D, H, params, dtype=np.float32, backend="numpy", cuda_graph=False):
    """A callable running one step, the compile time and the program (parameters are put
    where the backend computes once, not at every call)."""
    model = getattr(models, cell)(D, H, dtype=dtype)
    model.load_state_dict(params)
    t0 = time.perf_counter()

    def build(T):  # one program for every sequence length, as models and fit compile it
        g = model.graph(T)
        return gr.grad_graph(gr.Graph({"loss": loss_of(dict(g.outputs))}), loss="loss")
    program = gr.compile(build, backend=backend, cuda_graph=cuda_graph)
    compile_s = time.perf_counter() - t0
    p = {k: program.backend.asarray(v) for k, v in model.parameters().items()}
    return (lambda x: program({"input": x}, p, copy=False)), compile_s, program


def _ref_params(params, dtype):
    """PyTorch-named parameters as the reference names them."""
    return {k: np.asarray(params[f"{n}_l0"], dtype) for k, n in (
        ("W_ih", "weight_ih"), ("W_hh", "weight_hh"), ("b_ih", "bias_ih"), ("b_hh", "bias_hh"))}


def numpy_step(cell, T, B, D, H, params, dtype=np.float32):
    """The reference's training step (its workspace: ``step.workspace``)."""
    ref, p = REFS[cell.lower()](), _ref_params(params, dtype)
    step = lambda x: ref.train_step(x, p)  # noqa: E731
    step.workspace = ref
    return step


def torch_step(cell, T, B, D, H, params, loop=False, device="cpu"):
    """One torch training step: ``torch.nn``'s module (cuDNN on a GPU) or, with ``loop``,
    the same cell written as a loop."""
    m = getattr(torch.nn, cell)(D, H).to(device)
    m.load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    if not loop:
        def step(x):
            m.zero_grad(set_to_none=True)
            out, _ = m(x)
            loss = (out * out).sum()
            loss.backward()
            return loss
        return step
    w = {k: p for k, p in m.named_parameters()}

    def step(x):
        m.zero_grad(set_to_none=True)
        h = torch.zeros(x.shape[1], H, device=x.device)
        c = torch.zeros(x.shape[1], H, device=x.device)
        pre = x @ w["weight_ih_l0"].T + w["bias_ih_l0"]
        outs = []
        for t in range(x.shape[0]):
            gh = h @ w["weight_hh_l0"].T + w["bias_hh_l0"]
            if cell == "RNN":
                h = torch.tanh(pre[t] + gh)
            elif cell == "LSTM":
                i, f, g, o = (pre[t] + gh).chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            else:
                ir, iz, in_ = pre[t].chunk(3, 1)
                hr, hz, hn = gh.chunk(3, 1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                n = torch.tanh(in_ + r * hn)
                h = (1 - z) * n + z * h
            outs.append(h)
        out = torch.stack(outs)
        loss = (out * out).sum()
        loss.backward()
        return loss
    return step


def jax_step(cell, T, B, D, H, params):
    """The same training step in JAX: the cell under ``lax.scan``, ``value_and_grad`` and
    ``jit`` (compiled on the first call, which the warm-up makes)."""
    import jax.numpy as jnp
    from jax import jit, lax, value_and_grad

    p = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in _ref_params(params, np.float32).items()}
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[cell]

    def step(carry, x_t, q):
        h, c = carry
        gi = x_t @ q["W_ih"].T + q["b_ih"]
        gh = h @ q["W_hh"].T + q["b_hh"]
        if cell == "RNN":
            h = jnp.tanh(gi + gh)
        elif cell == "LSTM":
            i, f, g, o = jnp.split(gi + gh, gates, axis=1)
            c = jax_sigmoid(f) * c + jax_sigmoid(i) * jnp.tanh(g)
            h = jax_sigmoid(o) * jnp.tanh(c)
        else:
            ir, iz, in_ = jnp.split(gi, 3, axis=1)
            hr, hz, hn = jnp.split(gh, 3, axis=1)
            r, z = jax_sigmoid(ir + hr), jax_sigmoid(iz + hz)
            n = jnp.tanh(in_ + r * hn)
            h = (1 - z) * n + z * h
        return (h, c), h

    def loss(q, x):
        zero = jnp.zeros((x.shape[1], H), jnp.float32)
        _, out = lax.scan(lambda carry, x_t: step(carry, x_t, q), (zero, zero), x)
        return jnp.sum(out * out)

    from jax.nn import sigmoid as jax_sigmoid
    run = jit(value_and_grad(loss, argnums=(0, 1)))
    return lambda x: jax_block(run(p, x))


def jax_block(out):
    """Wait for JAX's asynchronous result (a timing must include the work)."""
    import jax
    return jax.block_until_ready(out)


def native_available() -> bool:
    """True when the engine's native backend can build here."""
    try:
        gr.get_backend("native")
        return True
    except (RuntimeError, ValueError):
        return False


def methods_for(cell, T, B, D, H, params, native=False):
    steps = {}
    eng, compile_s, program = engine_step(cell, T, B, D, H, params)
    steps["engine"] = eng
    if native:
        steps["native"] = engine_step(cell, T, B, D, H, params, backend="native")[0]
    steps["numpy"] = numpy_step(cell, T, B, D, H, params)
    if torch is not None:
        steps["torch"] = torch_step(cell, T, B, D, H, params)
        steps["torch_loop"] = torch_step(cell, T, B, D, H, params, loop=True)
    if jax is not None:
        steps["jax"] = jax_step(cell, T, B, D, H, params)
    return steps, compile_s, program


def verify(cell):
    """The reference agrees with the engine's gradients (float64, small size)."""
    T, B, D, H = 4, 3, 5, 6
    model = getattr(models, cell)(D, H, dtype=np.float64, seed=0)
    x = np.random.default_rng(1).normal(size=(T, B, D))
    loss, grads = model.loss_and_grad(loss_of, x)
    ref_loss, ref_grads = numpy_step(cell, T, B, D, H, model.state_dict(), np.float64)(x)
    assert abs(loss - ref_loss) <= 1e-9 * abs(loss), (cell, loss, ref_loss)
    names = {"W_ih": "weight_ih_l0", "W_hh": "weight_hh_l0", "b_ih": "bias_ih_l0",
             "b_hh": "bias_hh_l0", "x": "input"}
    for k, name in names.items():
        np.testing.assert_allclose(grads[name], ref_grads[k], rtol=1e-7, atol=1e-9,
                                   err_msg=f"{cell} {k}")


def params_for(cell, D, H, seed=0):
    return getattr(models, cell)(D, H, seed=seed).state_dict()


def time_all(steps, x_np, x_t, budget=1.5, min_rounds=5, max_rounds=50):
    times = {k: [] for k in steps}
    for k, f in steps.items():  # warm up
        f(x_t if k.startswith("torch") else x_np)
    start = time.perf_counter()
    rounds = 0
    order = list(steps)
    while rounds < min_rounds or (time.perf_counter() - start < budget and rounds < max_rounds):
        order = order[1:] + order[:1]  # rotate: no method always follows the same one
        for k in order:
            f = steps[k]
            t0 = time.perf_counter()
            f(x_t if k.startswith("torch") else x_np)
            times[k].append(time.perf_counter() - t0)
        rounds += 1
    return {k: statistics.median(v) for k, v in times.items()}


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(method, cell, T, B, D, H):
    """Resident memory (MiB) a method adds, in this fresh process: ``peak`` while building it
    and running a first step (compilation included), ``steady`` while running two more."""
    params = params_for(cell, D, H)
    x = np.random.default_rng(0).normal(size=(T, B, D)).astype(np.float32)
    if method.startswith("torch"):
        x = torch.tensor(x)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS
    base = _rss_kib("VmRSS")
    if method in ("engine", "native"):
        f = engine_step(cell, T, B, D, H, params,
                        backend="native" if method == "native" else "numpy")[0]
    elif method == "numpy":
        f = numpy_step(cell, T, B, D, H, params)
    elif method == "jax":
        f = jax_step(cell, T, B, D, H, params)
    else:
        f = torch_step(cell, T, B, D, H, params, loop=method == "torch_loop")
    f(x)
    peak = _rss_kib("VmHWM")
    import gc
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    for _ in range(2):
        f(x)
    steady = _rss_kib("VmHWM")
    print(json.dumps({"peak_mib": (peak - base) / 1024, "steady_mib": (steady - base) / 1024}))


def memory_of(method, cell, cfg):
    out = subprocess.run([sys.executable, __file__, "--child", method, cell,
                          *map(str, cfg)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description="one training step: engine vs NumPy vs PyTorch")
    ap.add_argument("--cells", nargs="+", default=["RNN", "LSTM", "GRU"])
    ap.add_argument("--configs", nargs="+", default=None, help="T,B,D,H ...")
    ap.add_argument("--memory", action="store_true", help="peak memory, a subprocess each")
    ap.add_argument("--quick", action="store_true", help="short timing budget")
    ap.add_argument("--no-jax", action="store_true", help="leave JAX out (not imported)")
    ap.add_argument("--no-native", action="store_true",
                    help="leave out the engine on the native backend")
    ap.add_argument("--json")
    ap.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        method, cell, *cfg = args.child
        return child(method, cell, *map(int, cfg))
    configs = [tuple(map(int, c.split(","))) for c in args.configs] if args.configs else CONFIGS
    rows = []
    native = not args.no_native and native_available()
    cols = (["engine"] + (["native"] if native else []) + ["numpy"]
            + (["torch", "torch_loop"] if torch is not None else [])
            + (["jax"] if jax is not None else []))
    print(f"float32, {os.environ['OMP_NUM_THREADS']} threads; numpy {np.__version__}"
          + (f", torch {torch.__version__}" if torch is not None else ", torch not installed")
          + (f", jax {jax.__version__}" if jax is not None else ", jax not installed")
          + ("; native: the engine on backend='native'" if native else ""))
    head = (f"{'cell':<5} {'T,B,D,H':<16} {'compile s':>9} " + " ".join(f"{c + ' ms':>13}" for c in cols)
            + "  " + " ".join(f"{'eng/' + c:>13}" for c in cols[1:]))
    print(head)
    for cell in args.cells:
        verify(cell)
        for cfg in configs:
            T, B, D, H = cfg
            params = params_for(cell, D, H)
            steps, compile_s, program = methods_for(cell, T, B, D, H, params, native)
            x = np.random.default_rng(0).normal(size=(T, B, D)).astype(np.float32)
            xt = torch.tensor(x) if torch is not None else None
            med = time_all(steps, x, xt, budget=0.5 if args.quick else 1.5,
                           min_rounds=3 if args.quick else 5)
            ref = steps["numpy"].workspace
            buffers = {"engine": program.memory_bytes({"B": B, "T": T}) / 2**20,
                       "numpy": sum(v.nbytes for v in vars(ref).values()
                                    if isinstance(v, np.ndarray)) / 2**20}
            row = {"cell": cell, "config": cfg, "compile_s": compile_s, "buffers_mib": buffers,
                   "calls_per_step": program.report.calls_per_step,
                   "ms": {k: v * 1e3 for k, v in med.items()},
                   "ratio": {k: med["engine"] / med[k] for k in cols[1:]}}
            if native:
                row["native_ratio"] = {k: med["native"] / med[k] for k in cols if
                                       k not in ("engine", "native")}
            if args.memory:
                row["peak_mib"] = {k: memory_of(k, cell, cfg) for k in cols}
            rows.append(row)
            line = (f"{cell:<5} {','.join(map(str, cfg)):<16} {compile_s:>9.2f} "
                    + " ".join(f"{row['ms'][c]:>13.2f}" for c in cols) + "  "
                    + " ".join(f"{row['ratio'][c]:>13.2f}" for c in cols[1:])
                    + f"  buffers MiB eng/numpy {buffers['engine']:.1f}/{buffers['numpy']:.1f}"
                    + f" = {buffers['engine'] / buffers['numpy']:.2f}"
                    + f"  calls/step {row['calls_per_step']}"
                    + ("  native/" + " ".join(f"{k}={v:.2f}" for k, v in
                                              row["native_ratio"].items()) if native else ""))
            if args.memory:
                mem = row["peak_mib"]
                line += ("  MiB steady/peak " + " ".join(
                    f"{c}={mem[c]['steady_mib']:.0f}/{mem[c]['peak_mib']:.0f}" for c in cols)
                    + f"  eng/numpy steady {mem['engine']['steady_mib'] / max(mem['numpy']['steady_mib'], 1):.2f}")
            print(line, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
