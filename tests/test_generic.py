"""Programs generic in the sequence length: compiled once, equal to the unrolled graph at every
length, kept by models and fit, with loops in the source and errors naming the step."""

import functools

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

import graphrnn as gr
from graphrnn.catalog import BUILTIN_NAMES, builtin_recurrence
from graphrnn.losses import cross_entropy, squared_error
from graphrnn.models import GRU, LSTM, RNN, Embedding, LanguageModel, Linear, Readout, Seq2Seq
from graphrnn.optim import Adam

from .helpers import INTERPRETED, grad_of_all
from .strategies import F64, leaf_values, recurrence_builders

LENGTHS = st.lists(st.integers(1, 300), min_size=2, max_size=3, unique=True)


def _check_lengths(program, gbuild, params, lengths, seed, rtol=1e-10):
    rng = np.random.default_rng(seed)
    for T in lengths:
        g = gbuild(T)
        feeds = leaf_values(g, rng)
        want = gr.evaluate(g, feeds, {k: v for k, v in params.items() if k in g.params},
                           dims={"B": 2})
        got = program(feeds, params, dims={"B": 2, "T": T})
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=1e-10,
                                       err_msg=f"{k} at T={T}")


@pytest.mark.parametrize("level", ["O0", "O2"])
@settings(max_examples=12)
@given(case=recurrence_builders(), lengths=LENGTHS, seed=st.integers(0, 99))
def test_generic_programs_equal_the_unrolled_graph_at_every_length(level, case, lengths, seed):
    """Random recurrences (masks, reverse, delays up to 3, output feedback), their outputs
    and every gradient, compiled once and run at lengths 1..300 (float64, 1e-10)."""
    build, params, description = case
    note(description)
    gbuild = lambda T: grad_of_all(build(T))
    program = gr.compile(gbuild, level)
    note(f"generic={program.generic} ({program.why_not})")
    _check_lengths(program, gbuild, params, [1, 9] + lengths, seed)


@settings(max_examples=6)
@given(case=recurrence_builders(), lengths=LENGTHS, seed=st.integers(0, 99))
def test_generic_programs_with_fused_kernels_agree(case, lengths, seed):
    """The fused-kernel path (each loop body's elementwise groups as one kernel, run op by
    op on the host) gives the same values as the unrolled graph."""
    build, params, description = case
    note(description)
    gbuild = lambda T: grad_of_all(build(T))
    _check_lengths(gr.compile(gbuild, backend=INTERPRETED), gbuild, params, lengths, seed)


@pytest.mark.parametrize("cls,kw", [(LSTM, {}), (GRU, {"num_layers": 2, "bidirectional": True}),
                                    (RNN, {"num_layers": 2})])
@pytest.mark.parametrize("mask", [False, True])
def test_zoo_training_programs_are_generic(cls, kw, mask):
    model = cls(3, 4, dtype=F64, seed=0, **kw)

    def build(T):
        g = model.graph(T, mask=mask)
        loss = gr.sum(g.outputs["output"] ** 2)
        return gr.grad_graph(gr.Graph({"loss": loss, **g.outputs}), loss="loss")

    program = gr.compile(build)
    assert program.generic, program.why_not
    assert program.loops >= 2 and "for t in range(" in program.source
    short, long = (program.memory_bytes({"B": 3, "T": T}) for T in (2, 50))
    assert 0 < short < long  # below min_length: the program compiled for that length
    params, rng = model.state_dict(), np.random.default_rng(0)
    for T in (program.min_length, 23, 57):
        feeds = {"input": rng.normal(size=(T, 3, 3))}
        if mask:
            feeds["mask"] = np.arange(T)[:, None] < np.array([T, T - 3, 1])[None, :]
        want = gr.evaluate(build(T), feeds, params)
        got = program(feeds, params)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)
    assert len(program._local.plans) == 3  # one plan per (B, T) binding


