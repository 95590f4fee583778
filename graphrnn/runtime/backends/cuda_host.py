"""The CuPy backend's program, run on the CPU: its fused kernels compiled for the host.

Everything the CuPy backend does differently from NumPy (fusion planning, the generated
kernels, how the program calls them) runs here with NumPy arrays: the kernels' CUDA source
is compiled by ``nvcc`` (which also compiles the ``__global__`` kernels for the device, so
the source is checked as CUDA) or, without it, by a C++ compiler, and each kernel runs as
a host loop over contiguous copies of its broadcast inputs.  Slow, and meant for checking
generated code on machines without a GPU.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile

import numpy as np

from .base import Backend

__all__ = ["load", "CudaHostBackend", "compile_source", "find_compiler"]

_BACKEND = None
_CACHE = {}


def find_compiler():
    """``nvcc`` (preferred: it checks the device code too), else ``c++``/``g++``; or None."""
    for name in ("nvcc", "c++", "g++"):
        path = shutil.which(name)
        if path:
            return path
    cuda = os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "nvcc")
    return cuda if os.path.exists(cuda) else None


def compile_source(source: str, compiler=None) -> ctypes.CDLL:
    """Compile CUDA/C++ ``source`` into a shared library (cached per source) and load it."""
    compiler = compiler or find_compiler()
    if compiler is None:
        raise RuntimeError("the cuda-host backend needs nvcc or a C++ compiler on PATH")
    key = (compiler, hashlib.sha256(source.encode()).hexdigest())
    lib = _CACHE.get(key)
    if lib is not None:
        return lib
    folder = tempfile.mkdtemp(prefix="graphrnn-kernels-")
    nv = os.path.basename(compiler).startswith("nvcc")
    src = os.path.join(folder, "kernels.cu" if nv else "kernels.cpp")
    out = os.path.join(folder, "kernels.so")
    with open(src, "w") as f:
        f.write(source)
    cmd = ([compiler, "-shared", "-Xcompiler", "-fPIC", "-O1", "-o", out, src] if nv
           else [compiler, "-shared", "-fPIC", "-O1", "-std=c++14", "-o", out, src])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{os.path.basename(compiler)} failed on the generated kernels:\n"
                           f"{done.stderr[-4000:]}")
    lib = _CACHE[key] = ctypes.CDLL(out)
    return lib


class _HostKernel:
    """A compiled kernel called like ``cupy.ElementwiseKernel``: ``k(*inputs, *outputs)``."""

    def __init__(self, fn, input_dtypes, output_dtypes):
        self.fn, self.input_dtypes, self.output_dtypes = fn, input_dtypes, output_dtypes

    def __call__(self, *arrays):
        n_in = len(self.input_dtypes)
        ins, outs = arrays[:n_in], arrays[n_in:]
        shape = outs[0].shape
        for o in outs:
            if o.shape != shape:
                raise ValueError(f"fused kernel outputs of shapes {o.shape} and {shape}")
        cins = [np.ascontiguousarray(np.broadcast_to(np.asarray(a), shape), dtype=d)
                for a, d in zip(ins, self.input_dtypes)]
        couts = [np.empty(shape, dtype=d) for d in self.output_dtypes]
        ptrs = [a.ctypes.data_as(ctypes.c_void_p) for a in cins + couts]
        self.fn(*ptrs, ctypes.c_longlong(int(np.prod(shape, dtype=np.int64))))
        for o, c in zip(outs, couts):
            np.copyto(o, c)


class CudaHostBackend(Backend):
    """NumPy arrays, with the CuPy backend's fusion and generated kernels."""

    fuses_elementwise = True
    ufunc_reduce = False

    def make_kernels(self, kernels, source: str = ""):
        """Compile ``source``, the translation unit holding every kernel; host callables in
        the kernels' order."""
        lib = compile_source(source)
        out = []
        for k in kernels:
            fn = getattr(lib, f"{k.name}_host")
            fn.restype = None
            out.append(_HostKernel(fn, k.input_dtypes, k.output_dtypes))
        return out


def load() -> Backend:
    """The cuda-host backend (a RuntimeError when no compiler is available)."""
    global _BACKEND
    if _BACKEND is None:
        if find_compiler() is None:
            raise RuntimeError("the cuda-host backend needs nvcc or a C++ compiler on PATH")
        _BACKEND = CudaHostBackend("cuda-host", np, np.asarray)
    return _BACKEND
