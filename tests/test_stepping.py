"""Step-at-a-time running (``model.stepper``) and sampling: a stepper's steps are a call's
steps, its states carry and reset, parameters it holds stay live, generation gives what the
call-per-token loop gave, and ``sample_next`` draws what ``rng.choice`` draws."""

import numpy as np
import pytest

from graphrnn.models import (GRU, LSTM, RNN, Elman, Embedding, Jordan, LanguageModel, Linear,
                             Readout, Seq2Seq, TokenError)
from graphrnn.models.sampling import check_sampling, sample_next

from .helpers import INTERPRETED

TOL = {np.float32: 1e-6, np.float64: 1e-12}


def _steps(stepper, xs):
    return np.stack([stepper.step(x).copy() for x in xs])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_a_language_model_stepper_gives_a_calls_logits_step_by_step(cell, dtype):
    model = LanguageModel(13, 5, 7, num_layers=2, cell=cell, dtype=dtype, seed=0)
    tokens = np.random.default_rng(1).integers(0, 13, size=(9, 3))
    want = model(tokens)
    stepper = model.stepper(batch=3)
    got = _steps(stepper, tokens)
    assert got.shape == want.shape == (9, 3, 13) and got.dtype == dtype
    np.testing.assert_allclose(got, want, atol=TOL[dtype], rtol=TOL[dtype])
    final = model.forward(*model.feed(tokens))
    for s, v in stepper.states.items():  # the states carried are the call's final states
        np.testing.assert_allclose(v, final[f"{s}_n"], atol=TOL[dtype], rtol=TOL[dtype])


def test_states_carry_across_steps_and_runs_and_reset_starts_over():
    model = LanguageModel(11, 4, 6, dtype=np.float64, seed=0)
    tokens = np.random.default_rng(0).integers(0, 11, size=(8, 2))
    want = model(tokens)
    stepper = model.stepper(2)
    head = stepper.run(tokens[:5]).copy()  # one call for the first five steps, then steps
    np.testing.assert_allclose(np.concatenate([head, _steps(stepper, tokens[5:])]), want,
                               atol=1e-12)
    stepper.reset()  # zeros again: the same logits as from the start
    np.testing.assert_allclose(_steps(stepper, tokens), want, atol=1e-12)
    hx = (np.full((1, 2, 6), 0.3), np.full((1, 2, 6), -0.2))
    stepper.reset(hx)  # given states: a call from them
    np.testing.assert_allclose(_steps(stepper, tokens[:3]), model(tokens[:3], hx=hx), atol=1e-12)
    from_hx = model.stepper(2, hx=hx)
    np.testing.assert_allclose(_steps(from_hx, tokens[:3]), model(tokens[:3], hx=hx), atol=1e-12)
    from_hx.reset()  # back to where it started: hx
    np.testing.assert_allclose(from_hx.step(tokens[0]), model(tokens[:1], hx=hx)[0], atol=1e-12)
    saved = from_hx.states  # states by name, copies: a stepper goes back to them
    after = from_hx.step(tokens[1]).copy()
    from_hx.step(tokens[2])
    from_hx.reset(saved)
    np.testing.assert_array_equal(from_hx.step(tokens[1]), after)


@pytest.mark.parametrize("make, width", [
    (lambda: Elman(3, 5, 3, dtype=np.float64, seed=0), 3),
    (lambda: Jordan(3, 5, 3, activation="tanh", dtype=np.float64, seed=0), 3),
    (lambda: LSTM(3, 4, num_layers=2, dtype=np.float32, seed=0), 4),
    (lambda: GRU(3, 4, batch_first=True, dtype=np.float64, seed=0), 4),
    (lambda: Readout(RNN(3, 4, dtype=np.float64, seed=0), 2, seed=1), 2),
])
def test_float_models_step_as_their_calls_run(make, width):
    model = make()
    x = np.random.default_rng(0).normal(size=(6, 2, 3)).astype(model.dtype)
    out = model.forward(*model.feed(np.swapaxes(x, 0, 1) if model.batch_first else x))
    tol = TOL[model.dtype.type]
    got = _steps(model.stepper(2), x)  # steps are (B, features) whatever the layout
    assert got.shape == (6, 2, width)
    np.testing.assert_allclose(got, out["output"], atol=tol, rtol=tol)


def test_a_per_sequence_readout_steps_to_the_readout_of_the_states_so_far():
    model = Readout(LSTM(3, 4, dtype=np.float64, seed=0), 2, on="last", seed=1)
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    stepper = model.stepper(2)
    for t in range(5):
        y = stepper.step(x[t])
        assert y.shape == (2, 2)
        np.testing.assert_allclose(y, model(x[:t + 1]), atol=1e-12)


