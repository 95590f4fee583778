"""Array backends: the array module ``xp`` kernels run on, and transfers in and out."""

from __future__ import annotations

from .base import Backend

__all__ = ["Backend", "get_backend", "available_backends"]


def get_backend(name="numpy") -> Backend:
    """The backend called ``name``: ``"numpy"``, ``"cupy"``, ``"auto"`` (CuPy when a GPU is
    usable, else NumPy), ``"native"`` (NumPy, with each fused elementwise group compiled to a
    C++ loop: fewer calls per step where arrays are small) or ``"cuda-host"`` (the CuPy
    backend's generated kernels compiled for the CPU, to check them without a GPU)."""
    if isinstance(name, Backend):
        return name
    if name == "numpy":
        from .numpy_backend import BACKEND
        return BACKEND
    if name == "cupy":
        from .cupy_backend import load
        return load()
    if name == "native":
        from .native import load as load_native
        return load_native()
    if name == "cuda-host":
        from .cuda_host import load as load_host
        return load_host()
    if name == "auto":
        try:
            from .cupy_backend import load
            return load()
        except RuntimeError:
            from .numpy_backend import BACKEND
            return BACKEND
    raise ValueError(f"unknown backend {name!r}; choose 'numpy', 'cupy', 'auto', 'native' "
                     "or 'cuda-host'")


def available_backends():
    """Names of the backends usable on this machine."""
    names = ["numpy"]
    for name in ("cupy", "native"):
        try:
            get_backend(name)
            names.append(name)
        except RuntimeError:
            pass
    return names
