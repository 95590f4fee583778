"""Elementwise fusion for kernel backends: the plan keeps groups convex and values exact, the
generated CUDA compiles with nvcc and, run on the host, agrees with the NumPy backend."""

import shutil
import types

import numpy as np
import pytest
from hypothesis import given, note

import graphrnn as gr

from graphrnn.runtime.backends import cupy_backend
from graphrnn.runtime.backends.cuda_host import compile_source
from graphrnn.compiler.fusion import FusedKernel, fusable, kernels_source, plan_fusion
from graphrnn.models import GRU, LSTM, RNN

from .helpers import INTERPRETED, Interpreted, assert_close_scaled, grad_of_all, training_step
from .strategies import F64, expression_dags, recurrences

NVCC = shutil.which("nvcc")
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")


def _agree(graph, inputs, params, backend, dims=None, rtol=1e-10):
    want = gr.compile(graph)(inputs, params, dims)
    program = gr.compile(graph, backend=backend)
    assert_close_scaled(program(inputs, params, dims), want, rtol)
    return program


def _check_plan(graph):
    """Every fusable node is in exactly one group; groups are convex, one shape, consecutive."""
    nodes = gr.compiler.schedule(graph)
    order, groups = plan_fusion(nodes)
    assert sorted(map(id, order)) == sorted(map(id, nodes))
    seen = set()
    for n in order:  # topological
        assert all(a in seen for a in n.args)
        seen.add(n)
    where = {n: i for i, n in enumerate(order)}
    members = [m for g in groups for m in g]
    assert len(members) == len(set(members)) == sum(map(fusable, nodes))
    for g in groups:
        assert len({m.shape for m in g}) == 1
        assert [where[m] for m in g] == list(range(where[g[0]], where[g[0]] + len(g)))
    return groups


@given(dag=expression_dags())
def test_fused_programs_match_on_random_dags(dag):
    loss, inputs, params, description = dag
    note(description)
    graph = grad_of_all(gr.Graph({"loss": loss}))
    _check_plan(gr.optimize(graph))
    _agree(graph, inputs, params, INTERPRETED)


@given(case=recurrences())
def test_fused_programs_match_on_random_recurrences(case):
    graph, inputs, params, description = case
    note(description)
    graph = grad_of_all(graph)
    _check_plan(gr.optimize(graph))
    _agree(graph, inputs, params, INTERPRETED, dims={"B": 2})


def test_an_lstm_step_becomes_few_kernels_with_several_outputs():
    dg, inputs, params = training_step(LSTM, F64, T=4)
    program = _agree(dg, inputs, params, INTERPRETED)
    cell = [i for i, k in enumerate(program.kernels)
            if "tanh" in k.operation and "exp" in k.operation]
    # one kernel per step computes the four gates, c[t] and h[t] and writes the activations
    # the backward pass reads; steps share their kernels (each is generated once)
    assert sum(program.source.count(f"E[{i}](") for i in cell) == 4
    assert all(len(program.kernels[i].output_dtypes) >= 6 for i in cell)
    assert program.source.count("E[") <= 5 * 4 + 4
    assert len(program.kernels) <= 12


@needs_nvcc
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_generated_cuda_compiles_with_nvcc_and_agrees_on_the_host(cls, dtype, rtol):
    dg, inputs, params = training_step(cls, dtype, mask=cls is GRU)
    program = _agree(dg, inputs, params, "cuda-host", rtol=rtol)
    assert "__global__ void grnn_k0(" in program.cuda_source


@pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler")
def test_the_kernels_also_build_with_a_plain_cpp_compiler():
    dg, inputs, params = training_step(GRU, F64, T=2)
    program = gr.compile(dg, backend=INTERPRETED)
    lib = compile_source(program.cuda_source, shutil.which("c++"))
    assert hasattr(lib, "grnn_k0_host")


def test_kernel_source_reads_like_the_math():
    x = gr.input("x", ("B", 3), F64)
    y = gr.tanh(x) * 0.5 + gr.sigmoid(x)
    nodes = gr.compiler.schedule(gr.Graph({"y": y}))
    _, groups = plan_fusion(nodes)
    (group,) = groups
    k = FusedKernel("k", group, {y})
    assert k.in_params == "float64 x0" and k.out_params == "float64 y0"
    assert "tanh(x0)" in k.operation and "* 0.5" in k.operation and "exp((x0) < double(-709.782712893384) ? double(709.782712893384) : -(x0))" in k.operation
    v = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(k.evaluate(np, v)[0], np.tanh(v) * 0.5 + 1 / (1 + np.exp(-v)))
    assert "__global__ void k(" in kernels_source([k])