def test_a_stepper_sees_parameter_updates_in_place_and_replaced_parameters():
    model = LanguageModel(9, 4, 5, dtype=np.float64, seed=0)
    stepper = model.stepper(1)
    tok = np.array([3])
    model.parameters()["head.bias"][:] += 1.0  # in place (an optimizer): the same array
    np.testing.assert_allclose(stepper.step(tok), model(tok[None])[0], atol=1e-12)
    model.load_state_dict({k: v * 0.5 for k, v in model.state_dict().items()})
    stepper.reset()
    np.testing.assert_allclose(stepper.step(tok), model(tok[None])[0], atol=1e-12)
    model.head.register("bias", np.arange(9.0))  # a new array: gathered again
    stepper.reset()
    np.testing.assert_allclose(stepper.step(tok), model(tok[None])[0], atol=1e-12)


def test_a_stepper_checks_each_step_and_refuses_models_it_cannot_step():
    model = LanguageModel(5, 3, 4, dtype=np.float64, seed=0)
    stepper = model.stepper(2)
    with pytest.raises(TokenError, match=r"LanguageModel.stepper.step: token id 5 at position 1 "
                                         r"is outside the vocabulary 0..4"):
        stepper.step(np.array([1, 5]))
    with pytest.raises(TokenError, match=r"token id -1 at position 0"):
        stepper.step(np.array([-1, 0]))
    with pytest.raises(TokenError, match="token ids must be integers, got float64"):
        stepper.step(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"input must have shape \(2,\) \(one step\), got \(3,\)"):
        stepper.step(np.array([1, 2, 3]))
    with pytest.raises(TokenError, match="token id 7"):
        stepper.run(np.array([[1, 7]]))
    with pytest.raises(ValueError, match=r"must have shape \(T, 2\) with T >= 1, got \(2,\)"):
        stepper.run(np.array([1, 2]))
    with pytest.raises(ValueError, match=r"with T >= 1, got \(0, 2\)"):
        stepper.run(np.zeros((0, 2), np.int64))
    with pytest.raises(TypeError, match=r"reset: states are 2 arrays \(h, c\), got ndarray"):
        stepper.reset(np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match=r"reset: state 'c0' has shape \(1, 1, 4\)"):
        stepper.reset({"h": np.zeros((1, 2, 4)), "c": np.zeros((1, 1, 4))})
    with pytest.raises(ValueError, match="batch must be an int >= 1"):
        model.stepper(0)
    with pytest.raises(ValueError, match="initial state 'h0' has shape"):
        model.stepper(2, hx=(np.zeros((1, 3, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(ValueError, match="this one reads later steps"):
        LSTM(2, 3, bidirectional=True).stepper()
    elman = Elman(2, 3, 2, dtype=np.float64, seed=0).stepper(1)
    with pytest.raises(TypeError, match="Cannot cast"):
        elman.step(np.array([[1 + 1j, 0]]))
    np.testing.assert_array_equal(stepper.step(np.array([0, 4])).shape, (2, 5))  # still fine


def test_a_seq2seq_decoder_stepper_gives_the_teacher_forced_logits():
    enc, dec = LSTM(4, 6, dtype=np.float64, seed=0), LSTM(4, 6, dtype=np.float64, seed=1)
    model = Seq2Seq(enc, dec, Linear(6, 7, dtype=np.float64, seed=2),
                    Embedding(7, 4, dtype=np.float64, seed=3), Embedding(7, 4, dtype=np.float64,
                                                                         seed=4))
    src, tgt = np.array([[1, 2], [3, 1], [2, 2]]), np.array([[0, 0], [5, 6], [1, 2], [3, 3]])
    stepper = model.stepper(src)
    np.testing.assert_allclose(_steps(stepper, tgt), model(src, tgt), atol=1e-12)
    stepper.reset()  # the encoder's states again
    np.testing.assert_allclose(stepper.step(tgt[0]), model(src, tgt[:1])[0], atol=1e-12)
    np.testing.assert_allclose(stepper.run(tgt[1:]), model(src, tgt)[1:], atol=1e-12)
    assert sorted(stepper.states) == ["c", "h"]
    with pytest.raises(ValueError, match=r"Seq2Seq.stepper: src must be time-major"):
        model.stepper(src[0])


def test_a_stepper_runs_on_the_models_backend():
    model = LanguageModel(7, 3, 5, dtype=np.float64, seed=0)
    tokens = np.random.default_rng(0).integers(0, 7, size=(4, 2))
    want = model(tokens)
    model.backend = INTERPRETED
    stepper = model.stepper(2)
    got = _steps(stepper, tokens)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert all(isinstance(v, np.ndarray) for v in stepper.states.values())


class _Device(type(INTERPRETED)):
    """A backend whose arrays NumPy's are not (as CuPy's): values reach it by a copy."""

    def is_native(self, value):
        return False

    def asarray(self, value, dtype=None):
        return np.array(value, dtype=dtype, copy=True)


def test_a_stepper_on_a_device_backend_copies_numpy_values_at_each_step():
    model = LanguageModel(7, 3, 5, dtype=np.float64, seed=0)
    tokens = np.random.default_rng(0).integers(0, 7, size=(4, 2))
    want = model(tokens)
    model.backend = _Device("device", np, np.asarray)
    np.testing.assert_allclose(_steps(model.stepper(2), tokens), want, atol=1e-12)


# ------------------------------------------------------------ generation, as it was
def _generate_call_per_token(model, prompt, length, temperature=1.0, top_k=None, seed=None):
    """LanguageModel.generate as written before steppers: one model call per token."""
    rng = np.random.default_rng(seed)
    zeros = {f"{s}0": np.zeros(shape, model.dtype) for s, shape in model.state_shapes(1).items()}
    out = model.forward({"input": np.asarray(prompt).reshape(-1, 1), **zeros})
    tokens = list(prompt)
    for _ in range(length):
        tok = model.next_input(out["output"][-1], rng, temperature, top_k)
        tokens.append(int(tok[0]))
        out = model.forward({"input": tok[None],
                             **{f"{s}0": out[f"{s}_n"] for s in model.state_names}})
    return np.array(tokens, dtype=np.int64)


@pytest.mark.parametrize("cell, dtype", [("lstm", np.float32), ("gru", np.float64),
                                         ("rnn", np.float32)])
def test_generation_gives_exactly_what_a_call_per_token_gave(cell, dtype):
    model = LanguageModel(12, 5, 8, num_layers=2, cell=cell, dtype=dtype, seed=0)
    for kw in ({"temperature": 0}, {"temperature": 1.0, "seed": 1},
               {"temperature": 0.7, "top_k": 3, "seed": 2}):
        np.testing.assert_array_equal(model.generate([1, 2, 3], 20, **kw),
                                      _generate_call_per_token(model, [1, 2, 3], 20, **kw))


# ------------------------------------------------------------ sampling
def _sample_next_reference(logits, temperature, top_k, rng):
    """sample_next as first written: through rng.choice."""
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    if temperature == 0:
        return int(np.argmax(logits))
    z = logits / temperature
    if top_k is not None:
        cut = np.sort(z)[-min(int(top_k), z.size)]
        z = np.where(z >= cut, z, -np.inf)
    p = np.exp(z - z.max())
    p /= p.sum()
    return int(rng.choice(p.size, p=p))


def test_sample_next_draws_what_rng_choice_draws_and_leaves_the_generator_alike():
    data = np.random.default_rng(0)
    for seed in range(40):
        fast, slow = np.random.default_rng(seed), np.random.default_rng(seed)
        for _ in range(25):
            n = int(data.integers(1, 70))
            logits = data.normal(size=n) * data.choice([0.1, 3.0, 40.0])
            if n > 2 and data.random() < 0.3:
                logits[data.integers(0, n, size=n // 2)] = -np.inf
            logits[data.integers(0, n)] = 5.0  # one finite at least
            logits = logits.astype(data.choice([np.float32, np.float64]))
            temperature = float(data.choice([0.0, 0.05, 0.7, 1.0, 2.5]))
            top_k = [None, 1, 2, 5, 100][int(data.integers(0, 5))]
            assert sample_next(logits, temperature, top_k, fast) == \
                _sample_next_reference(logits, temperature, top_k, slow)
        assert fast.random() == slow.random()  # the same draws taken


def test_sample_next_takes_other_number_types_and_generators():
    logits = np.array([0.1, 3.0, 0.2, 2.9])
    assert sample_next(logits, np.float32(0.5), np.int64(2), np.random.default_rng(3)) == \
        _sample_next_reference(logits, 0.5, 2, np.random.default_rng(3))
    assert sample_next(list(logits), 1, None, np.random.RandomState(1)) == \
        _sample_next_reference(logits, 1, None, np.random.RandomState(1))
    with pytest.raises(ValueError, match="Probabilities contain NaN"), np.errstate(all="ignore"):
        sample_next(np.array([1e300, 0.0]), 1e-300, None, np.random.default_rng(0))  # overflow
    for bad in (np.zeros(0), np.array([-np.inf, -np.inf]), np.array([np.inf, 0.0])):
        with pytest.raises(ValueError, match="sample_next: logits must be non-empty"):
            sample_next(bad, 1.0)
    with pytest.raises(ValueError, match="sample_next: top_k must be None or an int >= 1"):
        sample_next(logits, 1.0, top_k=0)
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        sample_next(logits, -1.0)
    check_sampling(0.5, 3)


def test_a_stepper_builds_the_graph_of_one_step_when_its_program_keeps_none():
    model = LanguageModel(6, 3, 4, dtype=np.float64, seed=0)
    tokens = np.random.default_rng(0).integers(0, 6, size=(5, 2))
    want = model(tokens)
    model.program(("forward", True, False), model.graph_fn(initial_states=True),
                  checked=False).graph = None  # as a program compiled per length has none
    np.testing.assert_allclose(_steps(model.stepper(2), tokens), want, atol=1e-12)


def test_a_stepper_under_anomaly_mode_names_the_parameter_that_holds_nan():
    import graphrnn as gr

    model = LanguageModel(7, 3, 5, dtype=np.float64, seed=0)
    stepper = model.stepper(1)
    stepper.step(np.array([1]))
    model.parameters()["embedding.weight"][...] = np.nan  # in place: the stepper reads it
    with gr.detect_anomaly(), pytest.raises(gr.AnomalyError,
                                            match="param 'embedding.weight' holds them"):
        stepper.step(np.array([1]))
