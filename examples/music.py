"""Music composition (generation): a next-note GRU learns generated melodies (scales,
arpeggios, repeated rhythmic figures in C major), then samples new ones, written as a standard
MIDI file (through mido, the ``[music]`` extra) and a piano-roll picture.

    python examples/music.py [--epochs 12] [--out out/examples]
"""

import argparse
import importlib.util
import os

import numpy as np

import graphrnn as gr
import visualize
from graphrnn.losses import cross_entropy
from graphrnn.models import LanguageModel
from graphrnn.optim import Adam

SCALE = [0, 2, 4, 5, 7, 9, 11]          # C major
LOW = 60                                # middle C
VOCAB = [LOW + 12 * o + s for o in (0, 1) for s in SCALE] + [LOW + 24]


def melodies(n, length, rng):
    """Random walks up and down the scale, arpeggios and repeated three-note figures."""
    out = []
    for _ in range(n):
        kind, i = rng.integers(3), int(rng.integers(0, 7))
        seq = []
        while len(seq) < length:
            if kind == 0:      # scale run
                step = 1 if rng.random() < 0.5 else -1
                for _ in range(4):
                    i = min(max(i + step, 0), len(VOCAB) - 1)
                    seq.append(i)
            elif kind == 1:    # arpeggio (every other scale degree)
                for d in (0, 2, 4, 2):
                    seq.append(min(i + d, len(VOCAB) - 1))
            else:              # figure repeated a step higher
                seq += [i, min(i + 1, 14), i]
                i = (i + 1) % 8
        out.append(seq[:length])
    return np.array(out)


def write_midi(path, pitches, beat=480, velocity=80):
    """A one-track MIDI file of quarter notes, written by mido (``pip install -e .[music]``)."""
    import mido
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120))])
    for p in pitches:
        track.append(mido.Message("note_on", note=int(p), velocity=velocity, time=0))
        track.append(mido.Message("note_off", note=int(p), velocity=0, time=beat))
    mido.MidiFile(type=0, ticks_per_beat=beat, tracks=[track]).save(path)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--songs", type=int, default=400)
    ap.add_argument("--out", default="out/examples")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    train = melodies(args.songs, 25, rng)
    test = melodies(100, 25, rng)
    model = LanguageModel(len(VOCAB), embed=8, hidden=48, cell="gru", seed=0)
    accuracy = lambda out, y, m: float((out.argmax(-1) == y).mean())
    hist = gr.fit(model, (list(train[:, :-1]), list(train[:, 1:])),
                  lambda out, y, m: cross_entropy(out["output"], y),
                  Adam(model.parameters(), lr=0.02), epochs=args.epochs, batch_size=32,
                  validation=(list(test[:, :-1]), list(test[:, 1:])),
                  metrics={"accuracy": accuracy}, progress=not args.quiet)
    acc = hist["accuracy"][-1]
    repeat = float((test[:, 1:] == test[:, :-1]).mean())  # "the same note again"
    print(f"next-note accuracy {acc:.3f} (repeat-the-last-note baseline {repeat:.3f})")
    song = model.generate([2, 3], 30, temperature=0.8, top_k=4, seed=1)
    pitches = [VOCAB[i] for i in song]
    os.makedirs(args.out, exist_ok=True)
    if importlib.util.find_spec("mido") is not None:
        midi = write_midi(os.path.join(args.out, "melody.mid"), pitches)
    else:
        midi = "no MIDI file: it needs mido (pip install -e '.[music]')"
    roll = visualize.piano_roll([(p, float(i), 1.0) for i, p in enumerate(pitches)],
                                os.path.join(args.out, "melody_piano_roll"),
                                title="a sampled melody")
    print(f"melody: {pitches}\nfiles: {midi}, {roll}")
    return {"accuracy": acc, "baseline_accuracy": repeat, "pitches": pitches}


if __name__ == "__main__":
    main()
