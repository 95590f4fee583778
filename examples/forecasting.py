"""Forecasting (regression) on real data: a GRU predicts next year's sunspot number and next
month's El Nino sea temperature (statsmodels' datasets: the ``[data]`` extra), and is compared
on the held-out end of each series with persistence (the last value) and seasonal-naive (the
value one season ago: the ~11-year solar cycle, the 12-month year).

    python examples/forecasting.py [--epochs 20] [--quick] [--out out/examples]
"""

import argparse
import importlib.util
import os
import time

import numpy as np

import graphrnn as gr
from graphrnn.losses import squared_error
from graphrnn.models import GRU, Readout
from graphrnn.optim import Adam

#: name -> what it measures, its season and the input window (in steps), a step's unit
DATASETS = {
    "sunspots": {"title": "yearly sunspot number", "season": 11, "window": 12, "unit": "year"},
    "elnino": {"title": "El Nino sea surface temperature (C)", "season": 12, "window": 24,
               "unit": "month"},
}
NEEDS = ("forecasting.py needs statsmodels' datasets: pip install graphrnn[data] "
         "(from a clone: pip install -e '.[data]')")


def load(name: str):
    """The times (in years) and values of series ``name`` (a key of ``DATASETS``), as
    statsmodels ships them, oldest first."""
    from statsmodels import datasets
    if name == "sunspots":
        table = datasets.sunspots.load_pandas().data
        return table["YEAR"].to_numpy(float), table["SUNACTIVITY"].to_numpy(float)
    table = datasets.elnino.load_pandas().data  # a row per year, a column per month
    years = table.pop("YEAR").to_numpy(float)
    return (years[:, None] + np.arange(12) / 12).ravel(), table.to_numpy(float).ravel()


def windows(z, ends, length):
    """Inputs ``z[e-length:e]`` and next-value targets ``z[e-length+1:e+1]`` for each end."""
    x = np.stack([z[e - length:e] for e in ends])[..., None]
    y = np.stack([z[e - length + 1:e + 1] for e in ends])[..., None]
    return x.astype(np.float32), y.astype(np.float32)


def forecast(name: str, epochs: int, hidden: int = 32, train_share: float = 0.8,
             quiet: bool = True) -> dict:
    """Train a GRU on the first ``train_share`` of series ``name``, normalized by the training
    part's mean and deviation, then forecast every later value from the window before it.

    Returns the test MSEs (normalized units) of the GRU, persistence and seasonal-naive, and
    the held-out times, values and forecasts (in the series' units)."""
    spec = DATASETS[name]
    years, s = load(name)
    split, length, season = int(train_share * len(s)), spec["window"], spec["season"]
    mean, std = s[:split].mean(), s[:split].std()
    z = (s - mean) / std
    xtr, ytr = windows(z, range(length, split), length)   # every target before the split
    xte, _ = windows(z, range(split, len(z)), length)     # every target from it on
    model = Readout(GRU(1, hidden, seed=0), 1, on="all", seed=1)
    gr.fit(model, (xtr, ytr), lambda out, t, m: squared_error(out["output"], t),
           Adam(model.parameters(), lr=0.01), epochs=epochs, batch_size=32, clip_norm=1.0,
           progress=not quiet)
    pred, truth = model(xte.transpose(1, 0, 2))[-1, :, 0], z[split:]
    mse = lambda guess: float(np.mean((guess - truth) ** 2))
    return {"mse": mse(pred), "persistence_mse": mse(z[split - 1:-1]),
            "seasonal_mse": mse(z[split - season:len(z) - season]),
            "years": years[split:], "truth": s[split:], "pred": pred * std + mean}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="6 epochs (the smoke test's setting)")
    ap.add_argument("--out", default="out/examples")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if importlib.util.find_spec("statsmodels") is None:
        print(NEEDS)
        return None
    import visualize
    results = {}
    for name, spec in DATASETS.items():
        start = time.perf_counter()
        r = forecast(name, 6 if args.quick else args.epochs, quiet=args.quiet)
        print(f"{name}: test MSE (normalized) GRU {r['mse']:.3f}, persistence "
              f"{r['persistence_mse']:.3f}, seasonal-naive ({spec['season']} {spec['unit']}s "
              f"ago) {r['seasonal_mse']:.3f} ({time.perf_counter() - start:.1f} s)")
        first, last = r["years"][0], r["years"][-1]
        path = visualize.line_plot(
            {"GRU forecast": (r["years"], r["pred"]), "observed": (r["years"], r["truth"])},
            os.path.join(args.out, f"forecast_{name}"), xlabel="year", ylabel=spec["title"],
            title=f"{spec['title']}, held out ({first:.0f}-{last:.0f}): one step ahead",
            dashed=["observed"])
        print(f"plot: {path}")
        results[name] = {k: r[k] for k in ("mse", "persistence_mse", "seasonal_mse")}
    return results


if __name__ == "__main__":
    main()
