"""``batch_report_<run>.html``: one self-contained page for the morning review.

Totals, a category bar chart and a confidence histogram (inline SVG), the
manual-review list with thumbnails (data URIs), failures, and a pick list per
category with its warehouse location. A Content-Security-Policy forbids any
network access, so the page is safe to open from an e-mail or a share.
Every clerk-supplied string is HTML-escaped.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from html import escape
from pathlib import Path

from ...labels import OTHER
from ...model import AUTO, CHECK, REVIEW, TIER_TITLES
from ..locations import location_for
from .atomic import write_text
from .charts import category_bars, confidence_histogram
from .results import ResultRow, RunResults
from .thumbs import thumbnail_uri

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ddd;border-radius:6px;
padding:8px 14px;min-width:120px}.card b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:4px 6px;
text-align:left;vertical-align:middle}th{background:#f4f4f4}.muted{color:#777}
img.thumb{max-width:96px;max-height:96px;border:1px solid #ddd}
.review{background:#fff6df}.error{background:#fbeaea}.num{text-align:right}
.pick{page-break-inside:avoid}.box{width:18px}
@media print{h2{page-break-before:always}.cards{page-break-after:avoid}}
"""
THUMBNAIL_THREADS = 2
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def write_report(path: Path, results: RunResults, summary: dict, locations: dict[str, str],
                 max_thumbnails: int) -> Path:
    return write_text(path, render(results, summary, locations, max_thumbnails))


def render(results: RunResults, summary: dict, locations: dict[str, str], max_thumbnails: int) -> str:
    sections = [
        _header(results, summary),
        "<h2>Categories</h2>" + category_bars(results.categories_sorted()),
        "<h2>Confidence</h2>" + confidence_histogram(
            [r.confidence for r in results.successes], results.tiers.check_threshold,
            results.tiers.auto_threshold),
        _review([r for r in results.in_tier(REVIEW) if r.category != OTHER], max_thumbnails),
        _others(results.others, max_thumbnails),
        _failures(results.failures),
        _kept([r for r in results.rows if r.source_kept]),
        _pick_lists(results, locations),
    ]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>Batch report {escape(results.run_id)}</title><style>{CSS}</style></head><body>"
            + "\n".join(sections) + "</body></html>\n")


def _header(results: RunResults, summary: dict) -> str:
    cards = [
        ("Total", summary["total_processed"]), ("Successful", summary["successful"]),
        ("Failed", summary["failed"]), ("Success rate", f'{summary["success_rate"]:.1f}%'),
        (TIER_TITLES[AUTO], len(results.in_tier(AUTO))), (TIER_TITLES[CHECK], len(results.in_tier(CHECK))),
        (TIER_TITLES[REVIEW], len(results.in_tier(REVIEW))), ("Not ours (Other)", len(results.others)),
        ("Duplicates", summary["duplicates"]),
        ("Time", f'{summary["processing_time_seconds"]:.1f} s'),
        ("Throughput", f'{summary["throughput"]["images_per_minute"]:.0f}/min'),
    ]
    card_html = "".join(f'<div class="card">{escape(str(k))}<b>{escape(str(v))}</b></div>' for k, v in cards)
    versions = ", ".join(results.model_versions) or "-"
    meta = (f'Run {escape(results.run_id)} · classified via {escape(summary["classifier_path"])}'
            f' · model {escape(versions)} · attempts {summary["attempts"]}')
    return f'<h1>Nightly returns batch {escape(results.run_id)}</h1><p class="muted">{meta}</p>' \
           f'<div class="cards">{card_html}</div>'


def _review(rows: list[ResultRow], max_thumbnails: int) -> str:
    head = f"<h2>Manual review ({len(rows)})</h2>"
    if not rows:
        return head + '<p class="muted">Nothing needs manual review.</p>'
    return head + _photo_table(rows, max_thumbnails, ("Predicted", "Runner-up"))


def _others(rows: list[ResultRow], max_thumbnails: int) -> str:
    head = (f'<h2 id="other">Not one of our categories ({len(rows)})</h2><p>The model judged these '
            f"photos none of our categories; they are in the {OTHER} folder and in the review queue. "
            "Confirm \"not ours\" or pick the right category there.</p>")
    if not rows:
        return head + '<p class="muted">None tonight.</p>'
    return head + _photo_table(rows, max_thumbnails, ("Answer", "Closest of ours"))


