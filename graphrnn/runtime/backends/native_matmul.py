"""The native backend's matrix product for small operands: ``matmul(a, b, out)``.

At batch 1 (generation, online models) a step's matmuls are matrix-vector products, and
the engine's weights are stored as PyTorch stores them, ``(out, in)``, so ``x @ W.T`` reads
``W.T``: a column-major operand, for which the BLAS's GEMM/GEMV path costs about twice what
the same product costs on a row-major copy (measured: 128x512 float32, about 6-10 us
against 3-5 us).  This C++ function computes small 2-D products itself (:data:`ROWS`,
:data:`WORK`), in either layout of ``b``:

- ``b``'s rows contiguous (``g @ W`` for a row-major ``W``): ``out[m] = sum_k a[m, k] b[k]``,
  four rows of ``b`` added into every output row per pass (any strides of ``a``: the
  weight gradient ``x.T @ g`` included);
- ``b``'s columns contiguous (``x @ W.T``): dot products of each row of ``a`` against
  eight rows of ``W`` at once, in SIMD lanes, summed across lanes by a transposing tree
  of horizontal adds where AVX is there.

Everything else (larger products, batched or mixed-dtype ones, an overlapping output,
strides it does not take) goes to ``numpy.matmul(a, b, out=out)``.  The sums are float32 or float64 as
the operands, in another order than the BLAS's (as two BLAS builds differ): results agree
to rounding.  Built once per process, with the kernels' compiler and flags.
"""

from __future__ import annotations

import types

import numpy as np

from .native_build import compile_module

__all__ = ["ROWS", "WORK", "SMALL_ROWS", "SMALL_WORK", "SOURCE", "namespace"]

#: Products the native loops take: at most ``ROWS`` rows of ``a`` (and ``out``) and ``WORK``
#: multiply-adds (M * K * N), or at most ``SMALL_ROWS`` rows and ``SMALL_WORK``
#: multiply-adds; the BLAS (blocked for many rows, threaded) does the rest better.
#: Measured: 1 x 128 @ 128 x 512 in 4-5 us against 6-10 us; 8 x 64 @ 64 x 64 in 2.8 us
#: against 5 us; 8 x 128 @ 128 x 512 and 16 x 64 @ 64 x 192 at par or behind.
ROWS, WORK = 4, 1 << 18
SMALL_ROWS, SMALL_WORK = 16, 1 << 15

SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <cstring>
#if defined(__AVX__)
#include <immintrin.h>
#endif

static PyObject *grnn_np_matmul = NULL;  // numpy.matmul: what the loops below do not take

/* out[m, :] = sum_k a[m, k] * b[k, :] with b's rows contiguous (stride bs bytes apart): four
   rows of b at a time, added into every output row while they are in the cache. */
template <class T>
static void grnn_mm_rows(Py_ssize_t M, Py_ssize_t K, Py_ssize_t N, const char *a,
                         Py_ssize_t a0, Py_ssize_t a1, const char *b, Py_ssize_t bs, T *out) {
#define GRNN_A(m, k) (*(const T *)(a + (m) * a0 + (k) * a1))
    const T *b0 = (const T *)b;
    for (Py_ssize_t m = 0; m < M; ++m) {
        T *o = out + m * N;
        const T x0 = GRNN_A(m, 0);
#pragma omp simd
        for (Py_ssize_t n = 0; n < N; ++n) o[n] = x0 * b0[n];
    }
    Py_ssize_t k = 1;
    for (; k + 4 <= K; k += 4) {
        const T *r0 = (const T *)(b + k * bs), *r1 = (const T *)(b + (k + 1) * bs);
        const T *r2 = (const T *)(b + (k + 2) * bs), *r3 = (const T *)(b + (k + 3) * bs);
        for (Py_ssize_t m = 0; m < M; ++m) {
            T *o = out + m * N;
            const T c0 = GRNN_A(m, k), c1 = GRNN_A(m, k + 1);
            const T c2 = GRNN_A(m, k + 2), c3 = GRNN_A(m, k + 3);
#pragma omp simd
            for (Py_ssize_t n = 0; n < N; ++n)
                o[n] += c0 * r0[n] + c1 * r1[n] + c2 * r2[n] + c3 * r3[n];
        }
    }
    for (; k < K; ++k) {
        const T *r = (const T *)(b + k * bs);
        for (Py_ssize_t m = 0; m < M; ++m) {
            T *o = out + m * N;
            const T c = GRNN_A(m, k);
#pragma omp simd
            for (Py_ssize_t n = 0; n < N; ++n) o[n] += c * r[n];
        }
    }
#undef GRNN_A
}

