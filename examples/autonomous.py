"""An autonomous dynamical system: fit s[t] = f(s[t-1]) (no input) to a damped oscillator's
trajectory, then roll it out past the training horizon.

    python examples/autonomous.py [--epochs 400]
"""

import argparse
import os

import numpy as np

import graphrnn as gr
from graphrnn.losses import squared_error
from graphrnn.models import Autonomous
from graphrnn.optim import Adam


def oscillator(steps):
    t = np.arange(1, steps + 1) * 0.3
    return np.stack([np.exp(-0.05 * t) * np.cos(t), np.exp(-0.05 * t) * np.sin(t)], -1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=400)
    ap.add_argument("--out", default="out/examples")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    train_steps, horizon = 30, 60
    target = oscillator(horizon)
    model = Autonomous(8, 2, activation="tanh", dtype="float64", seed=0)
    # no input: fit takes (None, targets), and the per-step targets give the steps
    gr.fit(model, (None, target[None, :train_steps]),
           lambda out, y, mask: squared_error(out["output"], y),
           Adam(model.parameters(), lr=0.02), epochs=args.epochs, batch_size=1,
           progress=not args.quiet)
    roll = model(horizon, batch=1)[:, 0]
    fit_mse = float(np.mean((roll[:train_steps] - target[:train_steps]) ** 2))
    beyond = float(np.mean((roll[train_steps:] - target[train_steps:]) ** 2))
    still = float(np.mean(target[train_steps:] ** 2))  # predicting rest (zero)
    print(f"MSE on the training horizon {fit_mse:.2e}; beyond it {beyond:.2e} "
          f"(predicting rest: {still:.2e})")
    import visualize
    k = np.arange(1, horizon + 1)
    path = visualize.line_plot({"oscillator x": (k, target[:, 0]), "model x": (k, roll[:, 0]),
                                "oscillator y": (k, target[:, 1]), "model y": (k, roll[:, 1])},
                               os.path.join(args.out, "autonomous_rollout"),
                               title=f"trained on steps 1-{train_steps}, rolled out to {horizon}",
                               xlabel="t", dashed=["oscillator x", "oscillator y"])
    print(f"plot: {path}")
    return {"fit_mse": fit_mse, "beyond_mse": beyond, "baseline_mse": still}


if __name__ == "__main__":
    main()
