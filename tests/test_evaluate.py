"""The reference executor across backends and dtypes, and numerically stable kernels."""

import warnings

import numpy as np
import pytest

import graphrnn as gr


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_small_network_runs_on_each_backend_in_each_dtype(backend, dtype):
    x = gr.input("x", ("B", 3), dtype)
    W = gr.param("W", (3, 2), dtype)
    y = gr.softmax(gr.tanh(x @ W), -1)
    rng = np.random.default_rng(0)
    xv, Wv = rng.normal(size=(4, 3)).astype(dtype), rng.normal(size=(3, 2)).astype(dtype)
    out = gr.evaluate(y, {"x": backend.asarray(xv)}, {"W": backend.asarray(Wv)}, backend=backend)
    assert backend.is_native(out) and out.dtype == dtype
    e = np.exp(np.tanh(xv.astype(np.float64) @ Wv))
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(backend.to_numpy(out), e / e.sum(-1, keepdims=True), rtol=tol)


def test_backend_selection_and_fallback():
    assert gr.get_backend("numpy").name == "numpy"
    assert "numpy" in gr.available_backends()
    auto = gr.get_backend("auto")
    assert auto.name in gr.available_backends()
    if "cupy" not in gr.available_backends():
        assert auto.name == "numpy"
        with pytest.raises(RuntimeError, match="cupy"):
            gr.get_backend("cupy")
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        gr.get_backend("tpu")


def test_stable_kernels_survive_extreme_values_without_warnings():
    x = gr.input("x", (1, 4), np.float64)
    big = np.array([[-1000.0, 0.0, 1000.0, 800.0]])
    graph = gr.Graph({"sig": gr.sigmoid(x), "lse": gr.logsumexp(x, -1),
                      "lsm": gr.log_softmax(x, -1), "sm": gr.softmax(x, -1)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow would warn
        out = gr.evaluate(graph, {"x": big})
    np.testing.assert_allclose(out["sig"], [[0.0, 0.5, 1.0, 1.0]], atol=1e-300)
    np.testing.assert_allclose(out["lse"], [1000.0])
    assert np.isfinite(out["lsm"][0, 1:]).all() and out["lsm"][0, 2] == pytest.approx(0.0)
    np.testing.assert_allclose(out["sm"].sum(), 1.0)
    # the gradient of a saturated sigmoid is 0, not NaN
    (gx,) = gr.grad(gr.sum(gr.sigmoid(x)), [x])
    assert np.isfinite(gr.evaluate(gx, {"x": big})).all()


def test_an_evaluator_is_reusable_and_frees_intermediates():
    x = gr.input("x", ("B", 2), np.float64)
    h = x
    for _ in range(50):
        h = gr.tanh(h) * 0.9
    run = gr.Evaluator(gr.Graph({"h": h}))
    a = run({"x": np.ones((3, 2))})["h"]
    b = run({"x": np.ones((7, 2))})["h"]
    assert a.shape == (3, 2) and b.shape == (7, 2) and np.allclose(a[0], b[0])
    # every intermediate is released after its last use (only leaves and the output stay)
    freed = {j for step in run._steps for j in step[5]}
    assert len(freed) >= len(run.graph) - 3
