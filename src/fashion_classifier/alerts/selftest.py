"""``python monitoring/alerting.py --test``: a test alert of each severity on every channel.

The reference system's ``monitoring/alerting.py`` sends test alerts the same way. Ours sends
an INFO, WARNING, ERROR and CRITICAL "System Test" alert through every channel (e-mail,
Slack), whatever the usual routing by severity, and says per channel whether its server took
each one. Exit code 0: every configured channel took every alert; 1: a delivery failed;
2: no channel is configured. Test alerts go to ``logs/alerts.log``, not to the alerts table,
so the dashboard's alert history stays about real events.
"""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit

from ..config import Config
from ..monitoring.common import add_location_args, located
from .dispatch import AlertResult, deliver
from .model import CHANNELS, SEVERITIES, Alert

EXIT_OK, EXIT_FAILED, EXIT_UNCONFIGURED = 0, 1, 2


def self_test_alerts() -> list[Alert]:
    return [Alert(severity, "System Test",
                  f"This is a test {severity} alert to verify the alerting system is working.",
                  source="test", channels=CHANNELS, details=(("Sent by", "monitoring/alerting.py --test"),))
            for severity in SEVERITIES]


def send_test_alerts(config: Config) -> list[AlertResult]:
    return [deliver(config, None, alert) for alert in self_test_alerts()]


def destinations(config: Config) -> dict[str, str]:
    """Where each channel delivers, as a clerk can check it (no secrets)."""
    slack = urlsplit(config.slack_webhook_url)
    return {
        "email": f"SMTP {config.smtp_host}:{config.smtp_port} to {', '.join(config.alert_email_to)}"
        if config.smtp_host else "",
        "slack": f"webhook at {slack.scheme}://{slack.hostname}" if config.slack_webhook_url else "",
    }


def report(results: list[AlertResult], config: Config) -> tuple[list[str], int]:
    """Lines to print and the exit code."""
    where = destinations(config)
    lines = []
    for result in results:
        cells = "  ".join(f"{channel}: {result.status(channel)}" for channel in CHANNELS)
        lines.append(f"{result.alert.severity:<8} {cells}")
    lines.append("")
    worked = configured = 0
    for channel in CHANNELS:
        statuses = [r.delivery.get(channel, {}) for r in results]
        if all(s.get("status") == "not configured" for s in statuses):
            lines.append(f"✗ {channel}: not configured ({statuses[0].get('note', '')})")
            continue
        configured += 1
        sent = sum(s.get("status") == "sent" for s in statuses)
        if sent == len(results):
            worked += 1
            lines.append(f"✓ {channel} worked: {sent}/{len(results)} test alerts sent ({where[channel]})")
        else:
            error = next((s.get("error") for s in statuses if s.get("error")), "")
            lines.append(f"✗ {channel} FAILED: {sent}/{len(results)} sent ({where[channel]}): {error}")
    if not configured:
        return lines + ['No alert channel is configured: see "Alerts" in docs/BATCH.md.'], EXIT_UNCONFIGURED
    return lines, EXIT_OK if worked == configured else EXIT_FAILED


def main(argv: list[str] | None = None, config: Config | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="alerting.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Send a test alert of each severity (INFO, WARNING, ERROR, CRITICAL) through every "
                    "configured channel (e-mail, Slack) and say which worked.",
        epilog="settings: FASHION_SMTP_HOST, FASHION_SMTP_PORT, FASHION_SMTP_USER, FASHION_SMTP_PASSWORD,\n"
               "  FASHION_ALERT_EMAIL_TO, FASHION_SLACK_WEBHOOK_URL (or the reference's SMTP_SERVER,\n"
               "  SMTP_PORT, SMTP_USER, SMTP_PASSWORD, ALERT_EMAIL, SLACK_WEBHOOK)\n"
               "exit codes: 0 every configured channel worked, 1 a channel failed, 2 none configured.")
    p.add_argument("--test", action="store_true", help="send the test alerts")
    add_location_args(p)  # where logs/alerts.log is
    args = p.parse_args(argv)
    if not args.test:
        p.print_help()
        return EXIT_UNCONFIGURED
    config = located(config or Config.from_env(), args)
    print("Testing alert system: one alert of each severity on every channel...")
    lines, code = report(send_test_alerts(config), config)
    print("\n".join(lines))
    return code
