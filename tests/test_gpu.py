"""The CuPy backend on a real GPU: the same programs as on NumPy, fused kernels, CUDA-graph
replay and models.  Every test here skips, with the reason, where CuPy or a GPU is missing."""

import numpy as np
import pytest

import graphrnn as gr
from graphrnn.models import GRU, LSTM, RNN

from .helpers import assert_close_scaled, training_step

try:
    gr.get_backend("cupy")
    REASON = None
except RuntimeError as e:
    REASON = str(e)
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

TOL = {np.float64: 1e-10, np.float32: 1e-5}


def _to_numpy(a):
    return gr.get_backend("cupy").to_numpy(a)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_programs_on_the_gpu_agree_with_numpy(cls, dtype):
    dg, inputs, params = training_step(cls, dtype, T=6, H=8, mask=cls is GRU)
    want = gr.compile(dg)(inputs, params)
    program = gr.compile(dg, backend="cupy")
    assert program.kernels and "__global__" in program.cuda_source
    assert_close_scaled(program(inputs, params), want, TOL[dtype], _to_numpy)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_cuda_graph_replay_agrees_and_follows_new_inputs(cls):
    cp = gr.get_backend("cupy").xp
    dg, inputs, params = training_step(cls, np.float32, T=6, H=8)
    program = gr.compile(dg, backend="cupy", cuda_graph=True)
    dev_params = {k: cp.asarray(v) for k, v in params.items()}
    for scale in (1.0, 0.5, 2.0):
        x = {"input": inputs["input"] * np.float32(scale)}
        assert_close_scaled(program(x, dev_params), gr.compile(dg)(x, params), 1e-5, _to_numpy)


def test_models_run_on_the_gpu_when_asked():
    model = LSTM(4, 8, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 4))
    want, (h, c) = model(x)
    model.backend = "cupy"
    got, (h2, c2) = model(x)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    np.testing.assert_allclose(c2, c, rtol=1e-10)


def test_auto_picks_the_gpu():
    assert gr.get_backend("auto").name == "cupy"
