"""The native backend: NumPy, with each fused elementwise group compiled to a C++ loop.

Where arrays are small (batch 1-16, hidden up to ~128) a NumPy program's step costs what its
calls cost, about a microsecond each, and an LSTM step makes a dozen elementwise calls.  On
this backend the compiler fuses every group of elementwise ops (as it does for CuPy) and
each group becomes one function of a CPython extension module built from the kernels' C++
bodies: it takes NumPy arrays through the buffer protocol (strided views, broadcast rows and
0-d arrays included, no copies), checks their item sizes and shapes, and runs the body over
every element with a loop over the last axis.  Everything else (matmuls, reductions,
concatenations) is NumPy's.

The module is compiled by a C++ compiler (``$CXX``, ``c++``, ``g++`` or ``clang++``) against
Python's headers, once per kernel source on a machine (:mod:`.native_build`: built modules
are kept on disk and imported by later processes).
"""

from __future__ import annotations

import functools

import numpy as np

from .base import Backend
from .native_build import (VECTOR_MATH, cache_folder, compile_module, find_cxx, missing,
                           module_name, python_include, vector_flags)
from . import native_matmul

__all__ = ["NativeBackend", "load", "find_cxx", "python_include", "missing", "build_module",
           "compile_module", "module_name", "cache_folder", "module_source", "vector_flags"]

_BACKEND = None

#: Elements from which a kernel call releases the GIL while it loops.
NOGIL_ELEMENTS = 1 << 15


