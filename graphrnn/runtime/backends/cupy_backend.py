"""The CuPy (GPU) backend: CUDA arrays, cuBLAS matmuls, one generated kernel per fused group.

Transfers are explicit: :meth:`Backend.asarray` copies host arrays to the device (a
program's call does it for NumPy inputs), :meth:`Backend.to_numpy` copies results back.
Parameters already on the device stay there between calls.
"""

from .base import Backend

__all__ = ["load", "CupyBackend"]

_BACKEND = None


class CupyBackend(Backend):
    """CuPy arrays; fused elementwise groups become ``cupy.ElementwiseKernel`` objects."""

    fuses_elementwise = True
    ufunc_reduce = False

    def make_kernels(self, kernels, source: str = ""):
        """One ``cupy.ElementwiseKernel`` per fused group (compiled by CuPy on first use;
        each kernel's own ``operation`` is its body, so ``source`` is not needed)."""
        cp = self.xp
        return [cp.ElementwiseKernel(k.in_params, k.out_params, k.operation, k.name,
                                     no_return=True) for k in kernels]

    def capture(self, run):
        """Capture ``run()`` (a whole program call) as a CUDA graph; ``(launch, outputs)``.

        ``run`` is called once normally (kernels get compiled, cuBLAS set up) and once under
        stream capture.  Both use a memory pool of their own, so the temporaries baked into
        the graph are never handed to anyone else.  ``launch()`` replays the graph on the
        current stream; the outputs are the same arrays after every replay."""
        cp = self.xp
        pool = cp.cuda.MemoryPool()
        with cp.cuda.using_allocator(pool.malloc):
            run()
            cp.cuda.get_current_stream().synchronize()
            stream = cp.cuda.Stream(non_blocking=True)
            with stream:
                stream.begin_capture()
                try:
                    outputs = run()
                finally:
                    graph = stream.end_capture()

        def launch():
            graph.launch(cp.cuda.get_current_stream())
        launch.keep_alive = (pool, stream, graph)
        return launch, outputs

    def synchronize(self) -> None:
        """Wait until the current device has finished its queued work."""
        self.xp.cuda.get_current_stream().synchronize()


def load() -> Backend:
    """The CuPy backend, or a RuntimeError saying what is missing and how to install it."""
    global _BACKEND
    if _BACKEND is not None:
        return _BACKEND
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError("the cupy backend needs CuPy: pip install 'graphrnn[cuda]' "
                           f"(or a cupy-cudaXXx wheel matching your CUDA) ({e})") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # the CUDA driver is missing or broken
        raise RuntimeError(f"the cupy backend found no usable GPU: {e}") from None
    if count < 1:
        raise RuntimeError("the cupy backend found no GPU (cudaGetDeviceCount() == 0)")
    _BACKEND = CupyBackend("cupy", cupy, cupy.asnumpy)
    return _BACKEND
