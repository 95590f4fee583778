"""Communicators for data-parallel training: one small interface, three engines.

A communicator has a ``rank`` and a ``size`` and moves flat buffers: ``allreduce`` (sum, in
place), ``broadcast`` (from a root, in place) and ``barrier``; ``abort`` stops every rank.

- :class:`Single`: one process; every operation is the identity.
- :class:`MPI`: host (NumPy) arrays over MPI, through mpi4py (``pip install -e .[mpi]``
  installs mpi4py and the MPICH wheel, whose ``mpiexec`` lands in the environment).
- :class:`NCCL`: GPU (CuPy) arrays over NCCL (``cupy.cuda.nccl``), one process per GPU;
  its unique id travels over MPI.

:func:`from_environment` picks MPI when the process was started by ``mpiexec`` with more
than one rank, and :class:`Single` otherwise.  :class:`GradientAverager` is what ``fit``
uses: every gradient flattened into one buffer (in buckets when large), all-reduced once
per step.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from typing import Dict, List, Mapping, Optional

import numpy as np

__all__ = ["Communicator", "Single", "MPI", "NCCL", "from_environment", "GradientAverager",
           "launched_by_mpi", "abort_on_error", "resolve", "shard", "broadcast_parameters",
           "check_same_data"]

#: environment variables an MPI launcher sets (MPICH/Hydra, Open MPI, Slurm's PMI)
_LAUNCHER_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_RANK")


class Communicator:
    """The interface: ``rank``, ``size``, in-place ``allreduce``/``broadcast`` of one flat
    buffer, ``barrier`` and ``abort``."""

    rank = 0
    size = 1
    name = "single"
    xp = np  # the array module of the buffers it moves

    @property
    def is_root(self) -> bool:
        """True on rank 0 (the rank that logs and writes checkpoints)."""
        return self.rank == 0

    def allreduce(self, buf):
        """Sum ``buf`` over every rank, in place; returns ``buf``."""
        return buf

    def broadcast(self, buf, root: int = 0):
        """Overwrite ``buf`` with rank ``root``'s, in place; returns ``buf``."""
        return buf

    def barrier(self) -> None:
        """Wait until every rank is here."""

    def abort(self, code: int = 1) -> None:
        """Stop every rank of the job now (the others must not hang waiting for this one)."""
        raise SystemExit(code)

    def allreduce_scalars(self, values: List[float]) -> List[float]:
        """Sums of a few float64 numbers over every rank (one allreduce)."""
        buf = np.array(values, dtype=np.float64)
        return self.allreduce(buf).tolist()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank}, size={self.size})"


class Single(Communicator):
    """One process: rank 0 of 1, every operation the identity."""


def launched_by_mpi() -> bool:
    """True when an MPI launcher (``mpiexec``, ``srun``) started this process with more than
    one rank."""
    for var in _LAUNCHER_VARS:
        value = os.environ.get(var)
        if value is not None and var != "PMIX_RANK":
            return value.isdigit() and int(value) > 1
    return "PMIX_RANK" in os.environ


def _mpi4py():
    try:
        from mpi4py import MPI as _M
    except ImportError as e:
        raise ImportError("MPI needs mpi4py and an MPI library: pip install -e '.[mpi]' "
                          "(installs mpi4py and the mpich wheel with its mpiexec)") from e
    return _M


class MPI(Communicator):
    """Host arrays over MPI (mpi4py): ``MPI()`` wraps ``COMM_WORLD``, ``MPI(comm)`` another."""

    name = "mpi"

    def __init__(self, comm=None):
        self._mpi = _mpi4py()
        self.comm = comm if comm is not None else self._mpi.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()

    def allreduce(self, buf):
        _check_flat(buf, "allreduce")
        if self.size > 1:
            self.comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._mpi.SUM)
        return buf

    def broadcast(self, buf, root: int = 0):
        _check_flat(buf, "broadcast")
        if self.size > 1:
            self.comm.Bcast(buf, root=root)
        return buf

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self.comm.Abort(code)


_NCCL_ID_BYTES = 128
_NCCL_TYPES = {"float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64", "float16": "NCCL_FLOAT16",
               "int32": "NCCL_INT32", "int64": "NCCL_INT64"}


