"""The CuPy (GPU) backend: the same kernels, run on CUDA arrays."""

from . import Backend

_BACKEND = None


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
    _BACKEND = Backend("cupy", cupy, cupy.asnumpy)
    return _BACKEND
