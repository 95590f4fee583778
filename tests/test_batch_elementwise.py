"""Elementwise work batched over time (``batch_elementwise``): the backward pass's factors
that read forward values only run once for all steps, the values and gradients stay those
of the graph as written, and what depends on another step, or would need a copy, stays."""

import re

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

import graphrnn as gr
from graphrnn import Recurrence, t
from graphrnn.core.ir import record_meta
from graphrnn.core.ops import O
from graphrnn.models import GRU, LSTM, RNN
from graphrnn.transforms.passes import checkpoint, optimize
from graphrnn.transforms.passes.batch_elementwise import batch_elementwise, expose_factors
from graphrnn.transforms.passes.stack_views import stack_views

from .helpers import INTERPRETED, grad_of_all
from .strategies import F64, leaf_values, recurrence_builders


def _training_builder(cls, D=3, H=8, dtype=F64):
    """A zoo model's training graph at every length (sum of squares of the output)."""
    model = cls(D, H, dtype=dtype, seed=0)

    def build(T):
        out = model.graph(T).outputs["output"]
        return gr.grad_graph(gr.Graph({"loss": gr.sum(out * out)}), loss="loss")
    return model, build


def _loop_bodies(source: str):
    """The lines of each ``for t in range(...)`` body of a generated program."""
    lines, bodies = source.splitlines(), []
    for i, line in enumerate(lines):
        if line.strip().startswith("for t in range("):
            indent = len(line) - len(line.lstrip())
            body = []
            for follow in lines[i + 1:]:
                if len(follow) - len(follow.lstrip()) <= indent:
                    break
                body.append(follow)
            bodies.append((line.strip(), body))
    return bodies


def _calls(lines) -> int:
    return sum(len(re.findall(r"\bnp\.[a-z_.]+\(", line)) for line in lines)


def _backward_calls(program) -> int:
    """NumPy calls per step of the backward loop (the loop that runs t downwards)."""
    backward = [body for head, body in _loop_bodies(program.source) if ", -1)" in head]
    assert len(backward) == 1, program.source
    return _calls(backward[0])


def _rewrites(report, name="batch_elementwise") -> int:
    return sum(r.rewrites for r in report.rows if r.name == name)


def _without_batching(monkeypatch):
    from graphrnn.transforms.passes import pipeline
    monkeypatch.setitem(pipeline.LEVELS, "O2",
                        [p for p in pipeline.LEVELS["O2"] if p != "batch_elementwise"])


# ------------------------------------------------------------------ values and gradients
@settings(max_examples=10)
@given(case=recurrence_builders(), T=st.integers(1, 40), seed=st.integers(0, 99))
def test_o2_programs_equal_o0_programs_on_random_recurrences(case, T, seed):
    """Random recurrences and all their gradients, compiled once for every length at O0
    and at O2 (batched factors as views of the per-step storage): the same values."""
    build, params, description = case
    note(description)
    gbuild = lambda T: grad_of_all(build(T))
    o0, o2 = gr.compile(gbuild, "O0"), gr.compile(gbuild, "O2")
    rng = np.random.default_rng(seed)
    for length in (T, T + 9):
        g = gbuild(length)
        feeds = leaf_values(g, rng)
        p = {k: v for k, v in params.items() if k in g.params}
        want = o0(feeds, p, dims={"B": 2, "T": length})
        got = o2(feeds, p, dims={"B": 2, "T": length})
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-10,
                                       err_msg=f"{k} at T={length}")


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_batched_training_steps_equal_the_evaluator(cls):
    model, build = _training_builder(cls)
    program = gr.compile(build)
    assert program.generic, program.why_not
    assert _rewrites(program.report) > 0
    rng = np.random.default_rng(0)
    for T in (program.min_length, 31):
        x = rng.normal(size=(T, 2, 3))
        want = gr.evaluate(build(T), {"input": x}, model.state_dict())
        got = program({"input": x}, model.state_dict())
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)


# ------------------------------------------------------------------ fewer calls per step
@pytest.mark.parametrize("cls,before,after", [(RNN, 5, 3), (LSTM, 21, 10), (GRU, 19, 15)])
def test_backward_steps_make_fewer_numpy_calls(cls, before, after, monkeypatch):
    """tanh' = 1 - tanh**2 and sigmoid' = s * (1 - s), and their products with other
    forward values, run once for all steps before the backward loop: its body keeps the
    recurrence (RNN: add, multiply, matmul, as a hand-written BPTT)."""
    _, build = _training_builder(cls, D=8, H=32, dtype=np.float32)
    program = gr.compile(build)
    assert program.generic, program.why_not
    assert _backward_calls(program) <= after
    assert "np.stack(" not in program.source  # the stacks are views of per-step storage
    _without_batching(monkeypatch)
    assert _backward_calls(gr.compile(build)) >= before


def test_a_fusing_backend_leaves_the_pass_out():
    """Where each step's elementwise work is one kernel, batching it saves no call."""
    _, build = _training_builder(LSTM)
    g = build(6)
    _, fused = optimize(g, "O2", report=True, fused_kernels=True)
    _, plain = optimize(g, "O2", report=True)
    assert "batch_elementwise" not in [r.name for r in fused.rows]
    assert _rewrites(plain) > 0
    program = gr.compile(build, backend=INTERPRETED)
    assert "batch_elementwise" not in [r.name for r in program.report.rows]


