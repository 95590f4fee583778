"""Run under ``mpiexec -n N``: the communicator's collectives, printed as JSON by rank 0."""

import json
import sys

import numpy as np

from graphrnn.distributed import GradientAverager, from_environment

comm = from_environment()
r, n = comm.rank, comm.size
summed = comm.allreduce(np.arange(5.0) * (r + 1))
root = comm.broadcast(np.full(3, float(r)), root=n - 1)
comm.barrier()
# gradients in several buckets and two dtypes, each rank weighted by its share
grads = {"a": np.full((3, 4), r + 1.0), "b": np.full(7, 10.0 * (r + 1), dtype=np.float32),
         "c": np.full((2, 2), -1.0 * (r + 1))}
weights = np.arange(1, n + 1) / np.arange(1, n + 1).sum()
GradientAverager(comm, bucket_bytes=64).average(grads, float(weights[r]))
scalars = comm.allreduce_scalars([1.0, r])
try:
    comm.allreduce(np.zeros((2, 2)))
    flat_error = None
except ValueError as e:
    flat_error = str(e)
if r == 0:
    json.dump({"size": n, "kind": comm.name, "sum": summed.tolist(), "root": root.tolist(),
               "grads": {k: v.tolist() for k, v in grads.items()},
               "dtypes": {k: v.dtype.name for k, v in grads.items()},
               "scalars": scalars, "flat_error": flat_error}, sys.stdout)
