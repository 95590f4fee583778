"""Adding an op is one file and one test: ``softsign(x) = x / (1 + |x|)``, defined here with
every interpretation (shape rule, kernel, VJP, NumPy emission, CUDA expression, printing)
and registered for these tests only, runs everywhere an op runs: the evaluator, gradcheck,
compiled NumPy code (straight and looped), fused C++ kernels and the printer."""

import numpy as np
import pytest

import graphrnn as gr
from graphrnn import Recurrence, t
from graphrnn.core.ops import O, OPS, Op, apply, register, unregister
from graphrnn.core.ops.forms import atom
from graphrnn.core.ops.registry import check_float
from graphrnn.core.pretty import format_expr
from graphrnn.runtime.backends.cuda_host import find_compiler

F64 = np.float64


def _rule(x):
    check_float("softsign", x)
    return x.shape, x.dtype


def _kernel(xp, x):
    return x / (1 + xp.abs(x))  # abs, add, divide: the emission's calls, so the same bits


def _vjp(node, g):
    x = node.args[0]
    d = 1.0 + gr.where(x >= 0, x, -x)
    return (g / (d * d),)


def _make_op() -> Op:
    return Op("softsign", _rule, _kernel, _vjp, elementwise=True, doc="x / (1 + |x|)",
              # the output is written before x is read again: it may not share x's buffer
              numpy="{v} = np.abs({0}, out={out}); np.add({v}, 1, out={v}); "
                    "np.divide({0}, {v}, out={v})", inplace=(), broadcasting=True,
              cuda="({0}) / ({T}(1) + (({0}) < {T}(0) ? -({0}) : ({0})))",
              printing=lambda node, args: (f"{atom(args[0], 2)} / (1 + |{args[0][0]}|)", 2))


@pytest.fixture
def softsign():
    """The op's builder while it is registered; unregistered afterwards."""
    op = register(_make_op())
    try:
        yield lambda x: apply(op, x)
    finally:
        unregister(op)


def _want(v):
    return v / (1 + np.abs(v))


def _data(rng, T=5, B=3, D=2, H=4):
    x = rng.normal(size=(T, B, D)) * 2
    params = {"W": rng.normal(size=(H, H)) * 0.6, "U": rng.normal(size=(D, H)),
              "V": rng.normal(size=(H, 1))}
    return x, params


def _recurrent_loss(softsign, T):
    rec = Recurrence("toy", dtype="float64")
    x, h = rec.input("x", 2), rec.state("h", 4)
    W, U, V = rec.param("W", (4, 4)), rec.param("U", (2, 4)), rec.param("V", (4, 1))
    rec.update(h, softsign(h[t - 1] @ W + x[t] @ U))
    rec.output("y", h @ V)
    graph = rec.unroll(T)
    return gr.Graph({"loss": gr.sum(graph.outputs["y"] * graph.outputs["y"])})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_evaluator_and_compiled_code_give_the_kernel_bits(softsign, dtype):
    x = gr.input("x", ("B", 7), dtype)
    s = softsign(x)
    assert s.op is O.softsign and s.shape == x.shape
    v = np.linspace(-5, 5, 21, dtype=dtype).reshape(3, 7)
    v[0, 0], v[0, 1] = -0.0, np.nan
    np.testing.assert_array_equal(gr.evaluate(s, inputs={"x": v}), _want(v))
    y = softsign(x * 3.0) * 0.5  # x * 3 dies at softsign: its buffer is free, not shared
    got = gr.evaluate(y, inputs={"x": v})
    np.testing.assert_array_equal(got, _want(v * dtype(3)) * dtype(0.5))
    program = gr.compile(gr.Graph({"y": y}))
    assert "np.abs(" in program.source  # the op's emission, not a call of its kernel
    np.testing.assert_array_equal(program({"x": v}, {})["y"], got)


def test_shape_rule_rejects_integers(softsign):
    with pytest.raises(gr.ShapeError, match="softsign"):
        softsign(gr.input("i", ("B", 2), "int64"))


def test_vjp_matches_central_differences(softsign):
    rng = np.random.default_rng(0)
    x = gr.input("x", ("B", 3), F64)
    W = gr.param("W", (3, 4), F64)
    y = softsign(softsign(x @ W) * 2.0)
    assert gr.gradcheck(y, {"x": rng.normal(size=(2, 3))}, {"W": rng.normal(size=(3, 4))}).ok


def test_an_optimized_training_program_equals_the_evaluator(softsign):
    rng = np.random.default_rng(1)
    x, params = _data(rng)
    train = gr.grad_graph(_recurrent_loss(softsign, 5))
    want = gr.evaluate(train, {"x": x}, params)
    program = gr.compile(train, "O2")
    assert "for t in range(" in program.source and "np.abs(" in program.source
    got = program({"x": x}, params)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12, err_msg=k)


def test_one_program_for_every_length(softsign):
    program = gr.compile(lambda T: gr.grad_graph(_recurrent_loss(softsign, T)))
    rng = np.random.default_rng(2)
    for T in (3, 6):
        x, params = _data(rng, T=T)
        want = gr.evaluate(gr.grad_graph(_recurrent_loss(softsign, T)), {"x": x}, params)
        got = program({"x": x}, params)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12, err_msg=k)


@pytest.mark.skipif(find_compiler() is None, reason="no nvcc or C++ compiler for cuda-host")
def test_fused_kernels_on_the_host_use_the_cuda_expression(softsign):
    rng = np.random.default_rng(3)
    x, params = _data(rng)
    train = gr.grad_graph(_recurrent_loss(softsign, 5))
    program = gr.compile(train, backend="cuda-host")
    assert any("? -(" in k.operation for k in program.kernels), "softsign was not fused"
    want = gr.evaluate(train, {"x": x}, params)
    got = program({"x": x}, params)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_printing_uses_the_op_form(softsign):
    x, y = gr.input("x", ("B", 2), F64), gr.input("y", ("B", 2), F64)
    assert format_expr(softsign(x)) == "x / (1 + |x|)"
    assert format_expr(softsign(x + y)) == "(x + y) / (1 + |x + y|)"
    assert format_expr(y / softsign(x)) == "y / (x / (1 + |x|))"
    assert format_expr(softsign(x) * y) == "x / (1 + |x|) * y"


def test_the_registration_does_not_leak(softsign):
    assert OPS["softsign"] is O.softsign


def test_after_the_tests_the_op_is_gone():
    assert "softsign" not in OPS
    with pytest.raises(AttributeError):
        O.softsign
