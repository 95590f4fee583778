"""Reliability of training state: bit-for-bit resume in every ``fit`` configuration,
all-or-nothing loads, atomic checkpoint writes (concurrent writers, ``kill -9``), Ctrl-C,
bad settings, non-finite losses, and the truncated-BPTT epoch loss.

The bad-input and fault cases are catalogue tables (:mod:`tests.catalogue`)."""

from __future__ import annotations

import inspect
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npformat

import graphrnn as gr
import graphrnn.core.safeio as safeio
from graphrnn.losses import squared_error
from graphrnn.models import RNN, Elman, Readout, StateDictError
from graphrnn.optim import SGD, Adam, AdamW, CosineLR, StepLR
from graphrnn.train import (CheckpointError, NonFiniteLossError, load_checkpoint,
                            save_checkpoint)
from tests.catalogue import Bad, check, ids, same
from tests.test_train import moving_sum_data, mse

F64 = np.float64
ROOT = Path(__file__).resolve().parent.parent


moving_sum = moving_sum_data


def masked_mse(out, y, mask):
    return squared_error(out["output"], y, mask=mask)


def mae(out, y, mask):
    return float(np.abs(out - y).mean())


X, Y = moving_sum(12, 5, seed=0)
VAL = moving_sum(6, 5, seed=1)
_lengths = np.random.default_rng(3).integers(2, 7, size=12)
VARLEN = ([np.random.default_rng(i).uniform(-1, 1, (n, 1)) for i, n in enumerate(_lengths)],
          [np.cumsum(np.random.default_rng(i).uniform(-1, 1, (n, 1)), 0) * 0.3
           for i, n in enumerate(_lengths)])

# one model per architecture, reset before each run: fit's programs stay compiled on it
_MODELS = {}


def model(arch):
    """The shared model of ``arch`` with its initial parameters."""
    if arch not in _MODELS:
        m = (Elman(1, 3, 1, activation="tanh", dtype=F64, seed=2) if arch == "elman"
             else Readout(RNN(1, 4, dtype=F64, seed=0), 1, seed=0))
        _MODELS[arch] = (m, m.state_dict())
    m, init = _MODELS[arch]
    m.load_state_dict(init)
    return m


def snapshot(m, opt, sched=None):
    return {"params": m.state_dict(), "optim": opt.state_dict(),
            "sched": (sched.epoch, sched.base_lr, sched.optimizer.lr) if sched else None}


# ------------------------------------------------------------ 1. resume, bit for bit
CONFIGS = {
    "adam": dict(),
    "steplr": dict(sched=(StepLR, {"step_size": 2, "gamma": 0.5})),
    "cosine": dict(sched=(CosineLR, {"t_max": 4, "min_lr": 1e-3})),
    "early_stopping": dict(opt=(SGD, {"lr": 0.4, "momentum": 0.9}),
                           fit={"early_stopping": 2}),  # stops after epoch 5
    "clipping": dict(fit={"clip_norm": 0.05, "clip_value": 0.01}),
    "tbptt": dict(arch="readout", fit={"tbptt": 2}),
    "validation_metrics": dict(fit={"validation": VAL, "metrics": {"mae": mae}}),
    "no_shuffle_nesterov": dict(opt=(SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True,
                                           "weight_decay": 0.01}), fit={"shuffle": False}),
    "adamw_variable_length": dict(arch="readout", data=VARLEN, loss=masked_mse,
                                  opt=(AdamW, {"lr": 0.02})),
    "everything": dict(arch="readout", opt=(SGD, {"lr": 0.5, "momentum": 0.9}),
                       sched=(StepLR, {"step_size": 2, "gamma": 0.7}),
                       fit={"tbptt": 2, "early_stopping": 2, "clip_norm": 1.0,
                            "validation": VAL, "metrics": {"mae": mae}}),
}


def train(config, epochs, **extra):
    """``fit`` in ``config`` from the initial parameters; returns (history, state)."""
    c = CONFIGS[config]
    m = model(c.get("arch", "elman"))
    cls, kw = c.get("opt", (Adam, {"lr": 0.02}))
    opt = cls(m.parameters(), **kw)
    sched = c["sched"][0](opt, **c["sched"][1]) if "sched" in c else None
    hist = gr.fit(m, c.get("data", (X, Y)), c.get("loss", mse), opt, epochs=epochs,
                  batch_size=4, seed=7, scheduler=sched, progress=False,
                  **c.get("fit", {}), **extra)
    return hist, snapshot(m, opt, sched)


@pytest.mark.parametrize("config", CONFIGS)
def test_resume_is_bit_for_bit_in_every_configuration(config, tmp_path):
    """N epochs straight equal k epochs, checkpoint, resume (once or twice) to N: the
    parameters, optimizer and scheduler state and the history, bit for bit."""
    full_hist, full_state = train(config, 6)
    for stops in [(3,), (1, 4), (2, 5)]:
        path = str(tmp_path / f"ck{'_'.join(map(str, stops))}.npz")
        resume = None
        for k in stops:
            train(config, k, checkpoint_every=1, checkpoint_path=path, resume=resume)
            resume = path
        hist, state = train(config, 6, resume=path)
        assert same(hist, full_hist), f"{config} {stops}: history differs"
        assert same(state, full_state), f"{config} {stops}: state differs"
    if config == "early_stopping":
        assert full_hist["stopped_early"] == [5]


def test_checkpoints_hold_every_piece_of_training_state(tmp_path):
    path = str(tmp_path / "ck.npz")
    train("everything", 3, checkpoint_every=3, checkpoint_path=path)
    with np.load(path, allow_pickle=False) as f:
        names = set(f.files)
        meta = json.loads(str(f["meta"]))
    assert {"param.head.weight", "optim.steps", "optim.lr", "optim.state.head.weight",
            "fit.best.head.weight", "meta"} <= names
    assert meta["scheduler"] == {"type": "StepLR", "epoch": 3, "base_lr": 0.5}
    assert meta["optimizer"] == "SGD" and meta["rng"]["bit_generator"] == "PCG64"
    assert set(meta["fit"]) >= {"best", "waited", "stopped", "lo", "chunk"}
    assert len(meta["history"]["loss"]) == 3 * 3 * 3  # epochs x batches x chunks


