"""The rewrite rules of each phase: every named rule fires on a graph made for it and keeps
its values (bit for bit where the rule is exact), fast-math rules wait for the opt-in, each
phase keeps values on random expression graphs full of identities, and the pipeline's
report counts rules by name."""

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

import graphrnn as gr
from graphrnn.core import ops as F
from graphrnn.core.ops import O, apply
from graphrnn.models import LSTM
from graphrnn.transforms.passes import PHASES, optimize

from .strategies import F64, arrays

SHAPE = (2, 3)


def _leaves():
    return (gr.input("x", SHAPE, F64), gr.input("y", SHAPE, F64),
            gr.input("s", (3,) + SHAPE, F64), gr.param("W", (3, 3), F64))


def _scatter(g, x, i):
    """The gradient piece ``g`` of ``x[i]``, scattered into ``x``'s shape."""
    return apply(O.unindex, g, key=x[i].attr("key"), shape=x.shape)


def _grad(loss, wrt):
    return gr.grad_graph(gr.Graph({"loss": loss}), wrt=wrt)


def _crafted():
    """rule name -> (phase, graph, fast_math): a graph on which the rule fires."""
    x, y, s, W = _leaves()
    z, nz = gr.zeros(SHAPE, F64), gr.full(SHAPE, -0.0, F64)
    i = gr.input("i", SHAPE, np.int64)
    g = lambda **outs: gr.Graph(outs)
    c = {  # canonicalize, exact
        "add-negative-zero": g(y=x + -0.0),
        "sub-zero": g(y=x - 0.0),
        "sub-from-negative-zero": g(y=-0.0 - x),
        "mul-by-one": g(y=1.0 * x),
        "div-by-one": g(y=x / 1.0),
        "double-negation": g(y=-(-x) * y),
        "neg-of-zero": g(y=x * -z),
        "zero-state-product": g(y=gr.tanh(z @ W)),
        "sum-of-zeros": g(y=x * gr.add_n([z, nz])),
        "sum-drop-negative-zero": g(y=gr.add_n([x, nz, y])),
        "where-same-branches": g(y=gr.where(x > y, x * y, x * y)),
        "drop-stop-gradient": g(y=gr.stop_gradient(x) * y),
        "transpose-of-transpose": g(y=gr.transpose(gr.transpose(x, (1, 0)), (1, 0)) * y),
        "reshape-of-reshape": g(y=gr.reshape(gr.reshape(x, (3, 2)), (6,))),
        "broadcast-of-broadcast": g(y=gr.broadcast_to(gr.broadcast_to(x[0], SHAPE),
                                                      (4,) + SHAPE)),
        "broadcast-of-zeros": g(y=x * gr.broadcast_to(gr.zeros((3,), F64), SHAPE)),
        "index-of-zeros": g(y=x[0] * gr.zeros((4, 3), F64)[1]),
        "index-of-stack": g(y=gr.stack([x, y])[1] * x),
        "index-of-scatter": g(y=_scatter(gr.tanh(x[0]), x, 0)[0] * _scatter(x[1], x, 1)[0]),
        "slice-of-concat": g(y=gr.concat([x, y], axis=0)[2:4] * x),
        "stack-of-rows": g(y=gr.tanh(gr.stack([s[0], s[1]]))),
        "stack-of-one": g(y=gr.stack([gr.tanh(x)], axis=1)),
        "stack-of-slices": g(y=gr.tanh(gr.stack([gr.tanh(x)[:, 1:3], gr.exp(y)[:, 1:3]]))),
        "concat-of-rows": g(y=gr.tanh(gr.concat([s[1], s[2]], axis=0))),
        "concat-of-unit-rows": g(y=gr.tanh(gr.concat([gr.reshape(s[k], (1,) + SHAPE)
                                                      for k in range(3)], axis=0))),
        "scatter-sum": _grad(gr.sum(gr.tanh(s[0]) * s[2]), ["s"]),
        "zeros-through-shape-op": g(y=x * gr.transpose(gr.zeros((3, 2), F64), (1, 0))),
        "constant-fold": g(y=x * (gr.full(SHAPE, 2.0, F64) * gr.full(SHAPE, 3.0, F64))),
    }
    f = {  # canonicalize, fast_math
        "add-zero": g(y=x + 0.0),
        "sub-negative-zero": g(y=x - -0.0),
        "sub-from-zero": g(y=0.0 - x),
        "mul-by-zero": g(y=gr.tanh(x * 0.0), k=i * 0),
        "zero-div": g(y=gr.tanh(0.0 / x)),
        "matmul-by-zero": g(y=gr.tanh(z @ W)),
        "sum-drop-zero": g(y=gr.add_n([x, z, y])),
        "sum-of-rows": g(y=gr.add_n([s[2], s[1], s[0]]) * x),
    }
    t = {  # stabilize
        "log-of-softmax": g(y=gr.log(gr.softmax(x, -1))),
        "log-of-sigmoid": g(y=gr.log(gr.sigmoid(x))),
        "log-gradient-cancels": _grad(gr.sum(gr.log(gr.softmax(x, -1)) * y), ["x"]),
        "log-gradient-cancels-in-product": _grad(gr.sum(gr.log(gr.sigmoid(x)) * y), ["x"]),
        "one-minus-sigmoid": _grad(gr.sum(gr.log(gr.sigmoid(x))), ["x"]),
    }
    xT, yT, V = gr.transpose(x, (1, 0)), gr.transpose(y, (1, 0)), gr.param("V", (3, 3), F64)
    red = gr.add_n([F.sum_to_shape(x, (3,)), F.sum_to_shape(y, (3,)), x[0]])
    sums = {  # the sums of products: (phase, graph, fast_math)
        "weight-gradient-gemm": ("weight_gradients", g(y=xT @ y + yT @ x), False),
        "weight-gradient-shared-right": ("weight_gradients", g(y=xT @ y + yT @ y), True),
        "bias-gradient-reduction": ("weight_gradients", g(y=red), False),
        "sum-of-products-gemm": ("sum_of_products", g(y=x @ W + y @ V), False),
        "sum-of-products-shared-right": ("sum_of_products", g(y=gr.add_n([x @ W, y @ W, x])),
                                         True),
        "sum-of-reductions": ("sum_of_products", g(y=red), False),
    }
    out = dict(sums)
    out.update({k: ("canonicalize", v, False) for k, v in c.items()})
    out.update({k: ("canonicalize", v, True) for k, v in f.items()})
    out.update({k: ("stabilize", v, False) for k, v in t.items()})
    return out


