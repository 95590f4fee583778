"""Numerics and IEEE semantics (docs/reliability.md): stable forms on every backend, passes
that keep NaN, infinities and the sign of zero, padding that is never read, every op
compiled on every path, and a catalogue of bad inputs to ops and losses."""

import shutil
import warnings

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphrnn as gr
from graphrnn import EvaluationError, InputError, ShapeError
from graphrnn.losses import cross_entropy, reduce_loss, sequence_loss, squared_error
from graphrnn.models import GRU, LSTM, RNN

from .catalogue import Bad, check, ids
from .helpers import INTERPRETED, grad_of_all, training_step
from .test_ops import CASES, case_graph

F32, F64 = np.float32, np.float64
needs_cxx = pytest.mark.skipif(shutil.which("c++") is None and shutil.which("nvcc") is None,
                               reason="no C++ compiler for the cuda-host backend")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def same_bits(a, b) -> bool:
    """Equal values, NaN where NaN, and the same sign of every zero (NaN's sign is free)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(a, b, equal_nan=True):
        return False
    real = ~np.isnan(a)
    return bool(np.array_equal(np.signbit(a)[real], np.signbit(b)[real]))


def assert_same_bits(got, want, what=""):
    for k in want:
        assert same_bits(got[k], want[k]), f"{what} {k}: {got[k]!r} != {want[k]!r}"


def run_all(graph, inputs, params=None, levels=("O0", "O1", "O2"), backend="numpy"):
    """The evaluator's outputs and each level's compiled outputs."""
    inputs = {k: v for k, v in inputs.items() if k in graph.inputs}
    want = gr.evaluate(graph, inputs, params)
    return want, {lv: gr.compile(graph, lv, backend=backend)(inputs, params) for lv in levels}


# ------------------------------------------------------------------------------- sigmoid
def _reference_sigmoid(x):
    x = np.asarray(x, np.longdouble)
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def _ulps(got, want, dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    err = np.abs(got.astype(np.longdouble) - want)
    return err / np.maximum(np.spacing(np.abs(want).astype(dtype)).astype(np.longdouble), tiny)


SIGMOID_RANGES = {F32: (-110.0, 40.0), F64: (-760.0, 40.0)}


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("path", ["evaluate", "O0", "interpreted", "cuda-host"])
def test_sigmoid_is_accurate_to_a_few_ulp_over_the_whole_range(dtype, path):
    if path == "cuda-host" and shutil.which("c++") is None and shutil.which("nvcc") is None:
        pytest.skip("no C++ compiler")
    lo, hi = SIGMOID_RANGES[dtype]
    x = np.concatenate([np.linspace(lo, hi, 4001), [-0.0, 0.0, -1e-30]]).astype(dtype)
    node = gr.input("x", (x.size,), dtype)
    graph = gr.Graph({"s": gr.sigmoid(node) * 1.0})  # * 1.0: a fused group of two ops
    if path == "evaluate":
        got = gr.evaluate(graph, {"x": x})["s"]
    else:
        backend = {"O0": "numpy", "interpreted": INTERPRETED}.get(path, path)
        got = gr.compile(graph, "O0", backend=backend)({"x": x})["s"]
    want = _reference_sigmoid(x)
    normal = want >= np.finfo(dtype).tiny
    ulps = _ulps(got[normal], want[normal], dtype)
    # the old (1 + tanh(x / 2)) / 2 was off by millions of ulp below -15 and 0 below -38
    assert float(ulps.max()) <= 4, f"{path}: {float(ulps.max())} ulp at x={x[normal][np.argmax(ulps)]}"
    # where the exact value is subnormal: at most the smallest normal number, never negative
    assert np.all((got[~normal] >= 0) & (got[~normal] <= np.finfo(dtype).tiny)), path
    special = np.array([np.nan, np.inf, -np.inf], dtype)
    out = gr.evaluate(gr.sigmoid(gr.input("y", (3,), dtype)), {"y": special})
    assert np.isnan(out[0]) and out[1] == 1 and 0 <= out[2] <= np.finfo(dtype).tiny


@pytest.mark.parametrize("dtype", [F32, F64])
def test_compiled_sigmoid_has_the_evaluators_bits(dtype):
    x = np.concatenate([np.linspace(-120, 60, 997), [np.nan, np.inf, -np.inf, -0.0]])
    node = gr.input("x", (x.size,), dtype)
    graph = gr.Graph({"s": gr.sigmoid(node), "l": gr.log_sigmoid(node)})
    want, got = run_all(graph, {"x": x.astype(dtype)})
    for level, out in got.items():
        assert_same_bits(out, want, level)


def test_log_of_sigmoid_is_finite_and_o2_makes_it_log_sigmoid():
    x = gr.input("x", (6,), F64)
    graph = grad_of_all(gr.Graph({"loss": gr.sum(gr.log(gr.sigmoid(x)))}))
    v = {"x": np.array([-800.0, -100.0, -40.0, 0.0, 3.0, 30.0])}
    want_loss = float(np.sum(-np.logaddexp(0, -v["x"])))
    want_grad = 1 / (1 + np.exp(v["x"]))  # sigmoid(-x)
    # as written: finite wherever sigmoid does not underflow (below -745 in float64); at
    # 30, 1 - sigmoid(30) cancels, as the formula says
    o0 = gr.compile(graph, "O0")(v)
    assert np.all(np.isfinite(o0["dloss/dx"][1:]))
    np.testing.assert_allclose(o0["dloss/dx"][1:5], want_grad[1:5], rtol=1e-12)
    o2 = gr.compile(graph)(v)
    assert "log_sigmoid" in gr.compile(graph).graph.op_counts()
    np.testing.assert_allclose(float(o2["loss"]), want_loss, rtol=1e-14)
    np.testing.assert_allclose(o2["dloss/dx"], want_grad, rtol=1e-12)
    # float32 at -40: the tanh form gave sigmoid = 0, so log = -inf and a NaN gradient
    x32 = gr.input("x", (2,), F32)
    g32 = grad_of_all(gr.Graph({"loss": gr.sum(gr.log(gr.sigmoid(x32)))}))
    out = gr.compile(g32, "O0")({"x": np.array([-40.0, -80.0], F32)})
    assert np.isfinite(out["loss"]) and np.all(np.isfinite(out["dloss/dx"]))


def test_log_of_softmax_gradient_survives_underflow_at_o2():
    x = gr.input("x", (1, 3), F64)
    graph = grad_of_all(gr.Graph({"loss": gr.sum(gr.log(gr.softmax(x, -1)) * gr.const(
        np.array([[1.0, 0.0, 0.0]])))}))
    v = {"x": np.array([[-1000.0, 0.0, 5.0]])}
    out = gr.compile(graph)(v)
    assert np.isfinite(out["loss"]) and np.all(np.isfinite(out["dloss/dx"]))
    assert np.any(np.isnan(gr.evaluate(graph, v)["dloss/dx"]))  # as written: 0 / 0


def test_log_sigmoid_gradient_matches_finite_differences():
    x = gr.input("x", (2, 3), F64)
    v = np.linspace(-6, 6, 6).reshape(2, 3)
    gr.gradcheck(gr.Graph({"y": gr.sum(gr.log_sigmoid(x) * gr.sigmoid(x))}), {"x": v})


# ------------------------------------------------------------------- pow, logsumexp
def test_gradient_of_x_to_the_zero_is_zero_everywhere():
    x = gr.input("x", (4,), F64)
    graph = grad_of_all(gr.Graph({"loss": gr.sum(x ** 0.0)}))
    v = {"x": np.array([0.0, -0.0, 2.0, np.nan])}
    want, got = run_all(graph, v)
    for out in [want] + list(got.values()):
        np.testing.assert_array_equal(out["dloss/dx"], np.zeros(4))
        assert float(out["loss"]) == 4.0  # nan ** 0 is 1, as in NumPy and torch


@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_over_an_empty_axis_is_minus_inf(keepdims):
    x = gr.input("x", (0, 3), F64)
    y = gr.logsumexp(x, 0, keepdims=keepdims)
    graph = grad_of_all(gr.Graph({"lse": y, "loss": gr.sum(gr.exp(y))}))
    want, got = run_all(graph, {"x": np.zeros((0, 3))})
    for out in [want] + list(got.values()):
        assert out["lse"].shape == ((1, 3) if keepdims else (3,))
        assert np.all(out["lse"] == -np.inf)
        assert out["dloss/dx"].shape == (0, 3)
    # over a non-empty axis of an empty array: an empty result, no error
    assert gr.evaluate(gr.logsumexp(x, 1), {"x": np.zeros((0, 3))}).shape == (0,)


# ------------------------------------------------------------------------------- losses
def _ce_graph(weight=None):
    logits = gr.input("logits", (4, "B", 3), F64)
    targets = gr.input("targets", (4, "B"), np.int64)
    mask = gr.input("mask", (4, "B"), bool)
    return grad_of_all(gr.Graph({"loss": cross_entropy(logits, targets, weight=weight,
                                                         mask=mask)}))


@pytest.mark.parametrize("weight", [None, [1.0, 2.0, 0.5]])
def test_cross_entropy_with_every_target_masked_is_zero_with_zero_gradients(weight):
    graph = _ce_graph(weight)
    rng = np.random.default_rng(0)
    v = {"logits": rng.normal(size=(4, 2, 3)), "targets": rng.integers(0, 3, (4, 2)),
         "mask": np.zeros((4, 2), bool)}
    want, got = run_all(graph, v)
    for out in [want] + list(got.values()):
        assert float(out["loss"]) == 0.0
        np.testing.assert_array_equal(out["dloss/dlogits"], np.zeros((4, 2, 3)))


def test_cross_entropy_never_reads_masked_logits_or_targets():
    graph = _ce_graph([1.0, 2.0, 0.5])
    rng = np.random.default_rng(1)
    mask = np.arange(4)[:, None] < np.array([4, 2])[None, :]
    clean = {"logits": rng.normal(size=(4, 2, 3)), "targets": rng.integers(0, 3, (4, 2)),
             "mask": mask}
    dirty = {k: v.copy() for k, v in clean.items()}
    dirty["logits"][~mask] = np.nan
    dirty["logits"][3, 1, 0] = np.inf
    dirty["targets"][~mask] = -100  # an "ignore" id or padding: never looked up
    want_clean, got_clean = run_all(graph, clean)
    want_dirty, got_dirty = run_all(graph, dirty)
    assert_same_bits(want_dirty, {k: v for k, v in want_clean.items() if k != "dloss/dlogits"})
    np.testing.assert_array_equal(want_dirty["dloss/dlogits"][~mask], 0.0)
    for level in got_clean:
        assert float(got_dirty[level]["loss"]) == float(got_clean[level]["loss"])
        assert np.all(np.isfinite(got_dirty[level]["dloss/dlogits"]))
    # the loss itself is the mean over real steps (torch's reduction="mean" with weights)
    lp = clean["logits"] - np.log(np.exp(clean["logits"]).sum(-1, keepdims=True))
    w = np.array([1.0, 2.0, 0.5])[clean["targets"]] * mask
    nll = -np.take_along_axis(lp, clean["targets"][..., None], -1)[..., 0]
    np.testing.assert_allclose(float(want_clean["loss"]), (nll * w).sum() / w.sum(), rtol=1e-12)


def test_squared_error_never_reads_masked_steps():
    pred = gr.input("pred", (3, "B", 2), F64)
    target = gr.input("target", (3, "B", 2), F64)
    mask = gr.input("mask", (3, "B"), bool)
    W = gr.param("W", (2, 2), F64)
    graph = grad_of_all(gr.Graph({"loss": squared_error(pred @ W, target, mask)}))
    rng = np.random.default_rng(2)
    m = np.array([[True, True], [True, False], [False, False]])
    clean = {"pred": rng.normal(size=(3, 2, 2)), "target": rng.normal(size=(3, 2, 2)), "mask": m}
    dirty = {k: v.copy() for k, v in clean.items()}
    dirty["target"][~m] = np.nan
    dirty["target"][2, 1, 0] = -np.inf
    params = {"W": rng.normal(size=(2, 2))}
    want = gr.evaluate(graph, clean, params)
    for run in (gr.evaluate, lambda g, v, p: gr.compile(g)(v, p)):
        got = run(graph, dirty, params)
        assert float(got["loss"]) == float(want["loss"])
        np.testing.assert_allclose(got["dloss/dW"], want["dloss/dW"], rtol=1e-12)
        np.testing.assert_array_equal(got["dloss/dpred"][~m], 0.0)
    # the prediction itself non-finite where masked: the loss never reads it either
    direct = grad_of_all(gr.Graph({"loss": squared_error(pred, target, mask)}))
    dirty["pred"][~m] = np.inf
    got = gr.compile(direct)(dirty)
    assert np.isfinite(got["loss"]) and np.all(np.isfinite(got["dloss/dpred"]))
    np.testing.assert_array_equal(got["dloss/dpred"][~m], 0.0)


@pytest.mark.parametrize("over_time", ["sum", "mean"])
def test_sequence_loss_selects_real_steps_and_sends_them_no_gradient(over_time):
    # a per-step loss computed by hand is selected, not multiplied: NaN where masked stays out
    # of the loss and gets an exact 0 gradient (what reads padding upstream is the caller's)
    per_step = gr.input("per_step", (3, "B"), F64)
    mask = gr.input("mask", (3, "B"), bool)
    graph = grad_of_all(gr.Graph({"loss": sequence_loss(per_step, mask, over_time)}))
    m = np.array([[True, True], [True, False], [False, False]])
    dirty = {"per_step": np.where(m, [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.nan), "mask": m}
    want, got = run_all(graph, dirty)
    for out in [want] + list(got.values()):
        assert float(out["loss"]) == (3.0 if over_time == "sum" else 2.0)
        np.testing.assert_array_equal(out["dloss/dper_step"][~m], 0.0)


# --------------------------------------------------------------- padding is never read
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_nan_and_inf_in_padded_steps_change_no_loss_and_no_gradient(cls):
    graph, inputs, params = training_step(cls, F64, T=5, mask=True)
    m = inputs["mask"]
    clean = {**inputs, "input": np.where(m[..., None], inputs["input"], 0.0)}
    dirty = {**inputs, "input": np.where(m[..., None], inputs["input"], np.nan)}
    dirty["input"][4, 1:] = np.inf
    dirty["input"][3, 2, 0] = -np.inf
    paths = {"evaluate": lambda v: gr.evaluate(graph, v, params)}
    for level in ("O0", "O2"):
        program = gr.compile(graph, level)
        paths[level] = lambda v, p=program: p(v, params)
    for name, run in paths.items():
        want, got = run(clean), run(dirty)
        assert_same_bits(got, want, f"{cls.__name__} {name}:")


# -------------------------------------------------------------------- IEEE-exact passes
def test_an_inf_weight_gives_nan_compiled_as_evaluated():
    model = RNN(2, 3, dtype=F64, seed=0)
    graph = model.graph(4)
    params = model.state_dict()
    params["weight_hh_l0"][0, 1] = np.inf  # h[0] = 0: 0 * inf is NaN at the first step
    x = {"input": np.random.default_rng(0).normal(size=(4, 2, 2))}
    want, got = run_all(graph, x, params)
    assert np.isnan(want["output"][0]).any()
    for level, out in got.items():
        for k in want:
            assert np.array_equal(np.isnan(out[k]), np.isnan(want[k])), (level, k)
            np.testing.assert_allclose(out[k], want[k], rtol=1e-12, atol=1e-14)
    # fast_math opts out: the product with the zero state is dropped, the first step finite
    fast = gr.compile(graph, fast_math=True)(x, params)
    assert not np.isnan(fast["output"][0]).any()


SPECIALS = [np.inf, -np.inf, np.nan, -0.0, 0.0, 1.0, -1.0, 2.5, -3.0]
IDENTITY_CASES = {
    "x * 0": lambda x, z: x * 0.0, "0 * x": lambda x, z: 0.0 * x,
    "x + 0": lambda x, z: x + 0.0, "0 + x": lambda x, z: 0.0 + x,
    "x + -0": lambda x, z: x + -0.0, "x - 0": lambda x, z: x - 0.0,
    "x - -0": lambda x, z: x - -0.0, "0 - x": lambda x, z: 0.0 - x,
    "-0 - x": lambda x, z: -0.0 - x, "0 / x": lambda x, z: 0.0 / x,
    "x / 1": lambda x, z: x / 1.0, "x * 1": lambda x, z: x * 1.0,
    "-(0)": lambda x, z: -z, "-(-x)": lambda x, z: -(-x),
    "add_n(x, 0, -0)": lambda x, z: gr.add_n([x, z, -z]),
    "add_n(x, -0)": lambda x, z: gr.add_n([x, -z]),
    "0 @ W": lambda x, z: gr.zeros((2, 3), F64) @ gr.reshape(x, (3, 3)),
    "W @ 0": lambda x, z: gr.reshape(x, (3, 3)) @ gr.zeros((3, 2), F64),
    "0.T @ x": lambda x, z: gr.transpose(gr.zeros((3, 2), F64), (1, 0)) @ gr.reshape(x, (3, 3)),
    "sum(0) + x": lambda x, z: gr.sum(gr.broadcast_to(z, (4, 9)), 0) + x,
    "x[0:4] split+join": lambda x, z: gr.concat(gr.split(x * -1.0, 3, 0), 0),
}


@pytest.mark.parametrize("name", sorted(IDENTITY_CASES))
def test_each_algebraic_identity_is_exact_with_special_values(name):
    x = gr.input("x", (9,), F64)
    z = gr.zeros((9,), F64)
    graph = gr.Graph({"y": IDENTITY_CASES[name](x, z)})
    v = {"x": np.array(SPECIALS)}
    want, got = run_all(graph, v)
    for level, out in got.items():
        assert_same_bits(out, want, f"{name} at {level}:")
    # and the gradients of the same graph
    g = grad_of_all(gr.Graph({"loss": gr.sum(graph.outputs["y"] * graph.outputs["y"])}))
    want, got = run_all(g, v, levels=("O0", "O1"))
    for level, out in got.items():
        assert_same_bits(out, want, f"d({name}) at {level}:")


def test_fast_math_folds_what_ieee_forbids():
    x = gr.input("x", (1, 3), F64)
    graph = gr.Graph({"y": x * 0.0 + gr.zeros((1, 3), F64) @ gr.transpose(x, (1, 0))})
    v = {"x": np.array([[np.inf, np.nan, -1.0]])}
    exact = gr.compile(graph)(v)["y"]
    assert np.isnan(exact).all()  # 0 * inf, 0 * NaN, and the product reads inf and NaN
    fast = gr.compile(graph, fast_math=True)
    np.testing.assert_array_equal(fast(v)["y"], np.zeros((1, 3)))
    assert "mul" not in fast.graph.op_counts() and "matmul" not in fast.graph.op_counts()


_MASK = gr.input("m", (2, 3), bool)
_UNARY = {
    "neg": gr.neg, "exp": gr.exp, "log": gr.log, "tanh": gr.tanh, "sigmoid": gr.sigmoid,
    "log_sigmoid": gr.log_sigmoid, "relu": gr.relu, "square": gr.square, "sqrt": gr.sqrt,
    "pow0": lambda a: a ** 0.0, "pow3": lambda a: a ** 3.0, "root": lambda a: a ** 0.5,
    "softmax": lambda a: gr.softmax(a, -1), "log_softmax": lambda a: gr.log_softmax(a, -1),
    "lse": lambda a: gr.broadcast_to(gr.logsumexp(a, -1, keepdims=True), a.shape),
    "sum0": lambda a: gr.broadcast_to(gr.sum(a, 0, keepdims=True), a.shape),
    "flip": lambda a: a[::-1], "zeros@": lambda a: gr.zeros((2, 2), F64) @ a,
    "@W": lambda a: a @ gr.param("W", (3, 3), F64),
}
_BINARY = {
    "add": gr.add, "sub": gr.sub, "mul": gr.mul, "div": gr.div,
    "where": lambda a, b: gr.where(_MASK, a, b),
    "add_n": lambda a, b: gr.add_n([a, b, a]),
    "stack": lambda a, b: gr.stack([a, b])[1],
    "split": lambda a, b: gr.split(gr.concat([a, b], -1), 2, -1)[0] - b,
}
_CONSTS = [0.0, -0.0, 1.0, -1.0, 2.0, np.inf, -np.inf, np.nan]


@st.composite
def special_graphs(draw):
    """A random graph over inputs holding inf, -inf, NaN and -0.0, and constants that
    trigger every identity (x*0, x+0, x+-0, x/1, 0/x, ...); no log of a probability
    (stabilizing it is the one rewrite meant to change values)."""
    values = st.sampled_from([np.inf, -np.inf, np.nan, -0.0, 0.0]) | st.floats(-3, 3, width=64)
    leaves = [gr.input(f"x{i}", (2, 3), F64) for i in range(2)]
    pool, steps = list(leaves), []
    for _ in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(["unary", "binary", "const"]))
        a = draw(st.sampled_from(pool))
        if kind == "unary":
            name = draw(st.sampled_from(sorted(_UNARY)))
            if name == "log" and a.op.name in ("sigmoid", "softmax"):
                name = "exp"
            node = _UNARY[name](a)
        elif kind == "binary":
            name = draw(st.sampled_from(sorted(_BINARY)))
            node = _BINARY[name](a, draw(st.sampled_from(pool)))
        else:
            c = draw(st.sampled_from(_CONSTS))
            name = f"{draw(st.sampled_from(['add', 'sub', 'mul', 'div']))}{c!r}"
            op = getattr(gr, name.rstrip("0123456789.-infa"))
            node = op(a, c) if draw(st.booleans()) else op(gr.full(a.shape, c, F64), a)
        steps.append(f"{name}(#{pool.index(a)})")
        pool.append(node)
    outs = {f"y{i}": p for i, p in enumerate(draw(st.lists(st.sampled_from(pool[2:]),
                                                             min_size=1, max_size=3)))}
    graph = gr.Graph(outs)
    inputs = {f"x{i}": draw(hnp.arrays(F64, (2, 3), elements=values)) for i in range(2)}
    inputs["m"] = draw(hnp.arrays(bool, (2, 3)))
    params = {"W": draw(hnp.arrays(F64, (3, 3), elements=values))}
    return (graph, {k: v for k, v in inputs.items() if k in graph.inputs},
            {k: v for k, v in params.items() if k in graph.params}, "; ".join(steps))


@settings(max_examples=25)
@given(case=special_graphs())
def test_every_level_equals_the_evaluator_bit_for_bit_on_special_values(case):
    graph, inputs, params, description = case
    note(description)
    want, got = run_all(graph, inputs, params)
    for level, out in got.items():
        assert_same_bits(out, want, f"{description} at {level}:")


@settings(max_examples=15)
@given(case=special_graphs())
def test_gradient_graphs_keep_ieee_semantics_through_the_passes(case):
    graph, inputs, params, description = case
    note(description)
    loss = gr.add_n([gr.sum(y * y) for y in graph.outputs.values()])
    g = grad_of_all(gr.Graph({"loss": loss}))
    want, got = run_all(g, inputs, params)
    for level, out in got.items():
        assert_same_bits(out, want, f"{description} at {level}:")


# ------------------------------------------------------------------ every op, every path
PATHS = {"O0": dict(level="O0"), "O2": dict(level="O2"),
         "fused": dict(level="O2", backend=INTERPRETED)}


@pytest.mark.parametrize("opname", sorted(gr.OPS))  # the registry: an op without a case fails
@settings(max_examples=3)
@given(data=st.data())
def test_every_op_compiles_on_every_path_like_the_evaluator(opname, data):
    _, _, graph, inputs, params, _ = case_graph(opname, data)
    want = gr.evaluate(graph, inputs, params)["out"]
    for path, options in PATHS.items():
        got = gr.compile(graph, **options)(inputs, params)["out"]
        assert got.shape == want.shape and got.dtype == want.dtype, path
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=path)


def test_the_op_coverage_leaves_no_op_out():
    assert set(CASES) == set(gr.OPS), sorted(set(gr.OPS) ^ set(CASES))


@needs_cxx
def test_every_fusable_op_compiles_to_cuda_that_agrees_with_the_evaluator():
    a, b = gr.input("a", (len(SPECIALS), 4), F64), gr.input("b", (len(SPECIALS), 4), F64)
    m = gr.input("m", (len(SPECIALS), 4), bool)
    outs = {
        "add": a + b, "sub": a - b, "mul": a * b, "div": a / b, "neg": -a, "neg_lit": -a * -2.0,
        "exp": gr.exp(a), "log": gr.log(a), "tanh": gr.tanh(a), "sigmoid": gr.sigmoid(a),
        "log_sigmoid": gr.log_sigmoid(a), "relu": gr.relu(a), "square": gr.square(a),
        "sqrt": gr.sqrt(a), "pow": a ** 1.5, "where": gr.where(m, a, b),
        "cast": gr.cast(gr.cast(a, F32), F64), "add_n": gr.add_n([a, b, a]),
        "greater": gr.where(gr.greater(a, b), a, b), "less": gr.where(gr.less(a, b), a, b),
        "greater_equal": gr.where(gr.greater_equal(a, b), a, b),
        "less_equal": gr.where(gr.less_equal(a, b), a, b),
        "equal": gr.where(gr.equal(a, b), a, b), "not_equal": gr.where(gr.not_equal(a, b), a, b),
        "logic": gr.where(gr.logical_or(gr.logical_and(m, ~m), ~m), a, b),
    }
    graph = gr.Graph({k: v * 1.0 for k, v in outs.items()})
    fusable = {op.name for op in gr.OPS.values() if op.cuda is not None}
    missing = fusable - set(gr.Graph(outs).op_counts())
    assert not missing, sorted(missing)
    col = np.array(SPECIALS)[:, None]
    v = {"a": np.repeat(col, 4, 1), "b": np.repeat(col, 4, 1).T.reshape(-1, 4)[:len(SPECIALS)],
         "m": np.arange(len(SPECIALS) * 4).reshape(-1, 4) % 3 == 0}
    program = gr.compile(graph, "O0", backend="cuda-host")
    assert program.kernels and "log1p" in program.cuda_source
    want, got = gr.evaluate(graph, v), program(v)
    for k in want:
        assert np.array_equal(np.isnan(got[k]), np.isnan(want[k])), k
        np.testing.assert_allclose(got[k], want[k], rtol=1e-14, atol=0, err_msg=k)


# ------------------------------------------------------------ on every backend (GPU too)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_stable_forms_on_every_backend(backend, dtype):
    lo, hi = SIGMOID_RANGES[dtype]
    x = np.concatenate([np.linspace(lo, hi, 4001), [np.nan, np.inf, -np.inf]]).astype(dtype)
    node = gr.input("x", (x.size,), dtype)
    graph = gr.Graph({"s": gr.sigmoid(node) * 1.0, "l": gr.log_sigmoid(node) * 1.0})
    out = {k: backend.to_numpy(v) for k, v in gr.compile(graph, backend=backend)({"x": x}).items()}
    finite = np.isfinite(x)
    ref = _reference_sigmoid(x[finite])
    normal = ref >= np.finfo(dtype).tiny
    assert float(_ulps(out["s"][finite][normal], ref[normal], dtype).max()) <= 4
    # GPU float32 kernels may flush subnormal results to zero (the exact value is < 1.2e-38)
    assert np.all(np.abs(out["s"][finite][~normal] - ref[~normal]) <= np.finfo(dtype).tiny)
    assert np.isnan(out["s"][-3]) and out["s"][-2] == 1 and 0 <= out["s"][-1] <= np.finfo(dtype).tiny
    ref = -np.logaddexp(0, -x[finite].astype(F64))
    np.testing.assert_allclose(out["l"][finite], ref, rtol=4 * np.finfo(dtype).eps, atol=0)
    assert np.isnan(out["l"][-3]) and out["l"][-2] == 0 and out["l"][-1] == -np.inf


def test_padding_and_infinite_weights_on_every_backend(backend):
    graph, inputs, params = training_step(LSTM, F32, T=5, mask=True)
    m = inputs["mask"]
    clean = {**inputs, "input": np.where(m[..., None], inputs["input"], 0.0).astype(F32)}
    dirty = {**inputs, "input": np.where(m[..., None], inputs["input"], np.nan).astype(F32)}
    program = gr.compile(graph, backend=backend)
    want, got = program(clean, params), program(dirty, params)
    for k in want:
        assert same_bits(backend.to_numpy(got[k]), backend.to_numpy(want[k])), k
    params = {k: v.copy() for k, v in params.items()}
    params["weight_hh_l0"][0, 0] = np.inf  # h[0] = 0 meets it at the first step: NaN
    want = gr.evaluate(graph, clean, params)
    got = program(clean, params)
    for k in want:
        assert np.array_equal(np.isnan(backend.to_numpy(got[k])), np.isnan(want[k])), k


# -------------------------------------------------------------------- bad-input catalogue
_x = gr.input("x", ("B", 3), F64)
_i = gr.input("i", ("B",), np.int64)
_logits = gr.input("logits", ("B", 3), F64)
_m = gr.input("mask", ("B",), bool)


def _ce_call(targets):
    loss = cross_entropy(_logits, gr.input("t", ("B",), np.int64))
    return lambda: gr.evaluate(loss, {"logits": np.zeros((2, 3)), "t": np.array(targets)})


def _ce_compiled(targets, mask=None):
    def call():  # compiled when the case runs (the program is fine: the call is not)
        t = gr.input("t", ("B",), np.int64)
        program = gr.compile(gr.Graph({"loss": cross_entropy(
            _logits, t, mask=None if mask is None else _m)}))
        feeds = {"logits": np.zeros((2, 3)), "t": np.array(targets)}
        if mask is not None:
            feeds["mask"] = np.array(mask)
        return program(feeds)
    return call


def _masked_model_call(mask):
    def call():
        model = GRU(2, 3, dtype=F64, seed=0)
        program = gr.compile(model.graph(3, mask=True))
        return program({"input": np.zeros((3, 2, 2)), "mask": mask}, model.state_dict())
    return call


CATALOGUE = [
    Bad("pow-inf-exponent", lambda: _x ** np.inf, ValueError,
        r"pow: the exponent must be finite, got inf"),
    Bad("pow-nan-exponent", lambda: gr.pow(_x, float("nan")), ValueError,
        r"pow: .*finite, got nan"),
    Bad("pow-node-exponent", lambda: _x ** _x, TypeError, r"pow: the exponent must be a number"),
    Bad("pow-str-exponent", lambda: gr.pow(_x, "2"), TypeError,
        r"pow: the exponent must be a number, got str"),
    Bad("pow-bool-exponent", lambda: gr.pow(_x, True), TypeError, r"pow: .*number, got bool"),
    Bad("pow-int-base", lambda: _i ** 0.5, ShapeError,
        r"pow: expects a floating-point argument, got i64\(B,\)"),
    Bad("sigmoid-int", lambda: gr.sigmoid(_i), ShapeError,
        r"sigmoid: expects a floating-point argument"),
    Bad("log-sigmoid-bool", lambda: gr.log_sigmoid(_m), ShapeError,
        r"log_sigmoid: expects a floating-point argument, got bool"),
    Bad("relu-int", lambda: gr.relu(_i), ShapeError, r"relu: expects a floating-point"),
    Bad("max-empty-axis", lambda: gr.max(gr.input("e", (0, 3), F64), 0), ShapeError,
        r"max: axis 0 of \(0, 3\) is empty; .*logsumexp of nothing is -inf"),
    Bad("sum-float-axis", lambda: gr.sum(_x, 1.5), ShapeError,
        r"sum: axis must be an int, a tuple of ints or None, got 1.5"),
    Bad("sum-bool-axis", lambda: gr.sum(_x, (True,)), ShapeError,
        r"sum: axis must be an int, got True"),
    Bad("mean-axis-out-of-range", lambda: gr.mean(_x, -3), ShapeError,
        r"mean: axis -3 is out of range for 2 dimensions"),
    Bad("lse-repeated-axis", lambda: gr.logsumexp(_x, (1, -1)), ShapeError,
        r"logsumexp: repeated axis in \(1, -1\)"),
    Bad("lse-int", lambda: gr.logsumexp(_i), ShapeError, r"logsumexp: expects a floating-point"),
    Bad("softmax-axis", lambda: gr.softmax(_x, 2), ShapeError,
        r"softmax: axis 2 is out of range for 2 dimensions"),
    Bad("log-softmax-int", lambda: gr.log_softmax(_i), ShapeError,
        r"log_softmax: expects a floating-point"),
    Bad("mean-int", lambda: gr.mean(_i), ShapeError,
        r"mean: expects a floating-point argument, got i64\(B,\)"),
    Bad("where-float-condition", lambda: gr.where(_x, _x, _x), ShapeError,
        r"where: the condition must be a bool mask, got f64"),
    Bad("where-condition-not-node", lambda: gr.where(True, _x, 0.0), TypeError,
        r"where: the condition must be a bool Node"),
    Bad("where-no-node", lambda: gr.where(_m, 1.0, 0.0), TypeError,
        r"where: a or b must be a Node"),
    Bad("where-mask-shape", lambda: gr.where(gr.input("mm", ("B", 2), bool), _x, 0.0), ShapeError,
        r"where: shapes \(B, 2\) and \(B, 3\) and \(\) do not broadcast"),
    Bad("logical-and-float", lambda: gr.logical_and(_x, _x), ShapeError,
        r"logical_and: expects bool masks, got f64, f64"),
    Bad("bool-plus-float", lambda: _x + True, ShapeError, r"add: a bool cannot combine with f64"),
    Bad("str-operand", lambda: _x * "a", TypeError, r"mul: cannot use str as an operand"),
    Bad("add-n-empty", lambda: gr.add_n([]), ShapeError, r"add_n: needs at least one term"),
    Bad("add-n-shapes", lambda: gr.add_n([_x, gr.input("y", ("B", 2), F64)]), ShapeError,
        r"add_n: arguments must have equal shapes, got \(B, 3\), \(B, 2\)"),
    Bad("matmul-vector", lambda: _x @ gr.input("v", (3,), F64), ShapeError,
        r"matmul: cannot multiply \(B, 3\) @ \(3,\): both operands need at least 2 dimensions"),
    Bad("matmul-batch", lambda: gr.input("p", (2, 4, 3), F64) @ gr.input("q", (5, 3, 2), F64),
        ShapeError, r"batched operands need equal leading dimensions"),
    Bad("one-hot-float", lambda: gr.one_hot(_x, 3), ShapeError,
        r"one_hot: indices must be integers, got f64\(B, 3\)"),
    Bad("one-hot-depth", lambda: gr.one_hot(_i, 0), ShapeError,
        r"one_hot: depth must be an int >= 1, got 0"),
    Bad("gather-shape", lambda: gr.gather(_x, gr.input("k", (2,), np.int64)), ShapeError,
        r"gather: indices \(2,\) must match the leading dimensions of \(B, 3\)"),
    Bad("take-float-ids", lambda: gr.take(gr.param("E", (4, 2), F64), _x), ShapeError,
        r"take: indices must be integers, got f64\(B, 3\)"),
    Bad("take-3d-table", lambda: gr.take(gr.param("E3", (4, 2, 2), F64), _i), ShapeError,
        r"take: the table must be 2-D \(rows, width\), got \(4, 2, 2\)"),
    Bad("take-id-out-of-range", lambda: gr.evaluate(
        gr.Graph({"y": gr.take(gr.param("E", (4, 2), F64), _i)}),
        {"i": np.array([1, 4])}, {"E": np.zeros((4, 2))}), gr.EvaluationError,
        r"take: index 4 is out of range for 4 rows"),
    Bad("cast-object", lambda: gr.cast(_x, object), ShapeError,
        r"cast: cannot convert .* to object"),
    Bad("ce-target-shape", lambda: cross_entropy(_logits, gr.input("t", ("B", 2), np.int64)),
        ShapeError,
        r"cross_entropy: targets \(B, 2\) must match the logits \(B, 3\) without their last axis"),
    Bad("ce-float-targets", lambda: cross_entropy(_logits, gr.input("t", ("B",), F64)), ShapeError,
        r"cross_entropy: targets must be integer class ids, got .*f64\(B,\)"),
    Bad("ce-weight-length", lambda: cross_entropy(_logits, _i, weight=[1.0, 2.0]), ShapeError,
        r"cross_entropy: weight \(2,\) must have one entry per class \(3\)"),
    Bad("ce-weight-nan", lambda: cross_entropy(_logits, _i, weight=[1.0, np.nan, 1.0]), ValueError,
        r"cross_entropy: class weights must be finite and >= 0"),
    Bad("ce-weight-negative", lambda: cross_entropy(_logits, _i, weight=[1.0, -1.0, 1.0]),
        ValueError, r"class weights must be finite and >= 0"),
    Bad("ce-float-mask", lambda: cross_entropy(_logits, _i, mask=gr.input("w", ("B",), F64)),
        ShapeError,
        r"cross_entropy mask must be bool \(B,\), got .*f64\(B,\)"),
    Bad("ce-mask-shape", lambda: cross_entropy(_logits, _i, mask=gr.input("w", ("B", 3), bool)),
        ShapeError, r"cross_entropy mask must be bool \(B,\), got .*bool\(B, 3\)"),
    Bad("ce-mask-not-node", lambda: cross_entropy(_logits, _i, mask=np.ones(2, bool)), ShapeError,
        r"cross_entropy mask must be bool \(B,\), got ndarray"),
    Bad("ce-class-out-of-range-evaluated", _ce_call([0, 3]), EvaluationError,
        r"gather .*index 3 is out of range for 3 classes"),
    Bad("ce-negative-class-evaluated", _ce_call([-1, 0]), EvaluationError,
        r"index -1 is out of range for 3 classes"),
    Bad("ce-class-out-of-range-compiled", _ce_compiled([0, 7]), EvaluationError,
        r"program .*gather.*index 7 is out of range for 3 classes"),
    Bad("ce-unmasked-bad-class-compiled", _ce_compiled([5, 0], mask=[True, False]), EvaluationError,
        r"index 5 is out of range for 3 classes"),
    Bad("se-shapes", lambda: squared_error(_x, gr.input("y", ("B", 2), F64)), ShapeError,
        r"squared_error: prediction \(B, 3\) and target \(B, 2\) differ"),
    Bad("se-float-mask", lambda: squared_error(_x, _x, gr.input("w", ("B",), F64)), ShapeError,
        r"squared_error mask must be bool \(B,\)"),
    Bad("se-mask-too-deep", lambda: squared_error(_x, _x, gr.input("w", ("B", 3, 1), bool)),
        ShapeError,
        r"squared_error mask must be bool \(B, 3\), got .*bool\(B, 3, 1\)"),
    Bad("loss-mask-shape", lambda: reduce_loss(_x, gr.input("w", ("B",), bool)), ShapeError,
        r"loss mask must be bool \(B, 3\), got .*bool\(B,\)"),
    Bad("loss-reduction", lambda: reduce_loss(_x, reduction="avg"), ValueError,
        r"reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    Bad("sequence-loss-rank", lambda: sequence_loss(_x[:, 0]), ShapeError,
        r"sequence_loss: per-step losses must be \(T, B\), got \(B,\)"),
    Bad("sequence-loss-over-time", lambda: sequence_loss(_x, over_time="max"), ValueError,
        r"over_time must be 'sum' or 'mean', got 'max'"),
    Bad("model-mask-float", _masked_model_call(np.ones((3, 2))), InputError,
        r"input 'mask': expected dtype bool, got f64"),
    Bad("model-mask-shape", _masked_model_call(np.ones((2, 2), bool)), ShapeError,
        r"input 'mask': expected shape \(3, B\), got \(2, 2\)"),
]


@pytest.mark.parametrize("case", CATALOGUE, ids=ids(CATALOGUE))
def test_bad_input(case):
    check(case)


def test_the_catalogue_is_big_and_its_ids_unique():
    assert len(CATALOGUE) >= 35
    assert len({c.id for c in CATALOGUE}) == len(CATALOGUE)
