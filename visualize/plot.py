"""Plots through matplotlib (the ``[plots]`` extra): line plots, heat maps, piano rolls and
``fit``'s training curves, written as SVG (and PNG, on request).

Readable defaults: integer ticks on axes that count steps, every series its own colour,
line style and marker (reference lines dashed), labelled axes, a legend outside the data.
"""

from __future__ import annotations

import os
from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

__all__ = ["PlotFile", "line_plot", "heatmap", "piano_roll", "history"]

_STYLES = [("-", "o"), ("--", "s"), ("-.", "^"), (":", "D"), ("-", "v"), ("--", "x")]


def _subplots(*grid, **kw):
    """A new figure and its axes, outside pyplot: no global state, no display and no
    change to the backend a notebook or script chose (``plt.show()`` keeps working)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("plots need matplotlib: pip install -e '.[plots]'") from e
    fig = Figure(figsize=kw.pop("figsize"), layout=kw.pop("layout", None))
    return fig, fig.subplots(*grid, **kw)


class PlotFile(str):
    """The path of a written plot: a plain ``str`` everywhere, the picture in Jupyter."""

    def _read(self, ext: str, mode: str):
        if not self.endswith(ext) or not os.path.exists(self):
            return None
        with open(self, mode, encoding=None if "b" in mode else "utf-8") as f:
            return f.read()

    def _repr_svg_(self):
        """The SVG file's text, for Jupyter (None for another format)."""
        return self._read(".svg", "r")

    def _repr_png_(self):
        """The PNG file's bytes, for Jupyter (None for another format)."""
        return self._read(".png", "rb")


def _save(fig, path: str, formats: Sequence[str]) -> PlotFile:
    """Write ``fig`` as ``path.<fmt>`` for each format; returns the first file's path."""
    base = os.fspath(path)
    for ext in (".svg", ".png"):
        base = base[:-len(ext)] if base.endswith(ext) else base
    os.makedirs(os.path.dirname(base) or ".", exist_ok=True)
    paths = [f"{base}.{fmt}" for fmt in formats]
    import matplotlib
    # SVG text stays text; no date and fixed ids, so the same plot gives the same file
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "graphrnn"}):
        for p, fmt in zip(paths, formats):
            fig.savefig(p, format=fmt, bbox_inches="tight", dpi=120,
                        metadata={"Date": None} if fmt == "svg" else None)
    return PlotFile(paths[0])


def _integer_axis(axis, values) -> None:
    """Integer ticks on an axis whose values are all whole numbers (step counts)."""
    from matplotlib.ticker import MaxNLocator
    values = np.asarray(values, dtype=float)
    if values.size and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        axis.set_major_locator(MaxNLocator(integer=True))


def line_plot(series: Dict[str, Tuple[Sequence[float], Sequence[float]]], path: str,
              title: str = "", xlabel: str = "", ylabel: str = "", logy: bool = False,
              dashed: Sequence[str] = (), formats: Sequence[str] = ("svg",)) -> PlotFile:
    """A line chart of ``{name: (xs, ys)}`` (``ys`` may be 2-D: one line per column, one
    legend entry); ``logy`` for a log y axis; names in ``dashed`` are reference lines."""
    fig, ax = _subplots(figsize=(7, 4.2))
    allx = []
    for k, (name, (xs, ys)) in enumerate(series.items()):
        xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        style, marker = ("--", None) if name in dashed else _STYLES[k % len(_STYLES)]
        every = max(1, len(xs) // 12)
        lines = ax.plot(xs, ys, linestyle=style, marker=marker, markevery=every, markersize=4,
                        color=f"C{k % 10}", linewidth=1.6 if name in dashed else 1.8)
        lines[0].set_label(name)
        allx.append(xs)
    if logy:
        ax.set_yscale("log")
    if allx:
        _integer_axis(ax.xaxis, np.concatenate(allx))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _save(fig, path, formats)


def heatmap(values, path: str, title: str = "", xlabel: str = "time step",
            ylabel: str = "unit", colorbar: str = "", log: bool = False, first_column: int = 0,
            formats: Sequence[str] = ("svg",)) -> PlotFile:
    """A heat map of a 2-D array (rows on the y axis, e.g. units; columns on the x axis,
    e.g. time steps, the first numbered ``first_column``); ``log`` colours by log10
    (non-positive entries left blank)."""
    from matplotlib.colors import LogNorm
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"heatmap: needs a 2-D array, got shape {values.shape}")
    shown = np.where(values > 0, values, np.nan) if log else values
    fig, ax = _subplots(figsize=(7, 4.2))
    rows, cols = values.shape
    image = ax.imshow(shown, aspect="auto", origin="lower", interpolation="nearest",
                      cmap="viridis", norm=LogNorm() if log else None,
                      extent=(first_column - 0.5, first_column + cols - 0.5, -0.5, rows - 0.5))
    fig.colorbar(image, ax=ax, label=colorbar)
    _integer_axis(ax.xaxis, [0, 1])
    _integer_axis(ax.yaxis, [0, 1])
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return _save(fig, path, formats)


