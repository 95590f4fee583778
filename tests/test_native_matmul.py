"""The native backend's matmul for few rows: NumPy's products (to rounding) for every layout
it takes, NumPy's own call (and errors) for everything else, and the generated code of a
native program calling it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphrnn as gr
from graphrnn.models import LanguageModel
from graphrnn.runtime.backends import native
from graphrnn.runtime.backends.native_matmul import SMALL_ROWS, WORK

MISSING = native.missing()
pytestmark = pytest.mark.skipif(MISSING is not None,
                                reason=f"the native backend needs {MISSING}")


@pytest.fixture(scope="module")
def matmul():
    return gr.get_backend("native").namespace.matmul


def _layout(rng, shape, how, dtype):
    """An array of ``shape`` laid out as ``how``: C order, the transpose of a C array (F
    order), every other column of a wider array (strided rows), or C order read from the
    last row up (a negative stride)."""
    if how == "c":
        return rng.normal(size=shape).astype(dtype)
    if how == "f":
        return np.ascontiguousarray(rng.normal(size=shape[::-1]).astype(dtype)).T
    if how == "r":
        return rng.normal(size=shape).astype(dtype)[::-1]
    return rng.normal(size=(shape[0], 2 * shape[1])).astype(dtype)[:, ::2]


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, SMALL_ROWS + 2), k=st.integers(1, 40), n=st.integers(1, 40),
       a_how=st.sampled_from("cfsr"), b_how=st.sampled_from("cfsr"),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 99))
def test_products_equal_numpys_in_every_layout(matmul, m, k, n, a_how, b_how, dtype, seed):
    rng = np.random.default_rng(seed)
    a, b = _layout(rng, (m, k), a_how, dtype), _layout(rng, (k, n), b_how, dtype)
    out = np.full((m, n), np.nan, dtype)
    got = matmul(a, b, out=out)
    assert got is out
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    tol = 1e-5 if dtype == np.float32 else 1e-13
    scale = np.abs(a).sum(1)[:, None] * np.abs(b).max() + 1e-30
    assert np.all(np.abs(out - want) <= tol * scale)


def test_nan_and_infinities_propagate(matmul):
    a = np.ones((1, 16), np.float32)
    w = np.ones((8, 16), np.float32)
    w[2, 3], w[5, 0] = np.nan, np.inf
    for b in (w.T, np.ascontiguousarray(w.T)):
        out = matmul(a, b, np.empty((1, 8), np.float32))
        assert np.isnan(out[0, 2]) and out[0, 5] == np.inf and np.all(out[0, [0, 1, 3]] == 16)


def test_what_it_does_not_take_goes_to_numpy(matmul):
    rng = np.random.default_rng(0)
    big = rng.normal(size=(SMALL_ROWS + 1, 3))
    b = rng.normal(size=(3, 4))
    cases = [(big, b),                                                    # too many rows
             (rng.normal(size=(2, 2, 3)), b),                             # batched
             (rng.normal(size=(1, 3)).astype(np.float32), b),             # mixed dtypes
             (np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4))]   # integers
    for a, bb in cases:
        want = np.matmul(a, bb)
        assert np.array_equal(matmul(a, bb, out=np.empty_like(want)), want)
        assert np.array_equal(matmul(a, bb), want)  # no out: NumPy allocates
    k = int(np.sqrt(WORK)) + 1  # more work than the native loops take
    a, w = rng.normal(size=(1, k)), rng.normal(size=(k, k))
    np.testing.assert_allclose(matmul(a, w, out=np.empty((1, k))), a @ w, rtol=1e-12)
    buf = rng.normal(size=(1, 8))  # the output overlaps an input: NumPy copies first
    a, w = buf[:, :4], rng.normal(size=(4, 4))
    want = a @ w
    assert np.allclose(matmul(a, w, out=buf[:, 4:]), want)
    flat = rng.normal(size=16)  # ... also where an input is read backwards
    a = flat[8:].reshape(2, 4)[::-1]  # rows flat[12:16], flat[8:12]
    want = a @ w
    assert np.allclose(matmul(a, w, out=flat[4:12].reshape(2, 4)), want)


def test_bad_arguments_raise_numpys_errors(matmul):
    with pytest.raises(ValueError, match="mismatch in its core dimension"):
        matmul(np.ones((1, 3)), np.ones((2, 2)), out=np.empty((1, 2)))
    with pytest.raises(ValueError):
        matmul(np.ones((1, 3)), np.ones((3, 2)), out=np.empty((1, 3)))
    with pytest.raises(TypeError, match="takes"):
        matmul(np.ones((1, 3)), np.ones((3, 2)), np.empty((1, 2)), np.empty(1))
    with pytest.raises(TypeError, match="takes"):
        matmul(np.ones((1, 3)), np.ones((3, 2)), where=True)
    read_only = np.empty((1, 2))
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        matmul(np.ones((1, 3)), np.ones((3, 2)), out=read_only)


def test_native_programs_call_it_and_agree_with_numpy():
    model = LanguageModel(16, 8, 12, dtype=np.float64, seed=0)
    tokens = np.random.default_rng(1).integers(0, 16, size=(5, 1))
    want = model(tokens)
    model.backend = "native"
    program = model.stepper(1)._step_program
    namespace = program.backend.namespace
    assert namespace.matmul is not np.matmul
    assert namespace.fft.fft is np.fft.fft and namespace.add is np.add  # the rest is NumPy
    assert "np.matmul(" in program.source  # the generated code's np is the namespace
    np.testing.assert_allclose(model(tokens), want, rtol=1e-12, atol=1e-14)
