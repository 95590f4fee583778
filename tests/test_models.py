"""The model zoo: PyTorch-compatible layouts and numbers, gradients, state dicts, seq2seq."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphrnn as gr
from graphrnn.models import (GRU, LSTM, RNN, Autonomous, Embedding, Jordan, Linear, Seq2Seq,
                             StateDictError)

F64 = np.float64
MODELS = {"rnn_tanh": (RNN, {}), "rnn_relu": (RNN, {"nonlinearity": "relu"}),
          "lstm": (LSTM, {}), "gru": (GRU, {})}


def generic_loss(out):
    """A scalar loss reading every output nonlinearly, with different weights per output."""
    return gr.add_n([gr.sum(v * v * (0.5 + i) + v * (0.3 - i)) for i, v in
                     enumerate(out[k] for k in ("output", "h_n", "c_n") if k in out)])


def torch_generic_loss(tensors):
    return sum(((v * v * (0.5 + i) + v * (0.3 - i)).sum() for i, v in enumerate(tensors)))


# ------------------------------------------------------------ against PyTorch
try:
    import torch
except ImportError:  # the comparisons skip; everything else runs
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def _torch_model(kind, model):
    cls = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU"}[kind]
    kw = {"nonlinearity": model.nonlinearity} if cls == "RNN" else {}
    tm = getattr(torch.nn, cls)(model.input_size, model.hidden_size, model.num_layers,
                                bidirectional=model.bidirectional, **kw).double()
    return tm


@needs_torch
@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_outputs_states_and_gradients_agree_with_torch(kind, num_layers, bidirectional):
    cls, kw = MODELS[kind]
    rng = np.random.default_rng(0)
    model = cls(3, 4, num_layers=num_layers, bidirectional=bidirectional, dtype=F64, seed=1, **kw)
    tm = _torch_model(kind, model)
    assert list(model.state_dict()) == list(tm.state_dict())  # names and order are PyTorch's
    model.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    for batch in (1, 3):
        for steps in (1, 7):
            x = rng.normal(size=(steps, batch, 3))
            out, hidden = model(x)
            xt = torch.tensor(x, requires_grad=True)
            tout, thidden = tm(xt)
            states = hidden if kind == "lstm" else (hidden,)
            tstates = thidden if kind == "lstm" else (thidden,)
            np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-8, atol=1e-12)
            for a, b in zip(states, tstates):
                np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-8, atol=1e-12)
            loss, grads = model.loss_and_grad(generic_loss, x)
            tm.zero_grad()
            tloss = torch_generic_loss((tout,) + tuple(tstates))
            tloss.backward()
            assert loss == pytest.approx(tloss.item(), rel=1e-10)
            for name, p in tm.named_parameters():
                np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-8, atol=1e-10,
                                           err_msg=name)
            np.testing.assert_allclose(grads["input"], xt.grad.numpy(), rtol=1e-8, atol=1e-10)


@needs_torch
def test_initial_states_and_batch_first_agree_with_torch():
    rng = np.random.default_rng(2)
    model = LSTM(2, 3, num_layers=2, batch_first=True, dtype=F64)
    tm = torch.nn.LSTM(2, 3, 2, batch_first=True).double()
    model.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x, h0, c0 = rng.normal(size=(4, 5, 2)), rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3))
    out, (h, c) = model(x, (h0, c0))
    tout, (th, tc) = tm(torch.tensor(x), (torch.tensor(h0), torch.tensor(c0)))
    for a, b in ((out, tout), (h, th), (c, tc)):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-8, atol=1e-12)


# ------------------------------------------------------------ without PyTorch
def test_lengths_mask_padded_steps_like_running_each_sequence_alone():
    rng = np.random.default_rng(3)
    model = GRU(2, 3, bidirectional=True, dtype=F64, seed=0)
    x = rng.normal(size=(5, 2, 2))
    out, h_n = model(x, lengths=[5, 3])
    alone, h_alone = model(x[:3, 1:2])
    np.testing.assert_allclose(out[:3, 1:2], alone, atol=1e-12)
    np.testing.assert_allclose(h_n[:, 1:2], h_alone, atol=1e-12)
    assert np.all(out[3:, 1] == 0)
    with pytest.raises(ValueError, match=r"lengths must be 2 ints in 1..5"):
        model(x, lengths=[6, 1])


def test_default_init_is_pytorch_uniform_and_seeded():
    a, b, c = (LSTM(4, 25, seed=s) for s in (7, 7, 8))
    for (k, va), vb, vc in zip(a.state_dict().items(), b.state_dict().values(),
                               c.state_dict().values()):
        assert va.dtype == np.float32 and np.abs(va).max() <= 1 / 5
        np.testing.assert_array_equal(va, vb)
        assert not np.array_equal(va, vc)
    assert a.state_dict()["weight_ih_l0"].shape == (100, 4)


def test_load_state_dict_names_every_problem_and_changes_nothing():
    model = GRU(2, 3, dtype=F64, seed=0)
    before = model.state_dict()
    bad = dict(before)
    del bad["bias_hh_l0"]
    bad["weight_hh_l0"] = np.zeros((3, 3))
    bad["extra"] = np.zeros(1)
    with pytest.raises(StateDictError, match=r"missing \['bias_hh_l0'\], unexpected \['extra'\], "
                                             r"wrong shape: weight_hh_l0: expected \(9, 3\), "
                                             r"got \(3, 3\)"):
        model.load_state_dict(bad)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_save_and_load_npz_without_pickle(tmp_path):
    model = LSTM(2, 3, num_layers=2, bidirectional=True, seed=0)
    path = model.save(tmp_path / "lstm")
    assert path.endswith(".npz")
    other = LSTM(2, 3, num_layers=2, bidirectional=True, seed=1)
    other.load(path)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[k], v)
    (tmp_path / "broken.npz").write_bytes(open(path, "rb").read()[:100])
    with pytest.raises(StateDictError, match="cannot read"):
        other.load(tmp_path / "broken.npz")
    np.savez(tmp_path / "objects.npz", weight_ih_l0=np.array([object()], dtype=object))
    with pytest.raises(StateDictError, match="cannot read"):
        other.load(tmp_path / "objects.npz")  # object arrays would need pickle: refused


def test_wrong_input_dtype_or_rank_is_refused_with_a_reason():
    model = RNN(2, 3)
    with pytest.raises(TypeError, match="input is float64, the model is float32"):
        model(np.zeros((4, 1, 2)))
    with pytest.raises(ValueError, match=r"input must be 3-D \(T, B, 2\), got shape \(4, 2\)"):
        model(np.zeros((4, 2), np.float32))
    with pytest.raises(gr.ShapeError, match=r"input 'input'.*dimension 2 is 5, expected 2"):
        model(np.zeros((4, 1, 5), np.float32))


@settings(max_examples=12)
@given(kind=st.sampled_from(sorted(MODELS)), layers=st.integers(1, 2), bidir=st.booleans(),
       steps=st.integers(1, 3), seed=st.integers(0, 1000))
def test_every_recurrent_layer_passes_gradcheck_end_to_end(kind, layers, bidir, steps, seed):
    cls, kw = MODELS[kind]
    model = cls(2, 2, num_layers=layers, bidirectional=bidir, dtype=F64, seed=seed, **kw)
    g = model.graph(steps, initial_states=True)
    loss = gr.add_n([gr.sum(gr.tanh(v)) for v in g.outputs.values()])
    rng = np.random.default_rng(seed)
    inputs = {k: rng.normal(size=tuple(2 if isinstance(d, gr.Sym) else d for d in v.shape))
              for k, v in g.inputs.items()}
    if kind == "rnn_relu":  # keep pre-activations away from relu's kink
        model.load_state_dict({k: np.abs(v) + 0.1 for k, v in model.state_dict().items()})
        inputs = {k: np.abs(v) + 0.1 for k, v in inputs.items()}
    gr.gradcheck(gr.Graph({"loss": loss}), inputs, model.state_dict())


def test_jordan_and_autonomous_pass_gradcheck():
    j = Jordan(2, 3, 2, activation="tanh", output_activation="tanh", dtype=F64, seed=0)
    x = gr.input("x", (4, gr.B, 2), F64)
    out = j.build(x)
    gr.gradcheck(gr.Graph({"l": gr.sum(out["output"]) + gr.sum(out["h_n"] ** 2)}),
                 {"x": np.random.default_rng(0).normal(size=(4, 2, 2))}, j.state_dict())
    a = Autonomous(3, 2, dtype=F64, seed=0)
    traj = a.build(5)["output"]
    gr.gradcheck(gr.Graph({"l": gr.sum(traj * traj)}), params=a.state_dict(), dims={"B": 2})
    assert a(5, batch=2).shape == (5, 2, 2)


def _seq2seq(cell=GRU, seed=0):
    return Seq2Seq(cell(3, 4, dtype=F64, seed=seed), cell(3, 4, dtype=F64, seed=seed + 1),
                   Linear(4, 5, dtype=F64, seed=seed + 2),
                   src_embedding=Embedding(6, 3, dtype=F64, seed=seed + 3),
                   tgt_embedding=Embedding(5, 3, dtype=F64, seed=seed + 4))


@pytest.mark.parametrize("cell", [GRU, LSTM])
def test_seq2seq_teacher_forced_loss_gradients_check(cell):
    model = _seq2seq(cell)
    src, tgt = np.array([[1, 2], [3, 4], [5, 0]]), np.array([[0, 0], [1, 2], [3, 4]])
    g = model.graph(3, 3)
    target = gr.input("target", (3, gr.B), np.int64)
    nll = -gr.mean(gr.gather(gr.log_softmax(g.outputs["logits"]), target))
    res = gr.gradcheck(gr.Graph({"nll": nll}), {"src": src, "tgt_in": tgt,
                                                 "target": np.array([[1, 2], [3, 4], [4, 4]])},
                       model.state_dict(), mode="fast")
    assert {e.name for e in res.entries} >= {"encoder.weight_hh_l0", "tgt_embedding.weight"}
    loss, grads = model.loss_and_grad(lambda o: gr.sum(o["logits"] ** 2), src, tgt)
    assert set(grads) == set(model.state_dict())  # integer inputs get no gradient
    assert model(src, tgt).shape == (3, 2, 5)


def test_seq2seq_greedy_decoding_with_hand_set_weights_counts_up_to_the_end_token():
    # vocabulary: 0 = start, 1, 2, 3 = end. Embeddings are one-hot, the decoder's state is a
    # saturated copy of its input token, and the readout maps token k to logits for k + 1.
    model = Seq2Seq(RNN(4, 4, dtype=F64), RNN(4, 4, dtype=F64), Linear(4, 4, dtype=F64),
                    src_embedding=Embedding(4, 4, dtype=F64), tgt_embedding=Embedding(4, 4, dtype=F64))
    eye = np.eye(4)
    state = {k: np.zeros_like(v) for k, v in model.state_dict().items()}
    state.update({"src_embedding.weight": eye, "tgt_embedding.weight": eye,
                  "decoder.weight_ih_l0": 5 * eye, "readout.weight": 10 * np.roll(eye, 1, axis=0)})
    model.load_state_dict(state)
    out = model.generate(np.array([[1], [2]]), max_len=10, start=0, end=3)
    assert out.tolist() == [[1, 2, 3]]
    sampled = model.generate(np.array([[1], [2]]), max_len=10, start=0, end=3, temperature=0.05,
                             seed=0)
    assert sampled.tolist() == [[1, 2, 3]]  # a cold temperature follows the argmax
    hot = [model.generate(np.array([[1]]), 6, 0, temperature=50.0, seed=s).tolist() for s in (1, 2)]
    assert hot[0] != hot[1]  # a hot one does not; each is reproducible from its seed
    assert hot[0] == model.generate(np.array([[1]]), 6, 0, temperature=50.0, seed=1).tolist()


def test_seq2seq_rejects_mismatched_parts():
    with pytest.raises(ValueError, match="encoder is GRU but decoder is LSTM"):
        Seq2Seq(GRU(2, 3), LSTM(2, 3), Linear(3, 2))
    with pytest.raises(ValueError, match="must be unidirectional"):
        Seq2Seq(GRU(2, 3, bidirectional=True), GRU(2, 3), Linear(3, 2))
    with pytest.raises(ValueError, match=r"readout.out_features \(4\) must equal decoder.input_size"):
        Seq2Seq(GRU(2, 3), GRU(2, 3), Linear(3, 4))


def test_bias_false_and_linear_heads():
    rnn = RNN(2, 3, bias=False, dtype=F64, seed=0)
    assert list(rnn.state_dict()) == ["weight_ih_l0", "weight_hh_l0"]
    x = np.random.default_rng(0).normal(size=(4, 2, 2))
    out, h_n = rnn(x)
    h = np.zeros((2, 3))
    p = rnn.state_dict()
    for tt in range(4):
        h = np.tanh(x[tt] @ p["weight_ih_l0"].T + h @ p["weight_hh_l0"].T)
    np.testing.assert_allclose(h_n[0], h, atol=1e-12)
    head = Linear(3, 2, dtype=F64, seed=1)
    seq = gr.input("seq", (4, gr.B, 3), F64)
    last = gr.input("last", (gr.B, 3), F64)
    per_step, on_final = gr.evaluate([head.build(seq), head.build(last)], {"seq": out, "last": h_n[0]},
                                     head.state_dict())
    np.testing.assert_allclose(per_step, head(out), atol=1e-12)
    np.testing.assert_allclose(on_final, head(h_n[0]), atol=1e-12)
    if torch is not None:
        tm = torch.nn.RNN(2, 3, bias=False).double()
        rnn.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
        np.testing.assert_allclose(rnn(x)[0], tm(torch.tensor(x))[0].detach().numpy(), rtol=1e-8)
