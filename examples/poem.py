"""Poem writing (generation without ground truth): a character-level LSTM learns the Zen of
Python (shipped with Python as ``this``) and writes new lines at several temperatures.

    python examples/poem.py [--epochs 20]
"""

import argparse
import codecs

import numpy as np

import graphrnn as gr
from graphrnn.losses import cross_entropy
from graphrnn.models import LanguageModel
from graphrnn.optim import Adam


def zen() -> str:
    import this  # noqa: F401  (prints the poem on import; its text is rot13 in this.s)
    return codecs.decode(this.s, "rot13")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--chars", type=int, default=None, help="train on the first N characters")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        text = zen()
    text = text[:args.chars] if args.chars else text
    vocab = sorted(set(text))
    ids = np.array([vocab.index(c) for c in text])
    win = np.stack([ids[i:i + 33] for i in range(0, len(ids) - 33, 3)])
    model = LanguageModel(len(vocab), embed=16, hidden=128, seed=0)
    hist = gr.fit(model, (list(win[:, :-1]), list(win[:, 1:])),
                  lambda out, t, m: cross_entropy(out["output"], t),
                  Adam(model.parameters(), lr=0.01), epochs=args.epochs, batch_size=32,
                  clip_norm=5.0, progress=not args.quiet)
    loss = hist["epoch_loss"][-1]
    uniform = float(np.log(len(vocab)))
    print(f"cross-entropy {loss:.3f} nats/char (uniform guess {uniform:.3f})")
    prompt = [vocab.index(c) for c in "Beautiful"]
    for temperature in (0.0, 0.5, 1.0):
        out = model.generate(prompt, 80, temperature=temperature, seed=0)
        print(f"T={temperature}: " + "".join(vocab[i] for i in out).replace("\n", " / "))
    return {"loss": loss, "baseline_loss": uniform}


if __name__ == "__main__":
    main()
