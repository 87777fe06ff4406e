"""Inline SVG charts for the HTML report: no JavaScript, no network, prints well."""

from __future__ import annotations

from html import escape

GREEN, AMBER, RED, BLUE, GREY = "#3b8f4f", "#d19a1d", "#c0504d", "#4a78b5", "#666"


def category_bars(counts: dict[str, int], width: int = 640) -> str:
    """Horizontal bars, largest first, with count and share."""
    if not counts:
        return '<p class="muted">No classified images.</p>'
    total = sum(counts.values())
    label_w, row_h, right = 130, 24, 90
    bar_w = width - label_w - right
    peak = max(counts.values())
    height = row_h * len(counts) + 8
    parts = [f'<svg class="chart" role="img" aria-label="images per category" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    for i, (category, count) in enumerate(counts.items()):
        y = 4 + i * row_h
        length = max(1.0, bar_w * count / peak)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" font-size="13">{escape(category)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row_h - 6}" fill="{BLUE}"/>'
            f'<text x="{label_w + length + 6:.1f}" y="{y + 16}" font-size="12" fill="{GREY}">'
            f'{count} ({100 * count / total:.1f}%)</text>')
    parts.append("</svg>")
    return "".join(parts)


def confidence_histogram(confidences: list[float], check: float, auto: float, bins: int = 20,
                         width: int = 640, height: int = 220) -> str:
    """5 % bins (the 70 % and 85 % thresholds fall on bin edges), coloured by refund tier."""
    if not confidences:
        return '<p class="muted">No classified images.</p>'
    counts = [0] * bins
    for c in confidences:
        counts[min(bins - 1, max(0, int(c * bins)))] += 1
    left, bottom, top = 40, 30, 12
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max(counts) or 1
    step = plot_w / bins
    parts = [f'<svg class="chart" role="img" aria-label="confidence histogram" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
             f'stroke="{GREY}"/>',
             f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" font-size="11">{peak}</text>',
             f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11">0</text>']
    for i, count in enumerate(counts):
        low = i / bins + 1e-9  # 0.7 must count as 70 %, not 69.99...
        colour = GREEN if low >= auto else AMBER if low >= check else RED
        h = plot_h * count / peak
        x = left + i * step
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{top + plot_h - h:.1f}" width="{step - 4:.1f}" height="{h:.1f}" '
            f'fill="{colour}"><title>{i * 100 // bins}-{(i + 1) * 100 // bins}%: {count}</title></rect>')
        if i % 2 == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle" font-size="11">'
                         f'{i * 100 // bins}%</text>')
        if count:
            parts.append(f'<text x="{x + step / 2:.1f}" y="{top + plot_h - h - 3:.1f}" text-anchor="middle" '
                         f'font-size="10" fill="{GREY}">{count}</text>')
    for threshold in (check, auto):
        x = left + plot_w * threshold
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#222" '
                     f'stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="{top + 10}" font-size="10">'
                     f'{threshold:.0%}</text>')
    parts.append("</svg>")
    return "".join(parts)
