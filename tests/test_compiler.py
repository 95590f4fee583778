"""The compiler: programs agree with the reference evaluator at every level, on random
graphs, random recurrences and the model zoo; buffers are planned, reused and cached."""

import numpy as np
import pytest
from hypothesis import given, note

import graphrnn as gr
from graphrnn.catalog import lstm_recurrence
from graphrnn.models import GRU, LSTM, RNN

from .helpers import grad_of_all
from .strategies import F64, expression_dags, recurrences


def _agree(graph, inputs, params, dims=None, level="O2", rtol=1e-10, roll=True):
    want = gr.evaluate(graph, inputs, params, dims)
    program = gr.compile(graph, level, roll=roll)
    for copy in (True, False):
        got = program(inputs, params, dims, copy=copy)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=1e-12, err_msg=k)
    return program


@pytest.mark.parametrize("level", ["O0", "O1", "O2"])
@given(dag=expression_dags())
def test_programs_match_the_evaluator_on_random_dags(level, dag):
    loss, inputs, params, description = dag
    note(description)
    _agree(grad_of_all(gr.Graph({"loss": loss})), inputs, params, level=level)


@pytest.mark.parametrize("level", ["O0", "O2"])
@given(case=recurrences())
def test_programs_match_the_evaluator_on_random_recurrences(level, case):
    graph, inputs, params, description = case
    note(description)
    _agree(grad_of_all(graph), inputs, params, dims={"B": 2}, level=level)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_zoo_models_forward_and_backward_compile(cls):
    model = cls(3, 5, num_layers=2, bidirectional=True, dtype=F64, seed=0)
    g = model.graph(6)
    loss = gr.add_n([gr.sum(v * v) for v in g.outputs.values()])
    dg = grad_of_all(gr.Graph({"loss": loss}))
    x = np.random.default_rng(0).normal(size=(6, 4, 3))
    _agree(dg, {"input": x}, model.state_dict())


def test_one_program_serves_every_batch_size_with_cached_plans():
    g = lstm_recurrence(3, 4, dtype=np.float32).unroll(5)
    program = gr.compile(gr.Graph({"h": g.outputs["h"]}))
    params = {k: np.full(v.shape, 0.1, np.float32) for k, v in g.params.items()}
    for batch in (1, 7, 1):
        out = program({"x": np.ones((5, batch, 3), np.float32)}, params)["h"]
        assert out.shape == (5, batch, 4) and out.dtype == np.float32
    assert len(program._local.plans) == 2
    assert program.memory_bytes({"B": 7}) > program.memory_bytes({"B": 1})


def test_repeating_steps_become_loops_over_stacked_buffers():
    g = lstm_recurrence(3, 4, dtype=F64).unroll(12)
    dg = gr.grad_graph(gr.Graph({"loss": gr.sum(g.outputs["h"] ** 2)}))
    program = gr.compile(dg)
    src = program.source
    assert src.startswith("def program(I, P, BUF, V, SH, AT, Z):")
    assert program.loops == 2 and src.count("for t in range(") == 2  # forward, backward
    assert "Node" not in src  # no graph work at run time
    assert "[t - 1]" in src   # a loop reads the previous step straight from its slot
    assert "# the steps, stored in place" in src  # the stacked output is a view
    # one input GEMM, one recurrent GEMM per loop body, the weight gradients: not 12x
    assert src.count("np.matmul(") < 20
    x = np.random.default_rng(0).normal(size=(12, 2, 3))
    params = {k: np.random.default_rng(1).normal(size=p.shape) * 0.4 for k, p in dg.params.items()}
    _agree(dg, {"x": x}, params)


def test_straight_line_code_when_rolling_is_off():
    g = lstm_recurrence(3, 4, dtype=F64).unroll(8)
    dg = gr.grad_graph(gr.Graph({"loss": gr.sum(g.outputs["h"] ** 2)}))
    program = gr.compile(dg, roll=False)
    src = program.source
    assert program.loops == 0 and "for " not in src
    assert "out=V[" in src          # states computed straight into the stacked buffer
    assert "its steps were computed in place" in src
    n_buffers = len(program._compiled.plan.buffers)
    assert n_buffers < len(program.graph) // 2  # buffers are reused
    calls = src.count("np.matmul(")
    # one input GEMM over all steps (f * c[0] stays, IEEE: step 1 computes its f gate too),
    # recurrent (h[0] @ U is sum(U - U), no GEMM), dh, weight gradients
    assert calls == 1 + 7 + 7 + 2


