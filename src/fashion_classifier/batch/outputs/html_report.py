"""``batch_report_<run>.html``: one self-contained page for the morning review.

Titled with the run's date in words. First what needs a person: the photos
waiting for a look (in the review queue's order, with thumbnails as data URIs
and a link to the queue), those already reviewed, the failures with a
plain-English reason and what to do; then a pick list per shelf with its
warehouse location (file names in natural order: IMG_2 before IMG_10), the
totals, a category bar chart and a confidence histogram (inline SVG). A
Content-Security-Policy forbids any network access, so the page is safe to
open from an e-mail or a share.
Every clerk-supplied string is HTML-escaped.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from html import escape
from pathlib import Path

from ...labels import OTHER
from ...model import AUTO, CHECK, REVIEW, TIER_TITLES
from ..locations import location_for
from .atomic import write_text
from .charts import category_bars, confidence_histogram
from .messages import reason_for
from .results import ResultRow, RunResults, natural_key
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


def review_url(config) -> str:
    """The dashboard's review queue, as the clerks reach it."""
    return config.dashboard_url.rstrip("/") + "/review"


def write_report(path: Path, results: RunResults, summary: dict, locations: dict[str, str],
                 max_thumbnails: int, queue_url: str = "") -> Path:
    return write_text(path, render(results, summary, locations, max_thumbnails, queue_url))


def render(results: RunResults, summary: dict, locations: dict[str, str], max_thumbnails: int,
           queue_url: str = "") -> str:
    title = run_title(results.run_id)
    sections = [
        _header(results, summary, title),
        _needs_a_look(results.needs_a_look, max_thumbnails, queue_url),
        _reviewed(results.reviewed),
        _failures(results.failures, max_thumbnails),
        _kept([r for r in results.rows if r.source_kept]),
        _pick_lists(results, locations),
        "<h2>Categories</h2>" + category_bars(results.categories_sorted()),
        "<h2>Confidence</h2>" + confidence_histogram(
            [r.confidence for r in results.successes], results.tiers.check_threshold,
            results.tiers.auto_threshold),
    ]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(sections) + "</body></html>\n")


def run_title(run_id: str) -> str:
    """``20261201_020000`` -> "Returns of Tuesday 1 December 2026" (the run id if it is no date)."""
    try:
        day = datetime.strptime(run_id[:8], "%Y%m%d")
    except ValueError:
        return f"Returns, run {run_id}"
    return f"Returns of {day:%A} {day.day} {day:%B %Y}"


def _header(results: RunResults, summary: dict, title: str) -> str:
    cards = [
        ("Photos", summary["total_processed"]), ("Classified", summary["successful"]),
        ("Need a look", len(results.needs_a_look)), ("Failed", summary["failed"]),
        (TIER_TITLES[AUTO], len(results.in_tier(AUTO))), (TIER_TITLES[CHECK], len(results.in_tier(CHECK))),
        (TIER_TITLES[REVIEW], len(results.in_tier(REVIEW))), ("Not ours (Other)", len(results.others)),
        ("Duplicates", summary["duplicates"]), ("Reviewed", len(results.reviewed)),
        ("Time", f'{summary["processing_time_seconds"]:.1f} s'),
    ]
    card_html = "".join(f'<div class="card">{escape(str(k))}<b>{escape(str(v))}</b></div>' for k, v in cards)
    versions = ", ".join(results.model_versions) or "-"
    meta = (f'Run {escape(results.run_id)} · classified via {escape(summary["classifier_path"])}'
            f' · model {escape(versions)} · attempts {summary["attempts"]}')
    if summary.get("regenerated_at"):
        meta += f' · updated after the review at {escape(summary["regenerated_at"])}'
    return f'<h1>{escape(title)}</h1><p class="muted">{meta}</p><div class="cards">{card_html}</div>'


def _needs_a_look(rows: list[ResultRow], max_thumbnails: int, queue_url: str) -> str:
    link = (f' <a href="{escape(queue_url)}">Open the review queue</a> to decide them.' if queue_url else "")
    head = (f'<h2 id="look">Photos that need a look ({len(rows)})</h2><p>Manual review first, least '
            f"certain first, as in the review queue. Decide them before shelving.{link}</p>")
    if not rows:
        return head + '<p class="muted">Nothing is waiting for a look.</p>'
    others = sum(r.model_category == OTHER for r in rows)
    if others:
        head += (f"<p>Not one of our categories ({others}): the model judged these none of ours; they are "
                 f"in the {OTHER} folder. Confirm \"not ours\" or pick the right category.</p>")
    return head + _photo_table(rows, max_thumbnails)


