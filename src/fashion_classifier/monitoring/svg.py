"""Inline SVG charts for the dashboard and the reports: no JavaScript, no network.

Each chart is one ``<svg class="chart" data-chart="NAME">`` whose marks carry a
``<title>`` (the value on hover). Labels are escaped; values may be ``None``
(a gap: a day without a run).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

BLUE, GREEN, AMBER, RED, GREY, INK = "#4a78b5", "#3b8f4f", "#d19a1d", "#c0504d", "#888", "#333"
PALETTE = ("#4a78b5", "#e08a3c", "#3b8f4f", "#c0504d", "#8064a2", "#4bacc6", "#9b7b4f", "#d36fa8",
           "#7f7f7f", "#b5b52f", "#2f6f6f", "#a0a0d0")
TIER_COLOURS = (GREEN, AMBER, RED)
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 14, 28


def nice_max(value: float) -> float:
    """A round axis top at or above ``value`` (1, 2, 2.5, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _frame(name: str, label: str, width: int, height: int) -> list[str]:
    return [f'<svg class="chart" data-chart="{escape(name)}" role="img" aria-label="{escape(label)}" '
            f'width="100%" viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet" '
            f'xmlns="http://www.w3.org/2000/svg">']


def _axes(parts: list[str], width: int, height: int, top_value: float, unit: str) -> None:
    plot_h = height - TOP - BOTTOM
    for i in range(5):
        y = TOP + plot_h * i / 4
        value = top_value * (4 - i) / 4
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{width - RIGHT}" y2="{y:.1f}" stroke="#e4e4e4"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="{GREY}">'
                     f'{_fmt(value)}{escape(unit)}</text>')


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.3g}"


def _x_labels(parts: list[str], labels: Sequence[str], xs: Sequence[float], height: int) -> None:
    step = max(1, math.ceil(len(labels) / 10))  # at most ~10 labels, never overlapping
    for i in range(0, len(labels), step):
        parts.append(f'<text x="{xs[i]:.1f}" y="{height - 8}" text-anchor="middle" font-size="11" '
                     f'fill="{GREY}">{escape(labels[i])}</text>')


def empty(name: str, text: str = "No data for this period.") -> str:
    return f'<p class="muted" data-chart="{escape(name)}">{escape(text)}</p>'


def line_chart(name: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], unit: str = "",
               top: float | None = None, width: int = 640, height: int = 220) -> str:
    """One line per series (dots with hover values); gaps where a value is None."""
    values = [v for s in series.values() for v in s if v is not None]
    if not labels or not values:
        return empty(name)
    top_value = top or nice_max(max(values))
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    xs = [LEFT + plot_w * (i + 0.5) / len(labels) for i in range(len(labels))]
    parts = _frame(name, name.replace("_", " "), width, height)
    _axes(parts, width, height, top_value, unit)
    for colour, (title, points) in zip(PALETTE, series.items(), strict=False):
        coords = [(x, TOP + plot_h * (1 - min(v, top_value) / top_value), v, label)
                  for x, v, label in zip(xs, points, labels, strict=True) if v is not None]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in coords)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y, v, label in coords:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"><title>'
                         f'{escape(label)} {escape(title)}: {v:,.2f}{escape(unit)}</title></circle>')
    _x_labels(parts, labels, xs, height)
    if len(series) > 1:
        parts.append(_legend(list(series), width))
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(name: str, labels: Sequence[str], values: Sequence[float], unit: str = "",
              colour: str = BLUE, width: int = 640, height: int = 220) -> str:
    return stacked_bars(name, labels, {"": values}, unit=unit, colours=(colour,), width=width, height=height)


def stacked_bars(name: str, labels: Sequence[str], stacks: dict[str, Sequence[float]], unit: str = "",
                 colours: Sequence[str] = PALETTE, share: bool = False, width: int = 640,
                 height: int = 220) -> str:
    """A bar per label, one segment per stack; ``share``: each bar scaled to 100 %."""
    totals = [sum(s[i] for s in stacks.values()) for i in range(len(labels))]
    if not labels or not any(totals):
        return empty(name)
    top_value = 100.0 if share else nice_max(max(totals))
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM - (16 if len(stacks) > 1 else 0)
    slot = plot_w / len(labels)
    bar_w = max(2.0, min(40.0, slot * 0.7))
    parts = _frame(name, name.replace("_", " "), width, height)
    _axes(parts, width, TOP + plot_h + BOTTOM, top_value, "%" if share else unit)
    xs = [LEFT + slot * (i + 0.5) for i in range(len(labels))]
    for i, x in enumerate(xs):
        base = TOP + plot_h
        for colour, (title, values) in zip(colours, stacks.items(), strict=False):
            value = values[i]
            if not value:
                continue
            scaled = 100.0 * value / totals[i] if share else value
            h = plot_h * scaled / top_value
            base -= h
            tip = f"{labels[i]} {title}: {value:,.0f}{unit}" + (f" ({scaled:.1f}%)" if share else "")
            parts.append(f'<rect x="{x - bar_w / 2:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                         f'fill="{colour}"><title>{escape(tip.strip())}</title></rect>')
    _x_labels(parts, labels, xs, TOP + plot_h + BOTTOM)
    if len(stacks) > 1:
        parts.append(_legend(list(stacks), width, y=height - 4, colours=colours))
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(name: str, labels: Sequence[str], values: Sequence[float], colours: Sequence[str],
                    legend: dict[str, str] | None = None, unit: str = "", width: int = 640,
                    label_width: int = 230) -> str:
    """One bar per label, in the order given, the value beside it: long labels (error codes) stay
    readable. ``colours``: one per bar; ``legend``: name -> colour, drawn below."""
    if not labels or not any(values):
        return empty(name)
    row_h, top_value = 24, nice_max(max(values))
    plot_w = width - label_width - RIGHT - 60
    height = row_h * len(labels) + 8 + (20 if legend else 0)
    parts = _frame(name, name.replace("_", " "), width, height)
    for i, (label, value, colour) in enumerate(zip(labels, values, colours, strict=True)):
        y = 4 + i * row_h
        length = max(1.0, plot_w * value / top_value)
        parts.append(f'<text x="{label_width - 8}" y="{y + 16}" text-anchor="end" font-size="12" '
                     f'fill="{INK}">{escape(label)}</text>'
                     f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="{row_h - 6}" '
                     f'fill="{colour}"><title>{escape(label)}: {value:,.0f}{escape(unit)}</title></rect>'
                     f'<text x="{label_width + length + 6:.1f}" y="{y + 16}" font-size="12" fill="{GREY}">'
                     f'{value:,.0f}{escape(unit)}</text>')
    if legend:
        parts.append(_legend(list(legend), width, y=height - 6, colours=list(legend.values()),
                             x=label_width))
    parts.append("</svg>")
    return "".join(parts)


def _legend(names: list[str], width: int, y: int = 10, colours: Sequence[str] = PALETTE,
            x: int = LEFT) -> str:
    parts = []
    for colour, name in zip(colours, names, strict=False):
        if x > width - 60:
            break
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{x + 14}" y="{y}" font-size="11" fill="{INK}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return '<g class="legend">' + "".join(parts) + "</g>"