CRAFTED = _crafted()
FAST_RULES = sorted(r.name for p in PHASES.values() for r in p.rules if r.fast_math)


def _values(graph, seed=0):
    rng = np.random.default_rng(seed)
    feed = {"x": rng.normal(size=SHAPE), "y": rng.normal(size=SHAPE),
            "s": rng.normal(size=(3,) + SHAPE), "i": rng.integers(-5, 5, size=SHAPE)}
    inputs = {k: v for k, v in feed.items() if k in graph.inputs}
    params = {k: rng.normal(size=(3, 3)) for k in ("W", "V") if k in graph.params}
    return inputs, params


def _same(g1, g2, exact, dims=None):
    inputs, params = _values(g1)
    a = gr.evaluate(g1, inputs, params, dims)
    b = gr.evaluate(g2, {k: v for k, v in inputs.items() if k in g2.inputs},
                    {k: v for k, v in params.items() if k in g2.params}, dims)
    for k in a:
        if exact:  # the same bits: values, NaN where NaN, the sign of zero
            np.testing.assert_array_equal(b[k], a[k], err_msg=k)
            assert np.array_equal(np.signbit(b[k]), np.signbit(a[k])), k
        else:
            np.testing.assert_allclose(b[k], a[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_every_rule_has_a_crafted_graph():
    names = {r.name for p in PHASES.values() for r in p.rules}
    assert names == set(CRAFTED), sorted(names ^ set(CRAFTED))


@pytest.mark.parametrize("rule", sorted(CRAFTED))
def test_each_rule_fires_on_its_graph_and_keeps_values(rule):
    phase, graph, fast = CRAFTED[rule]
    out, counts = PHASES[phase].run(graph, fast_math=fast)
    assert counts[rule] >= 1, dict(counts)
    assert counts.capped == 0
    exact = phase == "canonicalize" and not fast
    _same(graph, out, exact)
    if phase == "canonicalize":  # canonicalize is idempotent: its output is a fixed point
        again, more = PHASES[phase].run(out, fast_math=fast)
        assert again is out and not more


@pytest.mark.parametrize("rule", FAST_RULES)
def test_fast_math_rules_wait_for_the_opt_in(rule):
    phase, graph, _ = CRAFTED[rule]
    _, counts = PHASES[phase].run(graph, fast_math=False)
    exact_here = rule == "mul-by-zero"  # its graph also multiplies integers by 0
    assert counts[rule] == (1 if exact_here else 0), dict(counts)


# --------------------------------------------------------- random graphs of identities
_IDENTITIES = {
    "mul1": lambda a, b: a * 1.0, "add-0": lambda a, b: a + -0.0, "add0": lambda a, b: a + 0.0,
    "sub0": lambda a, b: a - 0.0, "sub-0": lambda a, b: a - -0.0, "0sub": lambda a, b: 0.0 - a,
    "-0sub": lambda a, b: -0.0 - a, "mul0": lambda a, b: a * 0.0, "div1": lambda a, b: a / 1.0,
    "0div": lambda a, b: 0.0 / (a * a + 1.0), "negneg": lambda a, b: -(-a),
    "where": lambda a, b: gr.where(a > b, a, a), "stopgrad": lambda a, b: gr.stop_gradient(a),
    "tt": lambda a, b: gr.transpose(gr.transpose(a, (1, 0)), (1, 0)),
    "rr": lambda a, b: gr.reshape(gr.reshape(a, (3, 2)), SHAPE),
    "stack": lambda a, b: gr.stack([a, b])[1], "concat": lambda a, b: gr.concat([a, b], 0)[2:4],
    "rows": lambda a, b: gr.stack([a[0], a[1]]),
    "rowsum": lambda a, b: gr.broadcast_to(gr.add_n([a[1], a[0] * 1.0]), SHAPE),
    "fold": lambda a, b: a * (gr.full(SHAPE, 0.5, F64) + gr.full(SHAPE, 0.25, F64)),
    "zeros@": lambda a, b: a + gr.zeros((2, 3), F64) @ gr.param("W", (3, 3), F64),
    "addn0": lambda a, b: gr.add_n([a, gr.zeros(SHAPE, F64), b, gr.full(SHAPE, -0.0, F64)]),
    "bb": lambda a, b: gr.broadcast_to(gr.broadcast_to(a[1], (1, 3)), SHAPE),
    "zidx": lambda a, b: a + gr.zeros((4, 3), F64)[1:3],
    "catrows": lambda a, b: gr.concat([a[0][None], a[1][None]], 0),
    "mm": lambda a, b: a @ gr.param("W", (3, 3), F64) + b @ gr.param("W", (3, 3), F64),
    "mmT": lambda a, b: (gr.transpose(a, (1, 0)) @ b + gr.transpose(b, (1, 0)) @ a)[0:2],
    "tanh": lambda a, b: gr.tanh(a), "mul": lambda a, b: a * b, "add": lambda a, b: a + b,
    "logsm": lambda a, b: gr.log(gr.softmax(a, -1)), "logsig": lambda a, b: gr.log(gr.sigmoid(b)),
}


@st.composite
def identity_graphs(draw):
    """A random graph over x and y built from identities (and a few real ops), with the
    gradients of its loss: every rule has something to match."""
    x, y, _, _ = _leaves()
    pool, steps = [x, y], []
    for _ in range(draw(st.integers(2, 8))):
        name = draw(st.sampled_from(sorted(_IDENTITIES)))
        a, b = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
        out = _IDENTITIES[name](a, b)
        pool.append(out)
        steps.append(f"{name}(#{pool.index(a)}, #{pool.index(b)})")
    loss = gr.add_n([gr.sum(p * p) for p in pool[2:]])
    forward = gr.Graph({"loss": loss})
    graph = gr.grad_graph(forward, wrt=sorted({**forward.inputs, **forward.params}))
    inputs = {"x": draw(arrays(SHAPE)), "y": draw(arrays(SHAPE))}
    return graph, inputs, "; ".join(steps)


@pytest.mark.parametrize("phase,fast", [("canonicalize", False), ("canonicalize", True),
                                        ("stabilize", False), ("weight_gradients", True),
                                        ("sum_of_products", True)])
@given(case=identity_graphs(), W=arrays((3, 3)))
def test_each_phase_keeps_values_on_random_identity_graphs(phase, fast, case, W):
    graph, inputs, description = case
    note(description)
    out, counts = PHASES[phase].run(graph, fast_math=fast)
    note(str(dict(counts)))
    assert counts.capped == 0
    params = {"W": W} if "W" in graph.params else {}
    a = gr.evaluate(graph, {k: v for k, v in inputs.items() if k in graph.inputs}, params)
    b = gr.evaluate(out, {k: v for k, v in inputs.items() if k in out.inputs},
                    {k: v for k, v in params.items() if k in out.params})
    for k in a:
        if phase == "canonicalize" and not fast:
            np.testing.assert_array_equal(b[k], a[k], err_msg=k)
            assert np.array_equal(np.signbit(b[k]), np.signbit(a[k])), k
        else:
            np.testing.assert_allclose(b[k], a[k], rtol=1e-9, atol=1e-12, err_msg=k)


# ----------------------------------------------------------------------- the report
def test_the_report_counts_rules_by_name():
    g = LSTM(3, 4, dtype=F64, seed=0).graph(4)
    dg = gr.grad_graph(gr.Graph({"loss": gr.sum(g.outputs["output"] ** 2)}))
    out, report = optimize(dg, report=True)
    rows = {}
    for r in report.rows:  # the first run of each pass
        rows.setdefault(r.name, r)
    assert rows["canonicalize"].rules["zero-state-product"] >= 1  # h[0] = 0
    assert rows["canonicalize"].rules["scatter-sum"] >= 1  # the stacked output's gradient
    assert rows["batch_time"].rules == {} and rows["batch_time"].rewrites > 0
    assert report.rules["zero-state-product"] == sum(
        r.rules.get("zero-state-product", 0) for r in report.rows)
    for r in report.rows:
        assert r.rewrites == (sum(r.rules.values()) if r.name in PHASES else r.rewrites)
    text = str(report)
    assert "\n  zero-state-product " in text and "\n  scatter-sum " in text
    assert "bound" not in text