class NCCL(Communicator):
    """CuPy arrays over NCCL, one process per GPU; rank and size (and the NCCL unique id)
    come from a host communicator: ``host``, else the launcher's (:func:`from_environment`:
    MPI under ``mpiexec``, one process otherwise).  Each rank uses GPU
    ``rank % device_count`` unless ``device`` is given."""

    name = "nccl"

    def __init__(self, host: Optional[Communicator] = None, device: Optional[int] = None):
        try:
            import cupy
            from cupy.cuda import nccl
        except ImportError as e:
            raise ImportError("the NCCL communicator needs CuPy with NCCL: "
                              "pip install -e '.[cuda]'") from e
        self.host = host if host is not None else from_environment()
        self.rank, self.size = self.host.rank, self.host.size
        self._cupy, self._nccl, self.xp = cupy, nccl, cupy
        count = cupy.cuda.runtime.getDeviceCount()
        cupy.cuda.Device(self.rank % count if device is None else device).use()
        # the unique id: 128 bytes made on rank 0, sent over the host communicator
        uid = np.zeros(_NCCL_ID_BYTES, dtype=np.uint8)
        if self.rank == 0:
            made = nccl.get_unique_id()  # bytes (CuPy >= 13) or a tuple of signed chars
            uid[:] = np.frombuffer(made, dtype=np.uint8) if isinstance(made, bytes) else \
                np.array(made, dtype=np.int16).astype(np.uint8)
        self.host.broadcast(uid)
        try:
            self.comm = nccl.NcclCommunicator(self.size, bytes(uid), self.rank)
        except (TypeError, ValueError):  # older CuPy: a tuple of signed chars
            self.comm = nccl.NcclCommunicator(self.size, tuple(int(b) for b in uid.view(np.int8)),
                                              self.rank)

    def _type(self, buf):
        kind = _NCCL_TYPES.get(buf.dtype.name)
        if kind is None:
            raise TypeError(f"NCCL: no reduction for dtype {buf.dtype}")
        return getattr(self._nccl, kind)

    def allreduce(self, buf):
        _check_flat(buf, "allreduce")
        stream = self._cupy.cuda.get_current_stream()
        self.comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, self._type(buf),
                            self._nccl.NCCL_SUM, stream.ptr)
        return buf

    def broadcast(self, buf, root: int = 0):
        _check_flat(buf, "broadcast")
        stream = self._cupy.cuda.get_current_stream()
        self.comm.bcast(buf.data.ptr, buf.size, self._type(buf), root, stream.ptr)
        return buf

    def barrier(self) -> None:
        self._cupy.cuda.get_current_stream().synchronize()
        self.host.barrier()

    def abort(self, code: int = 1) -> None:
        self.host.abort(code)


def _check_flat(buf, what: str) -> None:
    if getattr(buf, "ndim", None) != 1 or not buf.flags.c_contiguous:
        raise ValueError(f"{what}: needs one flat contiguous buffer, got "
                         f"{getattr(buf, 'shape', type(buf).__name__)}")


def from_environment() -> Communicator:
    """:class:`MPI` when started by an MPI launcher with more than one rank, else
    :class:`Single`."""
    return MPI() if launched_by_mpi() else Single()


def resolve(distributed) -> Communicator:
    """``fit``'s ``distributed=``: None finds the launcher's ranks (:func:`from_environment`),
    False is one process, a :class:`Communicator` is used as it is."""
    if distributed is None:
        return from_environment()
    if distributed is False:
        return Single()
    if isinstance(distributed, Communicator):
        return distributed
    raise ValueError(f"fit: distributed must be None (from the launcher), False or a "
                     f"graphrnn.distributed Communicator, got {distributed!r}")


def shard(idx, comm: Communicator):
    """Rank ``comm.rank``'s contiguous part of the global batch ``idx`` (``n`` nearly equal
    parts; empty when the batch has fewer sequences than there are ranks)."""
    if comm.size == 1:
        return idx
    n, size = len(idx), comm.size
    lo, hi = n * comm.rank // size, n * (comm.rank + 1) // size
    return idx[lo:hi]


def broadcast_parameters(params: Mapping[str, np.ndarray], comm: Communicator,
                         root: int = 0) -> None:
    """Every rank's parameters overwritten, in place, by rank ``root``'s (in name order)."""
    if comm.size == 1:
        return
    for name in sorted(params):
        p = params[name]
        if comm.xp is np:
            comm.broadcast(p.reshape(-1), root)
        else:
            p[...] = comm.broadcast(comm.xp.asarray(p).reshape(-1), root).get().reshape(p.shape)


