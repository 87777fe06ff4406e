"""Read-only questions to the execution-history database, shared by reports and dashboard.

``batch_runs`` gives each run's totals; the batch journal (``batch_files``) adds
what the spec's table lacks: the category mix (as it is after the clerks' review
decisions), the confidence tiers and the average confidence of each run. Times
are the database's local ISO strings, so ranges compare as text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from ..history import HistoryDB
from ..labels import OTHER
from ..model import AUTO, CHECK, REVIEW
from ..where_now import CURRENT_CATEGORY

TIER_KEYS = (AUTO, CHECK, REVIEW)


@dataclass
class Run:
    """One ``batch_runs`` row with its journal's category and tier counts."""

    id: int
    run_id: str
    timestamp: datetime
    total: int
    successful: int
    failed: int
    success_rate: float
    duration: float | None
    status: str
    error_message: str
    classifier_path: str
    low_confidence: int | None
    categories: Counter = field(default_factory=Counter)
    tiers: Counter = field(default_factory=Counter)
    confidence_sum: float = 0.0
    category_confidence: Counter = field(default_factory=Counter)  # sum of confidences per category

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def images_per_minute(self) -> float | None:
        return 60.0 * self.total / self.duration if self.duration else None

    @property
    def avg_confidence(self) -> float | None:
        classified = sum(self.categories.values())
        return self.confidence_sum / classified if classified else None


def _run(row) -> Run:
    return Run(id=row["id"], run_id=row["run_id"] or "", timestamp=datetime.fromisoformat(row["timestamp"]),
               total=row["total_images"], successful=row["successful"], failed=row["failed"],
               success_rate=float(row["success_rate"]), duration=row["duration_seconds"],
               status=row["status"], error_message=row["error_message"] or "",
               classifier_path=row["classifier_path"] or "", low_confidence=row["low_confidence"])


def day_start(d: date) -> str:
    return datetime.combine(d, time()).isoformat(timespec="seconds")


def day_range(first: date, last: date) -> tuple[str, str]:
    """[first 00:00, the day after last 00:00): both days included."""
    return day_start(first), day_start(last + timedelta(days=1))


