"""What the dashboard shows, read from the execution history (and one live probe of the API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ..config import Config
from ..history import HistoryDB
from ..monitoring.activity import Classification, ErrorGroup, error_groups, recent_classifications
from ..monitoring.api_health import Probe, probe
from ..monitoring.queries import History, Run, daily, totals
from ..review import queue_counts
from .morning import Morning, morning

PROBE_TIMEOUT = 2.0  # the page must not hang on a dead API
RANGES = (7, 30, 90)
RECENT_PREDICTIONS = 20
RECENT_HOURS = 24  # the spec's "last 24 h": API card, latency chart, error distribution


@dataclass
class Overview:
    now: datetime
    days: int
    api: Probe
    api_calls: dict  # last 24 h: totals and response times of the API's own records
    latency_hours: list[tuple[str, float, int]]
    checks: list[dict]  # cron health checks, last 24 h
    last_run: Run | None
    runs: list[Run]
    period: dict  # totals over the range
    week: dict  # totals over the last 7 days
    daily: list[tuple[date, dict]]
    alerts: list[dict]
    queue: dict
    recent: list[Classification]  # newest first, API and batch
    errors: list[ErrorGroup]  # since errors_since (RECENT_HOURS ago), most frequent first
    errors_since: str
    model_in_service: str = ""
    model_events: list[dict] = field(default_factory=list)  # promotions and rollbacks, newest first
    morning: Morning | None = None  # the first screen: to review, pick lists, the night's reports

    @property
    def shown_run(self) -> Run | None:
        """The run the "last night" panels describe: the last one with photos, else the last one."""
        night = self.morning.last_photos if self.morning else None
        return night.run if night else self.last_run

    @property
    def uptime(self) -> float | None:
        """Share of the cron health checks of the last 24 h that passed."""
        return 100.0 * sum(bool(c["ok"]) for c in self.checks) / len(self.checks) if self.checks else None

    @property
    def last_check(self) -> dict | None:
        return self.checks[-1] if self.checks else None


def first_day(days: int, now: datetime) -> date:
    """The range is calendar days, today included (what the daily charts show)."""
    return now.date() - timedelta(days=days - 1)


def overview(config: Config, db: HistoryDB, days: int, now: datetime | None = None) -> Overview:
    now = now or datetime.now()
    days = days if days in RANGES else RANGES[0]
    history = History(db)
    first = first_day(days, now)
    runs = history.runs_between(first.isoformat(), "9999")
    week_start = (now - timedelta(days=7)).isoformat(timespec="seconds")
    day_ago = (now - timedelta(hours=RECENT_HOURS)).isoformat(timespec="seconds")
    queue = queue_counts(db, config.path("processed_dir"))
    return Overview(
        now=now, days=days,
        api=probe(config.api_url, "/health", min(PROBE_TIMEOUT, config.health_check_timeout_seconds)),
        api_calls=history.api_calls(day_ago), latency_hours=history.api_latency_by_hour(day_ago),
        checks=history.health_checks(day_ago), last_run=history.last_run(), runs=runs, period=totals(runs),
        week=totals([r for r in runs if r.timestamp.isoformat() >= week_start]),
        daily=daily(runs, first, now.date()), alerts=history.recent_alerts(10),
        queue=queue, morning=morning(config, db, queue["waiting"]),
        recent=recent_classifications(db, RECENT_PREDICTIONS), errors=error_groups(db, day_ago),
        errors_since=day_ago, model_in_service=_in_service(config), model_events=db.model_events(10))


def _in_service(config: Config) -> str:
    from ..models.store import ModelStore, uses_store

    if not uses_store(config):
        return str(config.model_path)
    version = ModelStore.of(config).current()
    return version.card.get("version") or version.name


def as_json(o: Overview) -> dict:
    """The overview for scripts (GET /api/overview)."""
    last = o.last_run
    return {
        "generated": o.now.isoformat(timespec="seconds"), "days": o.days,
        "api": {"up": o.api.ok, "status_code": o.api.status_code, "seconds": round(o.api.seconds, 4),
                "detail": o.api.detail, "calls_24h": o.api_calls, "uptime_24h": o.uptime},
        "last_run": None if last is None else {
            "run_id": last.run_id, "timestamp": last.timestamp.isoformat(), "status": last.status,
            "total_images": last.total, "successful": last.successful, "failed": last.failed,
            "success_rate": last.success_rate, "duration_seconds": last.duration,
            "categories": dict(last.categories)},
        "period": _plain(o.period), "last_7_days": _plain(o.week),
        "daily": [{"date": d.isoformat(), **_plain(t)} for d, t in o.daily],
        "alerts": [{k: a[k] for k in ("timestamp", "severity", "subject", "source")} for a in o.alerts],
        "review_queue": o.queue,
        "morning": o.morning.as_json() if o.morning else None,
        "model": {"in_service": o.model_in_service,
                  "events": [{k: e[k] for k in ("timestamp", "action", "actor", "from_version", "to_version",
                                                "forced")} for e in o.model_events]},
        "recent_predictions": [c.as_json() for c in o.recent],
        "error_distribution": {"window_hours": RECENT_HOURS, "since": o.errors_since,
                               "total": sum(e.count for e in o.errors),
                               "groups": [e.as_json() for e in o.errors]},
    }


def _plain(t: dict) -> dict:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in t.items()}