def test_the_cupy_backend_builds_elementwise_kernels_from_the_plan():
    made = []

    class FakeKernel:
        def __init__(self, *args, **kw):
            made.append((args, kw))

    fake = types.SimpleNamespace(ElementwiseKernel=FakeKernel)
    backend = cupy_backend.CupyBackend("cupy", fake, None)
    dg, _, _ = training_step(RNN, F64, T=2)
    program = gr.compile(dg, backend=INTERPRETED)
    backend.make_kernels(program.kernels, program.cuda_source)
    assert len(made) == len(program.kernels)
    (in_params, out_params, operation, name), kw = made[0]
    k = program.kernels[0]
    assert (in_params, out_params, operation, name) == (k.in_params, k.out_params,
                                                        k.operation, k.name)
    assert kw == {"no_return": True}


def test_backends_say_what_is_missing(monkeypatch):
    assert gr.get_backend("cuda-host").fuses_elementwise
    assert not gr.get_backend("numpy").fuses_elementwise
    if "cupy" not in gr.available_backends():
        with pytest.raises(RuntimeError, match="pip install 'graphrnn\\[cuda\\]'"):
            gr.get_backend("cupy")
        assert gr.get_backend("auto").name == "numpy"
    with pytest.raises(ValueError, match="'cuda-host'"):
        gr.get_backend("tpu")


class _Recording(Interpreted):
    """Captures like the CuPy backend does (run once, record, replay) but on NumPy."""

    def capture(self, run):
        run()
        outs = run()
        self.captures = getattr(self, "captures", 0) + 1

        def launch():
            self.launches = getattr(self, "launches", 0) + 1
            run()
        return launch, outs


def test_cuda_graph_replay_stages_inputs_and_replays_per_batch_size():
    backend = _Recording("recording", np, np.asarray)
    dg, inputs, params = training_step(LSTM, F64, T=3)
    want = gr.compile(dg)(inputs, params)
    program = gr.compile(dg, backend=backend, cuda_graph=True)
    for _ in range(3):  # replays read the new values copied into the staged arrays
        got = program(inputs, params)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-12, err_msg=k)
        inputs = {"input": inputs["input"] * 0.5}
        want = gr.compile(dg)(inputs, params)
    assert (backend.captures, backend.launches) == (1, 3)
    program({"input": np.zeros((3, 5, 4))}, params)  # another batch size: a new capture
    assert backend.captures == 2
    with pytest.raises(ValueError, match="cuda_graph=True needs"):
        gr.compile(dg, cuda_graph=True)


def test_a_generic_program_shares_its_loop_kernels_and_captures_per_batch_and_length():
    """Compiled once for every T on a kernel backend: the loop body's kernels are generated
    once and called every iteration (nvcc builds them when present); CUDA-graph replay
    captures once per (B, T) binding and keeps a bounded number of captures."""
    model = LSTM(3, 5, dtype=F64, seed=0)

    def build(T):
        g = model.graph(T)
        return gr.grad_graph(gr.Graph({"loss": gr.sum(g.outputs["output"] ** 2)}), loss="loss")

    program = gr.compile(build, backend="cuda-host" if NVCC else INTERPRETED)
    assert program.generic
    loop = program.source.split("for t in range(", 1)[1]
    assert "E[" in loop  # fused kernels inside the loop body
    kernels = len(program.kernels)
    params, rng = model.state_dict(), np.random.default_rng(0)
    for T in (program.min_length, 40):
        x = rng.normal(size=(T, 2, 3))
        want = gr.evaluate(build(T), {"input": x}, params)
        assert_close_scaled(program({"input": x}, params), want, 1e-10)
    assert len(program.kernels) == kernels  # the same kernels serve every length
    backend = _Recording("recording", np, np.asarray)
    replayed = gr.compile(build, backend=backend, cuda_graph=True)
    for T, B in ((9, 2), (9, 2), (12, 2), (12, 3), (9, 2)):
        x = rng.normal(size=(T, B, 3))
        got, want = replayed({"input": x}, params), program({"input": x}, params)
        assert_close_scaled(got, want, 1e-12)
    assert (backend.captures, backend.launches) == (3, 5)  # captured per (B, T), each replayed
    for T in range(13, 13 + replayed.plan_cache):
        replayed({"input": rng.normal(size=(T, 1, 3))}, params)
    assert len(replayed._local.replays) == replayed.plan_cache  # a bounded cache, like the plans


def test_models_run_their_programs_on_the_chosen_backend():
    model = GRU(4, 6, dtype=F64, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 4))
    want, _ = model(x)
    model.backend = "cuda-host" if NVCC else INTERPRETED
    got, _ = model(x)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, want, rtol=1e-10)
