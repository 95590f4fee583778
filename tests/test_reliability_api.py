"""Reliability of the models API, names, token ids and diagrams (docs/reliability.md, section
"Models, names and diagrams"): a catalogue of bad inputs, each refused with a message naming
the culprit and nothing changed, and the behaviour behind each promise."""

import math
import re
import sys
import time

import numpy as np
import pytest

import graphrnn as gr
import visualize
from graphrnn import Recurrence, RecurrenceError, ShapeError, t
from graphrnn.catalog import lstm_recurrence, moving_sum_recurrence
from graphrnn.app.cli import main
from graphrnn.losses import cross_entropy
from graphrnn.models import (GRU, LSTM, RNN, Autonomous, Elman, Embedding, Jordan, LanguageModel,
                             Linear, Readout, Seq2Seq, TokenError)
from graphrnn.models.checks import check_tokens
from graphrnn.optim import Adam
from graphrnn.sampling import sample_next

from .catalogue import Bad, check, ids

F64 = np.float64
RNG = np.random.default_rng(0)
needs_dot = pytest.mark.skipif(not visualize.dot_available(), reason="Graphviz's 'dot' is missing")

# ------------------------------------------------------------------ fixtures of the catalogue
LM = LanguageModel(5, embed=3, hidden=4, dtype=F64, seed=0)
S2S = Seq2Seq(GRU(3, 4, dtype=F64, seed=1), GRU(3, 4, dtype=F64, seed=2), Linear(4, 6, dtype=F64),
              src_embedding=Embedding(5, 3, dtype=F64, seed=3),
              tgt_embedding=Embedding(6, 3, dtype=F64, seed=4))
LSTM_ = LSTM(2, 3, dtype=F64, seed=0)
READ = Readout(GRU(2, 3, dtype=F64, seed=0), 2, seed=1)
EMB = Embedding(4, 2, dtype=F64, seed=0)
X = RNG.normal(size=(4, 2, 2))            # (T, B, D) for LSTM_ and READ
TOK = np.array([[0, 1], [2, 3], [4, 0]])  # (T, B) ids for LM and S2S
OK_LOSS = lambda out: gr.sum(out["output"] ** 2)  # noqa: E731
S2S_LOSS = lambda out: gr.sum(out["logits"])  # noqa: E731


def snap(model):
    return lambda: model.state_dict()


def _rec(name="r", **state):
    rec = Recurrence(name, dtype=F64)
    return rec, rec.input("x", 1), rec.state("h", 1, **state)


def _fit_bad_tokens():
    y = np.array([[1, 2, 3, 4]])
    gr.fit(LM, (np.array([[0, 1, 5, 2]]), y), lambda o, tg, m: cross_entropy(o["output"], tg),
           Adam(LM.parameters()), progress=False)


def _collide(kind):
    """Recurrences whose names collide; ``kind`` says how."""
    rec, x, h = _rec(init="param" if kind in ("param_h0", "bare_h0") else
                     "input" if kind == "input_h0" else "zeros")
    if kind == "output_h_final":
        rec.output("h_final", h * 2.0)
    elif kind == "param_h0":
        rec.param("h0", (1,))
    elif kind == "input_h0":
        rec.input("h0", 1)
    elif kind == "state_after_param":
        rec.param("g0", (1,))
        rec.state("g", 1, init="param")
    elif kind == "state_named_final":
        rec.state("h_final", 1)
    elif kind in ("bare_h0", "bare_var", "bare_mask", "two_leaves", "declared_mask"):
        leaf = {"bare_h0": gr.param("h0", (1,), F64), "bare_var": gr.param("x", (1,), F64),
                "bare_mask": gr.param("mask", (1,), F64),
                "declared_mask": rec.param("mask", (1,)) if kind == "declared_mask" else None,
                "two_leaves": gr.param("W", (1, 1), F64)}[kind]
        rhs = h[t - 1] * leaf + x
        if kind == "two_leaves":
            rhs = rhs @ gr.param("W", (1,), F64)[None]
        rec.update(h, rhs)
        rec.unroll(3, mask=kind in ("bare_mask", "declared_mask"))


class _LossNamedRNN(RNN):
    """A model whose graph has an output named like the loss that loss_and_grad adds."""

    def graph(self, steps, initial_states=False, mask=False):
        g = super().graph(steps, initial_states, mask)
        return gr.Graph({**g.outputs, "loss": gr.sum(g.outputs["h_n"])}, name="custom")