# ---------------------------------------------------------------------------- C++ text
_SUPPORT = r"""
#include <cstdio>
#include <cstring>

#define GRNN_MAXD 32

static void grnn_release(Py_buffer *b, int n) {
    for (int i = 0; i < n; ++i) PyBuffer_Release(&b[i]);
}

static void grnn_shape_text(char *out, size_t cap, int nd, const Py_ssize_t *shape) {
    size_t k = (size_t)snprintf(out, cap, "(");
    for (int d = 0; d < nd && k < cap; ++d)
        k += (size_t)snprintf(out + k, cap - k, d ? ", %zd" : "%zd", shape[d]);
    if (k < cap) snprintf(out + k, cap - k, nd == 1 ? ",)" : ")");
}

/* Whether a buffer format (NULL: unsigned bytes) holds the class of C type wanted: f float,
   b bool, i signed or u unsigned integer, in the machine's byte order. */
static bool grnn_format_ok(const char *f, char kind) {
    if (f == NULL) f = "B";
    if (*f == '@' || *f == '=') ++f;
    else if (*f == '<' || *f == '>' || *f == '!') {
        const unsigned one = 1;
        const bool little = *(const unsigned char *)&one == 1;
        if ((*f == '<') != little) return false;
        ++f;
    }
    if (f[0] == '\0' || f[1] != '\0') return false;
    switch (kind) {
        case 'f': return f[0] == 'f' || f[0] == 'd';
        case 'b': return f[0] == '?';
        case 'i': return std::strchr("bhilq", f[0]) != NULL;
        default: return std::strchr("BHILQ", f[0]) != NULL;
    }
}

/* The arguments of a kernel call as buffers, checked, with every input's strides aligned to
   the output shape (a missing or size-1 axis reads with stride 0).  0 on success; -1 with
   an exception set and every buffer released. */
static int grnn_open(const char *name, PyObject *const *args, Py_ssize_t nargs, int n_in,
                     int n_out, const Py_ssize_t *size, const char *kind, const char *const *ctype,
                     Py_buffer *b, int *nd, Py_ssize_t *shape, Py_ssize_t (*st)[GRNN_MAXD],
                     char **ptr) {
    const int n = n_in + n_out;
    if (nargs != n) {
        PyErr_Format(PyExc_TypeError, "fused kernel %s takes %d arrays (%d inputs, then %d "
                     "outputs), got %zd", name, n, n_in, n_out, nargs);
        return -1;
    }
    for (int i = 0; i < n; ++i) {
        const bool out = i >= n_in;
        const char *role = out ? "output" : "input";
        const int which = out ? i - n_in : i;
        if (PyObject_GetBuffer(args[i], &b[i], PyBUF_STRIDES | PyBUF_FORMAT
                               | (out ? PyBUF_WRITABLE : 0)) < 0) {
            grnn_release(b, i);
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            PyErr_Format(type ? type : PyExc_TypeError, "fused kernel %s: %s %d (%s) is not "
                         "a%s array: %S", name, role, which, Py_TYPE(args[i])->tp_name,
                         out ? " writable" : "n", value ? value : Py_None);
            Py_XDECREF(type); Py_XDECREF(value); Py_XDECREF(tb);
            return -1;
        }
        if (b[i].itemsize != size[i] || !grnn_format_ok(b[i].format, kind[i])) {
            PyErr_Format(PyExc_TypeError, "fused kernel %s: %s %d has items of format '%s' "
                         "and %zd bytes, expected %s", name, role, which,
                         b[i].format ? b[i].format : "B", b[i].itemsize, ctype[i]);
            grnn_release(b, i + 1);
            return -1;
        }
        if (b[i].ndim > GRNN_MAXD) {
            PyErr_Format(PyExc_ValueError, "fused kernel %s: %s %d has %d axes, at most %d",
                         name, role, which, b[i].ndim, GRNN_MAXD);
            grnn_release(b, i + 1);
            return -1;
        }
    }
    const Py_buffer *first = &b[n_in];
    *nd = first->ndim;
    for (int d = 0; d < *nd; ++d) shape[d] = first->shape[d];
    for (int i = 0; i < n; ++i) {
        const bool out = i >= n_in;
        const int off = *nd - b[i].ndim;
        bool ok = off >= 0 && (!out || off == 0);
        for (int d = 0; ok && d < *nd; ++d) {
            const Py_ssize_t len = d < off ? 1 : b[i].shape[d - off];
            if (len == shape[d]) st[i][d] = d < off ? 0 : b[i].strides[d - off];
            else if (len == 1 && !out) st[i][d] = 0;
            else ok = false;
        }
        if (!ok) {
            char got[800], want[800];
            grnn_shape_text(got, sizeof got, b[i].ndim, b[i].shape);
            grnn_shape_text(want, sizeof want, *nd, shape);
            PyErr_Format(PyExc_ValueError, "fused kernel %s: %s %d of shape %s %s %s", name,
                         out ? "output" : "input", out ? i - n_in : i, got,
                         out ? "differs from output 0's shape" : "does not broadcast to the "
                         "output shape", want);
            grnn_release(b, n);
            return -1;
        }
        ptr[i] = (char *)b[i].buf;
    }
    return 0;
}

/* body(q, s, n) over the last axis, for every index of the outer axes (an odometer). */
template <int N, class F>
static void grnn_loop(int nd, const Py_ssize_t *shape, Py_ssize_t (*st)[GRNN_MAXD], char **ptr,
                      F body) {
    const Py_ssize_t inner = nd ? shape[nd - 1] : 1;
    Py_ssize_t outer = 1, idx[GRNN_MAXD], s[N];
    for (int d = 0; d + 1 < nd; ++d) { outer *= shape[d]; idx[d] = 0; }
    if (inner == 0 || outer == 0) return;
    char *q[N];
    for (int k = 0; k < N; ++k) { q[k] = ptr[k]; s[k] = nd ? st[k][nd - 1] : 0; }
    for (Py_ssize_t o = 0; o < outer; ++o) {
        body(q, s, inner);
        for (int d = nd - 2; d >= 0; --d) {
            if (++idx[d] < shape[d]) {
                for (int k = 0; k < N; ++k) q[k] += st[k][d];
                break;
            }
            idx[d] = 0;
            for (int k = 0; k < N; ++k) q[k] -= st[k][d] * (shape[d] - 1);
        }
    }
}

/* Elements a chunk of the SIMD loop covers when some input is constant along the last axis. */
#define GRNN_CHUNK 256

/* ``chunk`` filled with ``value`` (its first ``m`` entries); returns it. */
template <class T>
static const T *grnn_fill(T *chunk, T value, Py_ssize_t m) {
    for (Py_ssize_t i = 0; i < m; ++i) chunk[i] = value;
    return chunk;
}

static Py_ssize_t grnn_count(int nd, const Py_ssize_t *shape) {
    Py_ssize_t total = 1;
    for (int d = 0; d < nd; ++d) total *= shape[d];
    return total;
}
"""


