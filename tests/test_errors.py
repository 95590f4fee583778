"""Clear errors at the earliest point, naming the op or input and the shapes involved."""

import numpy as np
import pytest

import graphrnn as gr
from graphrnn import EvaluationError, InputError, ShapeError

F64 = np.float64


@pytest.fixture
def xw():
    return gr.input("x", ("B", 3), F64), gr.param("W", (3, 4), F64)


def test_matmul_mismatch_names_the_op_and_both_shapes(xw):
    x, _ = xw
    V = gr.param("V", (2, 4), F64)
    with pytest.raises(ShapeError, match=r"matmul: cannot multiply \(B, 3\) @ \(2, 4\): "
                                         r"inner dimensions 3 and 2 differ"):
        x @ V


def test_elementwise_mismatch_and_silent_outer_broadcast_are_refused(xw):
    x, W = xw
    with pytest.raises(ShapeError, match=r"add: shapes \(B, 4\) and \(3,\) do not broadcast"):
        (x @ W) + gr.param("b", (3,), F64)
    col = gr.input("y", ("B", 1), F64)
    row = gr.input("z", ("B",), F64)
    with pytest.raises(ShapeError, match=r"sub: broadcasting \(B, 1\) and \(B,\) would give "
                                         r"\(B, B\), larger than every operand"):
        col - row
    # the explicit outer form is allowed
    assert gr.broadcast_to(row, (3, gr.B)).shape == (3, gr.B)


def test_mixed_dtypes_are_refused_not_promoted(xw):
    x, _ = xw
    with pytest.raises(ShapeError, match=r"mul: dtypes differ: f64\(B, 3\) and f32\(B, 3\)"):
        x * gr.input("y", ("B", 3), np.float32)
    with pytest.raises(ShapeError, match="would be truncated"):
        gr.input("i", (2,), np.int64) * 0.5


def test_shape_op_errors(xw):
    x, _ = xw
    with pytest.raises(ShapeError, match=r"reshape: cannot reshape \(B, 3\) into \(B, 2\)"):
        gr.reshape(x, ("B", 2))
    with pytest.raises(ShapeError, match=r"index: axis 0 of \(B, 3\) is the symbolic B"):
        x[0]
    with pytest.raises(ShapeError, match=r"index: index 5 is out of range for axis 1 of size 3"):
        x[:, 5]
    with pytest.raises(ShapeError, match=r"stack: all shapes must be equal, got \(B, 3\), \(B, 4\)"):
        gr.stack([x, gr.input("y", ("B", 4), F64)])
    with pytest.raises(ShapeError, match=r"concat: shapes \(B, 3\), \(2, 3\) differ outside axis 1"):
        gr.concat([x, gr.input("z", (2, 3), F64)], axis=1)
    with pytest.raises(ShapeError, match="param 'P': shape \\(B, 3\\) must be concrete"):
        gr.param("P", ("B", 3))
    with pytest.raises(ShapeError, match="sum: axis 2 is out of range for 2 dimensions"):
        gr.sum(x, 2)
    with pytest.raises(ShapeError, match="log: expects a floating-point argument, got i64"):
        gr.log(gr.input("i", (2,), np.int64))
    with pytest.raises(ShapeError, match="gather: indices must be integers"):
        gr.gather(x, gr.input("k", ("B",), F64))


def test_missing_unknown_and_misshaped_inputs_name_the_input(xw):
    x, W = xw
    g = gr.Graph({"y": x @ W})
    run = gr.Evaluator(g)
    W0 = np.zeros((3, 4))
    with pytest.raises(InputError, match=r"missing input 'x' \(expected f64\(B, 3\)\)"):
        run({}, {"W": W0})
    with pytest.raises(InputError, match=r"unknown input 'q' for graph 'graph'; its inputs are: 'x'"):
        run({"x": np.zeros((2, 3)), "q": 1}, {"W": W0})
    with pytest.raises(InputError, match=r"unknown input 'W'.*'W' is a parameter; pass it in params"):
        run({"x": np.zeros((2, 3)), "W": W0}, {})
    with pytest.raises(ShapeError, match=r"input 'x': expected shape \(B, 3\), got \(2, 5\): "
                                         r"dimension 1 is 5, expected 3"):
        run({"x": np.zeros((2, 5))}, {"W": W0})
    with pytest.raises(ShapeError, match=r"param 'W': expected shape \(3, 4\), got \(4, 3\)"):
        run({"x": np.zeros((2, 3))}, {"W": W0.T})
    with pytest.raises(InputError, match=r"input 'x': expected dtype f64, got f32"):
        run({"x": np.zeros((2, 3), np.float32)}, {"W": W0})
    # plain lists are converted to the declared dtype
    out = run({"x": [[1.0, 2.0, 3.0]]}, {"W": W0})["y"]
    assert out.dtype == F64 and out.shape == (1, 4)


def test_inconsistent_batch_sizes_across_inputs():
    x = gr.input("x", ("B", 2), F64)
    y = gr.input("y", ("B", 2), F64)
    with pytest.raises(ShapeError, match=r"input 'y'.*gives B=3, but B=2 was already bound"):
        gr.evaluate(x + y, {"x": np.zeros((2, 2)), "y": np.zeros((3, 2))})


def test_unbound_symbolic_size_asks_for_dims():
    z = gr.zeros(("B", 3), F64)
    with pytest.raises(ShapeError, match=r"symbolic dimension B is not bound; pass it with dims"):
        gr.evaluate(z + 1.0)
    assert gr.evaluate(z + 1.0, dims={"B": 2}).shape == (2, 3)


def test_kernel_failures_name_the_node_and_its_time_step():
    logits = gr.input("logits", ("B", 3), F64)
    target = gr.input("target", ("B",), np.int64)
    with gr.meta_scope(step=4, origin="loss[t] = -gather(log_softmax(y[t]), target[t])"):
        picked = gr.gather(gr.log_softmax(logits), target)
    with pytest.raises(EvaluationError, match=r"gather .* at t=4 \(from loss\[t\] = .*index 7 "
                                              r"is out of range for 3 classes"):
        gr.evaluate(picked, {"logits": np.zeros((2, 3)), "target": np.array([0, 7])})
