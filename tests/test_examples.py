"""Smoke tests: each example runs on a tiny configuration and beats its trivial baseline."""

import importlib.util
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
    ("poem", ["--epochs", "4", "--chars", "400"], "loss", "baseline_loss"),
    ("autonomous", ["--epochs", "150"], "beyond_mse", "baseline_mse"),
])
def test_example_beats_its_baseline(name, argv, metric, baseline, tmp_path, capsys):
    extra = ["--out", str(tmp_path)] if name == "moving_sum" else []
    result = load(name).main(argv + ["--quiet"] + extra)
    assert result[metric] < result[baseline]
    assert capsys.readouterr().out.strip()