/* o[j] = the sum of s[j]'s lanes plus the tail sums t[j], for R vectors of partial sums. */
template <class T, int R, class V>
static inline void grnn_lanes(const V *s, const T *t, T *o) {
    enum { L = sizeof(V) / sizeof(T) };
#pragma GCC unroll 8
    for (int j = 0; j < R; ++j) {
        T u = t[j];
        for (int l = 0; l < L; ++l) u += s[j][l];
        o[j] = u;
    }
}

#if defined(__AVX__)
/* Eight float rows: a transposing tree of horizontal adds, one vector of eight sums. */
template <>
inline void grnn_lanes<float, 8, __m256>(const __m256 *s, const float *t, float *o) {
    const __m256 g0 = _mm256_hadd_ps(_mm256_hadd_ps(s[0], s[1]), _mm256_hadd_ps(s[2], s[3]));
    const __m256 g1 = _mm256_hadd_ps(_mm256_hadd_ps(s[4], s[5]), _mm256_hadd_ps(s[6], s[7]));
    const __m256 sums = _mm256_add_ps(_mm256_permute2f128_ps(g0, g1, 0x20),
                                      _mm256_permute2f128_ps(g0, g1, 0x31));
    _mm256_storeu_ps(o, _mm256_add_ps(sums, _mm256_loadu_ps(t)));
}
#endif

/* Dot products of x (K entries) with R rows of w (ws bytes apart) into o[0..R): each row
   summed in a vector of partial sums over k (GCC/Clang vector extensions: compilers do
   not vectorize several reductions at once well), R independent chains of multiply-adds,
   the lanes added at the end. */
template <class T, int R>
static inline void grnn_dots(Py_ssize_t K, const T *x, const char *w, Py_ssize_t ws, T *o) {
    typedef T vec __attribute__((vector_size(32)));
    enum { L = 32 / sizeof(T) };
    const Py_ssize_t KV = K - K % L;
    const T *r[R];
    vec s[R], v, u;
    T t[R];
#pragma GCC unroll 8
    for (int j = 0; j < R; ++j) { r[j] = (const T *)(w + j * ws); s[j] = vec{}; t[j] = 0; }
    for (Py_ssize_t k = 0; k < KV; k += L) {
        std::memcpy(&v, x + k, sizeof v);
#pragma GCC unroll 8
        for (int j = 0; j < R; ++j) { std::memcpy(&u, r[j] + k, sizeof u); s[j] += v * u; }
    }
    for (Py_ssize_t k = KV; k < K; ++k)
#pragma GCC unroll 8
        for (int j = 0; j < R; ++j) t[j] += x[k] * r[j][k];
    grnn_lanes<T, R, vec>(s, t, o);
}

/* out[m, n] = sum_k a[m, k] * w[n][k] with a's rows and b's columns (w's rows, ws bytes
   apart) contiguous: b = W.T for a row-major W. */