LOSSES = {  # the losses users write: every output, one output's mean, the last step only
    "every output": lambda g: gr.add_n([gr.sum(v * v) for v in g.outputs.values()]),
    "mean": lambda g: gr.mean(next(iter(g.outputs.values())) ** 2),
    "last step": lambda g: gr.sum(next(iter(g.outputs.values()))[-1] ** 2),
}


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_built_in_recurrences_train_generically_with_common_losses(name, loss):
    """Hand-declared gates, output feedback and a loss on the last step all roll (a sum of
    x[t] rows is a view; scattered-gradient steps are read where they are nonzero)."""
    rec = builtin_recurrence(name)

    def build(T):
        return gr.grad_graph(gr.Graph({"loss": LOSSES[loss](rec.unroll(T))}))

    program = gr.compile(build, level="O2")
    assert program.generic, program.why_not
    rng = np.random.default_rng(0)
    params = {k: (rng.normal(size=p.shape) * 0.5).astype(p.dtype)
              for k, p in build(3).params.items()}
    for T in (2, program.min_length + 1, 31):
        g = build(T)
        feeds = {k: rng.normal(size=[d if isinstance(d, int) else 3 for d in v.shape])
                 .astype(v.dtype) for k, v in g.inputs.items()}
        want = gr.evaluate(g, feeds, params, dims={"B": 3})
        got = program(feeds, params, dims={"B": 3, "T": T})
        tol = 1e-9 if g.outputs["loss"].dtype == F64 else 2e-4
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=tol, atol=tol, err_msg=k)


@pytest.mark.parametrize("lags,init", [((2,), "zeros"), ((1, 2), "param"),
                                       ((1, 3), "input"), ((1, 2, 3), "zeros")])
def test_recurrences_reading_several_steps_back_compile_once(lags, init):
    """h[t-2], h[t-3]: interleaved chains whose order in the graph flips with the parity of T
    still give one program (straight code and loop bodies are listed in a canonical order)."""
    rec = gr.Recurrence("lagged", dtype=F64)
    x = rec.input("x", 3)
    s = rec.state("s", 4, init=init, depth=max(lags))
    terms = [s[gr.t - k] @ rec.param(f"W{k}", (4, 4)) for k in lags]
    rec.update(s, gr.tanh(gr.add_n(terms) + x[gr.t] @ rec.param("U", (3, 4))))
    rec.output("y", s @ rec.param("V", (4, 2)))

    def build(T):
        return gr.grad_graph(gr.Graph({"loss": gr.sum(rec.unroll(T).outputs["y"] ** 2)}))

    program = gr.compile(build)
    assert program.generic, program.why_not
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=p.shape) * 0.5 for k, p in build(4).params.items()}
    _check_lengths(program, build, params, [1, 2, 5, 13, 14, 41], seed=1, rtol=1e-9)


def test_a_model_compiles_once_for_every_length():
    lstm = LSTM(4, 8, seed=0)
    x = np.random.default_rng(0).normal(size=(40, 2, 4)).astype(np.float32)
    lstm(x)
    (program,) = lstm._programs.values()
    assert program.generic
    for T in (9, 100, 333):
        out, (h, c) = lstm(np.resize(x, (T, 2, 4)))
        assert out.shape == (T, 2, 8)
    assert list(lstm._programs.values()) == [program] and not program._specialized
    assert np.allclose(lstm(x[:3])[0], gr.evaluate(lstm.graph(3), {"input": x[:3]},
                                                    lstm.state_dict())["output"], atol=1e-6)
    assert len(program._specialized) == 1  # a length shorter than min_length: its own


def test_programs_and_plans_are_bounded_caches():
    rnn = RNN(2, 3, dtype=F64, seed=0)
    rnn.program_cache = 2
    x = np.zeros((12, 1, 2))
    rnn(x)
    rnn(x, lengths=[12])
    rnn(x, np.zeros((1, 1, 3)))
    assert len(rnn._programs) == 2  # the least recently used program was dropped
    program = list(rnn._programs.values())[-1]
    for T in range(10, 10 + program.plan_cache + 3):
        rnn(np.zeros((T, 1, 2)), np.zeros((1, 1, 3)))
    assert len(program._local.plans) == program.plan_cache


SCALE = 1.0