# ------------------------------------------------------------ 4. Ctrl-C
class Interrupting(Adam):
    """Adam that is interrupted at step ``at`` (1-based): by raising KeyboardInterrupt
    before the update, or by a real SIGINT arriving in the middle of it."""

    def __init__(self, params, at=None, how="raise", **kw):
        super().__init__(params, **kw)
        self.at, self.how = at, how

    def step(self, grads):
        if self.steps + 1 == self.at and self.how == "raise":
            raise KeyboardInterrupt
        if self.steps + 1 == self.at and self.how == "signal":
            signal.raise_signal(signal.SIGINT)  # held back until the step is whole
        super().step(grads)


@pytest.mark.parametrize("arch,extra,at,how", [
    ("elman", {}, 5, "raise"),                       # inside epoch 2
    ("readout", {"tbptt": 2}, 8, "raise"),           # between two chunks of a batch
    ("elman", {"validation": VAL}, 4, "signal"),     # a real SIGINT during the step
], ids=["mid-epoch", "mid-batch-tbptt", "sigint"])
def test_ctrl_c_keeps_the_history_and_a_resumable_checkpoint(arch, extra, at, how, tmp_path):
    m = model(arch)
    ref = gr.fit(m, (X, Y), mse, Interrupting(m.parameters(), lr=0.02), epochs=4,
                 batch_size=4, seed=3, progress=False, **extra)
    want = m.state_dict()
    m = model(arch)
    opt = Interrupting(m.parameters(), at=at, how=how, lr=0.02)
    path = str(tmp_path / "ck.npz")
    with pytest.raises(KeyboardInterrupt) as info:
        gr.fit(m, (X, Y), mse, opt, epochs=4, batch_size=4, seed=3, progress=False,
               checkpoint_path=path, **extra)
    done = at if how == "signal" else at - 1   # a real SIGINT lets the step finish
    assert opt.steps == done and len(info.value.history["loss"]) == done
    assert info.value.history["loss"] == ref["loss"][:done]
    assert info.value.checkpoint == path
    m = model(arch)
    hist = gr.fit(m, (X, Y), mse, Interrupting(m.parameters(), lr=0.02), epochs=4,
                  batch_size=4, seed=3, progress=False, resume=path, **extra)
    assert same(hist, ref) and same(m.state_dict(), want)


def test_ctrl_c_in_a_metric_resumes_at_the_end_of_the_epoch(tmp_path):
    calls = []

    def metric(out, y, mask):
        calls.append(1)
        if len(calls) == 3:   # the first validation batch of epoch 2
            raise KeyboardInterrupt
        return mae(out, y, mask)

    m = model("elman")
    ref = gr.fit(m, (X, Y), mse, Adam(m.parameters(), lr=0.02), epochs=3, batch_size=4,
                 validation=VAL, metrics={"mae": mae}, progress=False)
    want = m.state_dict()
    m = model("elman")
    path = str(tmp_path / "ck")
    with pytest.raises(KeyboardInterrupt) as info:
        gr.fit(m, (X, Y), mse, Adam(m.parameters(), lr=0.02), epochs=3, batch_size=4,
               validation=VAL, metrics={"mae": metric}, checkpoint_path=path, progress=False)
    assert len(info.value.history["epoch_loss"]) == 1 and len(info.value.history["loss"]) == 6
    m = model("elman")
    hist = gr.fit(m, (X, Y), mse, Adam(m.parameters(), lr=0.02), epochs=3, batch_size=4,
                  validation=VAL, metrics={"mae": mae}, resume=path + ".npz", progress=False)
    assert same(hist, ref) and same(m.state_dict(), want)


class _Grads(dict):
    """Gradients whose ``boom``-th lookup raises KeyboardInterrupt."""

    def __init__(self, *a, boom):
        super().__init__(*a)
        self.boom, self.seen = boom, 0

    def __getitem__(self, k):
        self.seen += 1
        if self.seen == self.boom:
            raise KeyboardInterrupt
        return super().__getitem__(k)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_an_interrupted_optimizer_step_changes_nothing(cls):
    params = {"a": np.ones(3), "b": np.ones(2)}
    opt = cls(params, lr=0.1, **({"momentum": 0.9} if cls is SGD else {}))
    opt.step({"a": np.ones(3), "b": np.ones(2)})
    before = ({k: v.copy() for k, v in params.items()}, opt.state_dict())
    with pytest.raises(KeyboardInterrupt):
        opt.step(_Grads({"a": np.ones(3), "b": np.ones(2)}, boom=2))
    assert same(before, ({k: v.copy() for k, v in params.items()}, opt.state_dict()))


def test_a_sigint_during_the_commit_is_held_until_every_parameter_moved(monkeypatch):
    params = {"a": np.zeros(3), "b": np.zeros(2), "c": np.zeros(1)}
    opt = Adam(params, lr=0.1)
    copies, real = [], np.copyto

    def copyto(dst, src, *a, **kw):
        real(dst, src, *a, **kw)
        copies.append(1)
        if len(copies) == 1:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(np, "copyto", copyto)
    with pytest.raises(KeyboardInterrupt):
        opt.step({"a": np.ones(3), "b": np.ones(2), "c": np.ones(1)})
    assert len(copies) == 3 and opt.steps == 1
    assert all(np.allclose(p, -0.1) for p in params.values())


# ------------------------------------------------------------ 5. non-finite losses
def _poisoned():
    x, y = X.copy(), Y.copy()
    x[5, 2, 0] = np.nan   # in the second batch (no shuffle, batches of 4)
    return x, y


def test_a_non_finite_loss_stops_fit_before_the_update():
    m = model("elman")
    gr.fit(m, (X[:4], Y[:4]), mse, Adam(m.parameters(), lr=0.02), epochs=1, batch_size=4,
           shuffle=False, progress=False)
    after_one_step = m.state_dict()
    m = model("elman")
    opt = Adam(m.parameters(), lr=0.02)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss nan .* epoch 1, step 2 "
                                                 r"\(batch 2\)") as info:
        gr.fit(m, _poisoned(), mse, opt, epochs=2, batch_size=4, shuffle=False,
               progress=False)
    e = info.value
    assert isinstance(e, FloatingPointError) and (e.epoch, e.step) == (1, 2)
    assert math.isnan(e.loss) and len(e.history["loss"]) == 1
    assert same(m.state_dict(), after_one_step) and opt.steps == 1