def _folded_with_var_named_param():
    rec, x, h = _rec()
    rec.update(h, h[t - 1] * gr.param("h", (1,), F64) + x)
    rec.folded()


def _graph(steps):
    return moving_sum_recurrence().unroll(steps)


SMALL = _graph(3)
TWO_OUT = gr.Graph({"a": gr.sum(SMALL.outputs["y"]), "b": gr.sum(SMALL.outputs["h"])})
VALUES = {"x": np.ones((3, 2, 1)), "W": np.eye(3), "U": np.ones((1, 3)), "b": np.zeros(3),
          "V": np.ones((3, 1)), "c": np.zeros(1)}

CONSTRUCTORS = [
    Bad("rnn-input-size-0", lambda: RNN(0, 4),
        ValueError, r"RNN: input_size must be an int >= 1, got 0"),
    Bad("lstm-hidden-float", lambda: LSTM(2, 3.5),
        ValueError, r"LSTM: hidden_size must be an int >= 1, got 3.5"),
    Bad("gru-no-layers", lambda: GRU(2, 3, num_layers=0),
        ValueError, r"GRU: num_layers must be an int >= 1, got 0"),
    Bad("rnn-sigmoid", lambda: RNN(2, 3, nonlinearity="sigmoid"), ValueError,
        r"RNN: nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"),
    Bad("lstm-nonlinearity", lambda: LSTM(2, 3, nonlinearity="relu"),
        TypeError, r"LSTM has no nonlinearity"),
    Bad("rnn-int-dtype", lambda: RNN(2, 3, dtype="int32"),
        ValueError, r"RNN: dtype must be floating point, got int32"),
    Bad("linear-size-0", lambda: Linear(0, 2),
        ValueError, r"Linear: in_features must be an int >= 1, got 0"),
    Bad("embedding-dim-0", lambda: Embedding(5, 0),
        ValueError, r"Embedding: embedding_dim must be an int >= 1, got 0"),
    Bad("embedding-bool-vocab", lambda: Embedding(True, 3), ValueError,
        r"Embedding: num_embeddings must be an int >= 1, got True"),
    Bad("elman-activation", lambda: Elman(1, 3, 1, activation="softplus"), ValueError,
        r"Elman: activation must be one of \['identity', 'relu', 'sigmoid', 'tanh'\], got "
        r"'softplus'"),
    Bad("jordan-output-activation", lambda: Jordan(1, 2, 1, output_activation="gelu"), ValueError,
        r"Jordan: output_activation must be one of .* got 'gelu'"),
    Bad("autonomous-size-0", lambda: Autonomous(0),
        ValueError, r"Autonomous: state_size must be an int >= 1, got 0"),
    Bad("lm-vocab-0", lambda: LanguageModel(0),
        ValueError, r"LanguageModel: vocab must be an int >= 1, got 0"),
    Bad("lm-cell", lambda: LanguageModel(5, cell="transformer"), ValueError,
        r"LanguageModel: cell must be one of \['gru', 'lstm', 'rnn'\], got 'transformer'"),
    Bad("readout-of-linear", lambda: Readout(Linear(2, 3), 1), TypeError,
        r"Readout: rnn must be an RNN, LSTM or GRU, got Linear"),
    Bad("readout-out-0", lambda: Readout(RNN(2, 3), 0),
        ValueError, r"Readout: out_features must be an int >= 1, got 0"),
    Bad("readout-on", lambda: Readout(RNN(2, 3), 2, on="first"),
        ValueError, r"Readout: on must be 'all' or 'last', got 'first'"),
    Bad("seq2seq-readout-type", lambda: Seq2Seq(GRU(3, 4), GRU(3, 4), GRU(4, 3)), TypeError,
        r"Seq2Seq: readout must be a Linear, got GRU"),
    Bad("seq2seq-embedding-type",
        lambda: Seq2Seq(GRU(3, 4), GRU(3, 4), Linear(4, 3), src_embedding=Linear(5, 3)), TypeError,
        r"Seq2Seq: src_embedding must be an Embedding or None, got Linear"),
]

