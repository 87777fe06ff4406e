"""Alerts: rules, e-mail (SMTP) and Slack (incoming webhook), stored in the ``alerts`` table.

The one entry point for any component (batch, monitoring scripts)::

    from fashion_classifier.alerts import send_alert
    send_alert(config, db, "ERROR", "High Error Rate", "Error rate is 15.5% ...", source="batch")

Each alert is stored first, then delivered on its channels (the spec's routing
by severity unless given), with retries and a timeout; the delivery outcome of
every channel is recorded on the stored alert. Delivery failures are logged and
recorded, never raised: an alert must not break the job that sends it.
"""

from .dispatch import AlertResult, configured_channels, deliver, no_channel_notice, send_alert
from .model import CHANNELS, DEFAULT_CHANNELS, SEVERITIES, Alert
from .rules import (
    api_down_alert,
    batch_alerts,
    failed_run_alert,
    interrupted_run_alert,
    no_recent_run_alert,
)

__all__ = ["Alert", "AlertResult", "CHANNELS", "DEFAULT_CHANNELS", "SEVERITIES", "api_down_alert",
           "batch_alerts", "configured_channels", "deliver", "failed_run_alert", "interrupted_run_alert",
           "no_channel_notice", "no_recent_run_alert", "send_alert"]