class History:
    def __init__(self, db: HistoryDB):
        self.db = db

    # --- batch runs --------------------------------------------------------------
    def runs_between(self, start: str, end: str) -> list[Run]:
        rows = self.db.execute("SELECT * FROM batch_runs WHERE timestamp >= ? AND timestamp < ?"
                               " ORDER BY timestamp, id", (start, end))
        return self._with_journal([_run(r) for r in rows])

    def last_runs(self, count: int) -> list[Run]:
        rows = self.db.execute("SELECT * FROM batch_runs ORDER BY timestamp DESC, id DESC LIMIT ?", (count,))
        return self._with_journal([_run(r) for r in reversed(rows)])

    def last_run(self) -> Run | None:
        runs = self.last_runs(1)
        return runs[0] if runs else None

    def _with_journal(self, runs: list[Run]) -> list[Run]:
        by_id = {r.run_id: r for r in runs if r.run_id}
        ids = sorted(by_id)
        for start in range(0, len(ids), 500):  # SQLite's parameter limit
            part = ids[start:start + 500]
            marks = ", ".join("?" for _ in part)
            for row in self.db.execute(
                    # the category a photo has now (a clerk's correction counts), not the batch's first one
                    f"SELECT f.run_id, {CURRENT_CATEGORY} AS category, f.tier, COUNT(*) AS n,"
                    " SUM(f.confidence) AS conf FROM batch_files f"
                    f" WHERE f.status = 'success' AND f.run_id IN ({marks})"
                    " GROUP BY f.run_id, 2, f.tier", part):
                run = by_id[row["run_id"]]
                run.tiers[row["tier"]] += row["n"]
                run.confidence_sum += row["conf"] or 0.0
                if row["category"]:  # "" : set aside by the review (a retake), in no category
                    run.categories[row["category"]] += row["n"]
                    run.category_confidence[row["category"]] += row["conf"] or 0.0
        return runs

    # --- alerts and API -------------------------------------------------------------
    def alerts_between(self, start: str, end: str) -> list[dict]:
        return [dict(r) for r in self.db.execute(
            "SELECT * FROM alerts WHERE timestamp >= ? AND timestamp < ? ORDER BY timestamp DESC, id DESC",
            (start, end))]

    def recent_alerts(self, limit: int) -> list[dict]:
        return [dict(r) for r in self.db.execute(
            "SELECT * FROM alerts ORDER BY timestamp DESC, id DESC LIMIT ?", (limit,))]

    def api_calls(self, start: str, end: str | None = None) -> dict:
        """Totals and response times of the calls the API recorded in the window."""
        end = end or "9999"
        row = self.db.execute(
            "SELECT COUNT(*) AS total, COALESCE(SUM(success), 0) AS ok, AVG(response_time) AS avg,"
            " MAX(response_time) AS max FROM api_calls WHERE timestamp >= ? AND timestamp < ?"
            " AND status_code > 0", (start, end))[0]
        times = [r[0] for r in self.db.execute(
            "SELECT response_time FROM api_calls WHERE timestamp >= ? AND timestamp < ? AND status_code > 0"
            " ORDER BY response_time", (start, end))]
        return {"total": row["total"], "successful": row["ok"], "avg": row["avg"], "max": row["max"],
                "p95": _percentile(times, 95), "success_rate": 100.0 * row["ok"] / row["total"]
                if row["total"] else None}

    def api_latency_by_hour(self, start: str) -> list[tuple[str, float, int]]:
        """(hour 'YYYY-MM-DDTHH', mean seconds, calls) of the API's recorded calls."""
        return [(r["hour"], r["avg"], r["n"]) for r in self.db.execute(
            "SELECT substr(timestamp, 1, 13) AS hour, AVG(response_time) AS avg, COUNT(*) AS n"
            " FROM api_calls WHERE timestamp >= ? AND status_code > 0 GROUP BY hour ORDER BY hour", (start,))]

    def health_checks(self, start: str) -> list[dict]:
        return [dict(r) for r in self.db.execute(
            "SELECT * FROM health_checks WHERE timestamp >= ? ORDER BY timestamp, id", (start,))]

    def last_health_check(self) -> dict | None:
        rows = self.db.execute("SELECT * FROM health_checks ORDER BY id DESC LIMIT 1")
        return dict(rows[0]) if rows else None

    # --- review ---------------------------------------------------------------------
    def reviewed_between(self, start: str, end: str) -> Counter:
        """Review decisions by action ('confirmed', 'corrected')."""
        return Counter({r["action"]: r["n"] for r in self.db.execute(
            "SELECT action, COUNT(*) AS n FROM review_decisions WHERE decided_at >= ? AND decided_at < ?"
            " AND state = 'done' AND undo_state IS NULL GROUP BY action", (start, end))})


def _percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def totals(runs: Sequence[Run]) -> dict:
    """Aggregate of runs: the figures of the spec's summaries (images-weighted success rate)."""
    images = sum(r.total for r in runs)
    ok = sum(r.successful for r in runs)
    classified = sum(sum(r.categories.values()) for r in runs)
    durations = [r.duration for r in runs if r.duration is not None]
    categories: Counter = Counter()
    tiers: Counter = Counter()
    confidence: Counter = Counter()
    for r in runs:
        categories.update(r.categories)
        tiers.update(r.tiers)
        confidence.update(r.category_confidence)
    return {
        "runs": len(runs), "successful_runs": sum(r.ok for r in runs),
        "failed_runs": sum(r.status == "failed" for r in runs),
        "partial_runs": sum(r.status == "partial" for r in runs),
        "images": images, "successful": ok, "failed": sum(r.failed for r in runs),
        "success_rate": 100.0 * ok / images if images else None,
        "avg_duration": sum(durations) / len(durations) if durations else None,
        "images_per_minute": 60.0 * images / sum(durations) if durations and sum(durations) else None,
        "avg_confidence": sum(r.confidence_sum for r in runs) / classified if classified else None,
        "categories": categories, "tiers": tiers,
        "category_confidence": {c: confidence[c] / n for c, n in categories.items() if n},
        # photos judged none of our categories: review work, not failures
        "other": categories[OTHER],
        "other_share": 100.0 * categories[OTHER] / classified if classified else None,
    }


def daily(runs: Sequence[Run], first: date, last: date) -> list[tuple[date, dict]]:
    """``totals`` of each day from first to last (days without a run included, with zero runs)."""
    days: dict[date, list[Run]] = {first + timedelta(days=i): [] for i in range((last - first).days + 1)}
    for run in runs:
        if run.timestamp.date() in days:
            days[run.timestamp.date()].append(run)
    return [(d, totals(rs)) for d, rs in days.items()]
