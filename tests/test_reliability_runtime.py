"""Reliability of compiled programs: threads, aliased results, anomaly mode and bad calls
(the promises of docs/reliability.md, section "Programs")."""

import threading

import numpy as np
import pytest

import graphrnn as gr
from graphrnn import AnomalyError, InputError, ShapeError
from graphrnn.core.ir import meta_scope
from graphrnn.models import GRU, LSTM

from .catalogue import Bad, check, ids

F64 = np.float64


def _lstm_program():
    model = LSTM(3, 5, dtype=F64, seed=0)
    program = model.program(("test",), lambda T: model.graph(T))
    return model, program


def _run_threads(work, n=4):
    """Run ``work(k)`` in ``n`` threads started together; re-raise the first failure."""
    errors, start = [], threading.Barrier(n)

    def body(k):
        try:
            start.wait()
            work(k)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(k,)) for k in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]


# ------------------------------------------------------------------ threads
def test_one_program_called_from_several_threads_gives_every_thread_its_own_results():
    model, program = _lstm_program()
    params = model.state_dict()
    rng = np.random.default_rng(0)
    # each thread its own batch size and length: different plans, and the same ones
    feeds = [{"input": rng.normal(size=(9 + k % 2, 2 + k % 3, 3))} for k in range(4)]
    want = [gr.evaluate(model.graph(f["input"].shape[0]), f, params) for f in feeds]

    def work(k):
        for _ in range(60):
            got = program(feeds[k], params, copy=False)  # views: valid in this thread
            for name, value in want[k].items():
                np.testing.assert_allclose(got[name], value, rtol=1e-12, atol=1e-12)

    _run_threads(work)


def test_a_model_called_from_several_threads_compiles_once_and_stays_right():
    model = GRU(3, 4, dtype=F64, seed=1)
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(12, 2, 3)) for _ in range(4)]
    want = [model(x)[0] for x in xs]
    model._programs.clear()  # the first calls now race to compile

    def work(k):
        for _ in range(30):
            np.testing.assert_allclose(model(xs[k])[0], want[k], rtol=1e-12, atol=1e-12)

    _run_threads(work)
    assert len(model._programs) == 1


def test_graph_building_in_two_threads_tags_each_threads_nodes_with_its_own_step():
    inside, proceed = threading.Barrier(2), threading.Barrier(2)
    built = {}

    def work(k):
        with meta_scope(step=10 + k, origin=f"thread {k}"):
            inside.wait()   # both threads have pushed their metadata
            proceed.wait()
            x = gr.input(f"x_thread{k}", (2,), F64)
            built[k] = gr.tanh(x * 3.0)

    _run_threads(work, n=2)
    for k in (0, 1):
        assert built[k].step == 10 + k and built[k].origin == f"thread {k}"


# ------------------------------------------------------------------ aliasing
def test_a_copy_false_result_fed_back_as_input_is_read_before_it_is_overwritten():
    x = gr.input("x", ("B", 3), F64)
    graph = gr.Graph({"a": x * 2.0, "b": x + 1.0})  # "a" is written before "b" reads x
    program = gr.compile(graph)
    first = program({"x": np.arange(6.0).reshape(2, 3)}, copy=False)
    fed = first["a"]
    want = gr.evaluate(graph, {"x": fed.copy()})
    got = program({"x": fed}, copy=False)
    np.testing.assert_array_equal(got["b"], want["b"])
    np.testing.assert_array_equal(got["a"], want["a"])
    view = program({"x": np.ones((2, 3))}, copy=False)["a"][:, 1:]  # a view of a buffer
    x2 = gr.input("x", ("B", 2), F64)
    p2 = gr.compile(gr.Graph({"a": x2 * 2.0, "b": x2 + 1.0}))
    np.testing.assert_array_equal(p2({"x": view})["b"], view + 1.0)  # another program: fine


# ------------------------------------------------------------------ bound calls
def test_a_bound_call_reads_its_arrays_in_place_and_equals_a_call():
    model, program = _lstm_program()
    params = model.state_dict()
    rng = np.random.default_rng(0)
    for T in (program.min_length + 3, 1):  # the generic code; a program of its own length
        feeds = {"input": rng.normal(size=(T, 2, 3))}
        bound = program.bind(feeds, params)
        for _ in range(2):
            want = program({k: v.copy() for k, v in feeds.items()}, params)
            got = bound()
            assert set(got) == set(want)
            for k in want:
                np.testing.assert_array_equal(got[k], want[k])
            feeds["input"][...] = rng.normal(size=feeds["input"].shape)  # read at the call
        params["weight_hh_l0"] *= 0.5  # parameters too
        np.testing.assert_array_equal(bound()["output"], program(feeds, params)["output"])