def test_non_finite_steps_can_be_skipped_and_are_recorded():
    m = model("elman")
    clean = gr.fit(m, (np.concatenate([X[:4], X[8:]]), np.concatenate([Y[:4], Y[8:]])), mse,
                   Adam(m.parameters(), lr=0.02), epochs=1, batch_size=4, shuffle=False,
                   progress=False)
    want = m.state_dict()
    m = model("elman")
    hist = gr.fit(m, _poisoned(), mse, Adam(m.parameters(), lr=0.02), epochs=1,
                  batch_size=4, shuffle=False, progress=False, on_nonfinite="skip")
    assert hist["skipped"] == [1] and math.isnan(hist["loss"][1])
    assert same(m.state_dict(), want)   # the skipped batch moved nothing
    assert hist["epoch_loss"] == clean["epoch_loss"]


# ------------------------------------------------------------ 6. truncated BPTT epoch loss
class Frozen(SGD):
    """An optimizer that never moves anything (the loss is then a pure function of the
    data, to compare with an independent computation)."""

    def step(self, grads):
        self._check(grads)


def _readout_by_hand(m, x):
    p = m.state_dict()
    h = np.zeros((x.shape[0], 4))
    outs = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ p["rnn.weight_ih_l0"].T + p["rnn.bias_ih_l0"]
                    + h @ p["rnn.weight_hh_l0"].T + p["rnn.bias_hh_l0"])
        outs.append(h @ p["head.weight"].T + p["head.bias"])
    return np.stack(outs, axis=1)


def test_tbptt_epoch_loss_averages_every_chunk():
    x, y = moving_sum(10, 5, seed=4)     # batches 4, 4, 2; chunks of 2, 2, 1 steps
    m = model("readout")
    hist = gr.fit(m, (x, y), mse, Frozen(m.parameters(), lr=0.1), epochs=1, batch_size=4,
                  tbptt=2, shuffle=False, progress=False)
    expected = np.mean((_readout_by_hand(m, x) - y) ** 2)
    assert hist["epoch_loss"][0] == pytest.approx(expected, rel=1e-12)
    # and with training: the chunks of a batch weighted by their steps, batches by size
    m = model("readout")
    hist = gr.fit(m, (x, y), mse, Adam(m.parameters(), lr=0.05), epochs=1, batch_size=4,
                  tbptt=2, shuffle=False, progress=False)
    loss = np.array(hist["loss"]).reshape(3, 3)
    batch = loss @ np.array([2, 2, 1]) / 5
    assert hist["epoch_loss"][0] == pytest.approx(batch @ np.array([4, 4, 2]) / 10, rel=1e-12)


# ------------------------------------------------------------ 2. loads read headers first
def _craft_npz(path, members):
    """An .npz whose members are raw ``(header dict, data bytes)``: headers may lie."""
    with zipfile.ZipFile(path, "w") as z:
        for name, (header, data) in members.items():
            buf = io.BytesIO()
            npformat.write_array_header_1_0(buf, header)
            z.writestr(name + ".npy", buf.getvalue() + data)
    return path


def test_a_header_declaring_8_gb_is_refused_unread(tmp_path, monkeypatch):
    m = model("elman")
    opt = Adam(m.parameters())
    path = save_checkpoint(tmp_path / "ok", m, opt)
    with np.load(path) as f:
        good = {k: f[k] for k in f.files}
    members = {k: ({"descr": v.dtype.str, "fortran_order": False, "shape": v.shape},
                   v.tobytes()) for k, v in good.items()}
    members["param.W"] = ({"descr": "<f8", "fortran_order": False, "shape": (1 << 30,)},
                          b"\0" * 64)
    bad = _craft_npz(tmp_path / "huge.npz", members)
    reads = []
    monkeypatch.setattr(safeio.npformat, "read_array", lambda *a, **k: reads.append(1))
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=r"'param.W' declares \(1073741824,\) "
                                                  r"float64 \(8589934592 bytes\)"):
            load_checkpoint(bad, m, opt)
        with pytest.raises(StateDictError, match="8589934592 bytes"):
            m.load(_craft_npz(tmp_path / "huge_params.npz", {"W": members["param.W"]}))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reads == [] and peak < 1 << 20


def test_shapes_are_compared_with_the_model_before_any_data_is_read(tmp_path, monkeypatch):
    m = model("elman")
    big = Elman(1, 40, 1, dtype=F64, seed=0)
    ck = save_checkpoint(tmp_path / "big", big, Adam(big.parameters()))
    params = big.save(tmp_path / "big_params")
    reads = []
    monkeypatch.setattr(safeio.npformat, "read_array", lambda *a, **k: reads.append(1))
    with pytest.raises(CheckpointError, match=r"W: expected \(3, 3\) numbers, got \(40, 40\)"):
        load_checkpoint(ck, m)
    with pytest.raises(StateDictError, match=r"W: expected \(3, 3\) numbers, got \(40, 40\)"):
        m.load(params)
    assert reads == []


# ------------------------------------------------------------ 3. atomic writes
def test_a_failed_write_keeps_the_old_checkpoint_and_leaves_no_temporary(tmp_path,
                                                                      monkeypatch):
    m = model("elman")
    opt = Adam(m.parameters())
    path = save_checkpoint(tmp_path / "ck", m, opt, epoch=1)

    def broken(f, **arrays):
        f.write(b"PK half a file")
        raise OSError("disk full")

    monkeypatch.setattr(safeio.np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, m, opt, epoch=2)
    with pytest.raises(OSError, match="disk full"):
        m.save(tmp_path / "params")
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]
    assert load_checkpoint(path, m, opt)["epoch"] == 1


def test_concurrent_writers_and_a_reader_never_see_half_a_checkpoint(tmp_path):
    path = str(tmp_path / "shared.npz")
    writers = []
    for seed in (1, 2):
        w = Elman(1, 3, 1, dtype=F64, seed=seed)
        writers.append((w, Adam(w.parameters()), w.state_dict()))
    reader = Elman(1, 3, 1, dtype=F64, seed=9)
    errors, loads, done = [], [], threading.Event()

    def write(w, opt, _):
        try:
            for i in range(30):
                save_checkpoint(path, w, opt, epoch=i)
        except BaseException as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    def read():
        while not done.is_set() or not loads:
            if os.path.exists(path):
                try:
                    load_checkpoint(path, reader)
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)
                    return
                got = reader.state_dict()
                loads.append(any(same(got, s) for _, _, s in writers))

    threads = [threading.Thread(target=write, args=w) for w in writers]
    threads.append(threading.Thread(target=read))
    for t in threads:
        t.start()
    for t in threads[:2]:
        t.join()
    done.set()
    threads[2].join()
    assert errors == [] and loads and all(loads)
    assert os.listdir(tmp_path) == ["shared.npz"]