def piano_roll(notes: Sequence[Tuple[int, float, float]], path: str, title: str = "",
               formats: Sequence[str] = ("svg",)) -> PlotFile:
    """A piano roll of ``(pitch, start, duration)`` notes (times in beats), pitches named."""
    if not notes:
        raise ValueError("piano_roll: no notes")
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    lo, hi = min(n[0] for n in notes), max(n[0] for n in notes)
    from matplotlib.patches import Rectangle
    fig, ax = _subplots(figsize=(8, 3.2))
    for p in range(lo, hi + 1):  # black keys shaded
        if p % 12 in (1, 3, 6, 8, 10):
            ax.axhspan(p - 0.5, p + 0.5, color="0.93", zorder=0)
    for p, s, d in notes:
        ax.add_patch(Rectangle((s, p - 0.4), d * 0.95, 0.8, color="C0", zorder=2))
    ax.set_xlim(0, max(s + d for _, s, d in notes))
    ax.set_ylim(lo - 0.5, hi + 0.5)
    ax.set_yticks(range(lo, hi + 1))
    ax.set_yticklabels([f"{names[p % 12]}{p // 12 - 1}" for p in range(lo, hi + 1)], fontsize=7)
    _integer_axis(ax.xaxis, [0, 1])
    ax.set(title=title, xlabel="beat", ylabel="pitch")
    return _save(fig, path, formats)


def history(hist: Mapping[str, Sequence[float]], path: str, title: str = "training",
            formats: Sequence[str] = ("svg",)) -> PlotFile:
    """``fit``'s history in one figure: the loss per step (and the gradient norm, on its own
    axis) and, per epoch, the epoch loss, the validation loss and every metric."""
    per_epoch = {k: v for k, v in hist.items()
                 if k not in ("loss", "grad_norm", "lr", "skipped", "stopped_early") and len(v)}
    fig, (left, right) = _subplots(1, 2, figsize=(10.5, 3.8), layout="constrained")
    steps = np.arange(1, len(hist.get("loss", [])) + 1)
    left.plot(steps, hist.get("loss", []), color="C0", linewidth=1, label="loss (per step)")
    if hist.get("grad_norm"):
        twin = left.twinx()
        twin.plot(steps, hist["grad_norm"], color="C3", linestyle=":", linewidth=1,
                  label="gradient norm")
        twin.set_ylabel("gradient norm")
        twin.legend(loc="upper right", frameon=False)
    left.set(xlabel="step", ylabel="loss", yscale="log" if _positive(hist.get("loss")) else
             "linear")
    _integer_axis(left.xaxis, steps)
    left.legend(loc="upper left", frameon=False)
    for k, (name, values) in enumerate(per_epoch.items()):
        style, marker = _STYLES[k % len(_STYLES)]
        epochs = np.arange(1, len(values) + 1)
        right.plot(epochs, values, linestyle=style, marker=marker, color=f"C{k % 10}",
                   label=name)
    right.set(xlabel="epoch")
    _integer_axis(right.xaxis, [0, 1])
    right.legend(frameon=False)
    fig.suptitle(title)
    return _save(fig, path, formats)


def _positive(values) -> bool:
    values = np.asarray(values if values is not None else [], dtype=float)
    return bool(values.size) and bool(np.all(values[np.isfinite(values)] > 0))
