"""Training and generation: losses, optimizers (against PyTorch's rules), fit, clipping,
checkpoints and resume, truncated BPTT, sampling."""

import math

import numpy as np
import pytest

import graphrnn as gr
from graphrnn.losses import cross_entropy, sequence_loss, squared_error
from graphrnn.models import LSTM, RNN, Elman, LanguageModel, Readout
from graphrnn.optim import SGD, Adam, AdamW, CosineLR, StepLR, clip_grad_norm, clip_grad_value
from graphrnn.sampling import sample_next
from graphrnn.train import CheckpointError, load_checkpoint, pad_batch, save_checkpoint

try:
    import torch
except ImportError:
    torch = None

F64 = np.float64


def moving_sum_data(n, steps, seed=0):
    x = np.random.default_rng(seed).uniform(-1, 1, size=(n, steps, 1))
    y = x.copy()
    y[:, 1:] += x[:, :-1]
    y[:, 2:] += x[:, :-2]
    return x, y


def mse(out, y, mask):
    return squared_error(out["output"], y)


# ------------------------------------------------------------ losses
def test_cross_entropy_matches_the_formula_with_weights_and_mask():
    rng = np.random.default_rng(0)
    logits, tgt = rng.normal(size=(4, 3, 5)), rng.integers(0, 5, size=(4, 3))
    mask, w = rng.random((4, 3)) > 0.3, rng.uniform(0.5, 2, size=5)
    L = gr.input("L", (4, "B", 5), F64)
    T = gr.input("T", (4, "B"), np.int64)
    M = gr.input("M", (4, "B"), bool)
    value = gr.evaluate(cross_entropy(L, T, weight=w, mask=M),
                        {"L": logits, "T": tgt, "M": mask})
    lsm = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(lsm, tgt[..., None], -1)[..., 0]
    ww = w[tgt] * mask
    assert value == pytest.approx((nll * ww).sum() / ww.sum(), rel=1e-12)
    gr.gradcheck(gr.Graph({"l": cross_entropy(L, T, weight=w, mask=M)}),
                 {"L": logits, "T": tgt, "M": mask})
    with pytest.raises(gr.ShapeError, match="targets .* must match the logits"):
        cross_entropy(L, gr.input("bad", ("B",), np.int64))


def test_sequence_loss_sums_over_time_and_ignores_padding():
    per = gr.input("p", (3, "B"), F64)
    M = gr.input("M", (3, "B"), bool)
    p = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 100.0]])
    m = np.array([[True, True], [True, True], [True, False]])
    assert gr.evaluate(sequence_loss(per, M), {"p": p, "M": m}) == pytest.approx((9 + 6) / 2)
    assert gr.evaluate(sequence_loss(per, M, "mean"), {"p": p, "M": m}) == pytest.approx(15 / 5)


# ------------------------------------------------------------ optimizers
def _run(opt_cls, kwargs, grads, p0):
    p = {"w": p0.copy()}
    opt = opt_cls(p, **kwargs)
    for g in grads:
        opt.step({"w": g.copy()})
    return p["w"]


CASES = [(SGD, {"lr": 0.1}), (SGD, {"lr": 0.1, "momentum": 0.9}),
         (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
         (Adam, {"lr": 0.01}), (Adam, {"lr": 0.01, "weight_decay": 0.1}),
         (AdamW, {"lr": 0.01, "weight_decay": 0.05})]


@pytest.mark.parametrize("cls,kwargs", CASES)
def test_optimizers_follow_pytorchs_update_rules(cls, kwargs):
    rng = np.random.default_rng(1)
    p0, grads = rng.normal(size=(3, 4)), [rng.normal(size=(3, 4)) for _ in range(6)]
    got = _run(cls, kwargs, grads, p0)
    by_hand = (cls is SGD and kwargs == {"lr": 0.1}) or (cls is Adam and kwargs == {"lr": 0.01})
    if torch is None and not by_hand:
        pytest.skip("PyTorch is not installed: this case is checked against torch.optim only")
    if torch is not None:
        tp = torch.nn.Parameter(torch.tensor(p0))
        topt = getattr(torch.optim, cls.__name__)([tp], **kwargs)
        for g in grads:
            tp.grad = torch.tensor(g)
            topt.step()
        np.testing.assert_allclose(got, tp.detach().numpy(), rtol=1e-6, atol=1e-12)
    # and by hand: one plain SGD step, two Adam steps
    if cls is SGD and kwargs == {"lr": 0.1}:
        np.testing.assert_allclose(got, p0 - 0.1 * sum(grads))
    if cls is Adam and kwargs == {"lr": 0.01}:
        g1, g2 = grads[0], grads[1]
        m, v = 0.1 * g1, 0.001 * g1 * g1
        p1 = p0 - 0.01 * (m / 0.1) / (np.sqrt(v / 0.001) + 1e-8)
        m, v = 0.9 * m + 0.1 * g2, 0.999 * v + 0.001 * g2 * g2
        p2 = p1 - 0.01 * (m / (1 - 0.81)) / (np.sqrt(v / (1 - 0.999 ** 2)) + 1e-8)
        np.testing.assert_allclose(_run(Adam, kwargs, grads[:2], p0), p2, rtol=1e-12)


def test_clipping_and_schedules():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([0.0, 4.0])}
    assert clip_grad_norm(g, 1.0) == pytest.approx(5.0)
    assert math.sqrt(sum((v ** 2).sum() for v in g.values())) == pytest.approx(1.0, rel=1e-5)
    h = {"a": np.array([-3.0, 0.5])}
    clip_grad_value(h, 1.0)
    assert h["a"].tolist() == [-1.0, 0.5]
    opt = SGD({"w": np.zeros(1)}, lr=1.0)
    step = StepLR(opt, step_size=2, gamma=0.5)
    assert [step.step() for _ in range(4)] == [1.0, 0.5, 0.5, 0.25]
    opt.lr = 1.0
    cos = CosineLR(opt, t_max=4, min_lr=0.0)
    assert [round(cos.step(), 6) for _ in range(4)] == [0.853553, 0.5, 0.146447, 0.0]