CALLS = [
    Bad("readout-dtype", lambda: READ(X.astype(np.float32)), TypeError,
        r"Readout: input is float32, the model is float64", snap(READ)),
    Bad("readout-rank", lambda: READ(X[0]),
        ValueError, r"Readout: input must be 3-D \(T, B, 2\), got shape \(2, 2\)"),
    Bad("readout-lengths-of-batch-major", lambda: READ(X, lengths=[4, 4, 4, 4]), ValueError,
        r"Readout: lengths must be 2 ints in 1..4, got \[4, 4, 4, 4\]"),
    Bad("readout-build-batch-major", lambda: READ.build(gr.input("input", ("B", 4, 2), F64)),
        ValueError,
        r"expected a time-major input \(T, B, 2\), got \(B, 4, 2\) \(the batch axis B comes first"),
    Bad("rnn-build-features", lambda: LSTM_.build(gr.input("input", (5, "B", 3), F64)), ValueError,
        r"LSTM: expected a time-major input \(T, B, 2\), got \(5, B, 3\)"),
    Bad("lstm-single-state", lambda: LSTM_(X, np.zeros((1, 2, 3))),
        TypeError, r"LSTM: initial states are a pair"),
    Bad("rnn-float-lengths", lambda: LSTM_(X, lengths=[1.5, 2.0]),
        ValueError, r"LSTM: lengths must be 2 ints in 1..4"),
    Bad("linear-features", lambda: Linear(3, 2)(np.zeros((4, 2))), ValueError,
        r"Linear: input must be \(\.\.\., 3\), got shape \(4, 2\)"),
    Bad("autonomous-steps-0", lambda: Autonomous(2)(0),
        ValueError, r"Autonomous: steps must be an int >= 1, got 0"),
    Bad("extra-replaces-input", lambda: LSTM_.loss_and_grad(OK_LOSS, X, extra={"input": X}),
        ValueError,
        r"LSTM: extra names \['input'\], which the model's own inputs are called", snap(LSTM_)),
    Bad("extra-h0-reserved", lambda: LSTM_.loss_and_grad(OK_LOSS, X, extra={"h0": X}), ValueError,
        r"LSTM: extra names \['h0'\]"),
    Bad("extra-not-a-dict", lambda: LSTM_.loss_and_grad(OK_LOSS, X, extra=[X]), TypeError,
        r"LSTM: extra must be a dict of input arrays, got list"),
    Bad("seq2seq-extra-src", lambda: S2S.loss_and_grad(S2S_LOSS, TOK, TOK[:1], extra={"src": TOK}),
        ValueError, r"Seq2Seq: extra names \['src'\]"),
    Bad("lm-tokens-3d", lambda: LM(TOK[..., None]),
        ValueError, r"LanguageModel: tokens must be 2-D \(T, B\), got shape \(3, 2, 1\)"),
]

TOKENS = [
    Bad("lm-id-vocab", lambda: LM(np.array([[0, 1], [5, 3]])), TokenError,
        r"LanguageModel: input 'input': token id 5 at position \(1, 0\) is outside the vocabulary "
        r"0..4 \(vocab size 5\)"),
    Bad("lm-id-negative", lambda: LM(np.array([[0, -1]])),
        TokenError, r"token id -1 at position \(0, 1\)"),
    Bad("lm-id-huge", lambda: LM(np.array([[10 ** 6]])),
        TokenError, r"token id 1000000 at position \(0, 0\)"),
    Bad("lm-id-float", lambda: LM(np.array([[0.0, 1.0]])), TokenError,
        r"LanguageModel: input 'input': token ids must be integers, got float64 values; ids are "
        r"0..4"),
    Bad("lm-id-nan", lambda: LM(np.array([[0.0, np.nan]])),
        TokenError, r"got float64 values \(NaN among them\)"),
    Bad("lm-prompt-vocab", lambda: LM.generate([0, 5], 2), TokenError,
        r"LanguageModel.generate: prompt: token id 5 at position 1 is outside the "
        r"vocabulary", snap(LM)),
    Bad("lm-prompt-float", lambda: LM.generate([0.5], 2),
        TokenError, r"prompt: token ids must be integers"),
    Bad("embedding-call", lambda: EMB(np.array([1, 4])), TokenError,
        r"Embedding: ids: token id 4 at position 1 is outside the vocabulary 0..3 \(vocab size "
        r"4\)"),
    Bad("seq2seq-src", lambda: S2S(np.array([[0], [5]]), np.array([[0]])), TokenError,
        r"Seq2Seq: input 'src': token id 5 at position \(1, 0\) is outside the vocabulary 0..4"),
    Bad("seq2seq-tgt-negative", lambda: S2S(TOK, np.array([[-1, 0]])), TokenError,
        r"Seq2Seq: input 'tgt_in': token id -1 at position \(0, 0\)"),
    Bad("seq2seq-loss-tgt", lambda: S2S.loss_and_grad(S2S_LOSS, TOK, np.array([[6, 0]])),
        TokenError, r"input 'tgt_in': token id 6 .* \(vocab size 6\)", snap(S2S)),
    Bad("seq2seq-start", lambda: S2S.generate(TOK, 3, start=6), TokenError,
        r"Seq2Seq.generate: start: token id 6 is outside the vocabulary 0..5"),
    Bad("seq2seq-end", lambda: S2S.generate(TOK, 3, start=0, end=-1),
        TokenError, r"Seq2Seq.generate: end: token id -1"),
    Bad("fit-tokens", _fit_bad_tokens, TokenError,
        r"LanguageModel: input 'input': token id 5 at position \(2, 0\)", snap(LM)),
]

