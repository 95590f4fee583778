"""The native backend: fused elementwise groups compiled to C++ loops over NumPy arrays give
NumPy's values, read strided, broadcast and 0-d arguments in place, refuse bad ones before
writing anything, and cut the calls a step makes."""

import os

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

import graphrnn as gr
from graphrnn.compiler.fusion import FusedKernel, kernels_source, plan_fusion
from graphrnn.models import GRU, LSTM, RNN
from graphrnn.runtime.backends import native, native_build

from .helpers import assert_close_scaled, grad_of_all
from .strategies import recurrence_builders
from .test_generic import LENGTHS, _check_lengths

MISSING = native.missing()
pytestmark = pytest.mark.skipif(MISSING is not None,
                                reason=f"the native backend needs {MISSING}")


def _training(cls, dtype, mask=False):
    """A model's training program builder (sum of squares of the output, every gradient)."""
    model = cls(3, 5, dtype=dtype, seed=0)

    def build(T):
        g = model.graph(T, mask=mask)
        return gr.grad_graph(gr.Graph({"loss": gr.sum(g.outputs["output"] ** 2)}), loss="loss")
    return model, build


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_training_programs_agree_with_numpy_at_every_batch_and_length(cls, dtype, rtol):
    model, build = _training(cls, dtype, mask=cls is GRU)
    program = gr.compile(build, backend="native")
    reference = gr.compile(build)
    assert program.generic and program.backend.name == "native"
    kernels, params = len(program.kernels), model.state_dict()
    rng = np.random.default_rng(0)
    for T in (program.min_length, program.min_length + 7):
        for B in (1, 3):
            feeds = {"input": rng.normal(size=(T, B, 3)).astype(dtype)}
            if cls is GRU:
                feeds["mask"] = np.arange(T)[:, None] < rng.integers(1, T + 1, size=B)[None, :]
            assert_close_scaled(program(feeds, params), reference(feeds, params), rtol)
    assert len(program.kernels) == kernels  # one program (and one module) for every length


@settings(max_examples=5)
@given(case=recurrence_builders(), lengths=LENGTHS, seed=st.integers(0, 99))
def test_random_recurrences_on_native_equal_the_unrolled_graph(case, lengths, seed):
    build, params, description = case
    note(description)
    gbuild = lambda T: grad_of_all(build(T))
    _check_lengths(gr.compile(gbuild, backend="native"), gbuild, params, lengths[:2], seed)


def _kernel():
    """One compiled kernel: y0 = tanh(x0) * x1 + x2, y1 = y0 * x1 (x1 a row, x2 a scalar)."""
    x0 = gr.input("x0", (gr.B, 4), "float64")
    x1 = gr.input("x1", (4,), "float64")
    x2 = gr.input("x2", (), "float64")
    y0 = gr.tanh(x0) * x1 + x2
    y1 = y0 * x1
    (group,) = plan_fusion(gr.compiler.schedule(gr.Graph({"y0": y0, "y1": y1})))[1]
    k = FusedKernel("grnn_test_k", group, {y0, y1})
    (fn,) = gr.get_backend("native").make_kernels([k], kernels_source([k]))
    return k, fn


def test_a_kernel_reads_strided_views_broadcast_rows_and_scalars_in_place():
    k, fn = _kernel()
    rng = np.random.default_rng(0)
    wide = rng.normal(size=(3, 16))
    x0 = wide[:, 4:8]                 # one gate's slice: a strided view
    row = rng.normal(size=8)[::2]     # a row broadcast over the batch, itself strided
    scalar = np.asarray(0.25)         # a 0-d array
    out = np.zeros((2, 3, 8))
    y0, y1 = out[0, :, ::2], out[1, :, 1::2]  # outputs may be strided views too
    fn(x0, row, scalar, y0, y1)
    want = k.evaluate(np, x0, row, scalar, shape=(3, 4))
    np.testing.assert_allclose(y0, want[0], rtol=1e-14)
    np.testing.assert_allclose(y1, want[1], rtol=1e-14)
    assert not out[0, :, 1::2].any() and not out[1, :, ::2].any()  # nothing else written
    col = rng.normal(size=(3, 1))     # a size-1 axis broadcasts as well
    fn(x0, row, col, y0, y1)
    np.testing.assert_allclose(y0, np.tanh(x0) * row + col, rtol=1e-14)
    empty = np.zeros((0, 4))
    fn(empty, row, scalar, empty, np.zeros((0, 4)))  # no elements: nothing to do


