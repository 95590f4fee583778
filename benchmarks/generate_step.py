"""Per-token cost of generation at batch 1: one step of a float32 LSTM language model
(vocab 64, embed 32, hidden 128 by default), measured side by side in one run:

- engine: ``model.stepper(1).step(token)``, the model's one-step program driven with the
  states carried in the stepper's arrays (and, for the breakdown, that program called
  directly with ``copy=False``);
- numpy: a hand-written NumPy step of the same model (embedding row lookup, the input and
  recurrent projections as matmuls into preallocated buffers, one tanh over all gates with
  the sigmoid gates' rows pre-scaled by 1/2 as in ``numpy_rnn_ref.py``, in-place ufuncs,
  the head as a matmul plus bias), verified first to give the model's logits;
- torch: ``nn.Embedding`` -> ``nn.LSTMCell`` -> ``nn.Linear`` under ``torch.no_grad`` (when
  PyTorch is installed), verified likewise;
- generate: end to end with sampling (``sample_next``, temperature 1): ``model.generate``
  per token (on NumPy and on the native backend), and the hand-written (and torch) step in
  a loop with the same sampler.

It also prints the fixed cost of one program call: a program of ``y = x + 1`` on a (1, 1)
input, called as ``program(inputs)`` (checked inputs, fresh outputs), with ``copy=False``
and bound (``program.bind(inputs)()``, what a stepper runs).  Rounds are interleaved
(every method once per round, the order rotated) and medians reported, with the ratios
engine / hand-written.  Threads are limited to 2 (as in CI and ``train_step.py``).

    python benchmarks/generate_step.py [--vocab 64] [--embed 32] [--hidden 128]
                                       [--tokens 200] [--quick] [--json out.json]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "2")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # (see train_step.py)

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import graphrnn as gr  # noqa: E402
from graphrnn.models import LanguageModel  # noqa: E402
from graphrnn.models.sampling import sample_next  # noqa: E402

try:
    import torch  # noqa: E402
    torch.set_num_threads(2)
except ImportError:
    torch = None


class NumpyLM:
    """The hand-written step of ``Embedding -> LSTM -> Linear`` at batch 1: ``step(token)``
    returns the logits ``(1, vocab)`` (a buffer it reuses), the states kept in place."""

    def __init__(self, params, dtype=np.float32):
        p = {k: np.asarray(v, dtype) for k, v in params.items()}
        H = p["rnn.weight_hh_l0"].shape[1]
        scale = np.repeat(np.array([0.5, 0.5, 1.0, 0.5], dtype), H)  # gates i, f, g, o
        self.emb = p["embedding.weight"]
        self.WihT = np.ascontiguousarray((p["rnn.weight_ih_l0"] * scale[:, None]).T)
        self.WhhT = np.ascontiguousarray((p["rnn.weight_hh_l0"] * scale[:, None]).T)
        self.b = (p["rnn.bias_ih_l0"] + p["rnn.bias_hh_l0"]) * scale
        self.WoT = np.ascontiguousarray(p["head.weight"].T)
        self.bo = p["head.bias"]
        self.scale4 = np.array([0.5, 0.5, 1.0, 0.5], dtype).reshape(4, 1)
        self.off4 = np.array([0.5, 0.5, 0.0, 0.5], dtype).reshape(4, 1)
        e = lambda *s: np.zeros(s, dtype)  # noqa: E731
        self.a, self.tmp4 = e(1, 4 * H), e(1, 4 * H)
        self.h, self.c, self.tc, self.tmpH = e(1, H), e(1, H), e(1, H), e(1, H)
        self.logits = e(1, self.bo.shape[0])
        a = self.a
        self.a4 = a.reshape(1, 4, H)
        self.i, self.f, self.g, self.o = (a[:, k * H:(k + 1) * H] for k in range(4))

    def reset(self):
        self.h.fill(0)
        self.c.fill(0)

    def step(self, token: int) -> np.ndarray:
        mm, tanh, mul, add = np.matmul, np.tanh, np.multiply, np.add
        a, h, c = self.a, self.h, self.c
        mm(self.emb[token:token + 1], self.WihT, out=a)
        mm(h, self.WhhT, out=self.tmp4)
        add(a, self.tmp4, out=a)
        add(a, self.b, out=a)
        tanh(a, out=a)
        a4 = self.a4
        mul(a4, self.scale4, out=a4)  # sigmoid(x) = 0.5 * tanh(x / 2) + 0.5 on i, f, o
        add(a4, self.off4, out=a4)
        mul(self.f, c, out=c)
        mul(self.i, self.g, out=self.tmpH)
        add(c, self.tmpH, out=c)
        tanh(c, out=self.tc)
        mul(self.o, self.tc, out=h)
        mm(h, self.WoT, out=self.logits)
        add(self.logits, self.bo, out=self.logits)
        return self.logits


class TorchLM:
    """The same step with ``torch.nn`` modules under ``torch.no_grad``."""

    def __init__(self, params):
        t = lambda k: torch.tensor(np.asarray(params[k], np.float32))  # noqa: E731
        V, E = params["embedding.weight"].shape
        H = params["rnn.weight_hh_l0"].shape[1]
        self.emb, self.cell = torch.nn.Embedding(V, E), torch.nn.LSTMCell(E, H)
        self.head = torch.nn.Linear(H, V)
        with torch.no_grad():
            self.emb.weight.copy_(t("embedding.weight"))
            for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self.cell, k).copy_(t(f"rnn.{k}_l0"))
            self.head.weight.copy_(t("head.weight"))
            self.head.bias.copy_(t("head.bias"))
        self.H = H
        self.tokens = [torch.tensor([k]) for k in range(V)]
        self.reset()

    def reset(self):
        self.hc = (torch.zeros(1, self.H), torch.zeros(1, self.H))

    def step(self, token: int):
        with torch.no_grad():
            self.hc = self.cell(self.emb(self.tokens[token]), self.hc)
            return self.head(self.hc[0])


def _host(out):
    """A step's logits as a NumPy array (a copy of a reused buffer)."""
    return out.numpy() if torch is not None and isinstance(out, torch.Tensor) else out.copy()