GENERATE = [
    Bad("length-negative", lambda: LM.generate([0], -1),
        ValueError, r"LanguageModel.generate: length must be an int >= 0, got -1"),
    Bad("length-float", lambda: LM.generate([0], 2.5),
        ValueError, r"length must be an int >= 0, got 2.5"),
    Bad("temperature-negative", lambda: LM.generate([0], 2, temperature=-0.5), ValueError,
        r"LanguageModel.generate: temperature must be a finite number >= 0 \(0 is greedy\), got "
        r"-0.5"),
    Bad("temperature-nan", lambda: LM.generate([0], 2, temperature=math.nan),
        ValueError, r"temperature .* got nan"),
    Bad("temperature-inf", lambda: LM.generate([0], 2, temperature=math.inf),
        ValueError, r"temperature .* got inf"),
    Bad("top-k-0", lambda: LM.generate([0], 2, temperature=1.0, top_k=0), ValueError,
        r"LanguageModel.generate: top_k must be None or an int >= 1, got 0"),
    Bad("top-k-float", lambda: LM.generate([0], 2, temperature=1.0, top_k=1.5),
        ValueError, r"top_k .* got 1.5"),
    Bad("prompt-empty", lambda: LM.generate([], 2), ValueError,
        r"LanguageModel.generate: prompt must be a non-empty 1-D sequence of token ids, got shape "
        r"\(0,\)"),
    Bad("prompt-2d", lambda: LM.generate([[0, 1]], 2),
        ValueError, r"prompt must be a non-empty 1-D .* got shape \(1, 2\)"),
    Bad("seq2seq-max-len-0", lambda: S2S.generate(TOK, 0, start=0), ValueError,
        r"Seq2Seq.generate: max_len must be an int >= 1, got 0"),
    Bad("seq2seq-temperature", lambda: S2S.generate(TOK, 2, start=0, temperature=-1.0), ValueError,
        r"Seq2Seq.generate: temperature must be a finite number >= 0"),
    Bad("seq2seq-src-rank", lambda: S2S.generate(TOK[0], 2, start=0), ValueError,
        r"Seq2Seq.generate: src must be time-major \(T, B\) ids, got shape \(2,\)"),
    Bad("sample-nan-logits", lambda: sample_next(np.array([0.0, np.nan]), 1.0), ValueError,
        r"sample_next: logits must be non-empty, free of NaN and \+inf.* 1 of them NaN or \+inf"),
]

NAMES = [
    Bad("output-h_final", lambda: _collide("output_h_final"), RecurrenceError,
        r"r: name collision: output 'h_final' and the final value of state 'h' would both be "
        r"named 'h_final'"),
    Bad("state-h_final", lambda: _collide("state_named_final"), RecurrenceError,
        r"name collision: state 'h_final' and the final value of state 'h'"),
    Bad("param-h0", lambda: _collide("param_h0"), RecurrenceError,
        r"name collision: param 'h0' and the learned initial value of state 'h' \(init='param'\) "
        r"would both be named 'h0'"),
    Bad("input-h0", lambda: _collide("input_h0"), RecurrenceError,
        r"name collision: input 'h0' and the initial-value input of state 'h' \(init='input'\)"),
    Bad("state-after-param", lambda: _collide("state_after_param"), RecurrenceError,
        r"name collision: the learned initial value of state 'g' \(init='param'\) and param 'g0'"),
    Bad("bare-param-h0", lambda: _collide("bare_h0"), RecurrenceError,
        r"name collision: param 'h0' f64\(1,\), used in the equation of state 'h', and the "
        r"learned initial value"),
    Bad("bare-param-named-like-input", lambda: _collide("bare_var"), RecurrenceError,
        r"name collision: param 'x' f64\(1,\), used in the equation of state 'h', and input 'x'"),
    Bad("bare-param-mask", lambda: _collide("bare_mask"), RecurrenceError,
        r"param 'mask' .* and the padding-mask input of unroll\(mask=True\)"),
    Bad("declared-param-mask", lambda: _collide("declared_mask"), RecurrenceError,
        r"name collision: param 'mask' and the padding-mask input of unroll\(mask=True\)"),
    Bad("two-leaves-one-name", lambda: _collide("two_leaves"), RecurrenceError,
        r"r: two different leaves are named 'W': .* \(in the equation of state 'h'\); rename one"),
    Bad("folded-param-named-like-state", _folded_with_var_named_param, RecurrenceError,
        r"name collision: param 'h' .* and state 'h'"),
    Bad("model-output-named-loss", lambda: _LossNamedRNN(2, 3, dtype=F64).loss_and_grad(OK_LOSS, X),
        ValueError, r"_LossNamedRNN: the model's graph has an output named 'loss', the name of the "
                    r"loss or a gradient; rename it"),
]

