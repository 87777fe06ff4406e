"""The dashboard's charts, rendered on the server as inline SVG (the page refreshes them as HTML)."""

from __future__ import annotations

from ..batch.outputs.charts import category_bars
from ..config import Config
from ..labels import OTHER, category_names, folder_names
from ..model import TIER_TITLES
from ..monitoring import svg
from ..monitoring.queries import TIER_KEYS
from .data import RECENT_HOURS, Overview

SOURCE_COLOURS = {"API": svg.BLUE, "Batch": svg.PALETTE[1]}


def charts(o: Overview, config: Config) -> dict[str, str]:
    labels = [f"{d:%a %d}" if o.days <= 7 else f"{d:%m-%d}" for d, _ in o.daily]
    days = [t for _, t in o.daily]
    names = folder_names(category_names(config))
    seen = [c for c in names if o.period["categories"][c]] + sorted(
        c for c in o.period["categories"] if c not in names and o.period["categories"][c])
    return {
        "api_latency": _latency(o),
        "volume": svg.bar_chart("volume", labels, [t["images"] for t in days], width=520),
        "success_rate": svg.line_chart("success_rate", labels,
                                       {"success rate": [t["success_rate"] for t in days]},
                                       unit="%", top=100, width=520),
        "throughput": svg.line_chart("throughput", labels,
                                     {"images/minute": [t["images_per_minute"] for t in days]}, width=520),
        "confidence_mix": svg.stacked_bars("confidence_mix", labels,
                                           {TIER_TITLES[k]: [t["tiers"][k] for t in days] for k in TIER_KEYS},
                                           colours=svg.TIER_COLOURS, share=True, width=520),
        "other_share": svg.line_chart("other_share", labels,
                                      {f"{OTHER} (none of ours)": [t["other_share"] for t in days]},
                                      unit="%", width=520),
        "category_mix": svg.stacked_bars("category_mix", labels,
                                         {c: [t["categories"][c] for t in days] for c in seen},
                                         share=True, width=1060, height=250),
        "last_categories": _last_categories(o),
        "last_confidence": _last_confidence(o, config),
        "errors": _errors(o),
    }


def _latency(o: Overview) -> str:
    hours = sorted({h for h, _, _ in o.latency_hours} | {c["timestamp"][:13] for c in o.checks})
    if not hours:
        return svg.empty("api_latency", "No API calls or health checks in the last 24 hours.")
    api = dict((h, avg) for h, avg, _ in o.latency_hours)
    probes: dict[str, list[float]] = {}
    for c in o.checks:
        if c["ok"] and c["response_time"] is not None:
            probes.setdefault(c["timestamp"][:13], []).append(c["response_time"])
    series = {"API calls (mean)": [_ms(api.get(h)) for h in hours],
              "health checks": [_ms(sum(probes[h]) / len(probes[h])) if h in probes else None for h in hours]}
    return svg.line_chart("api_latency", [f"{h[11:13]}:00" for h in hours], series, unit=" ms", width=1060)


def _errors(o: Overview) -> str:
    if not o.errors:
        return svg.empty("errors", f"No errors in the last {RECENT_HOURS} hours.")
    colours = [SOURCE_COLOURS["API" if e.source == "api" else "Batch"] for e in o.errors]
    return svg.horizontal_bars("errors", [e.label for e in o.errors], [e.count for e in o.errors], colours,
                               legend=SOURCE_COLOURS, width=1060, label_width=300)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else 1000.0 * seconds


def _last_categories(o: Overview) -> str:
    run = o.shown_run
    if run is None or not run.categories:
        return svg.empty("last_categories", "No classified images in the last run.")
    return _named(category_bars(dict(run.categories.most_common()), width=520), "last_categories")


def _last_confidence(o: Overview, config: Config) -> str:
    run = o.shown_run
    if run is None or not run.tiers:
        return svg.empty("last_confidence", "No classified images in the last run.")
    auto, check = config.auto_threshold, config.check_threshold  # the spec's 85 % and 70 % by default
    names = {"auto": f"High ≥{auto:.0%}", "check": f"Medium {100 * check:.0f}-{auto:.0%}",
             "review": f"Low <{check:.0%}"}
    counts = {names[k]: run.tiers[k] for k in TIER_KEYS}
    return _named(category_bars(counts, width=520), "last_confidence")


def _named(chart: str, name: str) -> str:
    """The batch report's bar chart, tagged like ours (tests and styles find charts by name)."""
    return chart.replace('class="chart"', f'class="chart" data-chart="{name}"', 1)
