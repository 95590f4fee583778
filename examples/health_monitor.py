"""Health monitor (classification and regression on physiological signals): a synthetic
ECG-like signal (each beat a sum of P, QRS and T wave templates, plus baseline wander and
noise); a GRU flags abnormal rhythms — premature ventricular beats: early, wide, without a P
wave — (accuracy, confusion matrix) and another regresses the heart rate (mean absolute error
against predicting the average rate).

    python examples/health_monitor.py [--epochs 10]
"""

import argparse
import os

import numpy as np

import graphrnn as gr
from graphrnn.losses import cross_entropy, squared_error
from graphrnn.models import GRU, Readout
from graphrnn.optim import Adam

RATE = 25          # samples per second
SECONDS = 6


def beat(t):
    """One heartbeat centred at 0: P, Q, R, S, T waves as Gaussians (amplitude, centre, width)."""
    waves = [(0.15, -0.2, 0.025), (-0.1, -0.05, 0.01), (1.0, 0.0, 0.012), (-0.2, 0.04, 0.01),
             (0.3, 0.3, 0.04)]
    return sum(a * np.exp(-((t - c) ** 2) / (2 * w ** 2)) for a, c, w in waves)


def ectopic(t):
    """A premature ventricular beat: no P wave, a wide tall QRS, an inverted T wave."""
    return 1.2 * np.exp(-t ** 2 / (2 * 0.035 ** 2)) - 0.4 * np.exp(-(t - 0.35) ** 2 / (2 * 0.06 ** 2))


def ecg(rate_bpm, abnormal, rng):
    t = np.arange(RATE * SECONDS) / RATE
    signal = np.zeros_like(t)
    period = 60.0 / rate_bpm
    at = rng.uniform(0, period)
    while at < SECONDS + 1:
        if abnormal and rng.random() < 0.4:
            at -= 0.3 * period                 # comes early
            signal += ectopic(t - at)
        else:
            signal += beat(t - at)
        at += period * (1 + rng.normal(0, 0.02))
    wander = 0.1 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 6))
    return (signal + wander + rng.normal(0, 0.03, t.size)).astype(np.float32)


def dataset(n, rng):
    rates = rng.uniform(50, 120, n)
    irregular = rng.random(n) < 0.5
    x = np.stack([ecg(r, irr, rng) for r, irr in zip(rates, irregular)])[..., None]
    return x, irregular.astype(np.int64), rates.astype(np.float32)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--samples", type=int, default=800)
    ap.add_argument("--out", default="out/examples")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    x, labels, rates = dataset(args.samples, rng)
    xv, lv, rv = dataset(200, rng)
    clf = Readout(GRU(1, 32, seed=0), 2, on="last", seed=1)
    acc = lambda out, y, m: float((out.argmax(-1) == y).mean())
    hist = gr.fit(clf, (x, labels), lambda out, y, m: cross_entropy(out["output"], y),
                  Adam(clf.parameters(), lr=0.01), epochs=args.epochs, batch_size=32,
                  clip_norm=1.0, validation=(xv, lv), metrics={"accuracy": acc},
                  progress=not args.quiet)
    pred = clf(xv.transpose(1, 0, 2)).argmax(-1)
    confusion = np.zeros((2, 2), dtype=int)
    for p, y in zip(pred, lv):
        confusion[y, p] += 1
    accuracy = hist["accuracy"][-1]
    print(f"abnormal-rhythm accuracy {accuracy:.3f} (majority {max(lv.mean(), 1 - lv.mean()):.3f})")
    print("confusion (rows: true normal/abnormal, columns: predicted):")
    print(confusion)
    # heart rate regression on regular rhythms; the target is rescaled to about [-1, 1]
    reg = Readout(GRU(1, 48, seed=2), 1, on="last", seed=3)
    norm = lambda r: ((r - 85.0) / 35.0)[:, None].astype(np.float32)
    keep, keep_v = labels == 0, lv == 0
    gr.fit(reg, (x[keep], norm(rates[keep])), lambda out, y, m: squared_error(out["output"], y),
           Adam(reg.parameters(), lr=0.01), epochs=args.epochs * 3, batch_size=32,
           clip_norm=5.0, progress=not args.quiet)
    est = reg(xv[keep_v].transpose(1, 0, 2))[:, 0] * 35.0 + 85.0
    mae = float(np.mean(np.abs(est - rv[keep_v])))
    baseline = float(np.mean(np.abs(rates[keep].mean() - rv[keep_v])))
    print(f"heart rate MAE {mae:.1f} bpm (predicting the mean rate: {baseline:.1f} bpm)")
    import visualize
    t = np.arange(xv.shape[1]) / RATE
    normal, odd = int(np.argmax(lv == 0)), int(np.argmax(lv == 1))
    path = visualize.line_plot({"normal": (t, xv[normal, :, 0]), "abnormal": (t, xv[odd, :, 0] - 1.5)},
                               os.path.join(args.out, "ecg"), xlabel="seconds",
                               title="synthetic ECG: normal, and with premature beats (shifted)")
    print(f"plot: {path}")
    return {"accuracy": accuracy, "baseline_accuracy": float(max(lv.mean(), 1 - lv.mean())),
            "mae": mae, "baseline_mae": baseline}


if __name__ == "__main__":
    main()
