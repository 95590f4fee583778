"""The backend interface: an array module, transfers, and optional kernel compilation."""

from __future__ import annotations

__all__ = ["Backend"]


class Backend:
    """An array module plus transfers: ``xp``, ``asarray(value, dtype)``, ``to_numpy(array)``.

    A backend that compiles kernels sets ``fuses_elementwise`` and ``make_kernels``: the
    compiler then hands it every fused elementwise group
    (:class:`graphrnn.compiler.fusion.FusedKernel`) with their CUDA source, and calls what it returns as ``kernel(*inputs, *outputs)``, inputs broadcast to the
    outputs' shape.  ``ufunc_reduce`` says reductions may use ``xp.add.reduce``.
    """

    fuses_elementwise = False
    ufunc_reduce = True

    def __init__(self, name, xp, to_numpy):
        self.name, self.xp, self._to_numpy = name, xp, to_numpy

    @property
    def namespace(self):
        """What generated code calls ``np``: the array module, or one with some functions
        the backend's own (the native backend's matmul); kernels still get ``xp``."""
        return self.xp

    def make_kernels(self, kernels, source: str = ""):
        """Callables for fused kernels (only for backends that fuse); ``source`` is the
        CUDA translation unit holding them all."""
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
