"""Symbolic recurrences: declaration, unrolling, BPTT, and the checks that guard them."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, note

import graphrnn as gr
from graphrnn import Recurrence, RecurrenceError, t
from graphrnn.catalog import EXACT, lstm_recurrence, moving_sum_recurrence

from .strategies import F64, recurrences

RNG = np.random.default_rng(0)


def elman(n=3, dtype=F64, input_name="x", **state_kw):
    rec = Recurrence("elman", dtype=dtype)
    x = rec.input(input_name, 1)
    h = rec.state("h", n, **state_kw)
    W, U, b = rec.param("W", (n, n)), rec.param("U", (1, n)), rec.param("b", (n,))
    rec.update(h, gr.tanh(h[t - 1] @ W + x[t] @ U + b))
    rec.output("y", h @ rec.param("V", (n, 1)))
    return rec


def test_moving_sum_is_computed_exactly():
    g = moving_sum_recurrence().unroll(5)
    y = gr.evaluate(g, {"x": np.arange(1.0, 6.0).reshape(5, 1, 1)}, EXACT)["y"]
    assert y.ravel().tolist() == [1.0, 3.0, 6.0, 9.0, 12.0]
    # and for any sequence and batch: y[t] = x[t] + x[t-1] + x[t-2]
    x = RNG.normal(size=(9, 4, 1))
    y = gr.evaluate(moving_sum_recurrence().unroll(9), {"x": x}, EXACT)["y"]
    want = x.copy()
    want[1:] += x[:-1]
    want[2:] += x[:-2]
    np.testing.assert_allclose(y, want, atol=1e-12)


def test_unrolled_graph_shares_parameters_and_tags_steps():
    g = elman().unroll(4, per_step=True)
    assert list(g.params) == ["W", "U", "b", "V"]
    assert g.op_counts()["param"] == 4  # one node per parameter, used at every step
    W = g.params["W"]
    users = [n for n in g.nodes if W in n.args]
    assert sorted(n.step for n in users) == [1, 2, 3, 4]
    assert {"h", "y", "h_final", "y@1", "y@4", "h@2"} <= set(g.outputs)
    assert g.outputs["y"].shape == (4, gr.B, 1)
    assert g.outputs["h_final"] is g.outputs["h@4"]
    assert g.outputs["y@2"].origin == "y[t] = h[t] @ V"


def _elman_ref(x, p, h0=None, reverse=False, mask=None):
    T, Bn = x.shape[:2]
    h = np.zeros((Bn, p["W"].shape[0])) if h0 is None else h0
    hs, ys = [None] * T, [None] * T
    for tt in (range(T - 1, -1, -1) if reverse else range(T)):
        new = np.tanh(h @ p["W"] + x[tt] @ p["U"] + p["b"])
        if mask is not None:
            new = np.where(mask[tt][:, None], new, h)
        h = new
        hs[tt] = h if mask is None else np.where(mask[tt][:, None], h, 0)
        ys[tt] = h @ p["V"] if mask is None else np.where(mask[tt][:, None], h @ p["V"], 0)
    return np.stack(hs), np.stack(ys), h


def _params(n=3):
    return {"W": RNG.normal(size=(n, n)) * 0.5, "U": RNG.normal(size=(1, n)),
            "b": RNG.normal(size=n) * 0.1, "V": RNG.normal(size=(n, 1))}


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_forward_reverse_and_masked_unrolling_match_a_numpy_loop(reverse, masked):
    p, x = _params(), RNG.normal(size=(6, 3, 1))
    lengths = np.array([6, 4, 1])
    mask = np.arange(6)[:, None] < lengths[None, :]  # (T, B), True on real steps
    g = elman().unroll(6, reverse=reverse, mask=masked)
    inputs = {"x": x, **({"mask": mask} if masked else {})}
    out = gr.evaluate(g, inputs, p)
    hs, ys, h_last = _elman_ref(x, p, reverse=reverse, mask=mask if masked else None)
    np.testing.assert_allclose(out["h"], hs, atol=1e-12)
    np.testing.assert_allclose(out["y"], ys, atol=1e-12)
    np.testing.assert_allclose(out["h_final"], h_last, atol=1e-12)
    if masked and not reverse:
        # a padded step keeps the state; the final state is the state at each length
        np.testing.assert_allclose(out["h_final"][1], out["h"][3, 1])
        assert np.all(out["h"][4:, 1] == 0)
        assert np.all(out["y"][4:, 1] == 0) and np.all(out["y"][1:, 2] == 0)


def test_initial_states_zeros_param_input_or_a_node():
    p, x = _params(), RNG.normal(size=(3, 2, 1))
    h0 = RNG.normal(size=(2, 3))
    given = gr.evaluate(elman(init="input").unroll(3), {"x": x, "h0": h0}, p)
    np.testing.assert_allclose(given["h"], _elman_ref(x, p, h0=h0)[0], atol=1e-12)
    learned = elman(init="param").unroll(3)
    assert "h0" in learned.params and learned.params["h0"].shape == (3,)
    h0p = RNG.normal(size=3)
    out = gr.evaluate(learned, {"x": x}, {**p, "h0": h0p})
    np.testing.assert_allclose(out["h"], _elman_ref(x, p, h0=np.tile(h0p, (2, 1)))[0], atol=1e-12)
    # a Node: an encoder's final state initializes a decoder
    enc = elman().unroll(3)
    dec = elman(input_name="x_dec", init=enc.outputs["h_final"])
    both = dec.unroll(2)
    assert set(both.inputs) == {"x", "x_dec"}  # the graph holds the encoder too
    enc_h = _elman_ref(x, p)[2]
    xd = RNG.normal(size=(2, 2, 1))
    np.testing.assert_allclose(gr.evaluate(both, {"x": x, "x_dec": xd}, p)["h"][0],
                               np.tanh(enc_h @ p["W"] + xd[0] @ p["U"] + p["b"]), atol=1e-12)


def test_lstm_states_updated_together_and_delays_of_depth_two():
    n = 2
    rec = Recurrence("lstm", dtype=F64)
    x = rec.input("x", 1)
    h, c = rec.state("h", n), rec.state("c", n)
    gates = {k: rec.param(f"W_{k}", (n + 1, n)) for k in "ifgo"}
    xh = gr.concat([x, h[t - 1]], -1)
    i, f, o = (gr.sigmoid(xh @ gates[k]) for k in "ifo")
    rec.update(c, f * c[t - 1] + i * gr.tanh(xh @ gates["g"]))
    rec.update(h, o * gr.tanh(c))           # h[t] reads c[t]: same-step dependency
    g = rec.unroll(4)
    pv = {f"W_{k}": RNG.normal(size=(n + 1, n)) for k in "ifgo"}
    xv = RNG.normal(size=(4, 2, 1))
    out = gr.evaluate(g, {"x": xv}, pv)
    hh, cc = np.zeros((2, n)), np.zeros((2, n))
    sig = lambda z: 1 / (1 + np.exp(-z))
    for tt in range(4):
        z = np.concatenate([xv[tt], hh], -1)
        cc = sig(z @ pv["W_f"]) * cc + sig(z @ pv["W_i"]) * np.tanh(z @ pv["W_g"])
        hh = sig(z @ pv["W_o"]) * np.tanh(cc)
    np.testing.assert_allclose(out["h_final"], hh, atol=1e-12)
    np.testing.assert_allclose(out["c_final"], cc, atol=1e-12)

    # s[t] = s[t-1] + s[t-2] with s[0] = 1, s[-1] = 0: Fibonacci, an autonomous system
    fib = Recurrence("fib", dtype=F64)
    s = fib.state("s", 1, init="input", depth=2)
    fib.update(s, s[t - 1] + s[t - 2])
    init = np.array([[[1.0]], [[0.0]]])  # (depth, B, 1): s[0], s[-1]
    seq = gr.evaluate(fib.unroll(8), {"s0": init})["s"].ravel()
    assert seq.tolist() == [1, 2, 3, 5, 8, 13, 21, 34]


def test_autonomous_system_runs_with_a_given_batch_size():
    rec = Recurrence("decay", dtype=F64)
    s = rec.state("s", 2, init="param")
    rec.update(s, s[t - 1] * 0.5)
    g = rec.unroll(3)
    out = gr.evaluate(g, params={"s0": np.array([8.0, 4.0])}, dims={"B": 2})
    np.testing.assert_allclose(out["s"][:, 0], [[4.0, 2.0], [2.0, 1.0], [1.0, 0.5]])


def test_jordan_output_feedback():
    rec = Recurrence("jordan", dtype=F64)
    x = rec.input("x", 1)
    h = rec.state("h", 2)
    U, W, V = rec.param("U", (1, 2)), rec.param("W", (1, 2)), rec.param("V", (2, 1))
    y = rec.output("y", gr.tanh(h @ V))
    rec.update(h, gr.sigmoid(x[t] @ U + y[t - 1] @ W))
    pv = {"U": RNG.normal(size=(1, 2)), "W": RNG.normal(size=(1, 2)),
          "V": RNG.normal(size=(2, 1))}
    xv = RNG.normal(size=(5, 3, 1))
    out = gr.evaluate(rec.unroll(5), {"x": xv}, pv)
    yy = np.zeros((3, 1))
    for tt in range(5):
        hh = 1 / (1 + np.exp(-(xv[tt] @ pv["U"] + yy @ pv["W"])))
        yy = np.tanh(hh @ pv["V"])
    np.testing.assert_allclose(out["y"][-1], yy, atol=1e-12)
    fold = rec.folded()
    delay_edges = [(u, v, d) for u, v, d in fold.edges(data=True) if d["kind"] == "delay"]
    assert [(u, d["delay"]) for u, _, d in delay_edges] == [("y", 1)]
    assert any("h" in c and "y" in c for c in nx.simple_cycles(nx.DiGraph(fold)))


def test_folded_view_marks_delay_edges_and_shows_the_loop():
    fold = elman().folded()
    assert fold.nodes["h"]["kind"] == "state" and fold.nodes["W"]["kind"] == "param"
    delays = [(u, d["delay"], d["label"]) for u, _, d in fold.edges(data=True) if d["delay"]]
    assert delays == [("h", 1, "h[t-1]")]
    cycles = list(nx.simple_cycles(nx.DiGraph(fold)))
    assert cycles and all("h" in c for c in cycles)
    assert sum(1 for *_, d in fold.edges(data=True) if d["kind"] == "defines") == 2


def test_describe_prints_the_equations():
    text = elman().describe()
    assert "state  h[t] = tanh(h[t-1] @ W + x[t] @ U + b) : f64(B, 3)   (init zeros)" in text
    assert "output y[t] = h[t] @ V" in text and "input  x[t] : f64(B, 1)" in text


@given(recurrences())
def test_random_recurrences_bptt_matches_finite_differences(case):
    graph, inputs, params, description = case
    note(description)
    gr.gradcheck(graph, inputs, params, dims={"B": 2})


# ------------------------------------------------------------ validation
def test_state_never_updated():
    rec = Recurrence("r")
    rec.state("h", 2)
    with pytest.raises(RecurrenceError, match=r"state 'h' is never updated; call rec.update"):
        rec.unroll(3)


def test_state_updated_twice():
    rec = Recurrence("r")
    h = rec.state("h", 2)
    rec.update(h, h[t - 1] * 0.5)
    with pytest.raises(RecurrenceError, match=r"state 'h' is already updated by "
                                              r"h\[t\] = h\[t-1\] \* 0.5"):
        rec.update(h, h[t - 1])


def test_undeclared_names():
    rec = Recurrence("r")
    h = rec.state("h", 2)
    with pytest.raises(RecurrenceError, match=r"update\(\) names 'z', which is not declared"):
        rec.update("z", h)
    other = Recurrence("other")
    z = other.state("z", 2)
    with pytest.raises(RecurrenceError, match=r"uses z\[t-1\], a variable of another recurrence"):
        rec.update(h, h[t - 1] + z[t - 1])
    with pytest.raises(RecurrenceError, match=r"uses the graph input 'u', which is not declared"):
        rec.update(h, h[t - 1] + gr.input("u", ("B", 2)))
    with pytest.raises(RecurrenceError, match=r"the name 'h' is already declared"):
        rec.input("h", 2)


def test_algebraic_loop_names_the_states_on_it():
    rec = Recurrence("loop")
    a, b, c = rec.state("a", 2), rec.state("b", 2), rec.state("c", 2)
    rec.update(a, gr.tanh(b))          # a[t] needs b[t]
    rec.update(b, c * 2.0)             # b[t] needs c[t]
    rec.update(c, a[t - 1] + a)        # c[t] needs a[t]: a cycle with no delay
    with pytest.raises(RecurrenceError, match=r"algebraic loop among a, b, c: a\[t\] needs b\[t\], "
                                              r"b\[t\] needs c\[t\], c\[t\] needs a\[t\]"):
        rec.unroll(2)


def test_shape_mismatch_fails_when_the_equation_is_written():
    rec = Recurrence("r")
    x, h = rec.input("x", 2), rec.state("h", 3)
    W = rec.param("W", (3, 3))
    with pytest.raises(gr.ShapeError, match=r"matmul: cannot multiply \(B, 2\) @ \(3, 3\)"):
        x[t] @ W
    with pytest.raises(RecurrenceError, match=r"equation h\[t\] = h\[t-1\] @ W2: the right-hand "
                                              r"side is f32\(B, 4\), but state 'h' is f32\(B, 3\)"):
        rec.update(h, h[t - 1] @ rec.param("W2", (3, 4)))


def test_delay_deeper_than_initial_states():
    rec = Recurrence("r")
    h = rec.state("h", 2, init="input")
    with pytest.raises(RecurrenceError, match=r"h\[t-2\] needs 2 initial values, but state 'h' "
                                              r"provides 1 \(init='input'\); declare depth=2"):
        h[t - 2]
    with pytest.raises(RecurrenceError, match=r"looks into the future"):
        h[t + 1]


def test_steps_must_be_positive():
    with pytest.raises(RecurrenceError, match=r"steps must be an int >= 1, got 0"):
        elman().unroll(0)


def test_a_1000_step_lstm_unrolls_differentiates_and_runs_without_recursion():
    rec = lstm_recurrence(4, 8, dtype=F64)
    g = rec.unroll(1000)
    loss = gr.mean(g.outputs["h"] * g.outputs["h"])
    dg = gr.grad_graph(gr.Graph({"loss": loss}))
    params = {k: RNG.normal(size=p.shape) * 0.3 for k, p in dg.params.items()}
    out = gr.evaluate(dg, {"x": RNG.normal(size=(1000, 2, 4))}, params)
    assert np.isfinite(out["loss"]) and out["dloss/dU_f"].shape == (8, 8)
    assert out["dloss/dW_i"].any()
    # the shared weight's gradient is one sum over all 1000 steps
    assert dg.outputs["dloss/dU_f"].op.name == "add_n"
    assert len(dg.outputs["dloss/dU_f"].args) == 1000  # one term per step (t=1 reads h[0] = 0)