def test_a_loss_is_recognized_by_its_code_and_what_it_reads():
    """The same lambda written again reuses the program; one reading another value (a
    closure variable, a global scalar) compiles its own."""
    global SCALE
    rnn = RNN(2, 3, dtype=F64, seed=0)
    x = np.random.default_rng(0).normal(size=(6, 2, 2))
    losses = []
    for scale in (1.0, 1.0, 2.0):
        losses.append(rnn.loss_and_grad(lambda out: gr.sum(out["output"] ** 2) * scale, x)[0])
    assert losses[0] == losses[1] and losses[2] == pytest.approx(2 * losses[0])
    assert len(rnn._programs) == 2
    SCALE = 3.0
    tripled = rnn.loss_and_grad(lambda out: gr.sum(out["output"] ** 2) * SCALE, x)[0]
    SCALE = 1.0
    same = rnn.loss_and_grad(lambda out: gr.sum(out["output"] ** 2) * SCALE, x)[0]
    assert tripled == pytest.approx(3 * losses[0]) and same == pytest.approx(losses[0])


def test_loss_keys_tell_apart_what_builds_different_graphs():
    from graphrnn.models.keys import function_key as key

    def scaled(out, w=1.0):
        return out * w

    class Weighted:
        def __init__(self, w):
            self.w = w

        def loss(self, out):
            return out * self.w

    assert len({key(functools.partial(scaled, w=w)) for w in (1.0, 2.0, 3.0)}) == 3
    assert len({key(lambda o, w=w: o * w) for w in map(np.float32, (1, 2, 3))}) == 3
    assert key(Weighted(1.0).loss) != key(Weighted(2.0).loss)
    assert key(lambda o, *, s=1.0: o * s) != key(lambda o, *, s=2.0: o * s)
    assert key(lambda o, s=1: o * s) != key(lambda o, s=1.0: o * s)
    hash(key(lambda o, t=np.zeros(3): o))  # unhashable defaults are held by identity
    nan = float("nan")
    assert len({key(lambda o: o * nan) for _ in range(3)}) == 1  # NaN equals itself here
    assert len({key(lambda o: (lambda: o * 2)()) for _ in range(3)}) == 1


def test_a_second_fit_compiles_nothing_and_fit_honours_the_model_settings():
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(int(n), 2)) for n in rng.integers(3, 30, size=24)]
    ys = [np.cumsum(x[:, :1], axis=0) for x in xs]
    model = Readout(LSTM(2, 5, dtype=F64, seed=0), 1, seed=1)
    model.opt_level = "O1"
    loss = lambda out, y, mask: squared_error(out["output"], y, mask=mask)
    gr.fit(model, (xs, ys), loss, Adam(model.parameters(), lr=0.01), epochs=1, batch_size=8,
           progress=False)
    programs = dict(model._programs)
    assert all(key[1] == "O1" for key in programs)
    hist = gr.fit(model, (xs, ys), lambda out, y, mask: squared_error(out["output"], y, mask=mask),
                  Adam(model.parameters(), lr=0.01), epochs=1, batch_size=8, progress=False)
    assert dict(model._programs) == programs  # the same lambda written again: no compile
    assert np.isfinite(hist["epoch_loss"][-1])


def test_seq2seq_is_generic_in_both_lengths():
    model = Seq2Seq(GRU(3, 5, dtype=F64, seed=1), GRU(3, 5, dtype=F64, seed=2),
                    Linear(5, 6, dtype=F64, seed=3),
                    src_embedding=Embedding(7, 3, dtype=F64, seed=4),
                    tgt_embedding=Embedding(6, 3, dtype=F64, seed=5))
    program = gr.compile(lambda S, T: model.graph(S, T))
    assert program.generic, program.why_not
    rng = np.random.default_rng(0)
    for S, T in ((9, 11), (20, 9), (13, 30)):
        feeds = {"src": rng.integers(0, 7, size=(S, 2)), "tgt_in": rng.integers(0, 6, size=(T, 2))}
        want = gr.evaluate(model.graph(S, T), feeds, model.state_dict())["logits"]
        np.testing.assert_allclose(model(feeds["src"], feeds["tgt_in"]), want, rtol=1e-10)
        np.testing.assert_allclose(program(feeds, model.state_dict())["logits"], want, rtol=1e-10)


