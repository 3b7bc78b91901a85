"""Charts as SVG drawn here, in Python: no JavaScript, no library, nothing fetched.

:func:`line_chart` draws lines over time (a gap where a value is missing), with axes in plain units, shaded
stretches (phases, repetitions) and marked moments; :func:`data_uri` makes it an ``<img>`` source, so that a
report's charts load, print and scale like its pictures.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

#: Colours people tell apart (also with the commonest colour blindness): right side, left side, then others.
COLOURS = ("#1b6ca8", "#d1603d", "#3b8b3b", "#8e44ad", "#6b6b6b")
#: A long series is thinned to about this many points per line (each slice keeps its lowest and highest value,
#: so peaks stay): a 2-minute clip's chart stays a few tens of kilobytes.
MAX_POINTS = 900
FONT = "Helvetica, Arial, sans-serif"


@dataclass(frozen=True)
class Line:
    """One line: ``ys`` against ``xs`` (NaN: a gap), its name in the legend."""

    label: str
    xs: np.ndarray
    ys: np.ndarray
    colour: str = COLOURS[0]
    dashed: bool = False


@dataclass(frozen=True)
class Shade:
    """A stretch of the x axis shaded (a phase, a repetition), with a short label at its top."""

    x0: float
    x1: float
    label: str = ""
    colour: str = "#e8eef5"


def ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten apart) covering ``lo``..``hi``."""
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw - 1e-12)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + k * step, 10) for k in range(int((hi - first) / step + 1e-9) + 1)]


