"""Music composition (generation) on real scores: a next-note GRU learns the soprano lines of
Bach's chorales (music21's corpus), each note a token (pitch and length, transposed to C major
or A minor), is measured on held-out chorales against a bigram model, then samples a new
melody, written as a standard MIDI file (mido) and drawn as a piano roll.  Both libraries are
the ``[music]`` extra.

    python examples/music.py [--chorales 100] [--epochs 12] [--hidden 128] [--quick]
                             [--out out/examples]
"""

import argparse
import importlib.util
import os
import time

import numpy as np

import graphrnn as gr
from graphrnn.losses import cross_entropy
from graphrnn.models import LanguageModel
from graphrnn.optim import Adam

NEEDS = ("music.py needs music21 (Bach's chorales) and mido (MIDI files): "
         "pip install graphrnn[music] (from a clone: pip install -e '.[music]')")
WINDOW = 24  # training windows of 24 notes (and the next), every 4 notes
NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def chorale_paths():
    """The MusicXML files of Bach's chorales in music21's corpus, in a fixed order."""
    from music21 import corpus
    paths = [p for p in corpus.getComposer("bach")
             if p.name.startswith("bwv") and p.suffix in (".mxl", ".xml")]
    return sorted(paths, key=lambda p: p.name)


def soprano(path):
    """The soprano line of one chorale as ``(midi pitch, length in beats)`` notes (ties
    merged, lengths capped at 4 beats), transposed by its key signature to C major (A minor
    for minor keys); None when the score has no soprano part."""
    from music21 import corpus
    score = corpus.parse(path, forceSource=True)  # forceSource: no pickled cache read or made
    parts = [p for p in score.parts if "soprano" in f"{p.partName} {p.id}".lower()]
    if not parts:
        return None
    line = parts[0].stripTies().flatten()
    keys = line.getElementsByClass("KeySignature")
    shift = -(7 * (keys[0].sharps if keys else 0)) % 12  # up to C, then the nearer octave
    shift -= 12 if shift > 6 else 0
    return [(n.pitch.midi + shift, min(float(n.quarterLength), 4.0)) for n in line.notes
            if n.isNote]


def chorales(count):
    """The soprano lines of the first ``count`` chorales that have one."""
    lines = []
    for path in chorale_paths():
        if len(lines) == count:
            break
        notes = soprano(path)
        if notes and len(notes) > WINDOW:
            lines.append(notes)
    return lines


def bigram_accuracy(train, test, vocab):
    """Accuracy on ``test`` of guessing the most frequent successor of the current token in
    ``train`` (the most frequent token after one never seen)."""
    counts = np.zeros((vocab, vocab))
    for s in train:
        np.add.at(counts, (s[:-1], s[1:]), 1)
    unigram = np.bincount(np.concatenate(train), minlength=vocab).argmax()
    guess = np.where(counts.sum(1) > 0, counts.argmax(1), unigram)
    hits = np.concatenate([guess[s[:-1]] == s[1:] for s in test])
    return float(hits.mean())


def model_accuracy(model, test):
    """Next-token accuracy of ``model`` over every note of the ``test`` sequences."""
    lengths = np.array([len(s) - 1 for s in test])
    tokens = np.zeros((lengths.max(), len(test)), dtype=np.int64)
    for b, s in enumerate(test):
        tokens[:len(s) - 1, b] = s[:-1]
    guess = model(tokens, lengths).argmax(-1)
    hits = [guess[:n, b] == s[1:] for b, (n, s) in enumerate(zip(lengths, test))]
    return float(np.concatenate(hits).mean())


def write_midi(path, notes, bpm=120, beat=480, velocity=80):
    """A one-track MIDI file of ``(pitch, beats)`` notes, written by mido."""
    import mido
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))])
    for pitch, beats in notes:
        track.append(mido.Message("note_on", note=int(pitch), velocity=velocity, time=0))
        track.append(mido.Message("note_off", note=int(pitch), velocity=0,
                                  time=int(round(beats * beat))))
    mido.MidiFile(type=0, ticks_per_beat=beat, tracks=[track]).save(path)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chorales", type=int, default=100, help="parse this many (~0.1 s each)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--quick", action="store_true",
                    help="40 chorales, 64 hidden units (the smoke test's setting)")
    ap.add_argument("--out", default="out/examples")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if importlib.util.find_spec("music21") is None:
        print(NEEDS)
        return None
    count, epochs, hidden = (40, 12, 64) if args.quick else (args.chorales, args.epochs,
                                                             args.hidden)
    start = time.perf_counter()
    lines = chorales(count)
    vocab = sorted({note for line in lines for note in line})
    ids = [np.array([vocab.index(note) for note in line]) for line in lines]
    cut = int(0.8 * len(ids))  # the last fifth of the chorales is held out
    train, test = ids[:cut], ids[cut:]
    print(f"{len(lines)} chorales parsed in {time.perf_counter() - start:.1f} s: "
          f"{sum(map(len, lines))} notes, {len(vocab)} distinct (pitch, length) tokens")
    win = np.stack([s[i:i + WINDOW + 1] for s in train for i in range(0, len(s) - WINDOW, 4)])
    model = LanguageModel(len(vocab), embed=16, hidden=hidden, cell="gru", seed=0)
    gr.fit(model, (win[:, :-1], win[:, 1:]), lambda out, y, m: cross_entropy(out["output"], y),
           Adam(model.parameters(), lr=0.01), epochs=epochs, batch_size=32, clip_norm=5.0,
           progress=not args.quiet)
    acc, bigram = model_accuracy(model, test), bigram_accuracy(train, test, len(vocab))
    print(f"next-note accuracy on {len(test)} held-out chorales {acc:.3f} "
          f"(bigram baseline {bigram:.3f}); {time.perf_counter() - start:.1f} s in all")
    song = model.generate(test[0][:4], 40, temperature=0.8, top_k=5, seed=1)
    notes = [vocab[i] for i in song]
    os.makedirs(args.out, exist_ok=True)
    if importlib.util.find_spec("mido") is not None:
        midi = write_midi(os.path.join(args.out, "chorale.mid"), notes)
    else:
        midi = "no MIDI file: it needs mido (pip install -e '.[music]')"
    import visualize
    starts = np.concatenate([[0.0], np.cumsum([beats for _, beats in notes])[:-1]])
    roll = visualize.piano_roll([(p, float(s), b) for (p, b), s in zip(notes, starts)],
                                os.path.join(args.out, "chorale_piano_roll"),
                                title="a sampled chorale melody (after a held-out opening)")
    melody = " ".join(f"{NAMES[p % 12]}{p // 12 - 1}:{b:g}" for p, b in notes)
    print(f"melody (note:beats): {melody}\nfiles: {midi}, {roll}")
    return {"accuracy": acc, "baseline_accuracy": bigram, "notes": notes}


if __name__ == "__main__":
    main()