def check_same_data(comm: Communicator, n: int, batch_size: int) -> None:
    """Refuse, on every rank alike, to train when the ranks hold different data sizes or
    batch sizes (their collective calls would not match and the job would hang)."""
    if comm.size == 1:
        return
    s1, s2, b1, b2 = comm.allreduce_scalars([n, n * n, batch_size, batch_size ** 2])
    if comm.size * s2 != s1 * s1 or comm.size * b2 != b1 * b1:  # equal iff no spread
        raise ValueError(f"fit: every rank must hold the same data and batch_size (rank "
                         f"{comm.rank} has {n} sequences, batch_size={batch_size}; the mean "
                         f"over {comm.size} ranks is {s1 / comm.size:g}, {b1 / comm.size:g})")


@contextlib.contextmanager
def abort_on_error(comm: Communicator, collective: tuple = ()):
    """Inside the block, an exception on one rank is printed (with its rank) and stops every
    rank through ``comm.abort``: the others would otherwise wait forever in a collective.
    Exceptions of the ``collective`` types are raised by every rank at once (decided from
    reduced values) and propagate normally."""
    try:
        yield
    except BaseException as e:  # noqa: BLE001 - every failure must stop the whole job
        if comm.size <= 1 or isinstance(e, SystemExit) and not e.code \
                or isinstance(e, collective):
            raise
        sys.stderr.write(f"[rank {comm.rank}/{comm.size}] {type(e).__name__}: {e}; "
                         f"aborting every rank\n")
        traceback.print_exc()
        comm.abort(1)
        raise


class GradientAverager:
    """Sums weighted gradients over ranks in flat buffers (buckets of at most
    ``bucket_bytes``), one allreduce per bucket per step.

    ``average(grads, weight)``: every rank passes its gradients (a dict of arrays of the same
    names, shapes and dtypes on every rank) and its share of the global batch, ``weight``;
    the gradients are replaced, in place, by ``sum over ranks of weight * grad``.  With
    weights that add up to 1 that is the gradient of the whole global batch."""

    def __init__(self, comm: Communicator, bucket_bytes: int = 32 << 20):
        self.comm, self.bucket_bytes = comm, bucket_bytes
        self._layout = None  # ([(names, shapes, sizes, dtype)], buffers)

    def _plan(self, grads: Mapping[str, np.ndarray]):
        key = [(k, v.shape, v.dtype.str) for k, v in grads.items()]
        if self._layout is not None and self._layout[0] == key:
            return self._layout[1]
        buckets: List[Dict] = []
        for name, shape, dt in key:
            size = int(np.prod(shape)) if shape else 1
            nbytes = size * np.dtype(dt).itemsize
            last = buckets[-1] if buckets else None
            if last is None or last["dtype"] != dt or \
                    (last["bytes"] and last["bytes"] + nbytes > self.bucket_bytes):
                last = {"dtype": dt, "bytes": 0, "members": []}
                buckets.append(last)
            last["members"].append((name, last["bytes"] // np.dtype(dt).itemsize, size))
            last["bytes"] += nbytes
        for b in buckets:
            b["buf"] = self.comm.xp.empty(b["bytes"] // np.dtype(b["dtype"]).itemsize,
                                          dtype=b["dtype"])
        self._layout = (key, buckets)
        return buckets

    def average(self, grads: Dict[str, np.ndarray], weight: float = 1.0) -> None:
        """Replace every gradient by the ``weight``-weighted sum over ranks (in place)."""
        if self.comm.size <= 1 and weight == 1.0:
            return
        xp = self.comm.xp
        for b in self._plan(grads):
            buf = b["buf"]
            for name, start, size in b["members"]:
                flat = xp.asarray(grads[name]).reshape(-1)  # host gradients, GPU buffers: copied
                xp.multiply(flat, weight, out=buf[start:start + size])
            self.comm.allreduce(buf)
            host = None
            for name, start, size in b["members"]:
                part = buf[start:start + size]
                if xp is not np and isinstance(grads[name], np.ndarray):  # back to the host
                    host = buf.get() if host is None else host
                    part = host[start:start + size]
                grads[name][...] = part.reshape(grads[name].shape)