_CHILD = r"""
import os, sys
import numpy as np
import graphrnn as gr
from graphrnn.losses import squared_error
from graphrnn.models import Elman
from graphrnn.optim import StepLR, Adam
path, epochs = sys.argv[1], int(sys.argv[2])
x = np.random.default_rng(0).uniform(-1, 1, size=(12, 5, 1))
y = np.cumsum(x, axis=1)
m = Elman(1, 3, 1, activation="tanh", dtype="float64", seed=2)
opt = Adam(m.parameters(), lr=0.02)
print("ready", flush=True)
gr.fit(m, (x, y), lambda out, t, mask: squared_error(out["output"], t), opt, epochs=epochs,
       batch_size=4, seed=5, scheduler=StepLR(opt, 7, 0.9), early_stopping=1000,
       checkpoint_every=1, checkpoint_path=path,
       resume=path if os.path.exists(path) else None, progress=False)
"""


def _fresh_child_model():
    m = Elman(1, 3, 1, activation="tanh", dtype=F64, seed=2)
    opt = Adam(m.parameters(), lr=0.02)
    return m, opt, StepLR(opt, 7, 0.9)


def test_kill_9_at_random_moments_never_breaks_the_checkpoint_or_the_resume(tmp_path):
    """A child trains with a checkpoint every epoch and is killed with SIGKILL at random
    (seeded) moments, then resumed: the file on disk always loads, and the run finished
    after the kills equals an uninterrupted one bit for bit."""
    path, epochs = str(tmp_path / "ck.npz"), 120
    rng = np.random.default_rng(2024)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seen = -1
    for _ in range(4):
        before = os.stat(path).st_mtime_ns if os.path.exists(path) else None
        child = subprocess.Popen([sys.executable, "-c", _CHILD, path, str(epochs)],
                                 stdout=subprocess.PIPE, env=env, cwd=str(ROOT))
        assert child.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 60   # each child writes one checkpoint at least
        while child.poll() is None and time.monotonic() < deadline and (
                not os.path.exists(path) or os.stat(path).st_mtime_ns == before):
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.25))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        if os.path.exists(path):
            m, opt, sched = _fresh_child_model()
            epoch = load_checkpoint(path, m, opt, np.random.default_rng(), sched)["epoch"]
            assert epoch >= seen
            seen = epoch
    assert seen > 0, "no checkpoint was ever written: the kills came too early"
    subprocess.run([sys.executable, "-c", _CHILD, path, str(epochs)], check=True, env=env,
                   cwd=str(ROOT), stdout=subprocess.DEVNULL, timeout=120)
    assert {f for f in os.listdir(tmp_path) if not f.endswith(".tmp")} == {"ck.npz"}
    m, opt, sched = _fresh_child_model()
    x = np.random.default_rng(0).uniform(-1, 1, size=(12, 5, 1))
    ref = gr.fit(m, (x, np.cumsum(x, axis=1)), mse, opt, epochs=epochs, batch_size=4, seed=5,
                 scheduler=sched, early_stopping=1000, progress=False)
    want = snapshot(m, opt, sched)
    m, opt, sched = _fresh_child_model()
    got = load_checkpoint(path, m, opt, np.random.default_rng(), sched)
    assert got["epoch"] == epochs and same(got["history"], ref)
    assert same(snapshot(m, opt, sched), want)


# ------------------------------------------------------------ 7. docs
def test_the_readme_names_fit_parameters_as_they_are():
    readme = (ROOT / "README.md").read_text()
    assert not re.search(r"(?<!\w)bptt=", readme)
    listed = re.search(r"`fit\(model, \(inputs, targets\), (.*?)\)`:", readme, re.S).group(1)
    names = [p.split("=")[0].strip() for p in listed.replace("\n", " ").split(",")]
    actual = list(inspect.signature(gr.fit).parameters)[2:]
    assert names == actual


# ------------------------------------------------------------ the catalogue
# Shared objects: every case must leave them exactly as they were (``snapshot``).
def _trained(seed, lr, grad, schedule_steps):
    """A model, its Adam after two steps of constant gradients ``grad``, and a StepLR
    stepped ``schedule_steps`` times: training state with something in every field."""
    model = Elman(1, 3, 1, dtype=F64, seed=seed)
    opt = Adam(model.parameters(), lr=lr)
    for _ in range(2):
        opt.step({k: np.full_like(v, grad) for k, v in model.parameters().items()})
    sched = StepLR(opt, step_size=2)
    for _ in range(schedule_steps):
        sched.step()
    return model, opt, sched


CM, CO, CS = _trained(0, 0.01, 0.1, 1)
CR = np.random.default_rng(11)
# the files the cases load hold other values, so that a load applied in part would show
CM2, CO2, CS2 = _trained(5, 0.02, 0.2, 2)
CR2 = np.random.default_rng(12)
_DIR = {}


@pytest.fixture(scope="module", autouse=True)
def _files(tmp_path_factory):
    _DIR["path"] = tmp_path_factory.mktemp("catalogue")


def state():
    """Everything a failed call must leave alone."""
    return {"model": CM.state_dict(), "optim": CO.state_dict(), "sched": CS.state_dict(),
            "rng": CR.bit_generator.state}


def _arrays():
    path = save_checkpoint(_DIR["path"] / "good", CM2, CO2, 3, CR2, {"loss": [1.0, 0.5]}, CS2)
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def ck(edit=None, meta=None, raw=None, **meta_changes):
    """A checkpoint of the shared objects, changed: ``edit(arrays)``, ``meta`` (the whole
    metadata object, or text), or single metadata fields; written without our writer."""
    def write():
        arrays = _arrays()
        m = json.loads(str(arrays["meta"]))
        m.update(meta_changes)
        new = meta if meta is not None else m
        arrays["meta"] = np.array(new if isinstance(new, str) else json.dumps(new))
        return _save_case(arrays, "case.npz", edit, raw)
    return write


def loading(write):
    return lambda: load_checkpoint(write(), CM, CO, CR, CS)


