"""Smoke tests: each example runs on a tiny configuration and beats its trivial baseline."""

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name,argv,metric,baseline", [
    ("moving_sum", ["--epochs", "60", "--samples", "64"], "test_mse", "baseline_mse"),
    ("forecasting", ["--epochs", "4", "--length", "800"], "mse", "baseline_mse"),
    ("poem", ["--epochs", "3", "--chars", "6000"], "perplexity", "baseline_perplexity"),
    ("autonomous", ["--epochs", "150"], "beyond_mse", "baseline_mse"),
])
def test_example_beats_its_baseline(name, argv, metric, baseline, tmp_path, capsys):
    extra = ["--out", str(tmp_path)] if name != "poem" else []
    result = load(name).main(argv + ["--quiet"] + extra)
    assert result[metric] < result[baseline]
    assert capsys.readouterr().out.strip()


def test_bidirectional_beats_unidirectional_on_local_maxima(capsys):
    result = load("bidirectional").main(["--epochs", "4", "--samples", "400", "--quiet"])
    acc = result["accuracy"]
    assert acc["bidirectional"] > acc["unidirectional"] > result["baseline_accuracy"]


def test_vanishing_and_exploding_gradients_and_clipping(tmp_path, capsys):
    result = load("vanishing_gradients").main(["--steps", "20", "--out", str(tmp_path),
                                               "--quiet"])
    assert result["vanish_ratio"] < 1e-2 < result["lstm_ratio"]
    assert result["clipped_loss"] < result["unclipped_loss"]
    root = ET.parse(tmp_path / "vanishing_gradients.svg").getroot()
    assert root.tag.endswith("svg") and len(list(root.iter())) > 20


def test_music_model_beats_repeating_the_last_note_and_writes_midi(tmp_path, capsys):
    result = load("music").main(["--epochs", "3", "--songs", "120", "--out", str(tmp_path),
                                 "--quiet"])
    assert result["accuracy"] > result["baseline_accuracy"]
    assert (tmp_path / "melody_piano_roll.svg").exists()
    mido = pytest.importorskip("mido", reason="MIDI files need the [music] extra")
    song = mido.MidiFile(tmp_path / "melody.mid")  # read back: the sampled notes, a beat each
    ons = [m for m in song if m.type == "note_on" and m.velocity > 0]
    assert [m.note for m in ons] == result["pitches"]
    assert abs(song.length - 0.5 * len(result["pitches"])) < 1e-9  # quarter notes at 120 bpm


def test_health_monitor_flags_abnormal_rhythms_and_estimates_the_rate(tmp_path, capsys):
    result = load("health_monitor").main(["--epochs", "8", "--samples", "500", "--quiet",
                                          "--out", str(tmp_path)])
    assert (tmp_path / "ecg.svg").exists()
    assert result["accuracy"] > result["baseline_accuracy"] + 0.1
    assert result["mae"] < result["baseline_mae"] / 2


def test_translation_reaches_high_exact_match_on_unseen_numbers(capsys):
    result = load("translation").main(["--epochs", "25", "--quiet"])
    assert result["accuracy"] > 0.8
