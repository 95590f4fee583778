"""Variable-length training and first-call overhead: what compiling once for every T buys.

1. **A variable-length epoch**: ``gr.fit`` on 256 sequences of 5..120 steps (an LSTM 8 -> 32
   with a linear readout per step, masked squared error, batch 16, Adam), one epoch, against
   ``torch.nn.LSTM`` on packed sequences with the same model, loss and optimizer, one thread
   each, in the same run.  The engine is timed on its first ``fit`` call (compiling included)
   and on a second call (the programs kept on the model: nothing compiles).
2. **First-call overhead** of ``LSTM(16, 64)(x)`` against T: the first call minus the best
   of three later ones (compile, plan and first use of its buffers), for T from 1 to 100,000, after the process
   has touched as much memory once (see :func:`warm_memory`).
3. **A training step at T = 100,000** (``loss_and_grad`` of the same LSTM, batch 8): its
   time and the resident memory it adds.

    python benchmarks/variable_length.py [--lengths 1 10 100 1000 10000 100000]
                                         [--long 100000] [--json out.json]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import graphrnn as gr  # noqa: E402
from graphrnn.losses import squared_error  # noqa: E402
from graphrnn.models import LSTM, Readout  # noqa: E402
from graphrnn.optim import Adam  # noqa: E402

try:
    import torch  # noqa: E402
    torch.set_num_threads(1)
except ImportError:
    torch = None


def data(n=256, lo=5, hi=120, d=8, seed=0):
    """``n`` sequences of random lengths in ``lo..hi`` and per-step targets."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(lo, hi + 1, size=n)
    xs = [rng.normal(size=(k, d)).astype(np.float32) for k in lengths]
    ys = [np.cumsum(x[:, :1], axis=0).astype(np.float32) * 0.1 for x in xs]
    return xs, ys


def engine_epoch(model, xs, ys, batch=16):
    loss = lambda out, y, mask: squared_error(out["output"], y, mask=mask)
    t0 = time.perf_counter()
    hist = gr.fit(model, (xs, ys), loss, Adam(model.parameters(), lr=0.01), epochs=1,
                  batch_size=batch, shuffle=False, progress=False)
    return time.perf_counter() - t0, hist["epoch_loss"][-1]


def torch_epoch(xs, ys, batch=16, d=8, h=32):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(d, h), torch.nn.Linear(h, 1)
    opt = torch.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=0.01)
    t0 = time.perf_counter()
    total = 0.0
    for lo in range(0, len(xs), batch):
        bx = [torch.from_numpy(x) for x in xs[lo:lo + batch]]
        by = [torch.from_numpy(y) for y in ys[lo:lo + batch]]
        lengths = torch.tensor([len(x) for x in bx])
        packed = pack_padded_sequence(pad_sequence(bx), lengths, enforce_sorted=False)
        target = pack_padded_sequence(pad_sequence(by), lengths, enforce_sorted=False)
        out, _ = lstm(packed)
        loss = ((head(out.data) - target.data) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item()
    return time.perf_counter() - t0


def warm_memory(nbytes) -> float:
    """Touch ``nbytes`` of fresh memory and free it; the seconds it took.  On a virtual machine
    the first touch of memory the guest has not backed yet costs seconds per GiB (4.3 s here)
    and freed memory goes back to the host within a second or two: a cost of the machine,
    paid by any library, that would otherwise swamp the first call at large T."""
    t0 = time.perf_counter()
    np.ones(max(nbytes, 8) // 8, dtype=np.float64)
    return time.perf_counter() - t0


def first_calls(lengths, batch=4):
    """First call of a new ``LSTM(16, 64)`` per length against the best later one, the
    memory it needs touched just before (that touch's time reported as ``fresh_touch_s``)."""
    rows = []
    for T in lengths:
        model = LSTM(16, 64, seed=0)
        x = np.random.default_rng(0).normal(size=(T, batch, 16)).astype(np.float32)
        touch = warm_memory(T * batch * (16 + 6 * 64) * 4)  # input, projection, output, copy
        t0 = time.perf_counter()
        model(x)
        first = time.perf_counter() - t0
        second = float("inf")
        for _ in range(3):  # the best of three later calls: one call varies by ~10% here
            t1 = time.perf_counter()
            model(x)
            second = min(second, time.perf_counter() - t1)
        program = next(iter(model._programs.values()))
        rows.append({"T": T, "first_s": first, "second_s": second,
                     "overhead_s": first - second, "compile_s": program.compile_seconds,
                     "generic": program.generic, "fresh_touch_s": touch})
    return rows


def long_step(T, batch=8):
    """One training step of LSTM(16, 64) at length ``T``: seconds and MiB of resident memory
    it adds (peak), compiling included."""
    import resource

    model = LSTM(16, 64, seed=0)
    x = np.random.default_rng(0).normal(size=(T, batch, 16)).astype(np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    loss, grads = model.loss_and_grad(lambda out: gr.mean(out["output"] ** 2), x)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())
    return {"T": T, "B": batch, "seconds": seconds, "peak_added_mib": (peak - before) / 1024}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[1, 10, 100, 1000, 10000, 100000])
    ap.add_argument("--long", type=int, default=100000, help="T of the long training step "
                    "(0: skip)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    xs, ys = data()
    model = Readout(LSTM(8, 32, seed=0), 1, on="all", seed=1)
    first, _ = engine_epoch(model, xs, ys)
    second, _ = engine_epoch(model, xs, ys)
    result = {"epoch": {"engine_first_s": first, "engine_second_s": second}}
    print("variable-length epoch (256 sequences of 5..120 steps, LSTM 8->32 + readout, "
          "batch 16, one thread)")
    print(f"  engine, first fit call (compiles) {first:8.3f} s")
    print(f"  engine, second fit call           {second:8.3f} s")
    if torch is not None:
        tt = min(torch_epoch(xs, ys) for _ in range(2))
        result["epoch"]["torch_packed_s"] = tt
        print(f"  torch.nn.LSTM, packed sequences   {tt:8.3f} s")
        print(f"  engine / torch: first {first / tt:.2f}, second {second / tt:.2f}")
    rows = first_calls(args.lengths)
    result["first_call"] = rows
    print("\nLSTM(16, 64)(x), batch 4: first-call overhead (first call - best later call) against T")
    print(f"{'T':>8} {'first s':>9} {'later s':>9} {'overhead s':>11} {'compile s':>10} "
          f"{'fresh memory touch s':>21}")
    for r in rows:
        print(f"{r['T']:>8} {r['first_s']:>9.3f} {r['second_s']:>9.4f} {r['overhead_s']:>11.3f} "
              f"{r['compile_s']:>10.3f} {r['fresh_touch_s']:>21.3f}")
    if args.long:
        r = result["long_step"] = long_step(args.long)
        print(f"\ntraining step of LSTM(16, 64) at T={r['T']}, batch {r['B']}: {r['seconds']:.1f} s, "
              f"{r['peak_added_mib']:.0f} MiB of resident memory added at the peak")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