def test_a_kernel_refuses_bad_arguments_before_writing():
    _, fn = _kernel()
    x0, row, scalar = np.ones((3, 4)), np.ones(4), np.asarray(1.0)
    y0, y1 = np.full((3, 4), 7.0), np.full((3, 4), 7.0)
    with pytest.raises(ValueError, match=r"grnn_test_k: input 0 of shape \(3, 5\) does not "
                                         r"broadcast to the output shape \(3, 4\)"):
        fn(np.ones((3, 5)), row, scalar, y0, y1)
    with pytest.raises(ValueError, match=r"grnn_test_k: output 1 of shape \(2, 4\) differs "
                                         r"from output 0's shape \(3, 4\)"):
        fn(x0, row, scalar, y0, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="grnn_test_k: input 1"):
        fn(x0, np.ones((2, 3, 4)), scalar, y0, y1)  # more axes than the output
    with pytest.raises(TypeError, match="grnn_test_k: input 1 .* expected double"):
        fn(x0, row.astype(np.float32), scalar, y0, y1)
    with pytest.raises(TypeError, match="grnn_test_k: input 2 .* expected double"):
        fn(x0, row, np.asarray(1, dtype=np.int64), y0, y1)  # same size, not a float
    with pytest.raises(TypeError, match="grnn_test_k: output 0 .* expected double"):
        fn(x0, row, scalar, y0.astype(np.float32), y1)
    with pytest.raises(TypeError, match="grnn_test_k takes 5 arrays"):
        fn(x0, row, scalar, y0)
    with pytest.raises(TypeError, match="grnn_test_k: input 2 \\(float\\)"):
        fn(x0, row, 1.0, y0, y1)  # not an array
    frozen = np.zeros((3, 4))
    frozen.flags.writeable = False
    with pytest.raises((BufferError, ValueError), match="grnn_test_k: output 1"):
        fn(x0, row, scalar, y0, frozen)
    np.testing.assert_array_equal(y0, 7.0)
    np.testing.assert_array_equal(y1, 7.0)


def test_the_lstm_training_program_makes_far_fewer_calls_per_step():
    _, build = _training(LSTM, np.float64)
    numpy_calls = gr.compile(build).report.calls_per_step
    native_calls = gr.compile(build, backend="native").report.calls_per_step
    assert len(native_calls) == len(numpy_calls) == 2  # forward and backward loops
    for fewer, more in zip(native_calls, numpy_calls):
        assert fewer <= 4 and 3 * fewer <= more, (native_calls, numpy_calls)


def test_models_run_on_native():
    model = LSTM(4, 6, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 4))
    want, _ = model(x)
    model.backend = "native"
    got, _ = model(x)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert "native" in gr.available_backends()


def test_the_backend_says_what_it_lacks(monkeypatch):
    monkeypatch.setattr(native, "_BACKEND", None)
    monkeypatch.setattr(native_build, "find_cxx", lambda: None)
    with pytest.raises(RuntimeError, match="native backend needs a C\\+\\+ compiler"):
        gr.get_backend("native")
    monkeypatch.setattr(native_build, "python_include", lambda: None)
    with pytest.raises(RuntimeError, match="and Python's headers"):
        gr.get_backend("native")
    assert "native" not in gr.available_backends()


def test_dense_and_strided_loops_agree_with_nan_and_infinities():
    """Operands dense along the last axis take the SIMD loop (vector math), strided ones the
    element loop: the same values to a few ulp, NaN and infinities alike."""
    k, fn = _kernel()
    x = np.array([[np.nan, np.inf, -np.inf, -800.0, 0.0, 3.5, 1e-12, 40.0]] * 3)
    row, full = np.linspace(-1, 1, 8), np.full((3, 8), 0.25)  # every operand dense
    dense = [np.zeros((3, 8)), np.zeros((3, 8))]
    fn(x, row, full, *dense)
    wide = np.zeros((3, 16))
    wide[:, ::2] = x
    strided = [np.zeros((3, 16))[:, ::2], np.zeros((3, 16))[:, ::2]]
    fn(wide[:, ::2], row, np.asarray(0.25), *strided)  # a strided input and a 0-d one
    want = k.evaluate(np, x, row, full, shape=(3, 8))
    for got in (dense, strided):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15, equal_nan=True)


