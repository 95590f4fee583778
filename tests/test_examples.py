"""Smoke tests: each example runs on a tiny configuration and beats its trivial baseline."""

import importlib.util
import subprocess
import sys
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


def test_forecasting_on_real_series_beats_persistence_and_seasonal_naive(tmp_path, capsys):
    pytest.importorskip("statsmodels", reason="the real series need the [data] extra")
    result = load("forecasting").main(["--quick", "--quiet", "--out", str(tmp_path)])
    assert set(result) == {"sunspots", "elnino"}
    for name, r in result.items():
        assert r["mse"] < min(r["persistence_mse"], r["seasonal_mse"]), name
        root = ET.parse(tmp_path / f"forecast_{name}.svg").getroot()
        assert root.tag.endswith("svg")
    assert "seasonal-naive (11 years ago)" in capsys.readouterr().out


def test_music_model_beats_a_bigram_on_held_out_chorales_and_writes_midi(tmp_path, capsys):
    pytest.importorskip("music21", reason="Bach's chorales need the [music] extra")
    result = load("music").main(["--quick", "--out", str(tmp_path), "--quiet"])
    assert result["accuracy"] > result["baseline_accuracy"]
    assert (tmp_path / "chorale_piano_roll.svg").exists()
    mido = pytest.importorskip("mido", reason="MIDI files need the [music] extra")
    song = mido.MidiFile(tmp_path / "chorale.mid")  # read back: the sampled notes and lengths
    ons = [m for m in song if m.type == "note_on" and m.velocity > 0]
    assert [m.note for m in ons] == [p for p, _ in result["notes"]]
    beats = sum(b for _, b in result["notes"])
    assert abs(song.length - 0.5 * beats) < 1e-6  # at 120 beats per minute


@pytest.mark.parametrize("name,module,extra", [("forecasting", "statsmodels", "data"),
                                               ("music", "music21", "music")])
def test_examples_name_their_extra_and_exit_cleanly_without_it(name, module, extra, tmp_path):
    # None in sys.modules makes the library look uninstalled
    code = (f"import sys, runpy; sys.modules[{module!r}] = None; sys.argv = ['x', '--out', "
            f"{str(tmp_path)!r}]; runpy.run_path({str(EXAMPLES / (name + '.py'))!r}, "
            f"run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"pip install graphrnn[{extra}]" in done.stdout
    assert not list(tmp_path.iterdir())  # nothing trained, nothing written


def test_health_monitor_flags_abnormal_rhythms_and_estimates_the_rate(tmp_path, capsys):
    result = load("health_monitor").main(["--epochs", "8", "--samples", "500", "--quiet",
                                          "--out", str(tmp_path)])
    assert (tmp_path / "ecg.svg").exists()
    assert result["accuracy"] > result["baseline_accuracy"] + 0.1
    assert result["mae"] < result["baseline_mae"] / 2


def test_translation_reaches_high_exact_match_on_unseen_numbers(capsys):
    result = load("translation").main(["--epochs", "25", "--quiet"])
    assert result["accuracy"] > 0.8
