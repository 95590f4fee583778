"""Deep and bidirectional models: tag each position of a sequence with whether it is a local
maximum (larger than both neighbours). The answer needs the next value too, so a
unidirectional RNN cannot see it in time; stacking does not help, a bidirectional layer does.

    python examples/bidirectional.py [--epochs 15]
"""

import argparse

import numpy as np

import graphrnn as gr
from graphrnn.losses import cross_entropy
from graphrnn.models import GRU, Readout
from graphrnn.optim import Adam


def data(n, steps, rng):
    x = rng.normal(size=(n, steps, 1)).astype(np.float32)
    padded = np.pad(x[..., 0], ((0, 0), (1, 1)), constant_values=-np.inf)
    y = ((padded[:, 1:-1] > padded[:, :-2]) & (padded[:, 1:-1] > padded[:, 2:])).astype(np.int64)
    return x, y


def accuracy(out, y, mask):
    return float((out.argmax(-1) == y).mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    x, y = data(args.samples, 12, rng)
    xv, yv = data(300, 12, rng)
    results = {}
    for name, rnn in [("unidirectional", GRU(1, 24, seed=0)),
                      ("stacked (2 layers)", GRU(1, 24, num_layers=2, seed=0)),
                      ("bidirectional", GRU(1, 24, bidirectional=True, seed=0))]:
        model = Readout(rnn, 2, on="all", seed=1)
        hist = gr.fit(model, (x, y), lambda out, t, m: cross_entropy(out["output"], t),
                      Adam(model.parameters(), lr=0.02), epochs=args.epochs, batch_size=50,
                      validation=(xv, yv), metrics={"accuracy": accuracy},
                      progress=not args.quiet)
        results[name] = hist["accuracy"][-1]
        print(f"{name:<20} validation accuracy {results[name]:.3f}")
    majority = float(1 - yv.mean())  # always answering "not a maximum"
    print(f"{'always no':<20} validation accuracy {majority:.3f}")
    return {"accuracy": results, "baseline_accuracy": majority}


if __name__ == "__main__":
    main()