DECLARATIONS = [
    Bad("param-empty-name", lambda: Recurrence("r").param("", (1,)), RecurrenceError,
        r"r: param name must be a non-empty string, got ''"),
    Bad("state-not-identifier", lambda: Recurrence("r").state("2h", 3), RecurrenceError,
        r"r: state name must be an identifier, got '2h'"),
    Bad("state-symbolic-size", lambda: Recurrence("r").state("h", ("B",)), RecurrenceError,
        r"r: state 'h' size must be concrete, got \(B,\)"),
    Bad("state-init", lambda: Recurrence("r").state("h", 2, init="ones"), RecurrenceError,
        r"r: init of 'h' must be one of \('zeros', 'param', 'input'\) or a Node, got 'ones'"),
    Bad("state-depth-0", lambda: Recurrence("r").state("h", 2, init="param", depth=0),
        RecurrenceError,
        r"r: depth of 'h' must be an int >= 1"),
    Bad("update-an-input", lambda: _rec()[0].update("x", gr.zeros(("B", 1), F64)), RecurrenceError,
        r"r: update\(\) takes a state; 'x' is an input"),
    Bad("output-without-batch", lambda: _rec()[0].output("y", gr.zeros((1,), F64)), RecurrenceError,
        r"r: output y = .* has shape \(1,\); its first axis must be the batch B"),
    Bad("unroll-bool-steps", lambda: moving_sum_recurrence().unroll(True), RecurrenceError,
        r"moving_sum: steps must be an int >= 1, got True"),
    Bad("unroll-huge", lambda: moving_sum_recurrence().unroll(10 ** 7), RecurrenceError,
        r"moving_sum: unrolling 10,000,000 steps would build about 70,000,000 nodes \(7 per step, "
        r"about 49.0 GB\), more than max_nodes=2,000,000; a compiled program runs any T"),
    Bad("unroll-max-nodes-0", lambda: moving_sum_recurrence().unroll(3, max_nodes=0),
        RecurrenceError,
        r"moving_sum: max_nodes must be an int >= 1, got 0"),
    Bad("index-two-ellipses", lambda: gr.input("v", ("B", 3), F64)[..., None, ...], ShapeError,
        r"index: at most one ellipsis"),
    Bad("index-newaxis-out-of-range", lambda: gr.input("v", ("B", 3), F64)[:, None, 5], ShapeError,
        r"index: index 5 is out of range for axis 1 of size 3"),
]