def test_bind_refuses_what_it_cannot_read_in_place():
    model, program = _lstm_program()
    params = model.state_dict()
    with pytest.raises(TypeError, match=r"bind: 'input' must be an array .* got list"):
        program.bind({"input": np.zeros((9, 1, 3)).tolist()}, params)
    with pytest.raises(InputError, match=r"input 'input': expected dtype f64, got f32"):
        program.bind({"input": np.zeros((9, 1, 3), np.float32)}, params)
    x = gr.input("x", ("B", 3), F64)
    square = gr.compile(gr.Graph({"y": x * x}))
    out = square({"x": np.ones((2, 3))}, copy=False)["y"]
    with pytest.raises(ValueError, match=r"bind: 'x' is \(a view of\) a buffer of program"):
        square.bind({"x": out})


def test_a_bound_call_names_a_failing_line_and_checks_under_anomaly_mode():
    table = gr.param("E", (4, 2), F64)
    ids = gr.input("i", ("B",), np.int64)
    program = gr.compile(gr.Graph({"y": gr.take(table, ids) * 2.0}))
    feeds, params = {"i": np.array([1, 3])}, {"E": np.ones((4, 2))}
    bound = program.bind(feeds, params)
    np.testing.assert_array_equal(bound()["y"], np.full((2, 2), 2.0))
    for bad in (4, -1):
        feeds["i"][1] = bad
        with pytest.raises(gr.EvaluationError, match=rf"take.*index {bad} is out of range"):
            bound()
    one = {"i": np.array([-1])}  # one id (generation's case) is checked as a Python int
    with pytest.raises(gr.EvaluationError, match=r"index -1 is out of range for 4 rows"):
        program.bind(one, params)()
    r = _log_recurrence()
    decay = gr.compile(r.unroll(5))
    bound = decay.bind({"x": np.zeros((5, 4, 1)), "h0": np.full((4, 1), 2.0)})
    with np.errstate(all="ignore"):
        assert any(np.isnan(v).any() for v in bound().values())  # off: the NaN comes out
    with gr.detect_anomaly(), pytest.raises(AnomalyError, match=r"t=2"):
        bound()


# ------------------------------------------------------------------ anomaly mode
def _log_recurrence():
    """h[t] = h[t-1] - 1 + x[t]; y[t] = log(h[t]): h reaches 0 at step 2 with x = 0."""
    r = gr.Recurrence("decay", dtype="float64")
    x, h = r.input("x", 1), r.state("h", 1, init="input")
    r.update(h, h[gr.t - 1] - 1.0 + x[gr.t])
    r.output("y", gr.log(h))
    return r


def test_anomaly_mode_names_the_first_operation_its_equation_and_step():
    r = _log_recurrence()
    feeds = {"x": np.zeros((5, 4, 1)), "h0": np.full((4, 1), 2.0)}
    graph = r.unroll(5)
    program = gr.compile(graph)
    with np.errstate(all="ignore"):
        quiet = program(feeds)  # off by default: the NaN just comes out
        assert np.isnan(quiet[next(k for k in quiet if "y" in k)]).any()
        for run in (lambda: program(feeds), lambda: gr.evaluate(graph, feeds)):
            with gr.detect_anomaly(), pytest.raises(AnomalyError) as info:
                run()
            message = str(info.value)
            assert "log" in message and "t=2" in message and "from y[t]" in message, message
            assert "-inf" in message


def test_anomaly_mode_names_an_input_that_already_holds_nan_and_is_per_thread():
    model = LSTM(2, 3, dtype=F64, seed=0)
    x = np.zeros((6, 2, 2))
    x[4, 1, 0] = np.nan
    with gr.detect_anomaly(), pytest.raises(AnomalyError, match=r"input 'input' holds them: "
                                            r"1 of 24 entries are nan \(first at index \(4, 1, 0\)\)"):
        model(x)
    seen = []
    with gr.detect_anomaly():
        th = threading.Thread(target=lambda: seen.append(model(x)[0]))
        th.start()
        th.join()
    assert seen and np.isnan(seen[0]).any()  # another thread: the mode is off there