def verify(model, ref, steps: int = 12, tol: float = 1e-5) -> None:
    """``ref.step`` gives the model's logits (float32: to ``tol``) over a token sequence."""
    tokens = np.random.default_rng(1).integers(0, model.vocab, size=steps)
    want = model(tokens[:, None])[:, 0]
    ref.reset()
    got = np.stack([np.array(_host(ref.step(int(k))), dtype=np.float64)[0] for k in tokens])
    err = np.abs(got - want).max() / max(1.0, np.abs(want).max())
    assert err <= tol, (type(ref).__name__, err)
    ref.reset()


def interleaved(methods, budget: float, min_rounds: int, max_rounds: int = 200):
    """Median seconds per call of each method, rounds interleaved and rotated."""
    times = {k: [] for k in methods}
    for f in methods.values():  # warm up
        f()
    order, rounds, start = list(methods), 0, time.perf_counter()
    while rounds < min_rounds or (time.perf_counter() - start < budget and rounds < max_rounds):
        order = order[1:] + order[:1]
        for k in order:
            t0 = time.perf_counter()
            methods[k]()
            times[k].append(time.perf_counter() - t0)
        rounds += 1
    return {k: statistics.median(v) for k, v in times.items()}


def native_twin(model):
    """The model with its parameters on the native backend, or None where it cannot build."""
    try:
        gr.get_backend("native")
    except (RuntimeError, ValueError):
        return None
    twin = LanguageModel(model.vocab, model.embedding.embedding_dim, model.rnn.hidden_size,
                         dtype=model.dtype, seed=0)
    twin.load_state_dict(model.state_dict())
    twin.backend = "native"
    return twin


def step_methods(model, ref, tref, n: int, twin=None):
    """Blocks of ``n`` steps of each method (divide by ``n``: per token)."""
    tokens = np.random.default_rng(2).integers(0, model.vocab, size=n)
    ids = [np.array([k]) for k in tokens]
    ints = [int(k) for k in tokens]
    stepper = model.stepper(1)
    program = model.program(("forward", True, False), model.graph_fn(initial_states=True),
                            checked=False)
    program = program.specialized(T=1) if not (program.generic and program.min_length <= 1) \
        else program  # the program a step runs, called directly
    params = {k: v for k, v in model.parameters().items() if k in program.param_names}
    feeds = {"input": np.zeros((1, 1), np.int64),
             **{f"{s}0": np.zeros(shape, model.dtype) for s, shape in model.state_shapes(1).items()}}

    def engine():
        for x in ids:
            stepper.step(x)

    def engine_program():
        for k in ints:
            feeds["input"][0, 0] = k
            program(feeds, params, copy=False)

    def numpy():
        for k in ints:
            ref.step(k)

    methods = {"engine": engine, "engine_program": engine_program, "numpy": numpy}
    if twin is not None:
        native_stepper = twin.stepper(1)

        def engine_native():
            for x in ids:
                native_stepper.step(x)
        methods["engine_native"] = engine_native
    if tref is not None:
        def torch_step():
            for k in ints:
                tref.step(k)
        methods["torch"] = torch_step
    return methods


