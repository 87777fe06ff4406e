"""API statistics from the history database (all workers, across restarts)."""

from __future__ import annotations

import math
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

from ..history import HistoryDB
from ..model import TIERS

MAX_LATENCY_ROWS = 50_000  # newest calls in the window; bounds the cost of a /stats call
KNOWN_ENDPOINTS = ("/", "/health", "/healthz", "/readyz", "/classes", "/version", "/stats", "/metrics",
                   "/predict", "/predict_batch", "/openapi.json", "/docs")


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(seconds: list[float]) -> dict:
    values = sorted(seconds)
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    return {
        "count": len(values),
        "p50": ms(percentile(values, 50)),
        "p95": ms(percentile(values, 95)),
        "p99": ms(percentile(values, 99)),
        "mean": ms(sum(values) / len(values)) if values else None,
    }


def collect(db_path: Path, labels: tuple[str, ...], window_hours: float) -> dict:
    with closing(HistoryDB(db_path)) as db:
        totals = dict(db.execute(
            "SELECT COUNT(*) AS total, COALESCE(SUM(success), 0) AS ok,"
            " COALESCE(SUM(status_code >= 500), 0) AS server_errors,"
            " MIN(timestamp) AS first, MAX(timestamp) AS last FROM api_calls")[0])
        endpoints = db.execute("SELECT endpoint, COUNT(*) AS n, SUM(NOT success) AS errors"
                               " FROM api_calls GROUP BY endpoint")
        statuses = db.execute("SELECT status_code, COUNT(*) AS n FROM api_calls GROUP BY status_code")
        categories = db.execute("SELECT category, COUNT(*) AS n FROM api_predictions GROUP BY category")
        tiers = db.execute("SELECT tier, COUNT(*) AS n FROM api_predictions GROUP BY tier")
        since = (datetime.now() - timedelta(hours=window_hours)).isoformat(timespec="seconds")
        recent = db.execute("SELECT endpoint, response_time FROM api_calls WHERE timestamp >= ?"
                            " ORDER BY id DESC LIMIT ?", (since, MAX_LATENCY_ROWS))
    total = totals["total"]
    return {
        "total_requests": total,
        "successful_requests": totals["ok"],
        "failed_requests": total - totals["ok"],
        "error_rate": round((total - totals["ok"]) / total, 6) if total else 0.0,
        "server_error_rate": round(totals["server_errors"] / total, 6) if total else 0.0,
        "requests_by_endpoint": _by_endpoint(endpoints),
        "status_codes": {str(r["status_code"]): r["n"] for r in statuses},
        "total_predictions": sum(r["n"] for r in categories),
        "predictions_by_category": _counts(categories, "category", labels),
        "predictions_by_tier": _counts(tiers, "tier", TIERS),
        "latency_ms": _latency(recent, window_hours),
        "first_request": totals["first"],
        "last_request": totals["last"],
    }


def _by_endpoint(rows) -> dict:
    """Known endpoints by name; everything else (404s, probes of odd paths) as "other"."""
    out: dict[str, dict] = {}
    for row in rows:
        name = row["endpoint"] if row["endpoint"] in KNOWN_ENDPOINTS else "other"
        entry = out.setdefault(name, {"requests": 0, "errors": 0})
        entry["requests"] += row["n"]
        entry["errors"] += row["errors"] or 0
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["requests"]))


def _counts(rows, key: str, names) -> dict[str, int]:
    counts = {name: 0 for name in names}
    for row in rows:
        counts[row[key]] = counts.get(row[key], 0) + row["n"]
    return counts


def _latency(rows, window_hours: float) -> dict:
    by_endpoint: dict[str, list[float]] = {}
    for row in rows:
        name = row["endpoint"] if row["endpoint"] in KNOWN_ENDPOINTS else "other"
        by_endpoint.setdefault(name, []).append(row["response_time"])
    return {
        "window_hours": window_hours,
        "all": latency_summary([t for times in by_endpoint.values() for t in times]),
        "by_endpoint": {name: latency_summary(times) for name, times in sorted(by_endpoint.items())},
    }
