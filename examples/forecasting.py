"""Forecasting (regression): predict the next value of a noisy nonlinear series with a GRU,
and compare with the persistence baseline (tomorrow = today).

    python examples/forecasting.py [--epochs 30]
"""

import argparse
import os

import numpy as np

import graphrnn as gr
from graphrnn.losses import squared_error
from graphrnn.models import GRU, Readout
from graphrnn.optim import Adam


def series(n, rng):
    """A noisy nonlinear oscillation: sin(t) * cos(0.3 t) + noise."""
    t = np.arange(n) * 0.2
    return np.sin(t) * np.cos(0.3 * t) + 0.05 * rng.normal(size=n)


def windows(s, length):
    idx = np.arange(len(s) - length)
    x = np.stack([s[i:i + length] for i in idx])[..., None]
    y = np.stack([s[i + 1:i + length + 1] for i in idx])[..., None]
    return x.astype(np.float32), y.astype(np.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--length", type=int, default=2000)
    ap.add_argument("--out", default="out/examples")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    s = series(args.length, np.random.default_rng(0))
    split = int(0.8 * len(s))
    xtr, ytr = windows(s[:split], 20)
    xte, yte = windows(s[split:], 20)
    model = Readout(GRU(1, 32, seed=0), 1, on="all", seed=1)
    gr.fit(model, (xtr, ytr), lambda out, t, m: squared_error(out["output"], t),
           Adam(model.parameters(), lr=0.01), epochs=args.epochs, batch_size=64,
           progress=not args.quiet)
    pred = model(xte.transpose(1, 0, 2)).transpose(1, 0, 2)
    mse = float(np.mean((pred[:, -1] - yte[:, -1]) ** 2))
    persistence = float(np.mean((xte[:, -1] - yte[:, -1]) ** 2))
    print(f"next-value MSE: GRU {mse:.4f}, persistence {persistence:.4f}")
    import visualize
    t = np.arange(len(yte))
    path = visualize.line_plot({"series": (t, yte[:, -1, 0]), "GRU forecast": (t, pred[:, -1, 0])},
                               os.path.join(args.out, "forecast"), xlabel="t",
                               title="next-value forecast on held-out data", dashed=["series"])
    print(f"plot: {path}")
    return {"mse": mse, "baseline_mse": persistence}


if __name__ == "__main__":
    main()
