"""Small dependency-free SVG charts: line plots (optionally log-scaled) and piano rolls.

Good enough to look at a curve in a browser without matplotlib; the examples use them."""

from __future__ import annotations

import math
import os
from typing import Dict, Sequence, Tuple
from xml.sax.saxutils import escape

__all__ = ["line_plot", "piano_roll"]

_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#7f7f7f"]


def _save(svg: str, path: str) -> str:
    path = os.fspath(path)
    if not path.endswith(".svg"):
        path += ".svg"
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n' + svg)
    return path


def line_plot(series: Dict[str, Tuple[Sequence[float], Sequence[float]]], path: str,
              title: str = "", xlabel: str = "", ylabel: str = "", logy: bool = False,
              dashed: Sequence[str] = (), width: int = 640, height: int = 400) -> str:
    """Write an SVG line chart of ``{name: (xs, ys)}``; ``logy`` uses a log10 y axis (values
    <= 0 are skipped); names in ``dashed`` are drawn dashed (reference lines)."""
    pts = {k: [(float(x), float(y)) for x, y in zip(xs, ys) if (y > 0 or not logy)
               and math.isfinite(float(y))] for k, (xs, ys) in series.items()}
    ty = (lambda v: math.log10(v)) if logy else (lambda v: v)
    allx = [x for p in pts.values() for x, _ in p] or [0.0, 1.0]
    ally = [ty(y) for p in pts.values() for _, y in p] or [0.0, 1.0]
    x0, x1 = min(allx), max(allx) or 1.0
    y0, y1 = min(ally), max(ally)
    if y1 == y0:
        y1 = y0 + 1
    left, right, top, bottom = 70, 160, 40, 50
    sx = lambda x: left + (x - x0) / ((x1 - x0) or 1) * (width - left - right)
    sy = lambda y: height - bottom - (ty(y) - y0) / (y1 - y0) * (height - top - bottom)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="Helvetica" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="13">{escape(title)}</text>',
           f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
           f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">{escape(xlabel)}</text>',
           f'<text x="15" y="{height / 2}" transform="rotate(-90 15 {height / 2})" text-anchor="middle">{escape(ylabel)}</text>']
    if logy:  # whole decades
        lo_d, hi_d = math.ceil(y0), math.floor(y1)
        stride = max(1, (hi_d - lo_d) // 5 + 1)
        yticks = list(range(lo_d, hi_d + 1, stride)) or [y0]
    else:
        yticks = [y0 + (y1 - y0) * i / 4 for i in range(5)]
    for v in yticks:
        y = height - bottom - (v - y0) / (y1 - y0) * (height - top - bottom)
        label = f"1e{v:g}" if logy else f"{v:.3g}"
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#eee"/>')
    for i in range(5):  # x ticks
        v = x0 + (x1 - x0) * i / 4
        out.append(f'<text x="{sx(v):.1f}" y="{height - bottom + 15}" text-anchor="middle">{v:.3g}</text>')
    for k, (name, p) in enumerate(pts.items()):
        colour = _COLOURS[k % len(_COLOURS)]
        if p:
            line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in p)
            dash = ' stroke-dasharray="5,4"' if name in dashed else ""
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{line}"/>')
        ly = top + 16 * k + 10
        out.append(f'<line x1="{width - right + 10}" y1="{ly}" x2="{width - right + 30}" y2="{ly}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{width - right + 35}" y="{ly + 4}">{escape(name)}</text>')
    out.append("</svg>")
    return _save("\n".join(out), path)


def piano_roll(notes: Sequence[Tuple[int, float, float]], path: str, title: str = "",
               width: int = 800, height: int = 300) -> str:
    """Write an SVG piano roll of ``(pitch, start, duration)`` notes (times in beats)."""
    if not notes:
        raise ValueError("piano_roll: no notes")
    lo, hi = min(n[0] for n in notes), max(n[0] for n in notes)
    end = max(s + d for _, s, d in notes)
    rows = hi - lo + 1
    left, top = 40, 30
    cw, rh = (width - left - 10) / end, (height - top - 10) / rows
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="Helvetica" font-size="10">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>']
    for p in range(lo, hi + 1):
        y = top + (hi - p) * rh
        fill = "#f4f4f4" if p % 12 in (1, 3, 6, 8, 10) else "white"
        out.append(f'<rect x="{left}" y="{y:.1f}" width="{width - left - 10}" height="{rh:.1f}" fill="{fill}" stroke="#ddd"/>')
        if p % 12 == 0:
            out.append(f'<text x="{left - 4}" y="{y + rh - 2:.1f}" text-anchor="end">C{p // 12 - 1}</text>')
    for p, s, d in notes:
        out.append(f'<rect x="{left + s * cw:.1f}" y="{top + (hi - p) * rh:.1f}" '
                   f'width="{max(d * cw - 1, 1):.1f}" height="{rh:.1f}" fill="#1f77b4"/>')
    out.append("</svg>")
    return _save("\n".join(out), path)
