"""Fewer array-library calls per time step: horizontal fusion of slices (one elementwise call
over the gates' slices), per-step slices read by later loops as views of what the loop
stores (no copies), and the calls per step that ``program.report`` lists."""

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

import graphrnn as gr
from graphrnn.compiler.census import calls_per_step
from graphrnn.models import GRU, LSTM, RNN
from graphrnn.transforms.passes import optimize
from graphrnn.transforms.passes.slice_fusion import MAX_WASTE, slice_fusion

from .strategies import F64

UNARY = {"sigmoid": gr.sigmoid, "tanh": gr.tanh, "exp": gr.exp,
         "half": lambda x: x * 0.5, "neg": lambda x: -x}


@st.composite
def sliced_graphs(draw):
    """A (B, W) input, the same op over several slices of it (and, for a binary op, of a
    second input sliced alike), every result summed into the loss with its own weight."""
    width = draw(st.integers(2, 12))
    cuts = sorted(draw(st.lists(st.integers(0, width), min_size=2, max_size=6)))
    pieces = [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]
    pieces = pieces or [(0, width)]
    keep = draw(st.lists(st.booleans(), min_size=len(pieces), max_size=len(pieces)))
    pieces = [p for p, k in zip(pieces, keep) if k] or pieces[:1]
    op = draw(st.sampled_from(sorted(UNARY) + ["add"]))
    x = gr.input("x", (gr.B, width), F64)
    y = gr.input("y", (gr.B, width), F64)
    terms = []
    for k, (a, b) in enumerate(pieces):
        piece = x[:, a:b] + y[:, a:b] if op == "add" else UNARY[op](x[:, a:b])
        terms.append(gr.sum(piece * (k + 1.5)))
    return gr.Graph({"loss": gr.add_n(terms) if len(terms) > 1 else terms[0]}), pieces, op


@settings(max_examples=40, deadline=None)
@given(case=sliced_graphs(), seed=st.integers(0, 99))
def test_slice_fusion_keeps_values_and_gradients(case, seed):
    """Random slices of one value under one op: fused or not (by the waste bound), values
    and every gradient equal the graph as written (float64)."""
    graph, pieces, op = case
    note(f"{op} over {pieces}")
    g = gr.grad_graph(graph, wrt=["x", "y"], loss="loss") if op == "add" else \
        gr.grad_graph(graph, wrt=["x"], loss="loss")
    fused, count = slice_fusion(g)
    rng = np.random.default_rng(seed)
    feeds = {k: rng.normal(size=(3,) + v.shape[1:]) for k, v in g.inputs.items()}
    want = gr.evaluate(g, feeds, dims={"B": 3})
    got = gr.evaluate(fused, feeds, dims={"B": 3})
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-14, err_msg=k)
    used = sum(b - a for a, b in pieces)
    cover = max(b for _, b in pieces) - min(a for a, _ in pieces)
    if len(pieces) >= 2 and cover - used <= MAX_WASTE * used:
        assert count >= len(pieces)
    if len(pieces) == 1:
        assert count == 0


def test_lstm_gates_take_one_sigmoid_call():
    """The i, f and o gates' sigmoids (slices 0, 1 and 3 of four) become one call over all
    four slices; the g slice's tanh stays its own."""
    x = gr.input("x", (gr.B, 16), F64)
    i, f, g, o = (gr.sigmoid(x[:, 0:4]), gr.sigmoid(x[:, 4:8]), gr.tanh(x[:, 8:12]),
                  gr.sigmoid(x[:, 12:16]))
    graph = gr.Graph({"h": o * gr.tanh(f * i + i * g)})
    out, count = slice_fusion(graph)
    sig = [n for n in out.nodes if n.op.name == "sigmoid"]
    assert count == 3 and len(sig) == 1 and sig[0].shape == (gr.B, 16)


def test_far_apart_slices_are_not_fused():
    """Two slices with more unused elements between them than they hold stay separate."""
    x = gr.input("x", (gr.B, 20), F64)
    graph = gr.Graph({"y": gr.tanh(x[:, 0:2]) + gr.tanh(x[:, 18:20])})
    assert slice_fusion(graph)[1] == 0


def _training_program(cell, T=12, B=2, D=3, H=4):
    model = cell(D, H, dtype=np.float64, seed=0)

    def build(T):
        g = model.graph(T)
        return gr.grad_graph(gr.Graph({"loss": gr.sum(g.outputs["output"] ** 2)}),
                             loss="loss")
    return model, gr.compile(build)


def _first_loop_body(source: str) -> str:
    lines = source.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip().startswith("for t in range("))
    indent = len(lines[start]) - len(lines[start].lstrip())
    body = []
    for ln in lines[start + 1:]:
        if len(ln) - len(ln.lstrip()) <= indent:
            break
        body.append(ln)
    return "\n".join(body)


@pytest.mark.parametrize("cell, forward", [(RNN, 3), (LSTM, 13), (GRU, 15)])
def test_training_programs_report_their_calls_per_step(cell, forward):
    """``program.report`` lists the calls of each loop per step; the forward steps of the
    gated cells take one sigmoid call for all their sigmoid gates, and their gates' slices
    are read back by the backward loop as views of the stored activations (no copies in
    the forward loop)."""
    model, program = _training_program(cell)
    loops = program.report.loops
    assert [lp.direction for lp in loops] == ["forward", "backward"]
    assert loops[0].calls <= forward
    assert program.report.calls_per_step == [lp.calls for lp in loops]
    assert "calls per step" in str(program.report)
    assert "copyto" not in _first_loop_body(program.source)
    x = np.random.default_rng(0).normal(size=(12, 2, 3))
    want_loss, want = model.loss_and_grad(lambda o: gr.sum(o["output"] ** 2), x)
    got = program({"input": x}, model.parameters())
    assert abs(got["loss"] - want_loss) <= 1e-12 * abs(want_loss)


def test_census_counts_calls_in_loop_bodies_only():
    """Array-module calls, op kernels and fused kernels in a loop body count; straight code
    does not; a range ending in ``-1`` is a backward loop."""
    source = ("def program(I):\n    a = np.add(x, y, out=b)\n"
              "    for t in range(2, T + 1):\n        v = np.tanh(a[t], out=c); E[0](v, w)\n"
              "        u = K[1](xp, v)\n    z = np.exp(a)\n"
              "    for t in range(T - 1, 0, -1):\n        np.multiply(a, b, out=c)\n"
              "    return z\n")
    loops = calls_per_step(source)
    assert [(lp.direction, lp.calls) for lp in loops] == [("forward", 3), ("backward", 1)]


def test_o2_runs_slice_fusion_after_the_gates_are_fused():
    """In O2 the pass sees the fused gate GEMM's slices (and counts its fusions)."""
    model = LSTM(3, 4, dtype=np.float64, seed=0)
    g = model.graph(6)
    _, report = optimize(g, report=True)
    row = [r for r in report.rows if r.name == "slice_fusion"]
    assert row and row[0].rewrites >= 3 * 5