# ------------------------------------------------------------ fit
def test_moving_sum_linear_elman_trains_to_exact():
    x, y = moving_sum_data(256, 8)
    model = Elman(1, 3, 1, activation="identity", dtype=F64, seed=0)
    hist = gr.fit(model, (x, y), mse, Adam(model.parameters(), lr=0.01), epochs=200,
                  batch_size=32, progress=False)
    assert hist["epoch_loss"][-1] < 1e-6
    assert len(hist["loss"]) == 200 * 8 and len(hist["grad_norm"]) == len(hist["loss"])
    out, _ = model(np.arange(1.0, 6.0).reshape(5, 1, 1))
    np.testing.assert_allclose(out.ravel(), [1, 3, 6, 9, 12], atol=1e-2)


def test_lstm_classifies_the_sign_of_a_sum_with_validation_metrics():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 10, 1)).astype(np.float32)
    labels = (x.sum(axis=(1, 2)) > 0).astype(np.int64)
    model = Readout(LSTM(1, 16, seed=0), 2, on="last", seed=1)
    accuracy = lambda out, y, mask: float((out.argmax(-1) == y).mean())
    hist = gr.fit(model, (x[:500], labels[:500]),
                  lambda out, y, mask: cross_entropy(out["output"], y),
                  Adam(model.parameters(), lr=0.02), epochs=12, batch_size=50,
                  validation=(x[500:], labels[500:]), metrics={"accuracy": accuracy},
                  progress=False)
    assert hist["accuracy"][-1] > 0.95
    assert len(hist["val_loss"]) == 12 and hist["val_loss"][-1] < hist["val_loss"][0]


def test_clipping_tames_exploding_gradients():
    x, y = moving_sum_data(64, 30, seed=3)

    def train(clip):
        model = RNN(1, 8, dtype=F64, seed=0)
        model.load_state_dict({**model.state_dict(), "weight_hh_l0": 3.0 * np.eye(8)})
        head = Readout(model, 1, on="all", seed=0)
        hist = gr.fit(head, (x, y), mse, SGD(head.parameters(), lr=0.5), epochs=3,
                      batch_size=16, clip_norm=clip, progress=False)
        return hist

    wild, tame = train(None), train(1.0)
    assert max(wild["grad_norm"]) > 100           # large recurrent weights: explosion
    assert not np.isfinite(wild["loss"][-1]) or wild["loss"][-1] > 10 * tame["loss"][-1]
    assert np.isfinite(tame["loss"]).all() and tame["loss"][-1] < tame["loss"][0]


def test_checkpoint_resume_is_bit_identical(tmp_path):
    x, y = moving_sum_data(64, 6, seed=1)
    common = dict(batch_size=16, seed=5, progress=False)

    def fresh():
        m = Elman(1, 3, 1, activation="tanh", dtype=F64, seed=2)
        return m, Adam(m.parameters(), lr=0.01)

    m1, o1 = fresh()
    full = gr.fit(m1, (x, y), mse, o1, epochs=4, **common)
    m2, o2 = fresh()
    gr.fit(m2, (x, y), mse, o2, epochs=2, checkpoint_every=2,
           checkpoint_path=str(tmp_path / "ck"), **common)
    m3, o3 = fresh()
    resumed = gr.fit(m3, (x, y), mse, o3, epochs=4, resume=str(tmp_path / "ck.npz"), **common)
    for k, v in m1.state_dict().items():
        np.testing.assert_array_equal(m3.state_dict()[k], v)
    assert resumed["loss"] == full["loss"]