def _photo_table(rows: list[ResultRow], max_thumbnails: int, titles: tuple[str, str]) -> str:
    lines = [f"<table><tr><th>Photo</th><th>File</th><th>{titles[0]}</th><th class=num>Confidence</th>"
             f"<th>{titles[1]}</th><th>Now in</th></tr>"]
    with ThreadPoolExecutor(max_workers=THUMBNAIL_THREADS) as pool:  # decoding releases the GIL
        uris = list(pool.map(thumbnail_uri, [Path(r.dest_abs) for r in rows[:max_thumbnails] if r.dest_abs]))
    uri_of = dict(zip([r.dest_abs for r in rows[:max_thumbnails] if r.dest_abs], uris, strict=True))
    for row in rows:
        uri = uri_of.get(row.dest_abs) if row.dest_abs else None
        image = f'<img class="thumb" alt="" src="{uri}">' if uri else '<span class="muted">–</span>'
        lines.append(f'<tr class="review"><td>{image}</td><td>{escape(row.filename)}</td>'
                     f"<td>{escape(row.category)}</td><td class=num>{row.confidence:.1%}</td>"
                     f"<td>{escape(row.top2_category)}</td><td>{escape(row.destination)}</td></tr>")
    lines.append("</table>")
    if len(rows) > max_thumbnails:
        lines.append(f'<p class="muted">Thumbnails shown for the first {max_thumbnails}.</p>')
    return "".join(lines)


def _failures(rows: list[ResultRow]) -> str:
    head = f"<h2>Failed ({len(rows)})</h2>"
    if not rows:
        return head + '<p class="muted">No failures.</p>'
    lines = ["<table><tr><th>File</th><th>Status</th><th>Reason</th><th>Now in</th></tr>"]
    for row in rows:
        where = row.destination or "left in place"
        lines.append(f'<tr class="error"><td>{escape(row.filename)}</td><td>{escape(row.status)}</td>'
                     f"<td>{escape(row.error)}</td><td>{escape(where)}</td></tr>")
    lines.append("</table>")
    return head + "".join(lines)


def _kept(rows: list[ResultRow]) -> str:
    if not rows:
        return ""
    lines = [f"<h2>Left for manual cleanup ({len(rows)})</h2><p>Classified and copied, but the original "
             "could not be removed from the incoming folder (permissions). Delete it once the copy is "
             "checked; the next run also removes it when it can.</p>"
             "<table><tr><th>File</th><th>Copied to</th><th>Why</th></tr>"]
    for row in rows:
        lines.append(f"<tr><td>{escape(row.filename)}</td><td>{escape(row.destination)}</td>"
                     f"<td>{escape(row.note)}</td></tr>")
    return "".join(lines) + "</table>"


def _pick_lists(results: RunResults, locations: dict[str, str]) -> str:
    by_category: dict[str, list[ResultRow]] = defaultdict(list)
    for row in results.successes:
        by_category[row.category].append(row)
    parts = ["<h2>Pick lists</h2>"]
    if not by_category:
        parts.append('<p class="muted">No items to shelve.</p>')
    for category in sorted(by_category):
        rows = sorted(by_category[category], key=lambda r: r.filename)
        parts.append(f'<div class="pick"><h3>{escape(category)} → {escape(location_for(locations, category))}'
                     f' ({len(rows)})</h3><table><tr><th class=box>✓</th><th>File</th><th>Folder</th>'
                     "<th>Tier</th><th class=num>Confidence</th></tr>")
        for row in rows:
            css = ' class="review"' if row.tier == REVIEW else ""
            parts.append(f"<tr{css}><td class=box>☐</td><td>{escape(row.filename)}</td>"
                         f"<td>{escape(row.destination)}</td><td>{escape(row.tier_title)}</td>"
                         f"<td class=num>{row.confidence:.1%}</td></tr>")
        parts.append("</table></div>")
    return "".join(parts)
