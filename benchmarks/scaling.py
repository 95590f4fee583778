"""Data-parallel scaling on this machine: samples per second of ``gr.fit`` at 1 and 2
processes (one BLAS thread each), and the share of the step spent in the allreduce.

    python benchmarks/scaling.py [--epochs 3] [--hidden 128] [--json out.json]

The driver runs itself under ``mpiexec -n 1`` and ``mpiexec -n 2`` (the same global batches
and updates); each run compiles in a first epoch, then times the next ones.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def worker(args) -> None:
    import graphrnn as gr
    from graphrnn.distributed import Communicator, from_environment
    from graphrnn.losses import squared_error
    from graphrnn.models import LSTM
    from graphrnn.optim import Adam

    class Timed(Communicator):
        """The launcher's communicator, with the time spent in allreduce added up."""

        def __init__(self, inner):
            self.inner, self.rank, self.size, self.name = inner, inner.rank, inner.size, inner.name
            self.seconds = 0.0

        def allreduce(self, buf):
            t0 = time.perf_counter()
            out = self.inner.allreduce(buf)
            self.seconds += time.perf_counter() - t0
            return out

        def broadcast(self, buf, root=0):
            return self.inner.broadcast(buf, root)

        def barrier(self):
            self.inner.barrier()

        def abort(self, code=1):
            self.inner.abort(code)

    comm = Timed(from_environment())
    rng = np.random.default_rng(0)
    n, T, D = args.samples, 50, 32
    x = rng.normal(size=(n, T, D)).astype(np.float32)
    y = np.cumsum(x[..., :1], axis=1).astype(np.float32) * 0.1
    model = LSTM(D, args.hidden, dtype=np.float32, seed=0)
    opt = Adam(model.parameters(), lr=1e-3)
    loss = lambda out, t, m: squared_error(out["output"][..., :1], t)  # noqa: E731
    gr.fit(model, (x, y), loss, opt, epochs=1, batch_size=args.batch, progress=False,
           distributed=comm)  # compiles
    comm.seconds = 0.0
    comm.barrier()
    t0 = time.perf_counter()
    gr.fit(model, (x, y), loss, opt, epochs=args.epochs, batch_size=args.batch, progress=False,
           distributed=comm)
    comm.barrier()
    wall = time.perf_counter() - t0
    if comm.rank == 0:
        print(json.dumps({"ranks": comm.size, "seconds": wall,
                          "samples_per_s": n * args.epochs / wall,
                          "allreduce_share": comm.seconds / wall}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = mpiexec if os.path.exists(mpiexec) else shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("needs mpiexec: pip install -e '.[mpi]'")
    rows = []
    for n in (1, 2):
        cmd = [mpiexec, "-n", str(n), sys.executable, os.path.abspath(__file__), "--worker",
               "--epochs", str(args.epochs), "--samples", str(args.samples),
               "--batch", str(args.batch), "--hidden", str(args.hidden)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONPATH": os.path.dirname(HERE)})
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"LSTM 32->{args.hidden}, T=50, global batch {args.batch}, {args.samples} samples, "
          f"float32, one BLAS thread per process")
    print(f"{'ranks':>5} {'samples/s':>10} {'speed-up':>9} {'allreduce share':>16}")
    for r in rows:
        print(f"{r['ranks']:>5} {r['samples_per_s']:>10.0f} "
              f"{r['samples_per_s'] / rows[0]['samples_per_s']:>9.2f} "
              f"{100 * r['allreduce_share']:>15.1f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
