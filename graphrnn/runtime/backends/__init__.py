"""Array backends: the array module ``xp`` kernels run on, and transfers in and out."""

from __future__ import annotations

__all__ = ["Backend", "get_backend", "available_backends"]


class Backend:
    """An array module plus transfers: ``xp``, ``asarray(value, dtype)``, ``to_numpy(array)``.

    A backend that compiles kernels sets ``fuses_elementwise`` and ``make_kernels``: the
    compiler then hands it every fused elementwise group (:class:`graphrnn.compiler.fusion.FusedKernel`)
    and calls what it returns as ``kernel(*inputs, *outputs)``, inputs broadcast to the
    outputs' shape.  ``ufunc_reduce`` says reductions may use ``xp.add.reduce``.
    """

    fuses_elementwise = False
    ufunc_reduce = True

    def __init__(self, name, xp, to_numpy):
        self.name, self.xp, self._to_numpy = name, xp, to_numpy

    def make_kernels(self, kernels):
        """Callables for fused kernels (only for backends that fuse)."""
        raise NotImplementedError(f"the {self.name} backend does not compile fused kernels")

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on the CPU)."""

    def capture(self, run):
        """Record ``run()`` once for replay: ``(launch, outputs)`` (CUDA graphs on CuPy)."""
        raise NotImplementedError(f"the {self.name} backend cannot capture programs as graphs "
                                  "(cuda_graph=True needs backend='cupy')")

    def asarray(self, value, dtype=None):
        """``value`` as an array of this backend (copied to the device when needed)."""
        return self.xp.asarray(value, dtype=dtype)

    def is_native(self, value) -> bool:
        """True when ``value`` already lives in this backend's arrays."""
        return isinstance(value, self.xp.ndarray)

    def to_numpy(self, array):
        """``array`` as a NumPy array (copied to the host when needed)."""
        return self._to_numpy(array)

    def __repr__(self):
        return f"<Backend {self.name}>"


def get_backend(name="numpy") -> Backend:
    """The backend called ``name``: ``"numpy"``, ``"cupy"``, ``"auto"`` (CuPy when a GPU is
    usable, else NumPy) or ``"cuda-host"`` (the CuPy backend's generated kernels compiled for
    the CPU, to check them without a GPU)."""
    if isinstance(name, Backend):
        return name
    if name == "numpy":
        from .numpy_backend import BACKEND
        return BACKEND
    if name == "cupy":
        from .cupy_backend import load
        return load()
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
    raise ValueError(f"unknown backend {name!r}; choose 'numpy', 'cupy', 'auto' or 'cuda-host'")


def available_backends():
    """Names of the backends usable on this machine."""
    names = ["numpy"]
    try:
        get_backend("cupy")
        names.append("cupy")
    except RuntimeError:
        pass
    return names