def generate_methods(model, ref, tref, n: int, twin=None):
    """``n`` tokens generated end to end (temperature 1, the same sampler)."""
    def engine():
        model.generate([1], n, temperature=1.0, seed=0)

    def engine_native():
        twin.generate([1], n, temperature=1.0, seed=0)

    def loop(lm, to_numpy):
        def run():
            rng, tok = np.random.default_rng(0), 1
            lm.reset()
            for _ in range(n):
                tok = sample_next(to_numpy(lm.step(tok))[0], 1.0, None, rng)
        return run

    methods = {"generate_engine": engine, "generate_numpy": loop(ref, lambda a: a)}
    if twin is not None:
        methods["generate_engine_native"] = engine_native
    if tref is not None:
        methods["generate_torch"] = loop(tref, lambda t: t.numpy())
    return methods


def call_cost(budget: float, min_rounds: int, n: int = 1000):
    """Seconds per call of a program of ``y = x + 1`` on a (1, 1) input: the public call,
    ``copy=False`` and a bound call (``program.bind``)."""
    x = gr.input("x", (1, 1), "float32")
    program = gr.compile(gr.Graph({"y": x + 1.0}))
    feeds = {"x": np.ones((1, 1), np.float32)}

    def public():
        for _ in range(n):
            program(feeds)

    def no_copy():
        for _ in range(n):
            program(feeds, copy=False)

    bound = program.bind(feeds)

    def bound_call():
        for _ in range(n):
            bound()
    med = interleaved({"call": public, "call_copy_false": no_copy, "call_bound": bound_call},
                      budget, min_rounds)
    return {k: v / n for k, v in med.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description="per-token cost of generation at batch 1")
    ap.add_argument("--vocab", type=int, default=64)
    ap.add_argument("--embed", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--tokens", type=int, default=200, help="tokens per timed block")
    ap.add_argument("--quick", action="store_true", help="short timing budget")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    budget, rounds = (0.5, 3) if args.quick else (3.0, 7)
    model = LanguageModel(args.vocab, args.embed, args.hidden, dtype=np.float32, seed=0)
    params = model.state_dict()
    ref = NumpyLM(params)
    verify(model, ref)
    tref = TorchLM(params) if torch is not None else None
    if tref is not None:
        verify(model, tref)
    print(f"float32 LSTM language model vocab {args.vocab}, embed {args.embed}, hidden "
          f"{args.hidden}, batch 1; {os.environ['OMP_NUM_THREADS']} threads; numpy "
          f"{np.__version__}" + (f", torch {torch.__version__}" if torch else ", no torch"))
    n = args.tokens
    twin = native_twin(model)
    if twin is not None:
        verify(twin, ref)
    step = {k: v / n for k, v in interleaved(step_methods(model, ref, tref, n, twin), budget,
                                              rounds).items()}
    gen = {k: v / n for k, v in interleaved(generate_methods(model, ref, tref, n, twin), budget,
                                             rounds).items()}
    calls = call_cost(budget / 2, rounds)
    us = {**step, **gen, **calls}
    us = {k: v * 1e6 for k, v in us.items()}
    ratios = {"step engine/numpy": us["engine"] / us["numpy"],
              "program call/numpy": us["engine_program"] / us["numpy"],
              "generate engine/numpy": us["generate_engine"] / us["generate_numpy"]}
    if twin is not None:
        ratios["step native engine/numpy"] = us["engine_native"] / us["numpy"]
        ratios["generate native engine/numpy"] = (us["generate_engine_native"]
                                                  / us["generate_numpy"])
    if tref is not None:
        ratios["step engine/torch"] = us["engine"] / us["torch"]
        ratios["generate engine/torch"] = us["generate_engine"] / us["generate_torch"]
    print(f"{'per token (us, median)':<40}{'value':>10}")
    for k, label in (("engine", "step: engine stepper"),
                     ("engine_native", "step: engine stepper, native backend"),
                     ("engine_program", "step: its program, called directly"),
                     ("numpy", "step: hand-written NumPy"), ("torch", "step: torch"),
                     ("generate_engine", "generate: engine"),
                     ("generate_engine_native", "generate: engine, native backend"),
                     ("generate_numpy", "generate: hand-written + sample_next"),
                     ("generate_torch", "generate: torch + sample_next"),
                     ("call", "program call y = x + 1 (public)"),
                     ("call_copy_false", "program call y = x + 1, copy=False"),
                     ("call_bound", "program call y = x + 1, bound")):
        if k in us:
            print(f"{label:<40}{us[k]:>10.1f}")
    for k, v in ratios.items():
        print(f"{k:<40}{v:>10.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": {"vocab": args.vocab, "embed": args.embed,
                                  "hidden": args.hidden, "batch": 1, "dtype": "float32",
                                  "threads": int(os.environ["OMP_NUM_THREADS"])},
                       "us_per_token": us, "ratios": ratios}, f, indent=2)


if __name__ == "__main__":
    main()
