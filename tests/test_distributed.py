"""Communicators (graphrnn.distributed): the single-process identity here, MPI under
``mpiexec -n 2`` (skipped without mpi4py and an ``mpiexec``), NCCL where GPUs are."""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from graphrnn.distributed import GradientAverager, Single, from_environment, launched_by_mpi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mpiexec():
    """The ``mpiexec`` next to this Python (the mpich wheel's), or on PATH; None if absent."""
    import importlib.util
    if importlib.util.find_spec("mpi4py") is None:
        return None
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else shutil.which("mpiexec")


needs_mpi = pytest.mark.skipif(mpiexec() is None, reason="needs mpi4py and mpiexec: "
                               "pip install -e '.[mpi]'")


def run_mpi(script: str, n: int = 2, timeout: float = 120, args=()):
    """``mpiexec -n n python tests/mpi/<script>``: the finished process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           # an Open MPI mpiexec refuses root (containers) unless told; MPICH ignores these
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [mpiexec(), "-n", str(n), sys.executable, os.path.join(ROOT, "tests", "mpi", script),
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def test_the_single_process_communicator_is_the_identity():
    comm = Single()
    buf = np.arange(4.0)
    assert comm.allreduce(buf) is buf and comm.broadcast(buf) is buf
    assert (comm.rank, comm.size, comm.is_root) == (0, 1, True)
    grads = {"W": np.ones((2, 2))}
    GradientAverager(comm).average(grads, 0.25)  # one rank: its share scales its gradient
    np.testing.assert_array_equal(grads["W"], np.full((2, 2), 0.25))
    with pytest.raises(SystemExit):
        comm.abort(3)


def test_an_mpi_launch_is_recognized_from_the_launchers_variables(monkeypatch):
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert not launched_by_mpi() and isinstance(from_environment(), Single)
    monkeypatch.setenv("PMI_SIZE", "1")  # mpiexec -n 1: one process, no MPI needed
    assert not launched_by_mpi()
    monkeypatch.setenv("PMI_SIZE", "4")
    assert launched_by_mpi()


@needs_mpi
def test_mpi_collectives_on_two_ranks():
    done = run_mpi("collectives.py")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["size"] == 2 and out["kind"] == "mpi"
    assert out["sum"] == (np.arange(5.0) * 3).tolist()
    assert out["root"] == [1.0, 1.0, 1.0]  # from the last rank
    w = np.array([1, 2]) / 3  # each rank weighted by its share
    np.testing.assert_allclose(out["grads"]["a"], np.full((3, 4), w @ [1, 2]), rtol=1e-15)
    np.testing.assert_allclose(out["grads"]["b"], np.full(7, w @ [10, 20]), rtol=1e-6)
    np.testing.assert_allclose(out["grads"]["c"], np.full((2, 2), -(w @ [1, 2])), rtol=1e-15)
    assert out["dtypes"] == {"a": "float64", "b": "float32", "c": "float64"}
    assert out["scalars"] == [2.0, 1.0]
    assert "allreduce: needs one flat contiguous buffer, got (2, 2)" in out["flat_error"]


@needs_mpi
def test_a_rank_that_raises_stops_every_rank_with_its_error_within_seconds():
    t0 = time.perf_counter()
    done = run_mpi("failing_rank.py", timeout=60)
    elapsed = time.perf_counter() - t0
    assert done.returncode != 0
    assert "[rank 1/2] RuntimeError: rank 1 failed on purpose" in done.stderr
    assert "unreachable" not in done.stdout
    assert elapsed < 30, f"the job took {elapsed:.1f} s to stop"


def test_nccl_on_one_gpu_reduces_broadcasts_and_averages_gradients():
    cupy = pytest.importorskip("cupy", reason="NCCL needs CuPy and a GPU")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # noqa: BLE001 - CuPy without a driver
        count = 0
    if count < 1:
        pytest.skip("NCCL needs a GPU")
    from graphrnn.distributed import NCCL
    comm = NCCL(Single())  # one process, one GPU: the id, the communicator, every call
    buf = cupy.arange(4, dtype=cupy.float32)
    np.testing.assert_array_equal(comm.allreduce(buf).get(), np.arange(4))
    np.testing.assert_array_equal(comm.broadcast(cupy.ones(3)).get(), np.ones(3))
    comm.barrier()
    grads = {"W": cupy.full((2, 3), 4.0), "b": np.full(3, 2.0, dtype=np.float32)}
    GradientAverager(comm, bucket_bytes=16).average(grads, 0.5)  # GPU and host gradients
    np.testing.assert_array_equal(grads["W"].get(), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(grads["b"], np.full(3, 1.0, dtype=np.float32))
    with pytest.raises(TypeError, match="NCCL: no reduction for dtype bool"):
        comm.allreduce(cupy.zeros(2, dtype=bool))


@needs_mpi
def test_data_parallel_fit_on_two_ranks_equals_one_process(tmp_path):
    done = run_mpi("fit_equal.py", args=[str(tmp_path)], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["size"] == 2
    for name in ("rnn-fixed-clip-steplr", "lstm-variable-cosine-validation",
                 "lstm-variable-tbptt", "rnn-summed-over-time", "gru-sum", "resume"):
        diffs = out[name]
        assert all(v <= 1e-12 for k, v in diffs.items() if k != "steps"), (name, diffs)
    assert out["lstm-variable-tbptt"]["steps"] > out["lstm-variable-cosine-validation"]["steps"]


@needs_mpi
def test_the_readmes_shell_block_trains_on_two_processes():
    import re
    readme = open(os.path.join(ROOT, "README.md")).read()
    section = readme.split("## Training on several processes", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(block) == 1
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block[0]], cwd=ROOT, text=True,
                          capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    diff = re.search(r"largest parameter difference from one process: (\S+)", done.stdout)
    assert diff and float(diff.group(1)) < 1e-12, done.stdout


def test_ranks_holding_different_data_are_refused_alike_before_training():
    from graphrnn.distributed import Communicator, check_same_data

    class TwoRanks(Communicator):
        """Rank 0 of 2 whose partner holds ``other`` sequences (sums as MPI would give)."""
        size = 2

        def __init__(self, other):
            self.other = other

        def allreduce_scalars(self, values):
            n, _, b, _ = values
            return [n + self.other, n * n + self.other ** 2, 2 * b, 2 * b * b]

    check_same_data(TwoRanks(10), 10, 4)  # equal: nothing to say
    with pytest.raises(ValueError, match=r"every rank must hold the same data and batch_size "
                                         r"\(rank 0 has 10 sequences, batch_size=4; the mean "
                                         r"over 2 ranks is 15"):
        check_same_data(TwoRanks(20), 10, 4)
