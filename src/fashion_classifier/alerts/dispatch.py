"""Store an alert, deliver it on its channels (in parallel, with retries), record the outcome."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import Config
from .mail import NotConfigured, send_email
from .model import Alert
from .slack import send_slack

log = logging.getLogger(__name__)
SENDERS: dict[str, Callable[[Config, Alert], str]] = {"email": send_email, "slack": send_slack}
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 5.0


@dataclass
class AlertResult:
    alert: Alert
    alert_id: int | None
    delivery: dict[str, dict] = field(default_factory=dict)

    def status(self, channel: str) -> str:
        return self.delivery.get(channel, {}).get("status", "")


def configured_channels(config: Config) -> list[str]:
    """The alert channels that have their settings (e-mail needs a relay and recipients)."""
    channels = ["email"] if config.smtp_host and config.alert_email_to else []
    return channels + (["slack"] if config.slack_webhook_url else [])


def no_channel_notice(config: Config) -> str | None:
    """What the health checks and the dashboard say when alerts would reach nobody."""
    if configured_channels(config):
        return None
    return ("no alert channel is configured: alerts are only recorded (history database, logs/alerts.log), "
            "nobody is told. Set FASHION_SMTP_HOST and FASHION_ALERT_EMAIL_TO, or "
            "FASHION_SLACK_WEBHOOK_URL (docs/MONITORING.md)")


def send_alert(config: Config, db, severity: str, subject: str, message: str, source: str = "batch",
               **extra) -> AlertResult:
    """Build, store and deliver one alert (``extra``: details, actions, channels, ...)."""
    return deliver(config, db, Alert(severity, subject, message, source, **extra))


def deliver(config: Config, db, alert: Alert) -> AlertResult:
    """``db`` is a ``HistoryDB`` (or None); nothing here raises for a channel or DB failure."""
    result = AlertResult(alert, _store(db, alert))
    threads = [threading.Thread(target=_deliver_one, args=(config, alert, channel, result), daemon=True)
               for channel in alert.routes]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + _worst_case_seconds(config)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for channel in alert.routes:
        result.delivery.setdefault(channel, {"status": "failed", "error": "gave up waiting"})
    _record(db, result)
    _append_log(config, result)
    return result


def _worst_case_seconds(config: Config) -> float:
    attempts = max(1, config.alert_retries + 1)
    return attempts * (config.alert_timeout_seconds * 2 + MAX_BACKOFF_SECONDS) + 1


def _deliver_one(config: Config, alert: Alert, channel: str, result: AlertResult) -> None:
    attempts = max(1, config.alert_retries + 1)
    error = ""
    for attempt in range(1, attempts + 1):
        try:
            note = SENDERS[channel](config, alert)
            result.delivery[channel] = {"status": "sent", "attempts": attempt, "note": note}
            return
        except NotConfigured as exc:
            result.delivery[channel] = {"status": "not configured", "note": str(exc)}
            return
        except Exception as exc:  # any failure of a channel is recorded, never raised
            error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("alert %r via %s failed (attempt %d/%d): %s", alert.subject, channel, attempt,
                        attempts, error)
        if attempt < attempts:
            time.sleep(min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2 ** (attempt - 1)))
    result.delivery[channel] = {"status": "failed", "attempts": attempts, "error": error}


def _store(db, alert: Alert) -> int | None:
    if db is None:
        return None
    try:
        return db.record_alert(alert.severity, alert.subject, alert.plain_text(), source=alert.source,
                               delivery="pending", timestamp=alert.timestamp.isoformat(timespec="seconds"))
    except Exception as exc:  # a locked or broken database must not stop the delivery
        print(f"alerts: could not store alert {alert.subject!r}: {exc}", file=sys.stderr)
        return None


def _record(db, result: AlertResult) -> None:
    if db is None or result.alert_id is None:
        return
    try:
        db.update_alert_delivery(result.alert_id, json.dumps(result.delivery, sort_keys=True))
    except Exception as exc:
        print(f"alerts: could not record delivery of alert {result.alert_id}: {exc}", file=sys.stderr)


def _append_log(config: Config, result: AlertResult) -> None:
    """``logs/alerts.log``: the spec's plain-text alert history, one line per alert."""
    channels = " ".join(f"{c}={d.get('status')}" for c, d in sorted(result.delivery.items()))
    line = (f"[{result.alert.timestamp:%Y-%m-%d %H:%M:%S}] {result.alert.severity} "
            f"{result.alert.source}: {result.alert.subject} ({channels or 'no channels'})\n")
    try:
        path = config.path("logs_dir") / "alerts.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line)
    except OSError:
        pass