# ------------------------------------------------------------------ what stays per step
def _elman(T, g=None):
    """h[t] = tanh(h[t-1] @ W + x[t] @ U), y[t] = tanh(h[t]) * g (g shared by every step)."""
    rec = Recurrence("elman", dtype=F64)
    x, h = rec.input("x", 2), rec.state("h", 3)
    rec.update(h, gr.tanh(h[t - 1] @ rec.param("W", (3, 3)) + x[t] @ rec.param("U", (2, 3))))
    rec.output("y", gr.tanh(h[t]) * (rec.param("g", (3,)) if g is None else g))
    return rec.unroll(T)


def test_a_forward_recurrence_is_not_batched():
    """h[t] = tanh(...h[t-1]...): every tanh reads the one before, so none is batched."""
    with record_meta():
        g = gr.Graph({"h": _elman(6).outputs["h"]})
        out, count = batch_elementwise(g)
    assert count == 0 and out is g


def test_shared_arguments_broadcast_against_the_stack():
    """y[t] = tanh(h[t]) * g: the tanh of the stored states (a view of the output stack)
    and the product with the shared g run once over all steps, g broadcast."""
    T = 7
    with record_meta():
        g = _elman(T)
        graph = gr.Graph({"h": g.outputs["h"], "y": g.outputs["y"]})
        out, count = batch_elementwise(graph)
    assert count == 2 * T
    batched = [n for n in out.nodes if n.op.elementwise and n.shape[:1] == (T,)]
    assert {n.op for n in batched} >= {O.tanh, O.mul}
    rng = np.random.default_rng(0)
    feeds = leaf_values(graph, rng)
    params = {"W": rng.normal(size=(3, 3)), "U": rng.normal(size=(2, 3)),
              "g": rng.normal(size=3)}
    want = gr.evaluate(graph, feeds, params, dims={"B": 2})
    got = gr.evaluate(out, feeds, params, dims={"B": 2})
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])  # exact: the same ops, elementwise


def test_values_that_would_need_a_copy_are_not_stacked():
    """A slice of a per-step value (a gate of h[t] @ W) is a view: its stack would copy."""
    rec = Recurrence("sliced", dtype=F64)
    h = rec.state("h", 4)
    gates = h[t - 1] @ rec.param("W", (4, 8))
    rec.update(h, gr.tanh(gates[:, 0:4]))
    rec.output("y", gates[:, 4:8] * 2.0)
    with record_meta():
        g = rec.unroll(6)
        graph = gr.Graph({"y": g.outputs["y"]})
        _, count = batch_elementwise(graph)
    assert count == 0


def test_recomputed_values_are_not_stacked():
    """Checkpointing recomputes forward values in the backward pass so as not to store
    them: stacking them for a batched op would store them again."""
    _, build = _training_builder(LSTM, H=4)
    g = checkpoint(build(12), 4)
    with record_meta():
        out = optimize(g, "O2")
    recomputed = {n for n in out.nodes if n.op is O.recompute}
    for n in out.nodes:
        if n.op is O.stack:
            reads = set(gr.Graph(list(n.args)).nodes)
            assert not reads & recomputed, n.label()


# ------------------------------------------------------------------ exposing factors
def _backward_product(T=5):
    """loss = sum(sum_t (h[t] * a[t]) * b[t]) with the product's gradient chain: at each
    step ``(r * a) * b`` where r is the adjoint flowing back from later steps."""
    rec = Recurrence("triple", dtype=F64)
    x, h = rec.input("x", 3), rec.state("h", 3)
    a, b = gr.sigmoid(x[t] * 0.5), gr.tanh(x[t])
    rec.update(h, gr.tanh(h[t - 1] @ rec.param("W", (3, 3)) + x[t]) * a * b)
    g = rec.unroll(T)
    return grad_of_all(gr.Graph({"loss": gr.sum(g.outputs["h"] ** 2)}))


def test_products_with_the_backward_recurrence_are_regrouped():
    """(r * a) * b -> r * (a * b) where r reads later steps and a, b do not: a * b then
    runs once for all steps, and the values agree to rounding."""
    with record_meta():
        g = _backward_product()
        out, count = expose_factors(g)
        again, _ = expose_factors(out)
    assert count > 0
    assert expose_factors(again)[1] == 0  # nothing regrouped twice
    rng = np.random.default_rng(1)
    feeds = leaf_values(g, rng)
    params = {"W": rng.normal(size=(3, 3)) * 0.5}
    want = gr.evaluate(g, feeds, params, dims={"B": 2})
    got = gr.evaluate(out, feeds, params, dims={"B": 2})
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-14, err_msg=k)


def test_stacks_of_a_longer_stacks_run_are_slices_of_it():
    xs = [gr.input(f"x{i}", (2,), F64) * 2.0 for i in range(5)]
    whole, part = gr.stack(xs), gr.stack(xs[1:4])
    out, count = stack_views(gr.Graph({"w": whole, "p": part * 3.0}))
    assert count == 1
    p = out.outputs["p"].args[0]
    assert p.op is O.index and p.args[0] is whole
