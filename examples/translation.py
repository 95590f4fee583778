"""Translation (seq2seq encoder-decoder): English number words to digits
("three hundred forty two" -> "342"). Teacher forcing for training, greedy decoding for
evaluation, exact-match accuracy on numbers never seen in training.

    python examples/translation.py [--epochs 40] [--out out/examples]
"""

import argparse
import os
from collections import defaultdict

import numpy as np
from tqdm import tqdm

import graphrnn as gr
from graphrnn.losses import cross_entropy
from graphrnn.models import GRU, Embedding, Linear, Seq2Seq
from graphrnn.optim import Adam

ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen " \
       "fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SRC = ONES + TENS[2:] + ["hundred"]
TGT = ["<s>", "</s>"] + list("0123456789")


def words(n: int) -> list:
    out = []
    if n >= 100:
        out += [ONES[n // 100], "hundred"]
        n %= 100
        if n == 0:
            return out
    if n < 20:
        return out + [ONES[n]]
    return out + [TENS[n // 10]] + ([ONES[n % 10]] if n % 10 else [])


def encode(n: int):
    return [SRC.index(w) for w in words(n)], [TGT.index(c) for c in str(n)] + [1]


def buckets(numbers, batch):
    """Batches of pairs with equal source and target lengths (no padding needed)."""
    groups = defaultdict(list)
    for n in numbers:
        s, t = encode(n)
        groups[(len(s), len(t))].append((s, t))
    out = []
    for pairs in groups.values():
        for lo in range(0, len(pairs), batch):
            chunk = pairs[lo:lo + batch]
            src = np.array([s for s, _ in chunk]).T
            tgt = np.array([t for _, t in chunk]).T
            out.append((src, tgt))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--out", default="out/examples")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    numbers = rng.permutation(1000)
    train, test = numbers[:800], numbers[800:]
    h = args.hidden
    model = Seq2Seq(GRU(16, h, seed=0), GRU(16, h, seed=1), Linear(h, len(TGT), seed=2),
                    src_embedding=Embedding(len(SRC), 16, seed=3),
                    tgt_embedding=Embedding(len(TGT), 16, seed=4))
    opt = Adam(model.parameters(), lr=0.01)

    def loss(out):  # the targets take the logits' (T, B): one program for every length
        return cross_entropy(out["logits"], gr.input("target", out["logits"].shape[:2], np.int64))

    batches = buckets(train, 32)
    bar = None if args.quiet else tqdm(total=args.epochs, desc="epochs")
    for epoch in range(args.epochs):
        total = 0.0
        for i in rng.permutation(len(batches)):
            src, tgt = batches[i]
            tgt_in = np.vstack([np.zeros((1, tgt.shape[1]), np.int64), tgt[:-1]])  # <s> + shifted
            value, grads = model.loss_and_grad(loss, src, tgt_in, extra={"target": tgt})
            gr.optim.clip_grad_norm(grads, 5.0)
            opt.step(grads)
            total += value
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{total / len(batches):.4f}")
    if bar is not None:
        bar.close()
    correct = 0
    for n in test:
        src, _ = encode(int(n))
        out = model.generate(np.array(src)[:, None], max_len=5, start=0, end=1)[0]
        digits = "".join(TGT[i] for i in out if i > 1)
        correct += digits == str(n)
    accuracy = correct / len(test)
    print(f"exact match on {len(test)} unseen numbers: {accuracy:.3f}")
    for n in test[:5]:
        src, _ = encode(int(n))
        out = model.generate(np.array(src)[:, None], max_len=5, start=0, end=1)[0]
        print(f"  {' '.join(words(int(n))):<32} -> {''.join(TGT[i] for i in out if i > 1)}")
    try:
        import visualize
        if visualize.dot_available():
            diagram = visualize.unrolled(model.graph(3, 4), max_steps=None, collapse=True)
            path = visualize.write_svg(diagram, os.path.join(args.out, "seq2seq_unrolled"))
            print(f"diagram: {path}")
    except ImportError:
        pass
    return {"accuracy": accuracy}


if __name__ == "__main__":
    main()
