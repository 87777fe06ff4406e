"""``monitoring/check_api_health.py``: is the API up? Alert after N failures in a row, once.

Every run (cron, every 5 minutes) probes ``/health`` (or ``/readyz``) with a
timeout and remembers the count of consecutive failures in a state file. The
CRITICAL "API Down" alert goes out when the count reaches the threshold (3),
once per outage; the first successful check after that sends one "API
Recovered". A single blip is a warning, never an alert. Every check is logged
in the ``health_checks`` table (the dashboard's uptime and latency history).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import datetime

import requests

from ..alerts import deliver, no_channel_notice
from ..alerts.health import api_recovered_alert, api_unhealthy_alert
from ..alerts.model import Alert
from ..config import Config
from ..history import HistoryDB, now_iso
from .common import add_location_args, crash_is_critical, located, optional_history
from .state import StateFile
from .status import CRITICAL, OK, WARNING, level_name

ENDPOINTS = {"health": "/health", "readyz": "/readyz"}


@dataclass(frozen=True)
class Probe:
    target: str
    ok: bool
    status_code: int | None
    seconds: float
    detail: str
    model_missing: bool = False


@dataclass
class Outcome:
    level: int
    probe: Probe
    failures: int
    message: str
    alert: Alert | None = None


def probe(base_url: str, endpoint: str, timeout: float) -> Probe:
    target = base_url.rstrip("/") + endpoint
    start = time.perf_counter()
    try:
        response = requests.get(target, timeout=timeout)
    except requests.Timeout:
        return Probe(target, False, None, time.perf_counter() - start, f"no answer within {timeout:g}s")
    except requests.RequestException as exc:
        return Probe(target, False, None, time.perf_counter() - start, f"cannot connect: {_reason(exc)}")
    seconds = time.perf_counter() - start
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    if response.status_code == 200 and body.get("status") in ("healthy", "ready"):
        return Probe(target, True, 200, seconds, f"model {body.get('model_version') or '?'}")
    missing = body.get("model_loaded") is False or body.get("code") == "not_ready"
    detail = f"HTTP {response.status_code}" + (": model not loaded" if missing else "")
    return Probe(target, False, response.status_code, seconds, detail, missing)


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host"):
        if marker in text:
            return marker
    return type(exc).__name__


def advance(state: dict, result: Probe, threshold: int, slow_seconds: float, now: str) -> Outcome:
    """The state machine (pure: the caller reads and writes the state file)."""
    state["last_check"] = now
    if result.ok:
        return _success(state, result, slow_seconds, now)
    failures = int(state.get("consecutive_failures") or 0) + 1
    since = state.get("failing_since") or now
    state.update(consecutive_failures=failures, failing_since=since, last_error=result.detail)
    text = f"{result.target}: {result.detail}"
    if failures < threshold:
        return Outcome(WARNING, result, failures,
                       f"{text} (failure {failures} of {threshold} before alerting)")
    alert = None
    if not state.get("alerted"):
        alert = api_unhealthy_alert(result.target, failures, since, result.detail, result.model_missing)
        state.update(alerted=True, alerted_at=now)
        note = "alerting"
    else:
        note = f"alert already sent at {state.get('alerted_at')}"
    return Outcome(CRITICAL, result, failures,
                   f"{text} ({failures} consecutive failures since {since}; {note})", alert)


def _success(state: dict, result: Probe, slow_seconds: float, now: str) -> Outcome:
    failures, since, alerted = (int(state.get("consecutive_failures") or 0), state.get("failing_since"),
                                bool(state.get("alerted")))
    state.update(consecutive_failures=0, failing_since=None, alerted=False, alerted_at=None,
                 last_ok=now, last_error=None)
    text = f"{result.target} answered 200 in {result.seconds:.3f}s ({result.detail})"
    alert = None
    if alerted:
        alert = api_recovered_alert(result.target, failures, since or "?", result.seconds)
        text += f"; recovered after {failures} failed checks"
    elif failures:
        text += f"; back after {failures} failed check{'s' if failures > 1 else ''} (no alert was due)"
    if result.seconds > slow_seconds:
        return Outcome(WARNING, result, 0, f"{text}; slow: over {slow_seconds:g}s", alert)
    return Outcome(OK, result, 0, text, alert)


def run_check(config: Config, endpoint: str = "/health", alerts: bool = True,
              state_path=None) -> Outcome:
    result = probe(config.api_url, endpoint, config.health_check_timeout_seconds)
    state = StateFile(state_path or config.path("monitoring_state_dir") / "api_health.json")
    with state.update() as data:
        outcome = advance(data, result, max(1, config.health_check_failures_to_alert),
                          config.health_check_slow_seconds, now_iso())
    with optional_history(config, "check_api_health") as db:
        _log_check(db, outcome)
        if outcome.alert is not None:
            outcome.message += " - " + _send(config, db, outcome.alert, alerts)
    return outcome


def _send(config: Config, db: HistoryDB | None, alert: Alert, enabled: bool) -> str:
    if not enabled:
        return f"{alert.subject} alert not sent (--no-alerts)"
    result = deliver(config, db, alert)
    channels = ", ".join(f"{c} {d.get('status')}" for c, d in sorted(result.delivery.items()))
    return f"{alert.severity} {alert.subject} alert: {channels or 'no channels'}"


def _log_check(db: HistoryDB | None, outcome: Outcome) -> None:
    if db is None:
        return
    p = outcome.probe
    try:
        db.execute("INSERT INTO health_checks (timestamp, target, ok, status_code, response_time, detail,"
                   " consecutive_failures) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (now_iso(), p.target, p.ok, p.status_code, round(p.seconds, 6), p.detail,
                    outcome.failures))
    except Exception as exc:  # logging the check must not fail the check
        print(f"check_api_health: could not log the check: {exc}", file=sys.stderr)


EPILOG = """\
exit codes: 0 healthy, 1 warning (a failed check below the alert threshold, or a slow answer),
2 critical (the API failed the last N checks; the alert is sent once per outage).

