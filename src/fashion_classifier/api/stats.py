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
    """The same summary as the SQL of ``_latency``, from a Python list (for tests and tools)."""
    values = sorted(seconds)
    return _summary(len(values), sum(values) / len(values) if values else None,
                    *(percentile(values, q) for q in (50, 95, 99)))


def _summary(count: int, mean, p50, p95, p99) -> dict:
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    return {"count": count, "p50": ms(p50), "p95": ms(p95), "p99": ms(p99), "mean": ms(mean)}


# Percentiles in SQL (nearest rank: the ceil(q * n / 100)-th smallest), so a /stats call never
# pulls tens of thousands of rows into Python: that raised worker memory as the table grew.
_LATENCY_SQL = """
WITH recent AS (
    SELECT {group} AS grp, response_time FROM api_calls
    WHERE timestamp >= ? ORDER BY id DESC LIMIT ?
), ranked AS (
    SELECT grp, response_time,
           ROW_NUMBER() OVER (PARTITION BY grp ORDER BY response_time) AS rn,
           COUNT(*) OVER (PARTITION BY grp) AS n
    FROM recent
)
SELECT grp, n, AVG(response_time) AS mean,
       MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN response_time END) AS p50,
       MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN response_time END) AS p95,
       MAX(CASE WHEN rn = (99 * n + 99) / 100 THEN response_time END) AS p99
FROM ranked GROUP BY grp ORDER BY grp
"""
_ENDPOINT_GROUP = "CASE WHEN endpoint IN ({}) THEN endpoint ELSE 'other' END".format(
    ", ".join(f"'{e}'" for e in KNOWN_ENDPOINTS))


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
        latency = _latency(db, window_hours)
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
        "latency_ms": latency,
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


def _latency(db: HistoryDB, window_hours: float) -> dict:
    since = (datetime.now() - timedelta(hours=window_hours)).isoformat(timespec="seconds")

    def summaries(group: str) -> dict:
        rows = db.execute(_LATENCY_SQL.format(group=group), (since, MAX_LATENCY_ROWS))
        return {r["grp"]: _summary(r["n"], r["mean"], r["p50"], r["p95"], r["p99"]) for r in rows}

    return {
        "window_hours": window_hours,
        "all": summaries("'all'").get("all", _summary(0, None, None, None, None)),
        "by_endpoint": summaries(_ENDPOINT_GROUP),
    }


def images_received(db_path: Path) -> int:
    """Images the prediction endpoints had in hand (classified or not); calls the batch logged
    because they never reached the API (status 0) are not among them."""
    with closing(HistoryDB(db_path)) as db:
        row = db.execute("SELECT COALESCE(SUM(images), 0) AS n FROM api_calls"
                         " WHERE endpoint IN ('/predict', '/predict_batch') AND status_code > 0")[0]
    return int(row["n"])
