"""Slack channel: an incoming webhook, JSON ``{"text": ...}``."""

from __future__ import annotations

import requests

from ..config import Config
from .mail import NotConfigured
from .model import Alert


def send_slack(config: Config, alert: Alert) -> str:
    """Post one alert; raises on failure (any non-2xx answer). Returns a short delivery note."""
    if not config.slack_webhook_url:
        raise NotConfigured("slack_webhook_url not set")
    response = requests.post(config.slack_webhook_url, json={"text": alert.slack_text()},
                             timeout=config.alert_timeout_seconds)
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"webhook answered {response.status_code}: {response.text[:200]}")
    return f"HTTP {response.status_code}"