def thin(xs: np.ndarray, ys: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``max_points`` points: each slice keeps its lowest and highest value (in time order); a
    slice with no value stays a gap."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    n = len(xs)
    if n <= max_points:
        return xs, ys
    size = math.ceil(n / (max_points / 2))
    ox, oy = [], []
    for s in range(0, n, size):
        y = ys[s:s + size]
        ok = np.flatnonzero(np.isfinite(y))
        if not len(ok):
            ox.append(xs[s])
            oy.append(np.nan)
            continue
        for i in sorted({int(ok[np.argmin(y[ok])]), int(ok[np.argmax(y[ok])])}):
            ox.append(xs[s + i])
            oy.append(y[i])
    return np.asarray(ox), np.asarray(oy)


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if abs(v - round(v)) > 1e-9 else f"{int(round(v))}"


def _limits(lines: Sequence[Line], y_limits, min_span: float) -> tuple[float, float]:
    if y_limits is not None:
        return float(y_limits[0]), float(y_limits[1])
    values = np.concatenate([np.asarray(ln.ys, np.float64) for ln in lines]) if lines else np.zeros(0)
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < min_span:
        mid = (hi + lo) / 2
        lo, hi = mid - min_span / 2, mid + min_span / 2
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


class _Frame:
    """The mapping from data to the plot area."""

    def __init__(self, width, height, x_range, y_range, left=58, right=14, top=30, bottom=44):
        self.x0, self.x1 = left, width - right
        self.y0, self.y1 = top, height - bottom
        self.xr, self.yr = x_range, y_range

    def x(self, v):
        a, b = self.xr
        return self.x0 + (np.asarray(v, np.float64) - a) / ((b - a) or 1.0) * (self.x1 - self.x0)

    def y(self, v):
        a, b = self.yr
        return self.y1 - (np.asarray(v, np.float64) - a) / ((b - a) or 1.0) * (self.y1 - self.y0)


def _axes(f: _Frame, x_label: str, y_label: str, height: int) -> list[str]:
    out = []
    for t in ticks(*f.yr):
        y = float(f.y(t))
        if f.y0 - 0.5 <= y <= f.y1 + 0.5:
            out.append(f'<line x1="{f.x0}" y1="{y:.1f}" x2="{f.x1}" y2="{y:.1f}" stroke="#dddddd"/>')
            out.append(f'<text x="{f.x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for t in ticks(*f.xr, count=8):
        x = float(f.x(t))
        if f.x0 - 0.5 <= x <= f.x1 + 0.5:
            out.append(f'<line x1="{x:.1f}" y1="{f.y1}" x2="{x:.1f}" y2="{f.y1 + 4}" stroke="#555555"/>')
            out.append(f'<text x="{x:.1f}" y="{f.y1 + 17}" text-anchor="middle">{_fmt(t)}</text>')
    out.append(f'<rect x="{f.x0}" y="{f.y0}" width="{f.x1 - f.x0}" height="{f.y1 - f.y0}" fill="none" '
               'stroke="#555555"/>')
    out.append(f'<text x="{(f.x0 + f.x1) / 2:.1f}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text>')
    cy = (f.y0 + f.y1) / 2
    out.append(f'<text x="14" y="{cy:.1f}" text-anchor="middle" transform="rotate(-90 14 {cy:.1f})">'
               f'{escape(y_label)}</text>')
    return out


def _path(f: _Frame, line: Line) -> list[str]:
    xs, ys = thin(line.xs, line.ys)
    px, py = f.x(xs), f.y(np.clip(ys, *f.yr))
    ok = np.isfinite(ys)
    out, run = [], []
    dash = ' stroke-dasharray="6 4"' if line.dashed else ""
    for i in range(len(xs) + 1):
        if i < len(xs) and ok[i]:
            run.append(f"{px[i]:.1f},{py[i]:.1f}")
            continue
        if len(run) == 1:  # a lone value: a dot
            x, y = run[0].split(",")
            out.append(f'<circle cx="{x}" cy="{y}" r="2" fill="{line.colour}"/>')
        elif run:
            out.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{line.colour}" stroke-width="1.8" '
                       f'stroke-linejoin="round"{dash}/>')
        run = []
    return out


def _legend(f: _Frame, lines: Sequence[Line]) -> list[str]:
    out, x = [], f.x0
    for ln in lines:
        dash = ' stroke-dasharray="6 4"' if ln.dashed else ""
        out.append(f'<line x1="{x}" y1="16" x2="{x + 22}" y2="16" stroke="{ln.colour}" stroke-width="2.5"{dash}/>')
        out.append(f'<text x="{x + 27}" y="20">{escape(ln.label)}</text>')
        x += 40 + 7 * len(ln.label)
    return out


def line_chart(lines: Sequence[Line], *, x_label: str, y_label: str, title: str = "", width: int = 760,
               height: int = 250, x_range: tuple[float, float] | None = None,
               y_limits: tuple[float, float] | None = None, min_span: float = 20.0, shades: Sequence[Shade] = (),
               marks: Sequence[tuple[float, str]] = ()) -> str:
    """An SVG line chart (the document's text). ``x_range`` defaults to the lines' extent, the y axis to the
    values' (at least ``min_span`` wide) unless ``y_limits``; ``shades`` are shaded stretches of x, ``marks``
    ``(x, label)`` vertical lines at moments."""
    xs = [np.asarray(ln.xs, np.float64) for ln in lines if len(ln.xs)]
    if x_range is None:
        x_range = (min(float(x.min()) for x in xs), max(float(x.max()) for x in xs)) if xs else (0.0, 1.0)
    if not x_range[1] > x_range[0]:
        x_range = (x_range[0], x_range[0] + 1.0)
    f = _Frame(width, height, x_range, _limits(lines, y_limits, min_span))
    body = [f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    for s in shades:
        a, b = (float(np.clip(f.x(v), f.x0, f.x1)) for v in (s.x0, s.x1))
        body.append(f'<rect x="{a:.1f}" y="{f.y0}" width="{max(b - a, 0.5):.1f}" height="{f.y1 - f.y0}" '
                    f'fill="{s.colour}"/>')
        if s.label and b - a > 14:
            body.append(f'<text x="{(a + b) / 2:.1f}" y="{f.y0 + 13}" text-anchor="middle" fill="#555555">'
                        f'{escape(s.label)}</text>')
    body += _axes(f, x_label, y_label, height)
    for x, label in marks:
        px = float(f.x(x))
        body.append(f'<line x1="{px:.1f}" y1="{f.y0}" x2="{px:.1f}" y2="{f.y1}" stroke="#b00020" '
                    'stroke-dasharray="3 3"/>')
        if label:
            body.append(f'<text x="{px + 3:.1f}" y="{f.y1 - 5}" fill="#b00020">{escape(label)}</text>')
    for ln in lines:
        body += _path(f, ln)
    body += _legend(f, lines)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="12" fill="#222222">')
    title_el = f"<title>{escape(title)}</title>" if title else ""
    return head + title_el + "".join(body) + "</svg>"


def data_uri(svg: str) -> str:
    """An ``<img src>`` for an SVG document."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


__all__ = ["COLOURS", "Line", "Shade", "data_uri", "line_chart", "thin", "ticks"]