DIAGRAMS = [
    Bad("max-steps-0", lambda: visualize.unrolled(SMALL, max_steps=0), ValueError,
        r"diagram of 'moving_sum': max_steps must be an int >= 1 \(or None for every step\), got "
        r"0"),
    Bad("draw-every-step", lambda: visualize.unrolled(_graph(250), max_steps=None), ValueError,
        r"diagram of 'moving_sum': drawing 250 of its 250 time steps is more than the 200 a "
        r"diagram draws"),
    Bad("max-steps-too-many", lambda: visualize.unrolled(_graph(250), max_steps=240), ValueError,
        r"drawing 240 of its 250 time steps is more than the 200"),
    Bad("gradient-flow-two-outputs", lambda: visualize.gradient_flow(TWO_OUT, VALUES), ValueError,
        r"gradient_flow: graph 'graph' has outputs \['a', 'b'\]; name the scalar loss with loss="),
    Bad("gradient-flow-not-scalar", lambda: visualize.gradient_flow(SMALL, VALUES, loss="y"),
        ValueError,
        r"gradient_flow: output 'y' must be a scalar"),
    Bad("write-format",
        lambda: visualize.write(visualize.folded(moving_sum_recurrence()), "x.png", "png"),
        ValueError, r"format must be 'svg' or 'dot', got 'png'"),
    Bad("render-huge-steps",
        lambda: main(["render", "elman", "--view", "unrolled", "--steps", "10000000",
                      "--format", "dot"]),
        ValueError,
        r"render: --steps 10,000,000 is outside 1..1,000"),
    Bad("render-max-steps-0",
        lambda: main(["render", "elman", "--max-steps", "0", "--format", "dot"]),
        ValueError, r"render: --max-steps 0 is outside 1..200"),
]

CATALOGUE = CONSTRUCTORS + CALLS + TOKENS + GENERATE + NAMES + DECLARATIONS + DIAGRAMS


@pytest.mark.parametrize("case", CATALOGUE, ids=ids(CATALOGUE))
def test_bad_input_is_refused_naming_the_culprit(case):
    check(case)


def test_the_catalogue_is_large_and_its_ids_unique():
    assert len(CATALOGUE) >= 45 and len(set(ids(CATALOGUE))) == len(CATALOGUE)


# ------------------------------------------------------------------ token ids
def test_token_checks_cost_one_min_and_one_max_and_copy_nothing():
    ids_ = RNG.integers(0, 50, size=(400, 64))
    assert check_tokens(ids_, 50, "x") is ids_           # int64: no copy
    calls = []

    class Spy(np.ndarray):
        def min(self, *a, **k):
            calls.append("min")
            return super().min(*a, **k)

        def max(self, *a, **k):
            calls.append("max")
            return super().max(*a, **k)
    check_tokens(ids_.view(Spy), 50, "x")
    assert calls == ["min", "max"]
    assert issubclass(TokenError, IndexError) and issubclass(TokenError, ValueError)


def test_valid_tokens_still_run_everywhere():
    assert LM(TOK).shape == (3, 2, 5)
    assert S2S(TOK, TOK[:2]).shape == (2, 2, 6)
    np.testing.assert_array_equal(EMB(np.array([[3, 0]])), EMB.state_dict()["weight"][[[3, 0]]])
    assert LM.generate(np.array([4, 0], dtype=np.int32), 2, temperature=0).tolist()[:2] == [4, 0]


# ------------------------------------------------------------------ API
def test_language_model_call_gives_time_major_logits_equal_to_its_graph():
    logits = LM(TOK)
    want = gr.evaluate(LM.graph(3), {"input": TOK}, LM.state_dict())["output"]
    np.testing.assert_allclose(logits, want, rtol=1e-12, atol=1e-12)
    masked = LM(TOK, lengths=[3, 1])
    np.testing.assert_allclose(masked[:, 0], logits[:, 0], rtol=1e-12)
    np.testing.assert_allclose(masked[0, 1], logits[0, 1], rtol=1e-12)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_recurrent_layers_loss_and_grad_take_extra_inputs(cls):
    model = cls(2, 3, dtype=F64, seed=0)
    target = RNG.normal(size=(4, 2, 3))

    def loss(out):
        tgt = gr.input("target", out["output"].shape[:2] + (3,), F64)
        return gr.mean((out["output"] - tgt) ** 2)
    value, grads = model.loss_and_grad(loss, X, extra={"target": target})
    np.testing.assert_allclose(value, np.mean((model(X)[0] - target) ** 2), rtol=1e-12)
    # the same gradient as the unrolled graph differentiated by hand
    g = model.graph(4)
    tnode = gr.input("target", (4, gr.B, 3), F64)
    full = gr.grad_graph(gr.Graph({"loss": gr.mean((g.outputs["output"] - tnode) ** 2)}))
    want = gr.evaluate(full, {"input": X, "target": target}, model.state_dict())
    np.testing.assert_allclose(grads["weight_hh_l0"], want["dloss/dweight_hh_l0"], rtol=1e-10)
    # another target, same program
    again, _ = model.loss_and_grad(loss, X, extra={"target": target * 0})
    np.testing.assert_allclose(again, np.mean(model(X)[0] ** 2), rtol=1e-12)