def _npz_bytes(arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _pop(*names):
    return lambda a: [a.pop(n) for n in names]


def _set(name, value):
    return lambda a: a.__setitem__(name, value)


def _members(arrays, **headers):
    """Raw members with the given lying headers."""
    out = {k: ({"descr": v.dtype.str, "fortran_order": False, "shape": v.shape}, v.tobytes())
           for k, v in arrays.items()}
    for k, h in headers.items():
        out[k.replace("__", ".")] = h
    buf = io.BytesIO()
    _craft_npz(buf, out)
    return buf.getvalue()


def _with_text(arrays):
    buf = io.BytesIO(_npz_bytes(arrays))
    with zipfile.ZipFile(buf, "a") as z:
        z.writestr("notes.txt", "hello")
    return buf.getvalue()


def _duplicated(arrays):
    buf = io.BytesIO(_npz_bytes(arrays))
    with pytest.warns(UserWarning), zipfile.ZipFile(buf, "a") as z:
        z.writestr("param.W.npy", _npz_member(np.zeros((3, 3))))
    return buf.getvalue()


def _npz_member(a):
    buf = io.BytesIO()
    npformat.write_array(buf, a)
    return buf.getvalue()


def _corrupt(arrays):
    data = bytearray(_npz_bytes(arrays))
    i = data.index(np.asarray(arrays["param.W"]).tobytes())
    data[i + 3] ^= 0xFF
    return bytes(data)


_HUGE = ({"descr": "<f8", "fortran_order": False, "shape": (1 << 30,)}, b"\0" * 64)
_MT = json.loads(json.dumps(np.random.MT19937(0).state, default=lambda a: a.tolist()))
E = CheckpointError
CHECKPOINT_CASES = [
    Bad("truncated", loading(ck(raw=lambda a: _npz_bytes(a)[:300])), E, "cannot read checkpoint", state),
    Bad("not-a-zip", loading(ck(raw=lambda a: b"hello, world")), E, "cannot read checkpoint", state),
    Bad("missing-file", lambda: load_checkpoint(_DIR["path"] / "nowhere.npz", CM, CO), E, "cannot read checkpoint.*nowhere", state),
    Bad("path-none", lambda: load_checkpoint(None, CM, CO), E, "cannot read checkpoint: expected a path, got None", state),
    Bad("corrupted-data", loading(ck(raw=_corrupt)), E, r"cannot read checkpoint.*Bad CRC-32 for file 'param.W.npy'", state),
    Bad("object-member", loading(ck(_set("param.b", np.array([object()] * 3)))), E, r"'param.b' holds Python objects", state),
    Bad("header-8-gb", loading(ck(raw=lambda a: _members(a, param__W=_HUGE))), E, r"'param.W' declares .*8589934592 bytes", state),
    Bad("header-lies-about-size", loading(ck(raw=lambda a: _members(a, param__b=({"descr": "<f8", "fortran_order": False, "shape": (30,)}, b"\0" * 24)))), E, r"'param.b' declares \(30,\)", state),
    Bad("text-member", loading(ck(raw=_with_text)), E, r"'notes.txt' is not an array", state),
    Bad("duplicated-member", loading(ck(raw=_duplicated)), E, r"'param.W' appears twice", state),
    Bad("missing-param", loading(ck(_pop("param.V"))), E, r"does not match the model: missing 'V'", state),
    Bad("unexpected-param", loading(ck(_set("param.extra", np.zeros(2)))), E, r"unexpected 'extra'", state),
    Bad("param-shape", loading(ck(_set("param.W", np.zeros((3, 4))))), E, r"W: expected \(3, 3\) numbers, got \(3, 4\)", state),
    Bad("param-strings", loading(ck(_set("param.c", np.array(["1.0"])))), E, r"c: expected \(1,\) numbers, got \(1,\) <U3", state),
    Bad("param-complex", loading(ck(_set("param.c", np.array([1j])))), E, r"c: expected \(1,\) numbers, got \(1,\) complex128", state),
    Bad("no-meta", loading(ck(_pop("meta"))), E, r"has no readable metadata: meta: expected a text scalar.* got no member", state),
    Bad("meta-not-text", loading(ck(_set("meta", np.zeros(3)))), E, r"no readable metadata.*got \(3,\) float64", state),
    Bad("meta-not-json", loading(ck(meta="{epoch: 3")), E, r"bad metadata: meta is not JSON", state),
    Bad("meta-a-list", loading(ck(meta="[1, 2]")), E, r"meta must be a JSON object, got list", state),
    Bad("meta-unknown-key", loading(ck(extra=1)), E, r"unexpected meta\['extra'\]", state),
    Bad("meta-future-format", loading(ck(format=99)), E, r"meta\['format'\] must be 1..2, got 99", state),
    Bad("epoch-text", loading(ck(epoch="3")), E, r"meta\['epoch'\] must be an integer >= 0, got '3'", state),
    Bad("epoch-negative", loading(ck(epoch=-1)), E, r"meta\['epoch'\] .* got -1", state),
    Bad("epoch-bool", loading(ck(epoch=True)), E, r"meta\['epoch'\] .* got True", state),
    Bad("epoch-missing", loading(ck(meta={"history": {}})), E, r"meta\['epoch'\] .* got None", state),
    Bad("history-a-list", loading(ck(history=[1.0])), E, r"meta\['history'\] must be an object, got list", state),
    Bad("history-strings", loading(ck(history={"loss": ["a"]})), E, r"meta\['history'\]\['loss'\] must be a list of numbers", state),
    Bad("history-scalar", loading(ck(history={"loss": 1.0})), E, r"meta\['history'\]\['loss'\]", state),
    Bad("rng-a-list", loading(ck(rng=[1, 2])), E, r"meta\['rng'\] must be dict or null, got list", state),
    Bad("rng-garbage", loading(ck(rng={"bit_generator": "PCG64", "state": "x"})), E, r"does not match the RNG: bad PCG64 state", state),
    Bad("rng-other-generator", loading(ck(rng=_MT)), E, r"does not match the RNG: bad PCG64 state", state),
    Bad("rng-absent", loading(ck(rng=None)), E, r"does not match the RNG: no RNG state", state),
    Bad("scheduler-absent", loading(ck(scheduler=None)), E, r"does not match the scheduler \(StepLR\): no scheduler state", state),
    Bad("scheduler-other-type", loading(ck(scheduler={"type": "CosineLR", "epoch": 1, "base_lr": 0.01})), E, r"type: expected 'StepLR', got 'CosineLR'", state),
    Bad("scheduler-epoch-negative", loading(ck(scheduler={"type": "StepLR", "epoch": -3, "base_lr": 0.01})), E, r"epoch must be an integer >= 0, got -3", state),
    Bad("scheduler-lr-nan", loading(ck(scheduler={"type": "StepLR", "epoch": 1, "base_lr": float("nan")})), E, r"base_lr must be a finite number >= 0, got nan", state),
    Bad("scheduler-extra-key", loading(ck(scheduler={"type": "StepLR", "epoch": 1, "base_lr": 0.01, "x": 1})), E, r"unexpected 'x'", state),
    Bad("scheduler-a-number", loading(ck(scheduler=3)), E, r"meta\['scheduler'\] must be dict", state),
    Bad("optimizer-type", loading(ck(optimizer="SGD")), E, r"does not match the optimizer: written by SGD, loading into Adam", state),
    Bad("optim-no-steps", loading(ck(_pop("optim.steps"))), E, r"Adam.load_state_dict: missing 'steps'", state),
    Bad("optim-steps-negative", loading(ck(_set("optim.steps", np.array(-2)))), E, r"steps: must be >= 0, got -2", state),
    Bad("optim-steps-float", loading(ck(_set("optim.steps", np.array(2.5)))), E, r"steps: expected an integer, got float64", state),
    Bad("optim-steps-shape", loading(ck(_set("optim.steps", np.array([2, 2])))), E, r"steps: expected shape \(\), got \(2,\)", state),
    Bad("optim-lr-nan", loading(ck(_set("optim.lr", np.array(np.nan)))), E, r"lr: must be a finite number >= 0, got nan", state),
    Bad("optim-lr-negative", loading(ck(_set("optim.lr", np.array(-0.1)))), E, r"lr: must be a finite number >= 0, got -0.1", state),
    Bad("optim-lr-text", loading(ck(_set("optim.lr", np.array("0.1")))), E, r"lr: expected real numbers, got <U3", state),
    Bad("moment-shape", loading(ck(_set("optim.state.W.m", np.zeros((3, 4))))), E, r"does not match the optimizer \(Adam\): state.W.m: expected shape \(3, 3\), got \(3, 4\)", state),
    Bad("moment-missing", loading(ck(_pop("optim.state.W.v"))), E, r"steps is 2 but moments are missing: \['state.W.v'\]", state),
    Bad("moment-unexpected", loading(ck(_set("optim.state.bogus", np.zeros(1)))), E, r"unexpected 'state.bogus'", state),
    Bad("moments-without-steps", loading(ck(_set("optim.steps", np.array(0)))), E, r"steps is 0 but moments are present", state),
    Bad("moment-negative-v", loading(ck(_set("optim.state.b.v", -np.ones(3)))), E, r"state.b.v: negative second moments", state),
    Bad("moment-text", loading(ck(_set("optim.state.b.m", np.array(["a", "b", "c"])))), E, r"state.b.m: expected real numbers, got <U1", state),
]


def _save_case(arrays, name, edit=None, raw=None):
    """``arrays`` after ``edit``, written as ``name`` (``raw(arrays)`` gives the bytes when
    the file must be broken below the ``.npz`` level); returns the path."""
    if edit is not None:
        edit(arrays)
    path = _DIR["path"] / name
    if raw is not None:
        path.write_bytes(raw(arrays))
    else:
        np.savez(path, **arrays)
    return path


def _params_file(edit=None, raw=None):
    return lambda: CM.load(_save_case(CM2.state_dict(), "params.npz", edit, raw))


S = StateDictError
_own = CM2.state_dict()   # values other than CM's
MODEL_CASES = [
    Bad("state-missing", lambda: CM.load_state_dict({k: v for k, v in _own.items() if k != "b"}), S, r"missing \['b'\]", state),
    Bad("state-unexpected", lambda: CM.load_state_dict({**_own, "z": np.zeros(1)}), S, r"unexpected \['z'\]", state),
    Bad("state-shape", lambda: CM.load_state_dict({**_own, "W": np.zeros((2, 2))}), S, r"W: expected \(3, 3\), got \(2, 2\)", state),
    Bad("state-last-value-text", lambda: CM.load_state_dict({**_own, "c": "abc"}), S, r"wrong value: c: cannot convert to float64 \(<U3 is not a real number type\)", state),
    Bad("state-none", lambda: CM.load_state_dict({**_own, "c": None}), S, r"c: cannot convert to float64", state),
    Bad("state-ragged", lambda: CM.load_state_dict({**_own, "W": [[1.0, 2.0], [3.0]]}), S, r"W: cannot convert to float64", state),
    Bad("state-complex", lambda: CM.load_state_dict({**_own, "b": np.ones(3) * 1j}), S, r"b: cannot convert to float64 \(complex128", state),
    Bad("state-objects", lambda: CM.load_state_dict({**_own, "b": np.array([object()] * 3)}), S, r"b: cannot convert", state),
    Bad("state-not-a-mapping", lambda: CM.load_state_dict(list(_own.items())), S, r"must be a mapping .* got list", state),
    Bad("file-header-8-gb", _params_file(raw=lambda a: _members(a, W=_HUGE)), S, r"'W' declares .*8589934592 bytes", state),
    Bad("file-wrong-shape", _params_file(_set("W", np.zeros((4, 4)))), S, r"W: expected \(3, 3\) numbers, got \(4, 4\) float64", state),
    Bad("file-missing", _params_file(_pop("U")), S, r"missing 'U'", state),
    Bad("file-unexpected", _params_file(_set("Q", np.zeros(1))), S, r"unexpected 'Q'", state),
    Bad("file-objects", _params_file(_set("c", np.array([object()]))), S, r"'c' holds Python objects", state),
    Bad("file-path-a-number", lambda: CM.load(3), S, r"cannot read parameter file for Elman: expected a path, got 3", state),
    Bad("file-truncated", _params_file(raw=lambda a: _npz_bytes(a)[:150]), S, r"cannot read parameter file for Elman", state),
    Bad("file-strings", _params_file(_set("c", np.array(["x"]))), S, r"c: expected \(1,\) numbers, got \(1,\) <U1", state),
    Bad("optim-state-not-a-mapping", lambda: CO.load_state_dict([1, 2]), S, r"Adam.load_state_dict: expected a mapping", state),
    Bad("optim-state-no-lr", lambda: CO.load_state_dict({k: v for k, v in CO2.state_dict().items() if k != "lr"}), S, r"missing 'lr'", state),
    Bad("optim-state-moment-shape", lambda: CO.load_state_dict({**CO2.state_dict(), "state.c.m": np.zeros(5)}), S, r"state.c.m: expected shape \(1,\), got \(5,\)", state),
    Bad("optim-state-last-moment-text", lambda: CO.load_state_dict({**CO2.state_dict(), "state.c.v": np.array(["x"])}), S, r"state.c.v: expected real numbers, got <U1", state),
    Bad("optim-state-from-sgd", lambda: CO.load_state_dict(SGD(CM.parameters(), lr=0.1, momentum=0.9).state_dict() | {"steps": np.array(1), "state.W": np.zeros((3, 3))}), S, r"unexpected 'state.W'", state),
    Bad("scheduler-state-bad", lambda: CS.load_state_dict({"type": "StepLR", "epoch": 1.5, "base_lr": 0.01}), S, r"StepLR.load_state_dict: epoch must be an integer", state),
    Bad("step-missing-grad", lambda: CO.step({"W": np.zeros((3, 3))}), KeyError, r"Adam.step: no gradient for \['U', 'b', 'V', 'c'\]", state),
    Bad("step-grad-shape", lambda: CO.step({**{k: np.zeros_like(v) for k, v in _own.items()}, "b": np.zeros(1)}), ValueError, r"wrong gradient shape: b: expected \(3,\), got \(1,\)", state),
    Bad("step-grads-not-a-mapping", lambda: CO.step([np.zeros(1)]), TypeError, r"grads must be a mapping", state),
]


def _opt(cls, **kw):
    return lambda: cls({"w": np.zeros(2)}, **kw)


V = ValueError
SETTING_CASES = [
    Bad(f"{cls.__name__}-lr={lr!r}", _opt(cls, lr=lr), V, rf"{cls.__name__}: lr must be a finite number > 0, got {re.escape(repr(lr))}")
    for cls in (SGD, Adam, AdamW) for lr in (float("nan"), float("inf"), -0.1, 0.0, "0.01", True)
] + [
    Bad(f"{cls.__name__}-{name}={value!r}", _opt(cls, lr=0.1, **{name: value}), V, rf"{cls.__name__}: {re.escape(shown)} must be .*got {re.escape(repr(got))}")
    for cls in (Adam, AdamW)
    for name, value, shown, got in [("betas", (1.0, 0.999), "betas[0]", 1.0), ("betas", (0.9, -0.1), "betas[1]", -0.1),
                                    ("betas", (0.9, float("nan")), "betas[1]", float("nan")), ("betas", (0.9,), "betas", (0.9,)),
                                    ("eps", 0.0, "eps", 0.0), ("eps", -1e-8, "eps", -1e-8), ("eps", float("nan"), "eps", float("nan")),
                                    ("weight_decay", -0.1, "weight_decay", -0.1), ("weight_decay", float("inf"), "weight_decay", float("inf"))]
] + [
    Bad("SGD-momentum-negative", _opt(SGD, lr=0.1, momentum=-0.5), V, r"SGD: momentum must be a finite number >= 0, got -0.5"),
    Bad("SGD-momentum-nan", _opt(SGD, lr=0.1, momentum=float("nan")), V, r"SGD: momentum .* got nan"),
    Bad("SGD-weight-decay-negative", _opt(SGD, lr=0.1, weight_decay=-1.0), V, r"SGD: weight_decay .* got -1.0"),
    Bad("SGD-nesterov-without-momentum", _opt(SGD, lr=0.1, nesterov=True), V, r"SGD: Nesterov momentum needs momentum > 0, got 0.0"),
    Bad("SGD-nesterov-not-bool", _opt(SGD, lr=0.1, momentum=0.9, nesterov="yes"), V, r"SGD: nesterov must be True or False, got 'yes'"),
    Bad("params-empty", lambda: Adam({}, lr=0.1), V, r"Adam: params must be a non-empty mapping"),
    Bad("params-integers", lambda: Adam({"w": np.zeros(2, dtype=np.int64)}, lr=0.1), V, r"Adam: parameter 'w' must be a writeable floating-point array, got a int64 array"),
    Bad("params-read-only", lambda: Adam({"w": np.broadcast_to(np.zeros(1), (3,))}, lr=0.1), V, r"parameter 'w' .* got a read-only float64 array"),
    Bad("lr-set-to-nan", lambda: setattr(CO, "lr", float("nan")), V, r"Adam: lr must be a finite number >= 0, got nan", state),
    Bad("StepLR-step-size-0", lambda: StepLR(CO, step_size=0), V, r"StepLR: step_size must be an integer >= 1, got 0", state),
    Bad("StepLR-step-size-float", lambda: StepLR(CO, step_size=1.5), V, r"StepLR: step_size .* got 1.5", state),
    Bad("StepLR-gamma-0", lambda: StepLR(CO, 2, gamma=0.0), V, r"StepLR: gamma must be a finite number > 0, got 0.0", state),
    Bad("StepLR-gamma-nan", lambda: StepLR(CO, 2, gamma=float("nan")), V, r"StepLR: gamma .* got nan", state),
    Bad("StepLR-gamma-negative", lambda: StepLR(CO, 2, gamma=-0.5), V, r"StepLR: gamma .* got -0.5", state),
    Bad("CosineLR-t-max-0", lambda: CosineLR(CO, t_max=0), V, r"CosineLR: t_max must be an integer >= 1, got 0", state),
    Bad("CosineLR-t-max-float", lambda: CosineLR(CO, t_max=2.5), V, r"CosineLR: t_max .* got 2.5", state),
    Bad("CosineLR-min-lr-negative", lambda: CosineLR(CO, 4, min_lr=-1.0), V, r"CosineLR: min_lr must be a finite number >= 0 and <= 0.01, got -1.0", state),
    Bad("CosineLR-min-lr-above-lr", lambda: CosineLR(CO, 4, min_lr=1.0), V, r"CosineLR: min_lr .* got 1.0", state),
    Bad("CosineLR-min-lr-nan", lambda: CosineLR(CO, 4, min_lr=float("nan")), V, r"CosineLR: min_lr .* got nan", state),
    Bad("scheduler-without-optimizer", lambda: StepLR({"w": np.zeros(1)}, 2), V, r"StepLR: optimizer must be an Optimizer, got dict"),
]


def fitting(**kw):
    """``fit`` of the shared objects with one setting changed (the rest valid)."""
    args = dict(data=(X, Y), loss=mse, optimizer=CO, epochs=1, batch_size=4, progress=False)
    args.update(kw)
    return lambda: gr.fit(CM, **args)


_ok = ck()
FIT_CASES = [
    Bad(f"fit-{name}={value!r}", fitting(**{name: value}), V, rf"fit: {name} must be .*got {re.escape(repr(value))}", state)
    for name, value in [("epochs", -1), ("epochs", 1.5), ("epochs", True), ("batch_size", -1), ("batch_size", 0),
                        ("batch_size", 2.5), ("batch_size", "4"), ("tbptt", 0), ("tbptt", -2), ("early_stopping", 0),
                        ("checkpoint_every", 0), ("clip_norm", 0.0), ("clip_norm", float("nan")), ("clip_norm", -1.0),
                        ("clip_norm", float("inf")), ("clip_value", 0.0), ("on_nonfinite", "ignore")]
] + [
    Bad("fit-checkpoint-every-without-path", fitting(checkpoint_every=2), V, r"fit: checkpoint_every=2 needs checkpoint_path", state),
    Bad("fit-checkpoint-path-not-a-path", fitting(checkpoint_path=3), V, r"fit: checkpoint_path must be a path, got 3", state),
    Bad("fit-scheduler-of-another-optimizer", fitting(scheduler=StepLR(Adam({"w": np.zeros(1)}), 2)), V, r"fit: scheduler must be a Scheduler built on this optimizer", state),
    Bad("fit-metric-reserved-name", fitting(metrics={"loss": mae}, validation=VAL), V, r"fit: metric 'loss' must be a function under a name not in", state),
    Bad("fit-metric-not-callable", fitting(metrics={"mae": 3}, validation=VAL), V, r"fit: metric 'mae' .* got 3", state),
    Bad("fit-metrics-without-validation", fitting(metrics={"mae": mae}), V, r"fit: metrics \['mae'\] need validation data", state),
    Bad("fit-data-not-a-pair", fitting(data=X), V, r"fit: data must be a pair \(inputs, targets\), got ndarray", state),
    Bad("fit-validation-not-a-pair", fitting(validation=(X,)), V, r"fit: validation must be a pair", state),
    Bad("fit-empty-data", fitting(data=(X[:0], Y[:0])), V, r"fit: data holds no sequences", state),
    Bad("fit-loss-not-callable", fitting(loss="mse"), V, r"fit: loss must be a function", state),
    Bad("fit-optimizer-not-an-optimizer", fitting(optimizer="adam"), V, r"fit: optimizer must be a graphrnn.optim Optimizer, got 'adam'", state),
    Bad("fit-optimizer-of-other-params", fitting(optimizer=Adam(Elman(1, 3, 1, dtype=F64).parameters())), V, r"optimizer must be built on model.parameters\(\)", state),
    Bad("fit-resume-missing-file", fitting(resume=str(Path("nowhere") / "ck.npz")), CheckpointError, r"cannot read checkpoint.*nowhere", state),
    Bad("fit-resume-other-model", lambda: gr.fit(CM, (X, Y), mse, CO, epochs=2, progress=False, resume=save_checkpoint(_DIR["path"] / "other", Elman(1, 4, 1, dtype=F64))), CheckpointError, r"does not match the model", state),
    Bad("fit-resume-bad-position", lambda: fitting(resume=ck(fit={"lo": -4})())(), CheckpointError, r"does not match this training run: fit\['lo'\] is malformed: -4", state),
    Bad("fit-resume-other-batch-size", lambda: fitting(resume=ck(fit={"lo": 4, "settings": {"n": 12, "batch_size": 2, "tbptt": None, "shuffle": True}})())(), CheckpointError, r"taken inside an epoch with batch_size=2, resumed with batch_size=4", state),
    Bad("fit-resume-without-scheduler-state", lambda: gr.fit(CM, (X, Y), mse, CO, scheduler=CS, epochs=5, progress=False, resume=ck(scheduler=None)()), CheckpointError, r"no scheduler state", state),
]

ALL_CASES = CHECKPOINT_CASES + MODEL_CASES + SETTING_CASES + FIT_CASES


@pytest.mark.parametrize("case", ALL_CASES, ids=ids(ALL_CASES))
def test_catalogue(case):
    check(case)


def test_the_catalogue_is_large_and_its_ids_unique():
    assert len(ALL_CASES) >= 50 and len(set(ids(ALL_CASES))) == len(ALL_CASES)


def test_a_good_checkpoint_of_the_catalogue_loads():
    """The cases above fail for their one change, not for the file they start from, and a
    good load changes everything it was given."""
    m = Elman(1, 3, 1, dtype=F64, seed=0)
    opt = Adam(m.parameters(), lr=0.01)
    sched, rng = StepLR(opt, step_size=2), np.random.default_rng(0)
    assert load_checkpoint(_ok(), m, opt, rng, sched) == {"epoch": 3, "history": {"loss": [1.0, 0.5]}}
    assert same((m.state_dict(), opt.state_dict(), sched.state_dict(), rng.bit_generator.state),
                (CM2.state_dict(), CO2.state_dict(), CS2.state_dict(), CR2.bit_generator.state))
    assert not same(state(), {"model": CM2.state_dict(), "optim": CO2.state_dict(),
                              "sched": CS2.state_dict(), "rng": CR2.bit_generator.state})


def test_resume_refuses_best_weights_that_are_not_numbers_before_changing_anything(tmp_path):
    x, y = moving_sum_data(16, 6)
    path = str(tmp_path / "ck.npz")
    model = Elman(1, 3, 1, dtype=F64, seed=0)
    gr.fit(model, (x, y), mse, Adam(model.parameters(), lr=0.01), epochs=2, batch_size=8,
           early_stopping=5, checkpoint_every=1, checkpoint_path=path, progress=False)
    with np.load(path, allow_pickle=False) as f:
        members = {k: f[k] for k in f.files}
    best = [k for k in members if k.startswith("fit.best.")]
    assert best
    for k in best:
        members[k] = np.full(members[k].shape, "x", dtype="U1")
    np.savez(path, **members)
    fresh = Elman(1, 3, 1, dtype=F64, seed=7)
    opt = Adam(fresh.parameters(), lr=0.01)
    before = fresh.state_dict()
    with pytest.raises(CheckpointError, match=r"best arrays \[.*\] do not hold real numbers"):
        gr.fit(fresh, (x, y), mse, opt, epochs=3, batch_size=8, early_stopping=5,
               resume=path, progress=False)
    assert all(np.array_equal(before[k], v) for k, v in fresh.state_dict().items())
    assert opt.steps == 0