template <class T>
static void grnn_mm_cols(Py_ssize_t M, Py_ssize_t K, Py_ssize_t N, const char *a,
                         Py_ssize_t a0, const char *w, Py_ssize_t ws, T *out) {
    Py_ssize_t n = 0;  // eight rows of W at a time, against every row of a while cached
    for (; n + 8 <= N; n += 8)
        for (Py_ssize_t m = 0; m < M; ++m)
            grnn_dots<T, 8>(K, (const T *)(a + m * a0), w + n * ws, ws, out + m * N + n);
    for (; n < N; ++n)
        for (Py_ssize_t m = 0; m < M; ++m)
            grnn_dots<T, 1>(K, (const T *)(a + m * a0), w + n * ws, ws, out + m * N + n);
}

/* The bytes [lo, hi) an array's elements lie in (negative strides included). */
static void grnn_extent(const Py_buffer *x, const char **lo, const char **hi) {
    Py_ssize_t below = 0, above = x->itemsize;
    for (int d = 0; d < x->ndim; ++d) {
        const Py_ssize_t reach = (x->shape[d] - 1) * x->strides[d];
        if (reach < 0) below += reach; else above += reach;
    }
    *lo = (const char *)x->buf + below;
    *hi = (const char *)x->buf + above;
}

/* Whether two arrays' extents share a byte (NumPy copies such operands first). */
static bool grnn_overlap(const Py_buffer *x, const Py_buffer *y) {
    const char *xl, *xh, *yl, *yh;
    grnn_extent(x, &xl, &xh);
    grnn_extent(y, &yl, &yh);
    return xl < yh && yl < xh;
}

template <class T>
static bool grnn_mm_run(const Py_buffer *A, const Py_buffer *B, Py_buffer *O) {
    const Py_ssize_t M = A->shape[0], K = A->shape[1], N = B->shape[1], t = sizeof(T);
    const Py_ssize_t a0 = A->strides[0], a1 = A->strides[1];
    const Py_ssize_t b0 = B->strides[0], b1 = B->strides[1];
    if (O->strides[1] != t || O->strides[0] != N * t) return false;  // out C-contiguous
    if (b1 == t && b0 > 0) {
        grnn_mm_rows<T>(M, K, N, (const char *)A->buf, a0, a1, (const char *)B->buf, b0,
                        (T *)O->buf);
        return true;
    }
    if (b0 == t && b1 > 0 && a1 == t) {
        grnn_mm_cols<T>(M, K, N, (const char *)A->buf, a0, (const char *)B->buf, b1,
                        (T *)O->buf);
        return true;
    }
    return false;
}

/* numpy.matmul(a, b) or numpy.matmul(a, b, out=out). */
static PyObject *grnn_mm_numpy(PyObject *a, PyObject *b, PyObject *out) {
    PyObject *pos = PyTuple_Pack(2, a, b);
    if (pos == NULL) return NULL;
    PyObject *kw = out == NULL ? NULL : Py_BuildValue("{s:O}", "out", out);
    PyObject *r = (out == NULL || kw != NULL) ? PyObject_Call(grnn_np_matmul, pos, kw) : NULL;
    Py_XDECREF(kw);
    Py_DECREF(pos);
    return r;
}

/* matmul(a, b, out=None): a @ b into out for 2-D float32 or float64 operands of few rows,
   else numpy.matmul (which also raises for bad arguments).  Returns out. */