def _torch_lstm(rnn):
    torch = pytest.importorskip("torch")
    ref = torch.nn.LSTM(rnn.input_size, rnn.hidden_size, num_layers=rnn.num_layers,
                        bidirectional=True).double()
    with torch.no_grad():
        for k, p in ref.named_parameters():
            p.copy_(torch.from_numpy(rnn.state_dict()[k]))
    return torch, ref


@pytest.mark.parametrize("layers", [1, 2])
def test_bidirectional_readout_on_last_reads_both_directions_like_torch_h_n(layers):
    model = Readout(LSTM(3, 4, num_layers=layers, bidirectional=True, dtype=F64, seed=0), 2,
                    on="last", seed=1)
    assert model.head.in_features == 8
    torch, ref = _torch_lstm(model.rnn)
    x = RNG.normal(size=(5, 3, 3))
    w, b = model.head.state_dict()["weight"], model.head.state_dict()["bias"]
    _, (h_n, _) = ref(torch.from_numpy(x))
    h_n = h_n.detach().numpy()
    want = np.concatenate([h_n[-2], h_n[-1]], axis=-1) @ w.T + b
    np.testing.assert_allclose(model(x), want, rtol=1e-10, atol=1e-12)
    # padded sequences: the forward state at each sequence's last real step, the reverse
    # state at its first step (PyTorch's packed sequences)
    lengths = [5, 2, 4]
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), lengths,
                                                     enforce_sorted=False)
    _, (h_n, _) = ref(packed)
    h_n = h_n.detach().numpy()
    want = np.concatenate([h_n[-2], h_n[-1]], axis=-1) @ w.T + b
    np.testing.assert_allclose(model(x, lengths=lengths), want, rtol=1e-10, atol=1e-12)


def test_readout_follows_its_rnn_layout():
    rnn = GRU(2, 3, batch_first=True, dtype=F64, seed=0)
    model = Readout(rnn, 2, seed=1)
    batch_major = X.transpose(1, 0, 2)                      # (B, T, D)
    out = model(batch_major)
    assert out.shape == (2, 4, 2)
    time_major = Readout(GRU(2, 3, dtype=F64, seed=0), 2, seed=1)(X)
    np.testing.assert_allclose(out, time_major.transpose(1, 0, 2), rtol=1e-12)


@pytest.mark.parametrize("key, ref", [
    ((None,), lambda a: a[None]),
    ((slice(None), None), lambda a: a[:, None]),
    ((Ellipsis, None), lambda a: a[..., None]),
    ((None, slice(None), slice(0, 2), None), lambda a: a[None, :, 0:2, None]),
    ((Ellipsis, None, 2), lambda a: a[..., None, 2]),
])
def test_none_in_an_index_adds_a_unit_axis_with_its_gradient(key, ref):
    x = gr.input("x", ("B", 3), F64)
    v = RNG.normal(size=(2, 3))
    y = x[key]
    got = gr.evaluate(y, {"x": v})
    np.testing.assert_array_equal(got, ref(v))
    assert len(y.shape) == ref(v).ndim
    W = gr.param("W", (3, 3), F64)
    z = (x @ W)[key]
    loss = gr.sum(gr.tanh(z) ** 2 + z)
    assert gr.gradcheck(gr.Graph({"loss": loss}), {"x": v}, {"W": RNG.normal(size=(3, 3))}).ok


# ------------------------------------------------------------------ names
def test_generated_names_are_distinct_from_every_declared_name():
    rec, x, h = _rec(init="param")
    rec.update(h, h[t - 1] + x)
    rec.output("y", h * 2.0)
    g = rec.unroll(3, mask=True)
    names = list(g.outputs) + list(g.inputs) + list(g.params)
    assert len(names) == len(set(names))
    assert set(names) == {"h", "y", "h_final", "x", "mask", "h0"}


def test_folded_node_ids_never_merge_a_parameter_with_an_operation():
    rec, x, h = _rec()
    names = [f"op{i}" for i in range(8)] + ["0", "op#0", "param#0", "legend#delay_a"]
    e = h[t - 1]
    for name in names:
        e = e * gr.param(name, (1,), F64)
    rec.update(h, e + x)
    fold = rec.folded()
    kinds = [d["kind"] for _, d in fold.nodes(data=True)]
    ops = sum(1 for n in gr.toposort([rec.variables["h"].equation])
              if n.op.name not in ("var", "param"))
    assert kinds.count("param") == len(names) and kinds.count("op") == ops > len(names)
    assert len(fold) == 2 + len(names) + ops
    dot = visualize.folded(rec)
    node_ids = re.findall(r"^\t+(\S+) \[label", dot.source, flags=re.M)
    assert len(node_ids) == len(set(node_ids)) == len(fold) + 2   # and two legend nodes