def _wrapper(kernel) -> str:
    """The METH_FASTCALL function ``{name}_py`` running ``{name}_body`` over its arrays."""
    name = kernel.name
    dtypes = [np.dtype(d) for d in list(kernel.input_dtypes) + list(kernel.output_dtypes)]
    n_in, n = len(kernel.input_dtypes), len(dtypes)
    ctypes = kernel.c_types  # the compiler's C++ type of each argument
    args = [f"*({'const ' if i < n_in else ''}{c} *)(q[{i}] + i * s[{i}])"
            for i, c in enumerate(ctypes)]
    dense = [f"(({'const ' if i < n_in else ''}{c} *)q[{i}])[i]" for i, c in enumerate(ctypes)]
    unit = " && ".join(f"s[{i}] == (Py_ssize_t)sizeof({c})" for i, c in enumerate(ctypes))
    # inputs read at stride 0 along the last axis (a (B, 1) mask, a 0-d value) come from a
    # chunk filled with their value, so the SIMD loop still reads every operand densely
    spread = " && ".join(
        [f"(s[{i}] == (Py_ssize_t)sizeof({c}) || s[{i}] == 0)" for i, c in enumerate(ctypes[:n_in])]
        + [f"s[{i}] == (Py_ssize_t)sizeof({c})" for i, c in enumerate(ctypes) if i >= n_in])
    chunks = "".join(f"            alignas(64) {c} c{i}[GRNN_CHUNK];\n"
                     for i, c in enumerate(ctypes[:n_in]))
    pointers = "".join(
        f"                const {c} *p{i} = s[{i}] ? ({c} *)q[{i}] + i0 : "
        f"grnn_fill(c{i}, *(const {c} *)q[{i}], m);\n" for i, c in enumerate(ctypes[:n_in]))
    pointers += "".join(f"                {c} *p{i} = ({c} *)q[{i}] + i0;\n"
                        for i, c in enumerate(ctypes) if i >= n_in)
    chunked = [f"p{i}[i]" for i in range(n)]
    kinds = "".join(d.kind for d in dtypes)  # buffer-format class: f, b, i or u
    return f"""
static PyObject *{name}_py(PyObject *, PyObject *const *args, Py_ssize_t nargs) {{
    enum {{ NI = {n_in}, N = {n} }};
    static const Py_ssize_t size[N] = {{{', '.join(f'sizeof({c})' for c in ctypes)}}};
    static const char *const ctype[N] = {{{', '.join(f'"{c}"' for c in ctypes)}}};
    Py_buffer b[N];
    char *ptr[N];
    Py_ssize_t shape[GRNN_MAXD], st[N][GRNN_MAXD];
    int nd;
    if (grnn_open("{name}", args, nargs, NI, N - NI, size, "{kinds}", ctype, b, &nd, shape, st,
                  ptr) < 0)
        return NULL;
    auto body = [](char *const *q, const Py_ssize_t *s, Py_ssize_t n) {{
        if ({unit}) {{  // every operand dense along the last axis: SIMD lanes
#pragma omp simd
            for (Py_ssize_t i = 0; i < n; ++i)
                {name}_body({', '.join(dense)});
        }} else if ({spread}) {{  // some inputs constant along it: SIMD lanes by chunks
{chunks}            for (Py_ssize_t i0 = 0; i0 < n; i0 += GRNN_CHUNK) {{
                const Py_ssize_t m = n - i0 < GRNN_CHUNK ? n - i0 : GRNN_CHUNK;
{pointers}#pragma omp simd
                for (Py_ssize_t i = 0; i < m; ++i)
                    {name}_body({', '.join(chunked)});
            }}
        }} else {{
            for (Py_ssize_t i = 0; i < n; ++i)
                {name}_body({', '.join(args)});
        }}
    }};
    if (grnn_count(nd, shape) >= {NOGIL_ELEMENTS}) {{
        Py_BEGIN_ALLOW_THREADS
        grnn_loop<N>(nd, shape, st, ptr, body);
        Py_END_ALLOW_THREADS
    }} else {{
        grnn_loop<N>(nd, shape, st, ptr, body);
    }}
    grnn_release(b, N);
    Py_RETURN_NONE;
}}
"""