def test_copy_false_returns_buffers_reused_by_the_next_call():
    x = gr.input("x", ("B", 2), F64)
    program = gr.compile(gr.Graph({"y": gr.tanh(x) * 2.0}))
    first = program({"x": np.zeros((1, 2))}, copy=False)["y"]
    program({"x": np.ones((1, 2))}, copy=False)
    assert first[0, 0] == pytest.approx(2 * np.tanh(1.0))  # overwritten: same buffer
    kept = program({"x": np.zeros((1, 2))})["y"]
    program({"x": np.ones((1, 2))})
    assert kept[0, 0] == 0.0


def test_program_checks_inputs_like_the_evaluator():
    x = gr.input("x", ("B", 2), F64)
    program = gr.compile(gr.Graph({"y": x * 2.0}))
    with pytest.raises(gr.ShapeError, match=r"input 'x': expected shape \(B, 2\), got \(3,\)"):
        program({"x": np.zeros(3)})
    with pytest.raises(gr.InputError, match="missing input 'x'"):
        program({})


def test_long_programs_are_split_into_parts_with_the_same_results(monkeypatch):
    from graphrnn.compiler import function as runtime

    monkeypatch.setattr(runtime, "PART_LINES", 7)
    g = lstm_recurrence(2, 3, dtype=F64).unroll(5)
    dg = gr.grad_graph(gr.Graph({"loss": gr.sum(g.outputs["h"] ** 2)}))
    program = _agree(dg, {"x": np.random.default_rng(0).normal(size=(5, 2, 2))},
                     {k: np.random.default_rng(1).normal(size=v.shape) * 0.5
                      for k, v in dg.params.items()}, roll=False)
    assert "part0(I, P, BUF, V, SH, AT, Z, R)" in program.source and "R[" in program.source
    # an error in a later part still names its generated line and node
    logits = gr.input("logits", ("B", 3), F64)
    target = gr.input("target", ("B",), np.int64)
    h = logits
    for _ in range(12):
        h = gr.tanh(h) * 0.5
    bad = gr.compile(gr.Graph({"nll": gr.sum(gr.gather(h, target))}), "O0")
    with pytest.raises(gr.EvaluationError, match=r"line \d+: v\d+ = K\[0\]\(xp, .*\[gather"):
        bad({"logits": np.zeros((2, 3)), "target": np.array([0, 9])})


@pytest.mark.parametrize("ufunc_reduce", [True, False])
def test_a_sum_of_several_runs_of_steps_reduces_each_run(ufunc_reduce):
    """add_n's emission when two of its terms are runs of a loop's steps (each one array of
    shape (steps, ...)): every run is reduced over its steps, not only the first (a random
    recurrence once summed a second run unreduced and failed to broadcast)."""
    import types

    from graphrnn.core.ops import O

    e = types.SimpleNamespace(args=["r0", "r1", "x"], v="v", out="out", dtype=np.dtype(F64),
                              ufunc_reduce=ufunc_reduce, is_run=lambda i: i < 2)
    rng = np.random.default_rng(0)
    scope = {"np": np, "r0": rng.normal(size=(5, 2, 2)), "r1": rng.normal(size=(7, 2, 2)),
             "x": rng.normal(size=(2, 2)), "out": np.empty((2, 2))}
    exec(O.add_n.numpy(e), scope)
    want = scope["r0"].sum(0) + scope["r1"].sum(0) + scope["x"]
    np.testing.assert_allclose(scope["v"], want, rtol=1e-14)
    assert scope["v"] is scope["out"]  # computed in its planned buffer


def test_views_of_planned_buffers_made_with_the_plan_are_views_not_copies():
    """Straight code makes views of planned buffers once, with the plan; an expression NumPy
    would copy (a reshape of a transpose or of a column slice, an index of every axis) is
    left to each call, so every call reads the values of that call."""
    x = gr.input("x", (2, 3), np.float64)
    y = gr.input("y", (4,), np.float64)
    t = gr.tanh(x)
    graph = gr.Graph({
        "transposed": gr.reshape(gr.transpose(t), (6,)) * 2.0,       # a copy when reshaped
        "columns": gr.reshape(gr.index(t, (slice(None), slice(0, 2))), (4,)) + 1.0,
        "scalar": y * gr.index(gr.tanh(y), (2,)),                    # a 0-d copy
        "rows": gr.reshape(t, (3, 2)) - 1.0,                         # a true view
        "slice": gr.index(t, (1,)) * 3.0})                           # a true view
    program = gr.compile(graph)
    assert "V[" in program.source  # some views are planned
    rng = np.random.default_rng(0)
    for _ in range(2):  # the second call must not read the first call's values
        feeds = {"x": rng.normal(size=(2, 3)), "y": rng.normal(size=4)}
        got, want = program(feeds), gr.evaluate(graph, feeds)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-12, err_msg=k)