crontab (every 5 minutes; run_monitoring.sh loads config/batch.env like the batch):
  */5 * * * * /opt/fashion-classifier/monitoring/run_monitoring.sh check_api_health.py

Settings: API_URL, FASHION_HEALTH_CHECK_TIMEOUT_SECONDS (5), FASHION_HEALTH_CHECK_FAILURES_TO_ALERT (3),
FASHION_HEALTH_CHECK_SLOW_SECONDS (2), FASHION_MONITORING_STATE_DIR (logs/monitoring), alert channels
as for the batch (FASHION_SMTP_*, FASHION_SLACK_WEBHOOK_URL). See docs/MONITORING.md.
"""


def parser(config: Config) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="check_api_health.py", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Probe the classification API once; alert (e-mail + Slack) after N consecutive "
                    "failures and once when it recovers.")
    p.add_argument("--url", help=f"API base URL (default: API_URL or {config.api_url})")
    p.add_argument("--endpoint", choices=sorted(ENDPOINTS), default="health",
                   help="/health (default) or /readyz")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help=f"give up after this long (default: {config.health_check_timeout_seconds:g})")
    p.add_argument("--failures", type=int, metavar="N",
                   help="consecutive failures before alerting "
                        f"(default: {config.health_check_failures_to_alert})")
    p.add_argument("--state-file", metavar="FILE", help="where the failure count is kept "
                   "(default: <monitoring_state_dir>/api_health.json)")
    p.add_argument("--no-alerts", dest="alerts", action="store_false", help="check and count, send nothing")
    add_location_args(p)
    return p


@crash_is_critical
def main(argv: list[str] | None = None, config: Config | None = None) -> int:
    config = config or Config.from_env()
    args = parser(config).parse_args(argv)
    config = located(config, args)
    changes = {k: v for k, v in (("api_url", args.url), ("health_check_timeout_seconds", args.timeout),
                                 ("health_check_failures_to_alert", args.failures)) if v is not None}
    config = config.with_overrides(**changes)
    outcome = run_check(config, ENDPOINTS[args.endpoint], args.alerts, args.state_file)
    print(f"[{datetime.now():%Y-%m-%d %H:%M:%S}] API {level_name(outcome.level)} - {outcome.message}")
    if notice := no_channel_notice(config):
        print(f"Note: {notice}")
    return outcome.level