def module_source(kernels, source: str, module: str) -> str:
    """The extension module ``module`` as one C++ translation unit: Python's header, the
    kernels' ``source`` (its host branch: the prelude and every ``{name}_body``), the shared
    argument checks and loop, one wrapper per kernel and the module's init function."""
    methods = "".join(f'    {{"{k.name}", (PyCFunction)(void (*)(void)){k.name}_py, '
                      f'METH_FASTCALL, "fused kernel {k.name}(*inputs, *outputs)"}},\n'
                      for k in kernels)
    return ("// generated by graphrnn: fused kernels as a CPython extension module\n"
            "#define PY_SSIZE_T_CLEAN\n#include <Python.h>\n" + VECTOR_MATH
            + source + _SUPPORT + "".join(_wrapper(k) for k in kernels)
            + f"\nstatic PyMethodDef grnn_methods[] = {{\n{methods}"
            f"    {{NULL, NULL, 0, NULL}}\n}};\n"
            f"static struct PyModuleDef grnn_module = {{PyModuleDef_HEAD_INIT, \"{module}\", "
            f"\"graphrnn's fused kernels\", -1, grnn_methods, NULL, NULL, NULL, NULL}};\n"
            f"PyMODINIT_FUNC PyInit_{module}(void) {{ return PyModule_Create(&grnn_module); }}\n")


def build_module(kernels, source: str):
    """The extension module for ``kernels`` (whose C++ bodies ``source`` holds), built once
    per source on this machine (:func:`compile_module`) and imported."""
    if not source:
        raise ValueError("the native backend needs the kernels' C++ source")
    # -ffp-contract=off: no fused multiply-adds NumPy's ufuncs would not do
    return compile_module(lambda module: module_source(kernels, source, module), "grnn_native",
                          ["-ffp-contract=off"])


class NativeBackend(Backend):
    """NumPy arrays; fused elementwise groups run as compiled C++ loops over them.

    ``ufunc_reduce`` stays True: the arrays are NumPy's, so reductions keep
    ``np.add.reduce`` (the cuda-host backend turns it off only to run the CuPy program)."""

    fuses_elementwise = True
    ufunc_reduce = True

    def make_kernels(self, kernels, source: str = ""):
        """The kernels compiled into one extension module: its functions, in the kernels'
        order, each called ``f(*inputs, *outputs)``."""
        module = build_module(kernels, source)
        return [getattr(module, k.name) for k in kernels]

    @functools.cached_property
    def namespace(self):
        """NumPy with the native ``matmul`` for small products (:mod:`.native_matmul`),
        built on first use."""
        return native_matmul.namespace()


def load() -> Backend:
    """The native backend (a RuntimeError naming what is missing when it cannot build)."""
    global _BACKEND
    if _BACKEND is None:
        lacking = missing()
        if lacking:
            raise RuntimeError(f"the native backend needs {lacking}")
        _BACKEND = NativeBackend("native", np, np.asarray)
    return _BACKEND