def test_the_flags_fall_back_where_the_vector_math_does_not_build(monkeypatch):
    """Without the vector math library (or SIMD flags) the kernels build with plain flags."""
    monkeypatch.setattr(native_build, "_FLAG_SETS", ((["-fno-such-flag-graphrnn"], []), ([], [])))
    monkeypatch.setattr(native_build, "_FLAGS", [])
    assert native.vector_flags() == ([], [])


def test_inputs_constant_along_the_last_axis_take_the_simd_loop_by_chunks():
    """A 0-d value or a (B, 1) column with dense operands runs in chunks filled with the
    value (more than one chunk, with a remainder): the same values as NumPy."""
    k, fn = _kernel()
    rng = np.random.default_rng(1)
    x, row = rng.normal(size=(3, 600)), rng.normal(size=600)
    for third in (np.asarray(0.25), rng.normal(size=(3, 1))):
        got = [np.zeros((3, 600)), np.zeros((3, 600))]
        fn(x, row, third, *got)
        want = k.evaluate(np, x, row, third, shape=(3, 600))
        for g, w in zip(got, want):  # the vector tanh: within a few ulp of NumPy's
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ the disk cache
_TINY = ('#define PY_SSIZE_T_CLEAN\n#include <Python.h>\n'
         'static PyObject *answer(PyObject *, PyObject *) {{ return PyLong_FromLong({value}); }}\n'
         'static PyMethodDef m[] = {{{{"answer", answer, METH_NOARGS, ""}}, '
         '{{NULL, NULL, 0, NULL}}}};\n'
         'static struct PyModuleDef d = {{PyModuleDef_HEAD_INIT, "{name}", "", -1, m, NULL, '
         'NULL, NULL, NULL}};\n'
         'PyMODINIT_FUNC PyInit_{name}(void) {{ return PyModule_Create(&d); }}\n')


def _tiny(value):
    """The text of a one-function extension module whose ``answer()`` is ``value``."""
    return lambda name: _TINY.format(name=name, value=value)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh disk cache in ``tmp_path``, and no module loaded in this process yet."""
    monkeypatch.setenv("GRAPHRNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(native_build, "_CACHE", [])
    monkeypatch.setattr(native_build, "_MODULES", {})
    return tmp_path / "cache"


def _no_compiler(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("compiled again")
    monkeypatch.setattr(native_build.subprocess, "run", refuse)


def test_built_modules_are_kept_on_disk_and_imported_without_compiling(cache, monkeypatch):
    stem = f"grnn_test_{np.random.default_rng().integers(1 << 30)}"  # new to this process
    first = native.compile_module(_tiny(42), stem)
    assert first.answer() == 42
    built = list(cache.iterdir())
    assert [p.name.startswith(native.module_name(_tiny(42), stem)) for p in built] == [True]
    monkeypatch.setattr(native_build, "_MODULES", {})  # as a new process finds it
    _no_compiler(monkeypatch)
    assert native.compile_module(_tiny(42), stem).answer() == 42
    with pytest.raises(AssertionError, match="compiled again"):  # other text: another module
        native.compile_module(_tiny(7), stem)


def test_a_cached_file_that_does_not_import_is_rebuilt(cache):
    stem = f"grnn_test_{np.random.default_rng().integers(1 << 30)}"
    cache.mkdir()
    name = native.module_name(_tiny(5), stem)
    suffix = native_build.sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    (cache / (name + suffix)).write_bytes(b"not a shared object")  # a file cut short
    assert native.compile_module(_tiny(5), stem).answer() == 5
    assert (cache / (name + suffix)).stat().st_size > 1000  # the module built in its place


def test_an_unwritable_cache_falls_back_to_a_folder_of_the_process(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # writable by others: modules imported from it could be anyone's
    monkeypatch.setattr(native_build, "_MODULES", {})
    for where in (blocker / "cache", shared):  # under a file: cannot be made
        monkeypatch.setenv("GRAPHRNN_CACHE", str(where))
        monkeypatch.setattr(native_build, "_CACHE", [])
        folder = native.cache_folder()
        assert folder != str(where) and os.path.isdir(folder)
    stem = f"grnn_test_{np.random.default_rng().integers(1 << 30)}"
    assert native.compile_module(_tiny(3), stem).answer() == 3