# ------------------------------------------------------------------ diagrams
AWKWARD = ["<lambda>", '"quoted"', "ends\\", "two\nlines", "{brace}", "a&lt;b", "x\\N", "node"]


def _svg_texts(diagram, tmp_path, name):
    path = visualize.write_svg(diagram, str(tmp_path / name))
    import html
    return [html.unescape(s) for s in re.findall(r"<text[^>]*>(.*?)</text>", open(path).read())]


@needs_dot
def test_any_name_is_drawn_as_written(tmp_path):
    rec = Recurrence("<rec\\", dtype=F64)
    x, h = rec.input("x", 1), rec.state("h", 1)
    e = h[t - 1]
    for name in AWKWARD:
        e = e @ gr.param(name, (1, 1), F64)
    rec.update(h, gr.tanh(e + x))
    texts = _svg_texts(visualize.folded(rec), tmp_path, "folded")
    graph = rec.unroll(2)
    loss = gr.Graph({'<loss> "L"': gr.sum(graph.outputs["h"])}, name="{g}")
    values = {n: np.ones((1, 1)) for n in AWKWARD}
    values["x"] = np.ones((2, 1, 1))
    texts_g = _svg_texts(visualize.gradient_flow(loss, values), tmp_path, "grads")
    texts_u = _svg_texts(visualize.unrolled(graph), tmp_path, "unrolled")
    for found in (texts, texts_g, texts_u):
        for name in AWKWARD:
            for line in name.split("\n"):
                assert line in found, (name, found)
    assert "recurrence <rec\\" in texts
    assert '<loss> "L" =' in texts_g


def _exploding():
    rec = Recurrence("boom", dtype=F64)
    x, h = rec.input("x", 1), rec.state("h", 1)
    rec.update(h, h[t - 1] @ rec.param("W", (1, 1)) + x)
    graph = rec.unroll(4)
    return gr.Graph({"loss": gr.sum(graph.outputs["h"] ** 2)}, name="boom")


@pytest.mark.parametrize("value, kind", [(1e300, "inf"), (np.nan, "nan")])
def test_gradient_flow_draws_infinite_and_nan_gradients(value, kind, tmp_path):
    values = {"x": np.full((4, 1, 1), value), "W": np.full((1, 1), 1e10)}
    with np.errstate(all="ignore"):
        norms = visualize.gradient_norms(_exploding(), values)
        diagram = visualize.gradient_flow(_exploding(), values)
    assert any(math.isinf(v) if kind == "inf" else math.isnan(v) for v in norms.values())
    style = visualize.style.NONFINITE[kind]
    assert f'color="{style["color"]}"' in diagram.source and f"|dL/dx| = {kind}" in diagram.source
    if visualize.dot_available():
        assert f"|dL/dx| = {kind}" in _svg_texts(diagram, tmp_path, kind)


# ------------------------------------------------------------------ size guards
def test_runaway_unrolling_and_rendering_are_refused_at_once(monkeypatch):
    start = time.perf_counter()
    with pytest.raises(RecurrenceError, match=r"about 26,000,000 nodes \(26 per step"):
        lstm_recurrence(2, 4).unroll(10 ** 6)
    with pytest.raises(RecurrenceError, match=r"more than max_nodes=100"):
        moving_sum_recurrence().unroll(20, max_nodes=100)
    with pytest.raises(ValueError, match=r"--steps 10,000,000 is outside"):
        main(["render", "lstm", "--view", "gradients", "--steps", str(10 ** 7), "--format", "dot"])
    assert time.perf_counter() - start < 2.0
    # below the limit, or with the limit raised, unrolling proceeds
    assert len(moving_sum_recurrence().unroll(20, max_nodes=200).nodes) > 100
    # a model's compiled program runs lengths beyond what unrolling allows (here made small)
    monkeypatch.setattr(sys.modules["graphrnn.frontend.unroll"], "MAX_NODES", 400)
    model = Elman(1, 2, 1, dtype=F64, seed=0)
    with pytest.raises(RecurrenceError, match=r"unrolling 500 steps .* more than max_nodes=400"):
        model.graph(500)
    assert model(RNG.normal(size=(500, 1, 1)))[0].shape == (500, 1, 1)