def _photo_table(rows: list[ResultRow], max_thumbnails: int) -> str:
    uri_of = _thumbnails(rows[:max_thumbnails])
    lines = ["<table><tr><th>Photo</th><th>File</th><th>Why</th><th>Model says</th>"
             "<th class=num>Confidence</th><th>Second guess</th><th>Shelf now</th></tr>"]
    for row in rows:
        why = "not one of ours?" if row.model_category == OTHER else row.tier_title
        lines.append(f'<tr class="review"><td>{_image(uri_of.get(row.dest_abs))}</td>'
                     f"<td>{escape(row.filename)}</td><td>{escape(why)}</td>"
                     f"<td>{escape(row.model_category)}</td><td class=num>{row.confidence:.1%}</td>"
                     f"<td>{escape(row.top2_category)}</td><td>{escape(_shelf(row))}</td></tr>")
    lines.append("</table>")
    if len(rows) > max_thumbnails:
        lines.append(f'<p class="muted">Pictures shown for the first {max_thumbnails}.</p>')
    return "".join(lines)


def _thumbnails(rows: list[ResultRow]) -> dict[str, str | None]:
    paths = list(dict.fromkeys(r.dest_abs for r in rows if r.dest_abs))
    with ThreadPoolExecutor(max_workers=THUMBNAIL_THREADS) as pool:  # decoding releases the GIL
        return dict(zip(paths, pool.map(thumbnail_uri, [Path(p) for p in paths]), strict=True))


def _image(uri: str | None) -> str:
    return f'<img class="thumb" alt="" src="{uri}">' if uri else '<span class="muted">no picture</span>'


def _reviewed(rows: list[ResultRow]) -> str:
    if not rows:
        return ""
    lines = [f'<h2 id="reviewed">Already reviewed ({len(rows)})</h2><table><tr><th>File</th>'
             "<th>Decision</th><th>Model said</th><th>Category now</th><th>By</th><th>When</th>"
             "<th>Shelf now</th></tr>"]
    for row in rows:
        lines.append(f"<tr><td>{escape(row.filename)}</td><td>{escape(row.review_words)}</td>"
                     f"<td>{escape(row.model_category)}</td><td>{escape(row.category)}</td>"
                     f"<td>{escape(row.reviewer)}</td><td>{escape(row.reviewed_at)}</td>"
                     f"<td>{escape(_shelf(row))}</td></tr>")
    return "".join(lines) + "</table>"


def _shelf(row: ResultRow) -> str:
    """The folder, and the file's name there when it differs (a name taken: ``_2``)."""
    name = Path(row.dest_abs).name
    return row.shelf + (f" (as {name})" if name != Path(row.filename).name else "")


def _failures(rows: list[ResultRow], max_thumbnails: int) -> str:
    head = f'<h2 id="failed">Failed ({len(rows)})</h2>'
    if not rows:
        return head + '<p class="muted">No failures.</p>'
    rows = sorted(rows, key=lambda r: natural_key(r.filename))
    uri_of = _thumbnails(rows[:max_thumbnails])
    lines = ["<table><tr><th>Photo</th><th>File</th><th>What happened</th><th>What to do</th>"
             "<th>Where it is</th></tr>"]
    for row in rows:
        reason = reason_for(row.error_code, row.status)
        what = row.error.removesuffix(reason.advice).strip() or reason.what
        where = _shelf(row).replace(row.shelf, f"{row.shelf} folder", 1) if row.shelf \
            else "still in the incoming folder"
        lines.append(f'<tr class="error"><td>{_image(uri_of.get(row.dest_abs))}</td>'
                     f"<td>{escape(row.filename)}</td><td>{escape(what)}</td>"
                     f"<td>{escape(reason.advice)}</td><td>{escape(where)}</td></tr>")
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
        if row.category:  # a photo the review set aside (retake) goes on no shelf
            by_category[row.category].append(row)
    parts = ["<h2>Pick lists</h2>"]
    if not by_category:
        parts.append('<p class="muted">No items to shelve.</p>')
    for category in sorted(by_category):
        rows = sorted(by_category[category], key=lambda r: natural_key(r.filename))
        parts.append(f'<div class="pick"><h3>{escape(category)} → {escape(location_for(locations, category))}'
                     f' ({len(rows)})</h3><table><tr><th class=box>✓</th><th>File</th><th>Shelf folder</th>'
                     "<th>Tier</th><th class=num>Confidence</th></tr>")
        for row in rows:
            css = ' class="review"' if row.tier == REVIEW else ""
            parts.append(f"<tr{css}><td class=box>☐</td><td>{escape(row.filename)}</td>"
                         f"<td>{escape(_shelf(row))}</td><td>{escape(row.tier_title)}</td>"
                         f"<td class=num>{row.confidence:.1%}</td></tr>")
        parts.append("</table></div>")
    return "".join(parts)
