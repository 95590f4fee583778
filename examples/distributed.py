"""Data-parallel training: a character language model trained on several processes over MPI,
then checked against one process trained on the same global batches.

    mpiexec -n 2 python examples/distributed.py [--epochs 2]

Every rank runs this script; ``gr.fit`` finds the ranks from the launcher, shards every
global batch, all-reduces the gradients once per step and applies the same update
everywhere.  At the end rank 0 trains the same model in one process and prints the largest
parameter difference (float64: summation order only, about 1e-15).
"""

import argparse
import codecs
import contextlib
import io

import numpy as np

import graphrnn as gr
from graphrnn.distributed import Single, from_environment
from graphrnn.losses import cross_entropy
from graphrnn.models import LanguageModel
from graphrnn.optim import Adam


def windows(width: int = 25, stride: int = 4):
    """The Zen of Python (shipped with Python) as overlapping character windows."""
    import this  # noqa: F401  (prints the poem on import; its text is rot13 in this.s)
    text = codecs.decode(this.s, "rot13")
    vocab = sorted(set(text))
    ids = np.array([vocab.index(c) for c in text])
    win = np.stack([ids[i:i + width + 1] for i in range(0, len(ids) - width - 1, stride)])
    return vocab, list(win[:, :-1]), list(win[:, 1:])


def train(vocab, xs, ys, epochs, comm):
    model = LanguageModel(len(vocab), embed=16, hidden=64, dtype=np.float64, seed=0)
    hist = gr.fit(model, (xs, ys), lambda out, t, m: cross_entropy(out["output"], t),
                  Adam(model.parameters(), lr=0.01), epochs=epochs, batch_size=32,
                  clip_norm=5.0, seed=0, progress=False, distributed=comm)
    return model, hist


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args(argv)
    with contextlib.redirect_stdout(io.StringIO()):
        vocab, xs, ys = windows()
    comm = from_environment()
    model, hist = train(vocab, xs, ys, args.epochs, comm)
    if not comm.is_root:
        return None
    alone, _ = train(vocab, xs, ys, args.epochs, Single())
    diff = max(float(np.max(np.abs(a - alone.state_dict()[k])))
               for k, a in model.state_dict().items())
    print(f"{comm.size} process(es), {len(xs)} sequences, {args.epochs} epoch(s): "
          f"loss {hist['epoch_loss'][-1]:.4f} nats/char")
    print(f"largest parameter difference from one process: {diff:.3e}")
    return {"ranks": comm.size, "loss": hist["epoch_loss"][-1], "max_diff": diff}


if __name__ == "__main__":
    main()
