"""Text and poem writing (generation): a character-level LSTM learns real English that ships
with Python, the Zen of Python (``this``) followed by the reference manual's help topics
(``pydoc_data``), is measured on the held-out last tenth (perplexity per character against a
unigram baseline) and writes new lines at several temperatures.

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


def reference_text() -> str:
    """The help topics of Python's reference manual (``pydoc_data``, shipped with CPython), or
    "" where a distribution left it out."""
    try:
        from pydoc_data.topics import topics
    except ImportError:
        return ""
    return "\n".join(topics[k] for k in sorted(topics))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--chars", type=int, default=30000, help="train on the first N characters")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        text = zen() + "\n" + reference_text()
    text = text[:args.chars]
    vocab = sorted(set(text))
    ids = np.array([vocab.index(c) for c in text])
    cut = int(0.9 * len(ids))  # the last tenth is held out
    train, held = ids[:cut], ids[cut:]
    win = np.stack([train[i:i + 33] for i in range(0, len(train) - 33, 4)])
    val = np.stack([held[i:i + 33] for i in range(0, len(held) - 33, 16)])
    model = LanguageModel(len(vocab), embed=16, hidden=128, seed=0)
    hist = gr.fit(model, (list(win[:, :-1]), list(win[:, 1:])),
                  lambda out, t, m: cross_entropy(out["output"], t),
                  Adam(model.parameters(), lr=0.01), epochs=args.epochs, batch_size=64,
                  clip_norm=5.0, validation=(list(val[:, :-1]), list(val[:, 1:])),
                  progress=not args.quiet)
    # the unigram baseline: every character with its training frequency (add-one smoothed)
    freq = (np.bincount(train, minlength=len(vocab)) + 1.0) / (len(train) + len(vocab))
    unigram = float(np.exp(-np.mean(np.log(freq[val[:, 1:]]))))
    perplexity = float(np.exp(hist["val_loss"][-1]))
    print(f"{len(text)} characters; held-out perplexity {perplexity:.2f} per character "
          f"(unigram baseline {unigram:.2f})")
    prompt = [vocab.index(c) for c in "Beautiful"]
    for temperature in (0.0, 0.5, 1.0):
        out = model.generate(prompt, 80, temperature=temperature, seed=0)
        print(f"T={temperature}: " + "".join(vocab[i] for i in out).replace("\n", " / "))
    return {"perplexity": perplexity, "baseline_perplexity": unigram}


if __name__ == "__main__":
    main()
