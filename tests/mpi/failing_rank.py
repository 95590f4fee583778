"""Run under ``mpiexec -n 2``: rank 1 raises while rank 0 waits in a collective; the whole
job must stop with rank 1's error (not hang)."""

import numpy as np

from graphrnn.distributed import abort_on_error, from_environment

comm = from_environment()
with abort_on_error(comm):
    if comm.rank == 1:
        raise RuntimeError("rank 1 failed on purpose")
    comm.allreduce(np.zeros(4))  # rank 0 waits here for a rank that will never come
print("unreachable: rank", comm.rank)