def test_corrupted_checkpoints_are_refused_and_change_nothing(tmp_path):
    m = Elman(1, 3, 1, dtype=F64, seed=0)
    opt = Adam(m.parameters())
    path = save_checkpoint(tmp_path / "c", m, opt, epoch=3, rng=np.random.default_rng(0))
    before = m.state_dict()
    (tmp_path / "bad.npz").write_bytes(open(path, "rb").read()[:200])
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "bad.npz", m, opt)
    other = Elman(1, 4, 1, dtype=F64)
    with pytest.raises(CheckpointError, match="does not match the model"):
        load_checkpoint(path, other)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert load_checkpoint(path, m, opt)["epoch"] == 3


def test_variable_length_sequences_and_truncated_bptt():
    rng = np.random.default_rng(0)
    seqs = [rng.uniform(-1, 1, size=(n, 1)) for n in rng.integers(3, 9, size=40)]
    targets = [np.cumsum(s, axis=0) * 0.3 for s in seqs]
    x, mask = pad_batch(seqs[:2])
    assert x.shape == (max(len(s) for s in seqs[:2]), 2, 1) and mask.sum() == len(seqs[0]) + len(seqs[1])
    model = Readout(RNN(1, 8, dtype=F64, seed=0), 1, seed=0)
    loss = lambda out, y, m: squared_error(out["output"], y, mask=m)
    hist = gr.fit(model, (seqs, targets), loss, Adam(model.parameters(), lr=0.02),
                  epochs=8, batch_size=10, progress=False)
    assert hist["epoch_loss"][-1] < hist["epoch_loss"][0] / 2
    x, y = moving_sum_data(32, 24, seed=2)
    lm = Readout(LSTM(1, 8, dtype=F64, seed=0), 1, seed=0)
    hist = gr.fit(lm, (x, y), mse, Adam(lm.parameters(), lr=0.02), epochs=6, batch_size=8,
                  tbptt=6, progress=False)
    assert len(hist["loss"]) == 6 * 4 * 4  # epochs x batches x chunks
    assert np.mean(hist["loss"][-4:]) < np.mean(hist["loss"][:4])


def test_early_stopping_restores_the_best_parameters():
    x, y = moving_sum_data(32, 5)
    model = Elman(1, 3, 1, activation="identity", dtype=F64, seed=0)
    hist = gr.fit(model, (x, y), mse, SGD(model.parameters(), lr=3.0), epochs=20,
                  early_stopping=2, progress=False)  # a rate that diverges
    assert hist.get("stopped_early") and len(hist["epoch_loss"]) < 20
    best = int(np.argmin(hist["epoch_loss"])) + 1
    assert hist["stopped_early"] == [best + 2] and best < len(hist["epoch_loss"])
    again = Elman(1, 3, 1, activation="identity", dtype=F64, seed=0)
    gr.fit(again, (x, y), mse, SGD(again.parameters(), lr=3.0), epochs=best, progress=False)
    for k, v in again.state_dict().items():   # the parameters of the best epoch, exactly
        np.testing.assert_array_equal(model.state_dict()[k], v)


# ------------------------------------------------------------ generation
def test_sampling_is_greedy_top_k_and_seeded():
    logits = np.array([0.1, 3.0, 0.2, 2.9])
    assert sample_next(logits, 0.0) == 1
    draws = {sample_next(logits, 1.0, top_k=2, rng=np.random.default_rng(s)) for s in range(50)}
    assert draws == {1, 3}
    a = [sample_next(logits, 2.0, rng=np.random.default_rng(7)) for _ in range(3)]
    assert len(set(a)) == 1


def test_a_character_model_learns_a_repeating_text_and_generates_it():
    text = "abcd" * 30
    vocab = sorted(set(text))
    ids = np.array([vocab.index(ch) for ch in text])
    windows = np.stack([ids[i:i + 9] for i in range(0, len(ids) - 9)])
    model = LanguageModel(len(vocab), embed=8, hidden=16, dtype=F64, seed=0)
    loss = lambda out, y, m: cross_entropy(out["output"], y)
    gr.fit(model, (list(windows[:, :-1]), list(windows[:, 1:])), loss,
           Adam(model.parameters(), lr=0.05), epochs=15, batch_size=16, progress=False)
    out = model.generate([0, 1], length=10, temperature=0)
    assert "".join(vocab[i] for i in out) == "abcdabcdabcd"
    assert model.generate([0], 5, temperature=1.0, top_k=2, seed=3).tolist() == \
        model.generate([0], 5, temperature=1.0, top_k=2, seed=3).tolist()


def test_progress_bar_shows_the_loss(capsys):
    x, y = moving_sum_data(16, 4)
    model = Elman(1, 3, 1, dtype=F64, seed=0)
    gr.fit(model, (x, y), mse, Adam(model.parameters()), epochs=1, batch_size=8, progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "loss=" in err
