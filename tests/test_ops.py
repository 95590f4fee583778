"""Every registered op: forward against a direct NumPy computation, VJP against finite
differences, on hypothesis-generated shapes and values."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphrnn as gr
from graphrnn.core.ops import apply

from .strategies import F64, arrays, away_from_zero, distinct, shapes

CASES = {}


def case(*names):
    def deco(fn):
        for n in names:
            CASES[n] = fn
        return fn
    return deco


def case_graph(opname, data):
    """An op's property-test case drawn from ``data`` as a one-output graph:
    ``(values, out node, graph, inputs, params, reference function)``; parameters are 1.5."""
    values, build, ref = CASES[opname](data)
    nodes = {k: gr.input(k, v.shape, v.dtype) for k, v in values.items()}
    out = build(nodes)
    graph = gr.Graph({"out": out})
    assert opname in graph.op_counts(), f"{opname} not in {graph.op_counts()}"
    params = {k: np.full(n.shape, 1.5) for k, n in graph.params.items()}
    inputs = {k: v for k, v in values.items() if k in graph.inputs}
    return values, out, graph, inputs, params, ref


def sp(a):
    """A numerically safe positive array from any array."""
    return a * a + 0.5


# Each case draws arrays and returns (arrays, build(nodes) -> Node, reference(arrays) -> array).
@case("input")
def _(d):
    a = d.draw(arrays(d.draw(shapes())))
    return {"x": a}, lambda n: n["x"], lambda v: v["x"]


@case("param")
def _(d):
    a = d.draw(arrays(d.draw(shapes())))
    return {"x": a}, lambda n: n["x"] * gr.param("P", a.shape, F64), lambda v: v["x"] * 1.5


@case("const")
def _(d):
    a, c = d.draw(arrays(d.draw(shapes()))), d.draw(arrays((1,)))
    return {"x": a}, lambda n: n["x"] * gr.const(c, F64), lambda v: v["x"] * c


@case("fill")
def _(d):
    a, val = d.draw(arrays(d.draw(shapes()))), d.draw(st.floats(-3, 3))
    return {"x": a}, lambda n: n["x"] + gr.full(a.shape, val, F64), lambda v: v["x"] + val


@case("numel")
def _(d):
    a = d.draw(arrays(d.draw(shapes(min_dims=2))))
    # the leading axis is the symbolic batch, so the mean needs a runtime count
    def build(n):
        x = gr.input("xs", ("B",) + a.shape[1:], F64)
        return gr.mean(x, 0)
    return {"xs": a}, build, lambda v: v["xs"].mean(0)


@case("reshape")
def _(d):
    a = d.draw(arrays(d.draw(shapes())))
    target = (-1,) + a.shape[1:] + (1,)  # -1 is inferred
    return {"x": a}, lambda n: gr.reshape(n["x"], target), lambda v: v["x"].reshape(target)


@case("broadcast_to", "sum_to_shape")
def _(d):
    sh = d.draw(shapes(max_dims=2))
    small = tuple(1 if d.draw(st.booleans()) else s for s in sh)
    a = d.draw(arrays(small))
    lead = d.draw(st.integers(1, 3))
    big = (lead,) + sh
    # sum_to_shape appears as broadcast_to's VJP; test it forward too
    def build(n):
        b = gr.broadcast_to(n["x"], big)
        return gr.sum_to_shape(b * b, small)
    return {"x": a}, build, lambda v: (np.broadcast_to(v["x"], big) ** 2).sum(
        axis=(0,) + tuple(1 + i for i, s in enumerate(small) if s == 1 and sh[i] != 1)
    ).reshape(small)


@case("transpose")
def _(d):
    sh = d.draw(shapes(min_dims=2))
    perm = tuple(d.draw(st.permutations(range(len(sh))).filter(lambda p: p != sorted(p))))
    a = d.draw(arrays(sh))
    return {"x": a}, lambda n: gr.transpose(n["x"], perm), \
        lambda v: np.transpose(v["x"], perm)


@case("index")
def _(d):
    sh = d.draw(shapes(min_dims=2))
    a = d.draw(arrays(sh))
    i = d.draw(st.integers(-sh[0], sh[0] - 1))
    step = d.draw(st.sampled_from([1, 2, -1]))
    key = (i, slice(None, None, step))
    return {"x": a}, lambda n: n["x"][key], lambda v: v["x"][key]


@case("unindex")
def _(d):
    sh = d.draw(shapes(min_dims=2))
    a = d.draw(arrays((sh[1],) + sh[2:]))
    i = d.draw(st.integers(0, sh[0] - 1))

    def build(n):
        return apply("unindex", n["x"], key=(("i", i),) + (("a",),) * (len(sh) - 1), shape=sh)

    def ref(v):
        out = np.zeros(sh)
        out[i] = v["x"]
        return out
    return {"x": a}, build, ref


@case("concat")
def _(d):
    sh = d.draw(shapes(min_dims=2))
    k = d.draw(st.integers(1, 3))
    a, b = d.draw(arrays(sh)), d.draw(arrays(sh[:-1] + (k,)))
    return {"a": a, "b": b}, lambda n: gr.concat([n["a"], n["b"], n["a"]], -1), \
        lambda v: np.concatenate([v["a"], v["b"], v["a"]], -1)


@case("stack")
def _(d):
    sh = d.draw(shapes())
    axis = d.draw(st.integers(0, len(sh)))
    a, b = d.draw(arrays(sh)), d.draw(arrays(sh))
    return {"a": a, "b": b}, lambda n: gr.stack([n["a"], n["b"], n["b"]], axis), \
        lambda v: np.stack([v["a"], v["b"], v["b"]], axis)


def _binary(name, fn, ref, bsafe=lambda b: b):
    @case(name)
    def _(d):
        sh = d.draw(shapes())
        # the second operand may be a broadcast suffix of the first
        sh_b = sh[d.draw(st.integers(0, len(sh))):]
        a, b = d.draw(arrays(sh)), bsafe(d.draw(arrays(sh_b)))
        return {"a": a, "b": b}, lambda n: fn(n["a"], n["b"]), lambda v: ref(v["a"], v["b"])


_binary("add", lambda a, b: a + b, np.add)
_binary("sub", lambda a, b: a - b, np.subtract)
_binary("mul", lambda a, b: a * b, np.multiply)
_binary("div", lambda a, b: a / b, np.divide, sp)


def _unary(name, fn, ref, strategy=None, pre=lambda a: a):
    @case(name)
    def _(d):
        sh = d.draw(shapes())
        a = pre(d.draw((strategy or arrays)(sh)))
        return {"x": a}, lambda n: fn(n["x"]), lambda v: ref(v["x"])


_unary("neg", lambda x: -x, np.negative)
_unary("exp", gr.exp, np.exp)
_unary("log", gr.log, np.log, pre=sp)
_unary("tanh", gr.tanh, np.tanh)
_unary("sigmoid", gr.sigmoid, lambda x: 1 / (1 + np.exp(-x)), lambda s: arrays(s, -30, 30))
_unary("log_sigmoid", gr.log_sigmoid, lambda x: -np.logaddexp(0, -x), lambda s: arrays(s, -30, 30))
_unary("relu", gr.relu, lambda x: np.maximum(x, 0), away_from_zero)
_unary("square", gr.square, np.square)
_unary("sqrt", gr.sqrt, np.sqrt, pre=sp)
_unary("pow", lambda x: x ** 1.5, lambda x: x ** 1.5, pre=sp)
_unary("stop_gradient", lambda x: x * gr.stop_gradient(x), lambda x: x * x)


@case("cast")
def _(d):
    sh = d.draw(shapes())
    a, m = d.draw(arrays(sh)), d.draw(hnp.arrays(bool, sh))
    return {"x": a, "m": m}, lambda n: n["x"] * gr.cast(n["m"], F64), lambda v: v["x"] * v["m"]

for _name, _ref in [("greater", np.greater), ("less", np.less),
                    ("greater_equal", np.greater_equal), ("less_equal", np.less_equal),
                    ("equal", np.equal), ("not_equal", np.not_equal)]:
    _binary(_name, getattr(gr, _name), _ref)


@case("recompute")
def _(d):
    a = d.draw(arrays(d.draw(shapes())))
    return {"x": a}, lambda n: gr.tanh(gr.recompute(n["x"])), lambda v: np.tanh(v["x"])


@case("logical_not", "logical_and", "logical_or")
def _(d):
    sh = d.draw(shapes())
    a, b = d.draw(hnp.arrays(bool, sh)), d.draw(hnp.arrays(bool, sh))
    return {"a": a, "b": b}, lambda n: ~(n["a"] & n["b"]) | n["a"], lambda v: ~(v["a"] & v["b"]) | v["a"]


@case("where")
def _(d):
    sh = d.draw(shapes())
    m, a, b = d.draw(hnp.arrays(bool, sh)), d.draw(arrays(sh)), d.draw(arrays(sh[1:]))
    return {"m": m, "a": a, "b": b}, lambda n: gr.where(n["m"], n["a"], n["b"]), \
        lambda v: np.where(v["m"], v["a"], v["b"])


@case("add_n")
def _(d):
    sh = d.draw(shapes())
    a, b, c = (d.draw(arrays(sh)) for _ in range(3))
    return {"a": a, "b": b, "c": c}, lambda n: gr.add_n([n["a"], n["b"], n["c"], n["a"]]), \
        lambda v: v["a"] + v["b"] + v["c"] + v["a"]


def _reduction(name, fn, ref, strategy=arrays):
    @case(name)
    def _(d):
        sh = d.draw(shapes())
        a = d.draw(strategy(sh))
        axis = d.draw(st.none() | st.integers(-len(sh), len(sh) - 1))
        keep = d.draw(st.booleans())
        return {"x": a}, lambda n: fn(n["x"], axis, keep), lambda v: ref(v["x"], axis, keep)


_reduction("sum", gr.sum, lambda x, ax, k: np.sum(x, axis=ax, keepdims=k))
_reduction("max", gr.max, lambda x, ax, k: np.max(x, axis=ax, keepdims=k), distinct)
_reduction("logsumexp", gr.logsumexp,
           lambda x, ax, k: np.log(np.sum(np.exp(x), axis=ax, keepdims=k)))


@case("softmax")
def _(d):
    a = d.draw(arrays(d.draw(shapes())))
    return {"x": a}, lambda n: gr.softmax(n["x"], -1), \
        lambda v: np.exp(v["x"]) / np.exp(v["x"]).sum(-1, keepdims=True)


@case("log_softmax")
def _(d):
    a = d.draw(arrays(d.draw(shapes())))
    return {"x": a}, lambda n: gr.log_softmax(n["x"], 0), \
        lambda v: v["x"] - np.log(np.exp(v["x"]).sum(0, keepdims=True))


@case("matmul")
def _(d):
    m, k, n_ = (d.draw(st.integers(1, 4)) for _ in range(3))
    lead = tuple(d.draw(st.lists(st.integers(1, 3), max_size=2)))
    batched = d.draw(st.booleans()) and lead
    a = d.draw(arrays(lead + (m, k)))
    b = d.draw(arrays((lead if batched else ()) + (k, n_)))
    return {"a": a, "b": b}, lambda n: n["a"] @ n["b"], lambda v: v["a"] @ v["b"]


@case("one_hot")
def _(d):
    sh = d.draw(shapes(max_dims=2))
    depth = d.draw(st.integers(1, 5))
    idx = d.draw(hnp.arrays(np.int64, sh, elements=st.integers(0, depth - 1)))
    return {"i": idx}, lambda n: gr.one_hot(n["i"], depth, F64), \
        lambda v: np.eye(depth)[v["i"]]


@case("gather")
def _(d):
    sh = d.draw(shapes(max_dims=2))
    c = d.draw(st.integers(1, 5))
    x = d.draw(arrays(sh + (c,)))
    idx = d.draw(hnp.arrays(np.int64, sh, elements=st.integers(0, c - 1)))
    return {"x": x, "i": idx}, lambda n: gr.gather(n["x"], n["i"]), \
        lambda v: np.take_along_axis(v["x"], v["i"][..., None], -1)[..., 0]


@case("take")
def _(d):
    sh = d.draw(shapes(max_dims=2))
    rows, width = d.draw(st.integers(1, 5)), d.draw(st.integers(1, 4))
    table = d.draw(arrays((rows, width)))
    idx = d.draw(hnp.arrays(np.int64, sh, elements=st.integers(0, rows - 1)))
    return {"w": table, "i": idx}, lambda n: gr.take(n["w"], n["i"]), \
        lambda v: v["w"][v["i"]]


def test_every_registered_op_has_a_case():
    assert set(CASES) == set(gr.OPS), (
        f"ops without a test case: {sorted(set(gr.OPS) - set(CASES))}; "
        f"cases without an op: {sorted(set(CASES) - set(gr.OPS))}")


@pytest.mark.parametrize("opname", sorted(CASES))
@given(data=st.data())
def test_op_forward_matches_numpy_and_vjp_matches_finite_differences(opname, data):
    values, out, graph, inputs, params, ref = case_graph(opname, data)
    got = gr.evaluate(graph, inputs, params)["out"]
    want = np.asarray(ref(values))
    assert got.shape == want.shape and got.dtype == out.dtype
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    if out.dtype == F64 and opname not in NOT_FINITE_DIFFERENCES:
        gr.gradcheck(graph, inputs, params)


# stop_gradient deliberately disagrees with finite differences; its rule is checked here.
NOT_FINITE_DIFFERENCES = {"stop_gradient"}


@given(a=arrays((2, 3)))
def test_stop_gradient_blocks_exactly_its_path(a):
    x = gr.input("x", (2, 3), F64)
    (g,) = gr.grad((x * gr.stop_gradient(x)).sum(), [x])
    np.testing.assert_array_equal(gr.evaluate(g, {"x": a}), a)  # d/dx x*c = c, with c = x held
