"""Vanishing and exploding gradients: how |dL/dh[t-k]| changes with k for tanh RNNs whose
recurrent matrix has spectral radius below and above 1, and for an LSTM; the a^k reference
lines; a heat map of the gradient per time step and unit; the gradient-flow diagram; and
gradient clipping taming an explosion.

    python examples/vanishing_gradients.py [--steps 40] [--out out/examples]
"""

import argparse
import os

import numpy as np

import graphrnn as gr
import visualize
from graphrnn.losses import squared_error
from graphrnn.models import LSTM, RNN, Readout
from graphrnn.optim import SGD


def state_gradients(model, steps, rng):
    """|dL/dh[t]| for t = 1..T with L = sum(h[T]) (the gradient reaching back k = T - t steps)."""
    rec = model.recurrence()
    g = rec.unroll(steps)
    graph = gr.Graph({"loss": gr.sum(g.outputs["h_final"])})
    values = {"x": rng.normal(size=(steps, 1, 1)) * 0.1, **model.state_dict()}
    by_step = visualize.state_gradient_norms(graph, values)
    return [by_step[t] for t in range(steps, 0, -1)], graph, values  # k = 0, 1, ...


def scaled_rnn(radius, hidden=16):
    model = RNN(1, hidden, dtype="float64", seed=0)
    w = np.linalg.qr(np.random.default_rng(1).normal(size=(hidden, hidden)))[0] * radius
    model.load_state_dict({**model.state_dict(), "weight_hh_l0": w,
                           "bias_ih_l0": np.zeros(hidden), "bias_hh_l0": np.zeros(hidden)})
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", default="out/examples")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    series, k = {}, np.arange(args.steps)
    for radius in (0.7, 1.3):
        norms, graph, values = state_gradients(scaled_rnn(radius), args.steps, rng)
        if radius == 0.7:  # per unit too, for the heat map
            per_unit = visualize.state_gradient_map(graph, values)
        series[f"tanh RNN, radius {radius}"] = (k, norms)
        series[f"{radius}^k"] = (k, norms[0] * radius ** k)
    for bias in (0.0, 3.0):  # a large forget-gate bias keeps the cell's additive path open
        lstm = LSTM(1, 16, dtype="float64", seed=0)
        b = lstm.state_dict()["bias_ih_l0"].copy()
        b[16:32] += bias
        lstm.load_state_dict({**lstm.state_dict(), "bias_ih_l0": b})
        norms, _, _ = state_gradients(lstm, args.steps, rng)
        series[f"LSTM, forget bias +{bias:g}"] = (k, norms)
    for name, (_, ys) in series.items():
        if "^" not in name:
            print(f"{name:<24} |dL/dh[T-k]| at k=0: {ys[0]:.2e}  k={args.steps - 1}: {ys[-1]:.2e}")
    os.makedirs(args.out, exist_ok=True)
    plot = visualize.line_plot(series, os.path.join(args.out, "vanishing_gradients"),
                               title="gradient reaching back k steps", xlabel="k",
                               ylabel="|dL/dh[T-k]|", logy=True,
                               dashed=[n for n in series if "^" in n])
    heat = visualize.heatmap(per_unit, os.path.join(args.out, "gradient_heatmap"),
                             title="|dL/dh[t]| per unit, tanh RNN of radius 0.7, L = sum(h[T])",
                             xlabel="time step t", ylabel="hidden unit", colorbar="|dL/dh|",
                             log=True, first_column=1)
    print(f"plots: {plot}, {heat}")
    if visualize.dot_available():
        small, _, vals = state_gradients(scaled_rnn(0.7), 8, rng)
        rec = scaled_rnn(0.7).recurrence().unroll(8)
        flow = visualize.gradient_flow(gr.Graph({"loss": gr.sum(rec.outputs["h_final"])}),
                                       {"x": vals["x"], **scaled_rnn(0.7).state_dict()},
                                       max_steps=None)
        print(f"diagram: {visualize.write_svg(flow, os.path.join(args.out, 'gradient_flow'))}")
    # clipping: the same exploding network trained with and without it
    x = rng.uniform(-1, 1, size=(64, 30, 1))
    y = np.cumsum(x, axis=1) * 0.2
    losses = {}
    for clip in (None, 1.0):
        model = Readout(scaled_rnn(3.0), 1, seed=0)
        hist = gr.fit(model, (x, y), lambda out, t, m: squared_error(out["output"], t),
                      SGD(model.parameters(), lr=0.5), epochs=3, batch_size=16,
                      clip_norm=clip, progress=not args.quiet)
        losses[clip] = hist["loss"][-1]
        print(f"radius 3 RNN, clip_norm={clip}: largest gradient norm "
              f"{max(hist['grad_norm']):.2e}, final loss {hist['loss'][-1]:.3g}")
    decay = series["tanh RNN, radius 0.7"][1]
    kept = series["LSTM, forget bias +3"][1]
    return {"vanish_ratio": decay[-1] / decay[0], "lstm_ratio": kept[-1] / kept[0],
            "clipped_loss": losses[1.0], "unclipped_loss": losses[None]}


if __name__ == "__main__":
    main()
