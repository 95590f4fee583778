"""Reverse mode: random DAGs against finite differences, n-ary accumulation, gradients of
gradients (Hessian-vector products), and the Graph-level transform."""

import numpy as np
import pytest
from hypothesis import given, note

import graphrnn as gr

from .strategies import F64, arrays, expression_dags


@given(expression_dags())
def test_random_dags_with_shared_subexpressions_match_finite_differences(dag):
    loss, inputs, params, description = dag
    note(description)
    gr.gradcheck(gr.Graph({"loss": loss}), inputs, params)


def test_a_shared_parameter_accumulates_all_uses_in_one_add_n():
    x = gr.input("x", ("B", 2), F64)
    W = gr.param("W", (2, 2), F64)
    h = x
    for _ in range(5):  # W used at 5 "time steps"
        h = gr.tanh(h @ W)
    (dW,) = gr.grad(h.sum(), [W])
    assert dW.op.name == "add_n" and len(dW.args) == 5
    gr.gradcheck(gr.Graph({"loss": h.sum()}), {"x": np.random.default_rng(0).normal(size=(3, 2))},
                 {"W": np.random.default_rng(1).normal(size=(2, 2))})


def test_gradient_of_an_unrelated_leaf_is_zeros_and_nonscalar_grad_is_refused():
    x = gr.input("x", ("B", 2), F64)
    y = gr.input("y", ("B", 2), F64)
    gx, gy = gr.grad(gr.sum(x * x), [x, y])
    assert gy.op.name == "fill" and gy.attr("value") == 0.0
    # gy does not read y, so y is not an input of this graph (unknown inputs are refused)
    out = gr.evaluate([gx, gy], {"x": np.ones((3, 2))})
    np.testing.assert_array_equal(out[0], 2 * np.ones((3, 2)))
    np.testing.assert_array_equal(out[1], np.zeros((3, 2)))
    with pytest.raises(gr.ShapeError, match=r"output must be a scalar, got .*\(B, 2\)"):
        gr.grad(x * x, [x])


@given(arrays((3,), -1.0, 1.0), arrays((3,), -1.0, 1.0), arrays((3, 3), -1.0, 1.0))
def test_hessian_vector_product_matches_finite_differences_of_the_gradient(x0, v0, W0):
    x = gr.input("x", (1, 3), F64)
    W = gr.param("W", (3, 3), F64)
    v = gr.input("v", (1, 3), F64)
    f = gr.sum(gr.tanh(x @ W) ** 3) + gr.sum(gr.log_softmax(x * x, -1))
    (g,) = gr.grad(f, [x])
    (hv,) = gr.grad(gr.sum(g * v), [x])  # d/dx <grad f, v> = H v
    grad_fn = gr.Evaluator(gr.Graph({"g": g}))
    hv_val = gr.evaluate(hv, {"x": x0[None], "v": v0[None]}, {"W": W0})
    eps = 1e-5
    gp = grad_fn({"x": (x0 + eps * v0)[None]}, {"W": W0})["g"]
    gm = grad_fn({"x": (x0 - eps * v0)[None]}, {"W": W0})["g"]
    np.testing.assert_allclose(hv_val, (gp - gm) / (2 * eps), rtol=1e-5, atol=1e-7)
    # and the second-order graph passes gradcheck itself
    gr.gradcheck(gr.Graph({"g": g}), {"x": x0[None]}, {"W": W0})


def test_grad_graph_names_gradients_and_keeps_outputs():
    x = gr.input("x", ("B", 2), F64)
    W = gr.param("W", (2, 2), F64)
    b = gr.param("b", (2,), F64)
    y = x @ W + b
    g = gr.Graph({"y": y, "loss": gr.mean(y * y)}, name="lin")
    dg = gr.grad_graph(g)
    assert list(dg.outputs) == ["y", "loss", "dloss/dW", "dloss/db"]
    assert dg.name == "grad(lin)"
    only_x = gr.grad_graph(g, wrt=["x"], loss="loss")
    assert list(only_x.outputs)[-1] == "dloss/dx"
    with pytest.raises(KeyError, match="'z' is not an input or parameter"):
        gr.grad_graph(g, wrt=["z"])
    with pytest.raises(ValueError, match="say which is the loss"):
        gr.grad_graph(gr.Graph({"a": y.sum(), "b": y.sum() * 2.0}))
    xv, Wv, bv = np.arange(6.0).reshape(3, 2), np.eye(2), np.ones(2)
    out = gr.evaluate(dg, {"x": xv}, {"W": Wv, "b": bv})
    yv = xv @ Wv + bv
    np.testing.assert_allclose(out["dloss/dW"], xv.T @ (2 * yv / yv.size))
    np.testing.assert_allclose(out["dloss/db"], (2 * yv / yv.size).sum(0))


def test_gradients_follow_the_dtype_float32_stays_float32():
    x = gr.input("x", ("B", 4), np.float32)
    W = gr.param("W", (4, 4), np.float32)
    (dW,) = gr.grad(gr.mean(gr.sigmoid(x @ W)), [W])
    assert dW.dtype == np.float32
    out = gr.evaluate(dW, {"x": np.ones((2, 4), np.float32)}, {"W": np.eye(4, dtype=np.float32)})
    assert out.dtype == np.float32
