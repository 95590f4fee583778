"""One model protocol: every model class of the zoo declares its graph the same way, and
``fit``, ``loss_and_grad``, carried states and generation work for all of them alike."""

import numpy as np
import pytest

import graphrnn as gr
from graphrnn.models import LSTM, Autonomous, Elman, Jordan, Module
from graphrnn.optim import Adam, SGD

from .zoo import F64, ZOO, lengths_of, moving_sum, mse, smooth_loss


@pytest.mark.parametrize("name", sorted(ZOO))
def test_fit_trains_every_model_of_the_zoo(name):
    task = ZOO[name]()
    model = task.model
    hist = gr.fit(model, task.data, task.loss, Adam(model.parameters(), lr=task.lr),
                  epochs=task.epochs, batch_size=8, seed=0, progress=False)
    first, last = hist["loss"][0], float(np.mean(hist["loss"][-3:]))
    assert np.isfinite(hist["loss"]).all()
    assert last < first / 5, (name, first, last)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_loss_and_grad_of_every_model_matches_central_differences(name):
    """The compiled gradient of every parameter and every float input, projected on two
    random directions each, against central differences of the same program's loss."""
    task = ZOO[name]()
    model, args = task.model, task.args
    loss, grads = model.loss_and_grad(smooth_loss, *args)
    params = model.parameters()
    floats = [i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f"]
    assert set(grads) == set(params) | ({"input"} if floats else set())
    rng, eps = np.random.default_rng(0), 1e-6

    def value():
        return float(model.loss_and_grad(smooth_loss, *args)[0])

    assert value() == loss
    for name_, array in [*params.items(), *(("input", args[i]) for i in floats)]:
        for _ in range(2):
            u = rng.normal(size=array.shape)
            keep = array.copy()
            array += eps * u
            up = value()
            array[...] = keep - eps * u
            down = value()
            array[...] = keep
            numeric = (up - down) / (2 * eps)
            analytic = float(np.sum(grads[name_] * u))
            assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-7), (name, name_)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_model_declares_its_graph_the_same_way(name):
    model = ZOO[name]().model
    assert isinstance(model, Module)
    lengths = lengths_of(model)
    g = model.graph(*lengths)
    assert set(model.sequence_inputs) <= set(g.inputs) and "output" in g.outputs
    for seq, symbol in model.sequence_inputs.items():
        assert g.inputs[seq].shape[:2] == (3, gr.B) and symbol in model.lengths
    masked = model.graph(*lengths, mask=True)
    assert masked.inputs["mask"].shape == (3, gr.B) and masked.inputs["mask"].dtype == bool
    shapes = model.state_shapes()
    assert tuple(shapes) == model.state_names
    if shapes:
        carried = model.graph(*lengths, initial_states=True)
        for s, shape in shapes.items():
            assert carried.inputs[f"{s}0"].shape == shape
            assert carried.outputs[f"{s}_n"].shape == shape == g.outputs[f"{s}_n"].shape
    else:
        with pytest.raises(ValueError, match="initial states cannot be given"):
            model.graph(*lengths, initial_states=True)
    assert isinstance(model.recurrence(), gr.Recurrence)


def test_programs_models_build_expose_their_optimized_graph():
    model = ZOO["seq2seq"]().model
    src = np.array([[1, 2], [3, 1], [2, 2]])
    model(src, src)
    model.generate(src, max_len=2, start=0)  # an encoder program and a fixed-shape step
    elman = Elman(1, 3, 1, dtype=F64, seed=0)
    elman(np.ones((9, 2, 1)))
    for m in (model, elman):
        for key, program in m.programs().items():
            assert isinstance(program.graph, gr.Graph), key
            assert program.graph.outputs and program.source


@pytest.mark.parametrize("cls, make", [
    (Elman, lambda: Elman(2, 4, 2, dtype=F64, seed=0)),
    (Jordan, lambda: Jordan(2, 4, 2, activation="tanh", dtype=F64, seed=0)),
])
def test_generation_feeds_outputs_back_and_carried_states_continue_a_sequence(cls, make):
    model = make()
    prompt = np.random.default_rng(0).normal(size=(9, 3, 2))
    more = model.generate(prompt, 4)
    assert more.shape == (4, 3, 2)
    whole, _ = model(np.concatenate([prompt, more[:-1]]))  # the same steps, in one call
    np.testing.assert_allclose(whole[-4:], more, atol=1e-12)
    first = model.forward(*model.feed(prompt[:4]))
    rest = model.forward(*model.feed(prompt[4:], hx=first[f"{model.state_names[0]}_n"]))
    np.testing.assert_allclose(np.concatenate([first["output"], rest["output"]]),
                               model(prompt)[0], atol=1e-12)


def test_an_autonomous_system_continues_from_its_carried_state_and_learns_s0_under_tbptt():
    model = Autonomous(3, 2, dtype=F64, seed=0)
    start = model.forward(*model.feed(4, batch=2))
    rest = model(5, batch=2, s0=start["s_n"])
    np.testing.assert_allclose(np.concatenate([start["output"], rest]), model(9, batch=2),
                               atol=1e-12)
    s0 = model.state_dict()["s0"]
    target = np.sin(np.arange(16) * 0.5)[None, :, None].repeat(2, 0).repeat(2, 2)
    hist = gr.fit(model, (None, target), mse, SGD(model.parameters(), lr=0.05), epochs=2,
                  batch_size=2, tbptt=8, progress=False)
    assert len(hist["loss"]) == 4  # 2 epochs x 2 chunks
    assert not np.allclose(model.state_dict()["s0"], s0)  # chunk 1 starts from the learned s0


def test_fit_refuses_data_and_truncated_bptt_the_model_cannot_take():
    x, y = moving_sum(4, 8)
    bi = LSTM(1, 2, bidirectional=True, dtype=F64, seed=0)
    with pytest.raises(ValueError, match="truncated BPTT needs a causal model; LSTM reads later"):
        gr.fit(bi, (x, y), mse, Adam(bi.parameters()), tbptt=4, progress=False)
    task = ZOO["seq2seq"]()
    with pytest.raises(ValueError, match="Seq2Seq carries none"):
        gr.fit(task.model, task.data, task.loss, Adam(task.model.parameters()), tbptt=4,
               progress=False)
    auto = Autonomous(2)
    with pytest.raises(ValueError, match="reads no input sequence takes per-step targets"):
        gr.fit(auto, (None, np.zeros(4)), mse, Adam(auto.parameters()), progress=False)
    with pytest.raises(ValueError, match=r"Autonomous reads no input sequence: give data as "
                                         r"\(None, targets\)"):
        gr.fit(auto, (x, y), mse, Adam(auto.parameters()), progress=False)
    with pytest.raises(ValueError, match=r"Seq2Seq reads the sequences \['src', 'tgt_in'\]: "
                                         r"give data's inputs as a dict"):
        gr.fit(task.model, (task.data[1], task.data[1]), task.loss,
               Adam(task.model.parameters()), progress=False)
    with pytest.raises(ValueError, match="only 'tgt_in', which the outputs run along, may vary"):
        src = [np.ones(3, np.int64), np.ones(4, np.int64)]
        gr.fit(task.model, ({"src": src, "tgt_in": task.data[0]["tgt_in"][:2]}, task.data[1][:2]),
               task.loss, Adam(task.model.parameters()), progress=False)
