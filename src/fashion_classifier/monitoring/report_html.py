"""The HTML of the weekly and custom reports: one self-contained page (inline SVG, no scripts).

A Content-Security-Policy forbids scripts and any network access, so the file
can be mailed or shared and opened anywhere. Every stored text is escaped.
"""

from __future__ import annotations

from html import escape

from ..labels import DEFAULT_CATEGORIES, OTHER, report_columns
from ..model import TIER_TITLES
from . import svg
from .common import duration, percent, thousands
from .queries import TIER_KEYS

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;color:#222;max-width:1040px;padding:0 16px}
h1{font-size:22px;margin-bottom:2px}h2{font-size:17px;margin-top:30px;border-bottom:1px solid #ccc}
.sub{color:#666;margin-top:0}.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:140px}
.card b{display:block;font-size:22px}.grid{display:grid;grid-template-columns:1fr 1fr;gap:8px 24px}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:4px 6px;text-align:left}
th{background:#f4f4f4}.num{text-align:right}.muted{color:#777}.up{color:#3b8f4f}.down{color:#c0504d}
.total td{font-weight:bold;border-top:2px solid #ccc}
@media (max-width:760px){.grid{grid-template-columns:1fr}}@media print{h2{page-break-after:avoid}}
"""


def render_html(report: dict) -> str:
    period, t = report["period"], report["totals"]
    weekly = period.slug.startswith("weekly")
    title = "WEEKLY BATCH REPORT" if weekly else "BATCH REPORT"
    sections = [
        f"<h1>{title}</h1><p class=\"sub\">{escape(period.title)} &middot; generated "
        f"{report['generated']:%Y-%m-%d %H:%M}</p>",
        _cards(t, report["reviewed"]),
        "<h2>Daily trends</h2>" + _charts(report, short=period.days <= 7),
        "<h2>Category breakdown</h2>" + _category_table(t),
        f"<h2>{'Week-over-week' if weekly else 'Compared with the period before'}</h2>"
        + _comparison(t, report["previous"]),
        "<h2>Runs</h2>" + _runs(report["runs"]),
        "<h2>Alerts</h2>" + _alerts(report["alerts"]),
    ]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title.title()} - {escape(period.title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(sections) + "</body></html>\n")


def _cards(t: dict, reviewed) -> str:
    cards = [("Total Batches", str(t["runs"])), ("Total Images", thousands(t["images"])),
             ("Overall Success Rate", percent(t["success_rate"])),
             ("Average Batch Time", duration(t["avg_duration"])),
             ("Avg Confidence", percent(None if t["avg_confidence"] is None else 100 * t["avg_confidence"])),
             ("Reviewed by clerks", f"{sum(reviewed.values())} ({reviewed['corrected']} corrected)"),
             (f"Not ours ({OTHER})", f"{thousands(t['other'])} ({percent(t['other_share'])})")]
    return '<div class="cards">' + "".join(f'<div class="card">{escape(k)}<b>{escape(v)}</b></div>'
                                           for k, v in cards) + "</div>"


def _charts(report: dict, short: bool) -> str:
    days = report["days"]
    labels = [f"{d:%a %d}" if short else f"{d:%m-%d}" for d, _ in days]
    volume = svg.bar_chart("daily_volume", labels, [t["images"] for _, t in days], width=500)
    rate = svg.line_chart("success_rate", labels, {"success rate": [t["success_rate"] for _, t in days]},
                          unit="%", top=100, width=500)
    speed = svg.line_chart("throughput", labels,
                           {"images/minute": [t["images_per_minute"] for _, t in days]}, width=500)
    tiers = svg.stacked_bars("confidence_mix", labels,
                             {TIER_TITLES[k]: [t["tiers"][k] for _, t in days] for k in TIER_KEYS},
                             colours=svg.TIER_COLOURS, share=True, width=500)
    columns = report_columns(report.get("categories", DEFAULT_CATEGORIES), report["totals"]["categories"])
    seen = [c for c in columns if report["totals"]["categories"][c]]
    mix = svg.stacked_bars("category_mix", labels, {c: [t["categories"][c] for _, t in days] for c in seen},
                           share=True, width=1000, height=260)
    figures = [("Daily volume (images)", volume), ("Success rate", rate),
               ("Throughput (images/minute)", speed), ("Confidence mix", tiers),
               (f"Share not in our categories ({OTHER})", svg.line_chart(
                   "other_share", labels, {OTHER: [t["other_share"] for _, t in days]}, unit="%", width=500))]
    grid = "".join(f"<figure><figcaption>{escape(c)}</figcaption>{chart}</figure>" for c, chart in figures)
    return f'<div class="grid">{grid}</div><figure><figcaption>Category mix</figcaption>{mix}</figure>'


def _category_table(t: dict) -> str:
    total = sum(t["categories"].values())
    if not total:
        return '<p class="muted">No classified images in this period.</p>'
    confidence = t["category_confidence"]
    rows = "".join(
        f"<tr><td>{escape(c)}</td><td class=\"num\">{thousands(n)}</td><td class=\"num\">"
        f"{percent(100 * n / total)}</td><td class=\"num\">{percent(100 * confidence[c])}</td></tr>"
        for c, n in t["categories"].most_common())
    return ("<table><tr><th>Category</th><th class=\"num\">Count</th><th class=\"num\">% of Total</th>"
            "<th class=\"num\">Avg Confidence</th></tr>" + rows +
            f"<tr class=\"total\"><td>TOTAL</td><td class=\"num\">{thousands(total)}</td>"
            f"<td class=\"num\">100%</td><td class=\"num\">{percent(_pct(t['avg_confidence']))}</td></tr>"
            "</table>")


def comparison_rows(now: dict, before: dict) -> list[tuple[str, str, str, str, int]]:
    """(measure, this period, before, change, direction -1/0/+1) for the comparison table."""
    def pct_change(a, b):
        return "n/a" if not b else f"{100 * (a - b) / b:+.1f}%"

    def points(a, b, scale=1.0):
        return "n/a" if a is None or b is None else f"{scale * (a - b):+.1f} pts"

    rows = [("Total Images", thousands(now["images"]), thousands(before["images"]),
             pct_change(now["images"], before["images"]), _sign(now["images"], before["images"])),
            ("Success Rate", percent(now["success_rate"]), percent(before["success_rate"]),
             points(now["success_rate"], before["success_rate"]),
             _sign(now["success_rate"], before["success_rate"])),
            ("Avg Confidence", percent(_pct(now["avg_confidence"])), percent(_pct(before["avg_confidence"])),
             points(now["avg_confidence"], before["avg_confidence"], 100),
             _sign(now["avg_confidence"], before["avg_confidence"])),
            ("Processing Time", duration(now["avg_duration"]), duration(before["avg_duration"]),
             "n/a" if now["avg_duration"] is None or before["avg_duration"] is None
             else f"{now['avg_duration'] - before['avg_duration']:+.1f}s",
             _sign(now["avg_duration"], before["avg_duration"]))]
    if not before["runs"] or not now["runs"]:  # nothing to compare with: no arrows
        rows = [(name, a, b, change, 0) for name, a, b, change, _ in rows]
    return rows


def _pct(value):
    return None if value is None else 100 * value


def _sign(a, b, tolerance: float = 1e-3) -> int:
    if a is None or b is None or abs(a - b) <= tolerance * max(abs(b), 1e-9):
        return 0
    return 1 if a > b else -1


def trend(now: dict, before: dict) -> str:
    """Improving when success rate and confidence rise (neither falls), worsening when they fall."""
    score = _sign(now["success_rate"], before["success_rate"]) + _sign(now["avg_confidence"],
                                                                       before["avg_confidence"])
    if now["runs"] == 0 or before["runs"] == 0:
        return "Not enough data to compare"
    return "Improving" if score > 0 else "Worsening" if score < 0 else "Stable"


TREND_COLOURS = {"Improving": "#3b8f4f", "Worsening": "#c0504d", "Stable": "#d19a1d"}


def _comparison(now: dict, before: dict) -> str:
    arrows = {1: "↑", -1: "↓", 0: "→"}
    good = {"Processing Time": -1}  # shorter is better
    body = ""
    for name, a, b, change, direction in comparison_rows(now, before):
        css = "" if direction == 0 else "up" if direction == good.get(name, 1) else "down"
        body += (f"<tr><td>{name}</td><td class=\"num\">{a}</td><td class=\"num\">{b}</td>"
                 f"<td class=\"num {css}\">{change} {arrows[direction]}</td></tr>")
    return ("<table><tr><th>Measure</th><th class=\"num\">This period</th><th class=\"num\">Before</th>"
            f"<th class=\"num\">Change</th></tr>{body}</table>" + _verdict(trend(now, before)))


def _verdict(text: str) -> str:
    """A coloured dot, not an emoji: it renders the same with or without an emoji font."""
    dot = (f'<svg width="12" height="12" aria-hidden="true"><circle cx="6" cy="6" r="6" '
           f'fill="{TREND_COLOURS.get(text, "#888")}"/></svg> ')
    return f'<p class="trend"><b>Trend: {dot}{escape(text)}</b></p>'


def _runs(runs) -> str:
    if not runs:
        return '<p class="muted">No batch runs in this period.</p>'
    rows = "".join(
        f"<tr><td>{r.timestamp:%Y-%m-%d %H:%M}</td><td>{escape(r.run_id)}</td><td>{escape(r.status)}</td>"
        f"<td class=\"num\">{thousands(r.total)}</td><td class=\"num\">{r.failed}</td>"
        f"<td class=\"num\">{percent(r.success_rate)}</td><td class=\"num\">{duration(r.duration)}</td></tr>"
        for r in reversed(runs))
    return ("<table><tr><th>Finished</th><th>Run</th><th>Status</th><th class=\"num\">Images</th>"
            "<th class=\"num\">Failed</th><th class=\"num\">Success</th><th class=\"num\">Time</th></tr>"
            + rows + "</table>")


def _alerts(alerts: list[dict]) -> str:
    if not alerts:
        return '<p class="muted">No alerts in this period.</p>'
    rows = "".join(f"<tr><td>{escape(a['timestamp'][:16].replace('T', ' '))}</td><td>{escape(a['severity'])}"
                   f"</td><td>{escape(a['subject'])}</td><td>{escape(a.get('source') or '')}</td></tr>"
                   for a in alerts[:50])
    return "<table><tr><th>Time</th><th>Severity</th><th>Subject</th><th>Source</th></tr>" + rows + "</table>"