def test_anomaly_mode_finds_an_exploding_gradient_in_a_training_program():
    model = LSTM(2, 3, dtype=F64, seed=0)
    build = lambda T: gr.grad_graph(  # noqa: E731
        gr.Graph({"loss": gr.sum(gr.exp(gr.square(model.graph(T).outputs["output"]) * 1e6))}),
        loss="loss")
    program = gr.compile(build)
    with np.errstate(all="ignore"), gr.detect_anomaly(), pytest.raises(
            AnomalyError, match=r"exp.* produced them from finite arguments"):
        program({"input": np.ones((9, 2, 2))}, model.state_dict())


# ------------------------------------------------------------------ bad calls
def _program():
    x = gr.input("x", ("B", 3), F64)
    W = gr.param("W", (3, 3), F64)
    return gr.compile(gr.Graph({"y": gr.tanh(x @ W)}))


PROGRAM = _program()
X, W = np.ones((2, 3)), np.eye(3)
MODEL, GENERIC = _lstm_program()
P = MODEL.state_dict()
XS = np.zeros((7, 2, 3))

CASES = [
    Bad("missing-input", lambda: PROGRAM({}, {"W": W}), InputError, r"missing input 'x'"),
    Bad("unknown-input", lambda: PROGRAM({"x": X, "z": X}, {"W": W}), InputError,
        r"unknown input 'z'.*its inputs are: 'x'"),
    Bad("param-as-input", lambda: PROGRAM({"x": X, "W": W}, {}), InputError,
        r"'W' is a parameter; pass it in params"),
    Bad("missing-param", lambda: PROGRAM({"x": X}, {}), InputError, r"missing param 'W'"),
    Bad("wrong-dtype", lambda: PROGRAM({"x": X.astype(np.float32)}, {"W": W}), InputError,
        r"input 'x': expected dtype f64, got f32"),
    Bad("int-param", lambda: PROGRAM({"x": X}, {"W": np.eye(3, dtype=int)}), InputError,
        r"param 'W': expected dtype f64, got i64"),
    Bad("wrong-rank", lambda: PROGRAM({"x": X[None]}, {"W": W}), ShapeError,
        r"input 'x': expected shape \(B, 3\), got \(1, 2, 3\)"),
    Bad("wrong-param-shape", lambda: PROGRAM({"x": X}, {"W": W[:2]}), ShapeError,
        r"param 'W': expected shape \(3, 3\), got \(2, 3\)"),
    Bad("strings", lambda: PROGRAM({"x": [["a", "b", "c"]]}, {"W": W}), InputError,
        r"input 'x': cannot use <U1 data for f64"),
    Bad("objects", lambda: PROGRAM({"x": np.array([[1, None, 2]], dtype=object)}, {"W": W}),
        InputError, r"input 'x': expected dtype f64, got object"),
    Bad("none", lambda: PROGRAM({"x": None}, {"W": W}), InputError, r"input 'x': cannot use"),
    Bad("complex", lambda: PROGRAM({"x": X.astype(complex)}, {"W": W}), InputError,
        r"input 'x': expected dtype f64, got complex128"),
    Bad("scalar-for-array", lambda: PROGRAM({"x": 1.0}, {"W": W}), ShapeError,
        r"input 'x': expected shape \(B, 3\), got \(\)"),
    Bad("dims-conflict", lambda: PROGRAM({"x": X}, {"W": W}, dims={"B": 5}), ShapeError,
        r"gives B=2, but B=5 was already bound \(by dims= or an earlier input\)"),
    Bad("dims-negative", lambda: PROGRAM({"x": X}, {"W": W}, dims={"B": -1}), InputError,
        r"dims: size 'B' must be an int >= 0, got -1"),
    Bad("dims-float", lambda: PROGRAM({"x": X}, {"W": W}, dims={"B": 2.5}), InputError,
        r"dims: size 'B' must be an int >= 0, got 2.5"),
    Bad("inputs-not-mapping", lambda: PROGRAM([X], {"W": W}), InputError,
        r"inputs must be a mapping .* got list"),
    Bad("params-not-mapping", lambda: PROGRAM({"x": X}, [W]), InputError,
        r"params must be a mapping .* got list"),
    Bad("level", lambda: gr.compile(PROGRAM.graph, level="O7"), ValueError,
        r"unknown optimization level 'O7'"),
    Bad("backend", lambda: gr.compile(PROGRAM.graph, backend="tpu"), ValueError,
        r"unknown backend 'tpu'"),
    Bad("cuda-graph-on-numpy", lambda: gr.compile(PROGRAM.graph, cuda_graph=True), ValueError,
        r"cuda_graph=True needs a backend that captures CUDA graphs"),
    Bad("generic-wrong-features", lambda: GENERIC({"input": XS[..., :2]}, P), ShapeError,
        r"input 'input': expected shape \(.*, B, 3\), got \(7, 2, 2\)"),
    Bad("generic-wrong-dtype", lambda: GENERIC({"input": XS.astype(np.float32)}, P),
        InputError, r"input 'input': expected dtype f64, got f32"),
    Bad("generic-missing-param", lambda: GENERIC(
        {"input": XS}, {k: v for k, v in P.items() if k != sorted(P)[0]}), InputError,
        r"missing param '" + sorted(P)[0]),
    Bad("generic-unknown-param", lambda: GENERIC({"input": XS}, {**P, "Wz": W}), InputError,
        r"unknown param 'Wz'"),
    Bad("generic-no-length", lambda: GENERIC({}, P), (ShapeError, InputError),
        r"input|length"),
    Bad("generic-dims-negative", lambda: GENERIC({"input": XS}, P, dims={"B": -2}), InputError,
        r"dims: size 'B' must be an int >= 0, got -2"),
    Bad("grad-output-collision", lambda: gr.grad_graph(gr.Graph(
        {"loss": gr.sum(PROGRAM.graph.outputs["y"]), "dloss/dW": PROGRAM.graph.outputs["y"]}),
        loss="loss"), ValueError, r"already has output\(s\) \['dloss/dW'\]"),
    Bad("anomaly-flag-outside", lambda: _raise_in_anomaly(), RuntimeError, r"inner"),
]


