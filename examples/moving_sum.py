"""Moving sum (sequence prediction with ground truth): y[t] = x[t] + x[t-1] + x[t-2].

A linear 3-unit Elman RNN learns it from a random start; the learned W, U, V differ from the
analytic shift-matrix solution but compute the same input-output map, which is checked.

    python examples/moving_sum.py [--epochs 250] [--out out/examples]
"""

import argparse
import os

import numpy as np

import graphrnn as gr
from graphrnn.catalog import EXACT
from graphrnn.losses import squared_error
from graphrnn.models import Elman
from graphrnn.optim import Adam


def data(n, steps, rng):
    x = rng.uniform(-1, 1, size=(n, steps, 1))
    y = x.copy()
    y[:, 1:] += x[:, :-1]
    y[:, 2:] += x[:, :-2]
    return x, y


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=250)
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--out", default="out/examples")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    x, y = data(args.samples, 8, rng)
    model = Elman(1, 3, 1, activation="identity", dtype="float64", seed=0)
    hist = gr.fit(model, (x, y), lambda out, t, m: squared_error(out["output"], t),
                  Adam(model.parameters(), lr=0.01), epochs=args.epochs, batch_size=32,
                  progress=not args.quiet)
    learned = model.state_dict()
    # the same map: identical outputs on fresh sequences
    xt, yt = data(64, 20, np.random.default_rng(1))
    pred, _ = model(xt.transpose(1, 0, 2))
    test_mse = float(np.mean((pred.transpose(1, 0, 2) - yt) ** 2))
    baseline = float(np.mean((xt - yt) ** 2))  # predicting y[t] = x[t]
    print(f"train MSE {hist['epoch_loss'][-1]:.2e}; test MSE {test_mse:.2e} "
          f"(copy-the-input baseline {baseline:.2e})")
    for k in ("W", "U", "V"):
        print(f"{k} learned  {np.round(learned[k], 3).tolist()}")
        print(f"{k} analytic {EXACT[k].tolist()}")
    try:
        import visualize
        if visualize.dot_available():
            os.makedirs(args.out, exist_ok=True)
            path = visualize.write_svg(visualize.folded(model.recurrence()),
                                       os.path.join(args.out, "moving_sum_folded"))
            print(f"diagram: {path}")
    except ImportError:
        pass
    return {"test_mse": test_mse, "baseline_mse": baseline}


if __name__ == "__main__":
    main()