@pytest.mark.parametrize("mask", [False, True])
def test_seq2seq_training_is_generic_in_both_lengths_even_when_they_are_equal(mask):
    """The training program (loss and every gradient) of a seq2seq model compiles once, with
    a mask of the targets' lengths too: the samples keep the two lengths apart, and the
    weight gradients' rows are in time order (a decoder's first step reads the encoder's
    last state)."""
    model = Seq2Seq(RNN(3, 4, dtype=F64, seed=1), RNN(3, 4, dtype=F64, seed=2),
                    Linear(4, 5, dtype=F64, seed=3),
                    src_embedding=Embedding(6, 3, dtype=F64, seed=4),
                    tgt_embedding=Embedding(5, 3, dtype=F64, seed=5))

    def build(S, T):
        g = model.graph(S, T, mask=mask)
        target = gr.input("target", (T, gr.B), np.int64)
        return gr.grad_graph(gr.Graph({"loss": cross_entropy(
            g.outputs["logits"], target, mask=g.inputs["mask"] if mask else None)}))

    program = gr.compile(build)
    assert program.generic, program.why_not
    rng, params = np.random.default_rng(0), model.state_dict()
    first = program.min_length
    for S, T in ((first, first), (first + 9, first), (first, first + 17), (first + 4, first + 4)):
        feeds = {"src": rng.integers(0, 6, size=(S, 2)), "tgt_in": rng.integers(0, 5, size=(T, 2)),
                 "target": rng.integers(0, 5, size=(T, 2))}
        if mask:
            feeds["mask"] = np.arange(T)[:, None] < np.array([T, T - 5])[None, :]
        want, got = gr.evaluate(build(S, T), feeds, params), program(feeds, params)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)
    assert len(program._specialized) == 0  # every length ran the one generic program


def test_a_gru_language_model_trains_generically_with_a_mask():
    """The GRU's input-weight gradient concatenates each step's row given back its unit
    axis; that is a view of the projection over all steps, so every length shares one
    program (it compiled one per length before)."""
    model = LanguageModel(7, 3, 5, cell="gru", dtype=F64, seed=0)

    def build(T):
        g = model.graph(T, mask=True)
        target = gr.input("target", (T, gr.B), np.int64)
        return gr.grad_graph(gr.Graph({"loss": cross_entropy(g.outputs["output"], target,
                                                             mask=g.inputs["mask"])}))

    program = gr.compile(build)
    assert program.generic, program.why_not
    rng, params = np.random.default_rng(1), model.state_dict()
    for T in (program.min_length, 19):
        feeds = {"input": rng.integers(0, 7, size=(T, 3)), "target": rng.integers(0, 7, size=(T, 3)),
                 "mask": np.arange(T)[:, None] < np.array([T, T - 2, 1])[None, :]}
        want, got = gr.evaluate(build(T), feeds, params), program(feeds, params)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_an_error_inside_a_loop_names_the_node_its_equation_and_the_step():
    from graphrnn import Recurrence, t

    rec = Recurrence("picker", dtype=F64)
    x = rec.input("x", 3)
    k = rec.input("k", (), dtype=np.int64)
    h = rec.state("h", ())
    rec.update(h, h[t - 1] * 0.5 + gr.gather(x[t], k[t]))  # fails on a bad index
    program = gr.compile(lambda T: rec.unroll(T))
    assert program.generic and "for t in range(" in program.source
    ids = np.zeros((20, 2), np.int64)
    ids[13, 1] = 7
    with pytest.raises(gr.EvaluationError, match=r"\[gather .*, t=14, from h\[t\] = "):
        program({"x": np.ones((20, 2, 3)), "k": ids})


def test_builders_name_their_lengths():
    with pytest.raises(ValueError, match="takes the sequence length"):
        gr.compile(lambda: None)
    with pytest.raises(ValueError, match="capitalized name other than B"):
        gr.compile(lambda B: None)
    rec_graph = lambda T: LSTM(2, 3, seed=0).graph(T)
    program = gr.compile(rec_graph)
    with pytest.raises(gr.ShapeError, match=r"input 'input': expected shape \(T, B, 2\)"):
        program({"input": np.zeros((10, 2, 5), np.float32)}, LSTM(2, 3, seed=0).state_dict())
