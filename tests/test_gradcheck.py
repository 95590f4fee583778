"""gradcheck itself: it passes right gradients, catches wrong ones in both modes, and reports
the worst entry per input."""

import numpy as np
import pytest

import graphrnn as gr
from graphrnn.core.ops import Op, apply
from graphrnn.core.ops.elementwise import mul

F64 = np.float64

# A deliberately wrong op (not registered): square with a VJP off by a factor on one entry.
BAD = Op("bad_square", lambda x: (x.shape, x.dtype), lambda xp, x: x * x,
         lambda n, g: (mul(g, n.args[0]),))  # should be 2*x*g


def _problem():
    x = gr.input("x", ("B", 3), F64)
    W = gr.param("W", (3, 3), F64)
    return x, W, {"x": np.random.default_rng(0).normal(size=(2, 3))}, \
        {"W": np.random.default_rng(1).normal(size=(3, 3))}


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_correct_gradients_pass_in_both_modes(mode):
    x, W, inputs, params = _problem()
    res = gr.gradcheck(gr.Graph({"y": gr.tanh(x @ W)}), inputs, params, mode=mode)
    assert res.ok and {e.name for e in res.entries} == {"x", "W"}
    assert all(e.mode == mode for e in res.entries)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_wrong_vjp_is_caught_and_reported_per_input(mode):
    x, W, inputs, params = _problem()
    y = apply(BAD, x @ W).sum()
    with pytest.raises(gr.GradcheckError) as err:
        gr.gradcheck(y, inputs, params, mode=mode)
    text = str(err.value)
    assert "gradcheck FAILED" in text and "FAIL x" in text and "FAIL W" in text
    res = gr.gradcheck(y, inputs, params, mode=mode, raise_on_failure=False)
    assert not res.ok
    worst = {e.name: e for e in res.entries}["W"]
    assert worst.error > 1 and abs(worst.numeric) > 0
    if mode == "full":  # analytic is half the numeric value everywhere for this bug
        assert worst.analytic == pytest.approx(worst.numeric / 2, rel=1e-4)
        assert "d out[0] / d W[" in text


def test_auto_mode_switches_to_projections_for_large_problems():
    x = gr.input("x", ("B", 40), F64)
    W = gr.param("W", (40, 40), F64)
    res = gr.gradcheck(gr.Graph({"h": gr.tanh(x @ W)}), {"x": np.ones((3, 40)) * 0.1},
                       {"W": np.eye(40) * 0.5})
    assert {e.mode for e in res.entries} == {"fast"}


def test_float32_is_refused_with_a_reason():
    x = gr.input("x", (2,), np.float32)
    with pytest.raises(ValueError, match="gradcheck needs float64: output 'out0' is f32"):
        gr.gradcheck(gr.sum(x * x), {"x": np.ones(2, np.float32)})
