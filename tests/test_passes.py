"""Optimization passes: every pass, and every level, keeps values and gradients unchanged on
random graphs and random recurrences; the fusions do what they promise."""

import numpy as np
import pytest
from hypothesis import given, note

import graphrnn as gr
from graphrnn.catalog import lstm_recurrence
from graphrnn.models import GRU, LSTM
from graphrnn.transforms.passes import LEVELS, PASSES, checkpoint, optimize

from .strategies import F64, expression_dags, recurrences


def _same_values(g1, g2, inputs, params, dims=None):
    a = gr.evaluate(g1, inputs, {k: v for k, v in params.items() if k in g1.params}, dims)
    b = gr.evaluate(g2, {k: v for k, v in inputs.items() if k in g2.inputs},
                    {k: v for k, v in params.items() if k in g2.params}, dims)
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-10, atol=1e-12, err_msg=k)


def _with_grads(graph):
    return gr.grad_graph(graph, wrt=[k for k, v in {**graph.inputs, **graph.params}.items()
                                     if v.dtype.kind == "f"], loss="loss")


@pytest.mark.parametrize("name", list(PASSES) + list(LEVELS))
@given(dag=expression_dags())
def test_passes_keep_values_and_gradients_on_random_dags(name, dag):
    loss, inputs, params, description = dag
    note(description)
    g = _with_grads(gr.Graph({"loss": loss}))
    out = optimize(g, level=name) if name in LEVELS else optimize(g, passes=[name])
    _same_values(g, out, inputs, params)


@pytest.mark.parametrize("name", list(PASSES) + ["O2"])
@given(case=recurrences())
def test_passes_keep_values_and_gradients_on_random_recurrences(name, case):
    graph, inputs, params, description = case
    note(description)
    g = _with_grads(graph)
    out = optimize(g, level=name) if name in LEVELS else optimize(g, passes=[name])
    _same_values(g, out, inputs, params, dims={"B": 2})


def _matmuls(g):
    return [n for n in g.nodes if n.op.name == "matmul"]


@pytest.mark.parametrize("fast_math", [False, True])
def test_o2_turns_a_hand_declared_lstm_into_fused_gemms(fast_math):
    T = 6
    g = lstm_recurrence(3, 4, dtype=F64).unroll(T)
    dg = gr.grad_graph(gr.Graph({"loss": gr.sum(g.outputs["h"] ** 2)}))
    og, report = optimize(dg, report=True, fast_math=fast_math)
    mm = _matmuls(og)
    # forward: one recurrent GEMM per step after the first (h[0] = 0), all four gates fused
    recurrent = [m for m in mm if m.args[1].shape == (4, 16) and m.args[0].shape == (gr.B, 4)]
    assert len(recurrent) == T - 1
    if fast_math:  # step 1 reads no f gate (f * c[0] is dropped) and no h[0] @ U at all
        assert any(m.args[0].shape == (T - 1, gr.B, 3) for m in mm)
    else:  # IEEE: f * c[0] stays (NaN for an infinite f); h[0] @ U is sum(U - U), no GEMM
        assert any(m.args[0].shape == (T, gr.B, 3) for m in mm)
        assert any(n.op.name == "sub" and n.args[0] is n.args[1] for n in og.nodes)
    # backward: the weight gradients are GEMMs over all steps at once
    over_time = [m for m in mm if m.args[0].shape[-1] in (gr.Sym("B", T), gr.Sym("B", T - 1))]
    assert len(over_time) == (3 if fast_math else 2) and len(mm) == (15 if fast_math else 13)
    assert len(_matmuls(dg)) == 116  # before: 8 per step forward, and their VJPs
    assert "gate_fusion" in str(report) and report.total_seconds < 5


def test_zero_initial_state_products_vanish():
    g = GRU(2, 3, dtype=F64).graph(4)
    recurrent = lambda gr_: [m for m in _matmuls(gr_) if m.args[1].shape == (3, 9)]
    assert len(recurrent(g)) == 4
    # h[0] = 0: the recurrent GEMM at t=1 is gone (4 steps, 3 remain); IEEE keeps its NaN
    # where W_hh holds an inf or a NaN as sum(W_hh - W_hh) over one axis (no GEMM) ...
    poison = lambda gr_: [n for n in gr_.nodes if n.op.name == "sub" and n.args[0] is n.args[1]]
    exact = optimize(g, level="O1")
    assert len(recurrent(exact)) == 3 and len(poison(exact)) == 1
    # ... which fast_math drops
    fast = optimize(g, level="O1", fast_math=True)
    assert len(recurrent(fast)) == 3 and not poison(fast)


def test_pipeline_report_and_bad_names():
    g = LSTM(2, 3, dtype=F64).graph(3)
    out, report = optimize(g, report=True)
    text = str(report)
    assert text.splitlines()[0].split() == ["pass", "nodes", "before", "after", "rewrites", "ms"]
    assert len(report.rows) >= len(LEVELS["O2"])
    with pytest.raises(ValueError, match="unknown optimization level 'O9'"):
        optimize(g, level="O9")
    with pytest.raises(ValueError, match=r"unknown passes \['nope'\]"):
        optimize(g, passes=["nope"])


@given(case=recurrences())
def test_checkpointing_keeps_values_and_gradients(case):
    graph, inputs, params, description = case
    note(description)
    g = _with_grads(graph)
    for every in (2, 3):
        _same_values(g, checkpoint(g, every), inputs, params, dims={"B": 2})


def test_checkpointing_trades_memory_for_recomputation():
    model = LSTM(4, 32, dtype=F64, seed=0)
    g = model.graph(60)
    dg = gr.grad_graph(gr.Graph({"loss": gr.sum(g.outputs["output"] ** 2)}))
    full, ck = gr.compile(dg, roll=False), gr.compile(checkpoint(dg, 8), roll=False)
    # bytes, not per-step buffers: O2 keeps the forward values the backward pass reads in
    # stacks over all steps (batch_elementwise), and checkpointing's recomputed ones in none
    memory = lambda p: p.memory_bytes({"B": 3})
    assert memory(ck) < 0.75 * memory(full)
    assert ck.graph.op_counts()["recompute"] > 0
    x = np.random.default_rng(0).normal(size=(60, 3, 4))
    a, b = full({"input": x}, model.state_dict()), ck({"input": x}, model.state_dict())
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-12, atol=1e-12)
    assert checkpoint(dg, 1) is dg
    with pytest.raises(ValueError, match="every must be an int >= 1"):
        checkpoint(dg, 0)


def test_cse_merges_commutative_twins():
    x, y = gr.input("x", (2,), F64), gr.input("y", (2,), F64)
    g = gr.Graph({"a": (x + y) * 2.0, "b": (y + x) * 3.0})
    out = optimize(g, passes=["cse"])
    assert len(out) == len(g) - 1
    assert len([n for n in out.nodes if n.op.name == "add"]) == 1