static PyObject *grnn_matmul(PyObject *, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames) {
    const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *out = nargs == 3 ? args[2] : NULL;
    if (nargs == 2 && nkw == 0)
        return grnn_mm_numpy(args[0], args[1], NULL);
    if (nargs == 2 && nkw == 1 && PyUnicode_CompareWithASCIIString(
            PyTuple_GET_ITEM(kwnames, 0), "out") == 0)
        out = args[2];
    else if (nargs != 3 || nkw) {
        PyErr_SetString(PyExc_TypeError, "matmul takes (a, b, out) or (a, b, out=out)");
        return NULL;
    }
    Py_buffer v[3];
    PyObject *const arr[3] = {args[0], args[1], out};
    int got = 0;
    bool done = false;
    for (; got < 3; ++got)
        if (PyObject_GetBuffer(arr[got], &v[got], PyBUF_STRIDES | PyBUF_FORMAT
                               | (got == 2 ? PyBUF_WRITABLE : 0)) < 0) {
            PyErr_Clear();
            break;
        }
    if (got == 3 && v[0].ndim == 2 && v[1].ndim == 2 && v[2].ndim == 2) {
        const Py_ssize_t M = v[0].shape[0], K = v[0].shape[1], N = v[1].shape[1];
        const char *f = v[0].format;
        const bool same = f && f[0] && !f[1] && (f[0] == 'f' || f[0] == 'd')
                          && std::strcmp(f, v[1].format) == 0 && std::strcmp(f, v[2].format) == 0;
        if (same && v[1].shape[0] == K && v[2].shape[0] == M && v[2].shape[1] == N
                && M >= 1 && K >= 1 && N >= 1
                && ((M <= GRNN_MM_ROWS && (double)M * K * N <= GRNN_MM_WORK)
                    || (M <= GRNN_MM_SMALL_ROWS && (double)M * K * N <= GRNN_MM_SMALL_WORK))
                && !grnn_overlap(&v[2], &v[0]) && !grnn_overlap(&v[2], &v[1]))
            done = f[0] == 'f' ? grnn_mm_run<float>(&v[0], &v[1], &v[2])
                               : grnn_mm_run<double>(&v[0], &v[1], &v[2]);
    }
    for (int i = 0; i < got; ++i) PyBuffer_Release(&v[i]);
    if (!done) return grnn_mm_numpy(args[0], args[1], out);
    Py_INCREF(out);
    return out;
}

static PyMethodDef grnn_mm_methods[] = {
    {"matmul", (PyCFunction)(void (*)(void))grnn_matmul, METH_FASTCALL | METH_KEYWORDS,
     "matmul(a, b, out): out = a @ b (2-D, few rows: native loops; else numpy.matmul)"},
    {NULL, NULL, 0, NULL}};
"""


def _module_text(module: str) -> str:
    sizes = {"GRNN_MM_SMALL_ROWS": SMALL_ROWS, "GRNN_MM_SMALL_WORK": SMALL_WORK,
             "GRNN_MM_ROWS": ROWS, "GRNN_MM_WORK": WORK}
    text = SOURCE
    for name, value in sizes.items():
        text = text.replace(name, str(value))
    return (text
            + f"static struct PyModuleDef grnn_mm_module = {{PyModuleDef_HEAD_INIT, "
            f"\"{module}\", \"graphrnn's native matmul\", -1, grnn_mm_methods, NULL, NULL, "
            f"NULL, NULL}};\n"
            f"PyMODINIT_FUNC PyInit_{module}(void) {{\n"
            f"    PyObject *np = PyImport_ImportModule(\"numpy\");\n"
            f"    if (np == NULL) return NULL;\n"
            f"    grnn_np_matmul = PyObject_GetAttrString(np, \"matmul\");\n"
            f"    Py_DECREF(np);\n"
            f"    if (grnn_np_matmul == NULL) return NULL;\n"
            f"    return PyModule_Create(&grnn_mm_module);\n}}\n")


def namespace() -> types.ModuleType:
    """NumPy's namespace with ``matmul`` the native one (what the generated code calls
    ``np``).  The loops are built with ``-O3`` and fused multiply-adds allowed (the BLAS
    uses them too)."""
    module = compile_module(_module_text, "grnn_native_matmul", ["-O3", "-ffp-contract=fast"])
    ns = types.ModuleType("numpy", "NumPy, with graphrnn's native matmul for few rows")
    ns.__dict__.update({k: v for k, v in np.__dict__.items() if not k.startswith("__")})
    ns.__getattr__ = lambda name: getattr(np, name)  # submodules NumPy loads lazily
    ns.matmul = module.matmul
    return ns