def _raise_in_anomaly():
    with gr.detect_anomaly():
        raise RuntimeError("inner")


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_program_calls_are_refused_naming_the_culprit(case):
    before = {k: v.copy() for k, v in P.items()}
    check(case)
    assert all(np.array_equal(before[k], P[k]) for k in P)  # values given are never changed
    from graphrnn.runtime.anomaly import anomaly_enabled
    assert not anomaly_enabled()  # the mode is restored when its block raises


def test_every_promise_in_docs_reliability_names_tests_that_exist():
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    rows = [line for line in (root / "docs" / "reliability.md").read_text().splitlines()
            if line.startswith("| ") and not line.startswith("| Promise")]
    assert len(rows) >= 40
    for row in rows:
        cell = row.rstrip(" |").rsplit("|", 1)[1]
        refs = re.findall(r"(tests/\w+\.py)?::(\w+)", cell)
        assert refs, f"a promise without a test: {row[:80]}"
        current = None
        for path, name in refs:
            current = path or current
            assert current and re.search(rf"^def {name}\(", (root / current).read_text(),
                                         re.M), f"{current}::{name} does not exist"


def test_anomaly_mode_follows_the_bad_output_back_past_values_a_where_discarded():
    x, y = gr.input("x", (3,), F64), gr.input("y", (3,), F64)
    graph = gr.Graph({"z": gr.where(x > 0.0, gr.log(x), 0.0) + gr.exp(y)})
    feeds = {"x": np.array([1.0, 0.0, 2.0]), "y": np.array([0.0, 0.0, 1000.0])}
    with np.errstate(all="ignore"), gr.detect_anomaly():
        for run in (lambda: gr.evaluate(graph, feeds), lambda: gr.compile(graph)(feeds)):
            with pytest.raises(AnomalyError, match=r"first non-finite value: exp") as info:
                run()
            assert "log" not in str(info.value).split("first non-finite value:")[1]


def test_anomaly_mode_still_raises_for_a_program_that_keeps_no_graph():
    x = gr.input("x", (2,), F64)
    program = gr.Program(gr.Graph({"y": gr.log(x)}), keep_graph=False)
    with np.errstate(all="ignore"), gr.detect_anomaly(), pytest.raises(
            AnomalyError, match=r"output 'y' is not finite .*keeps no graph"):
        program({"x": np.array([1.0, 0.0])})
