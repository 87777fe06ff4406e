"""The spec's alert rules (6.5.1), thresholds from Config.

| condition                         | severity | channels      |
| batch fails completely / crashed  | CRITICAL | email + Slack |
| error rate > alert_failure_rate   | ERROR    | email + Slack |
| low confidence > count threshold  | WARNING  | Slack         |
| processing time > max duration    | WARNING  | Slack         |
| no batch run in alert_no_run_hours| WARNING  | email         |
| batch completes                   | INFO     | Slack         |
"""

from __future__ import annotations

from datetime import datetime

from ..config import Config
from .model import Alert


def batch_alerts(summary: dict, status: str, config: Config) -> list[Alert]:
    """Alerts for a finished run, from its JSON summary (see ``batch.outputs.summary``)."""
    run_id = summary.get("timestamp", "?")
    total = int(summary.get("total_processed", 0))
    alerts: list[Alert] = []
    if status == "failed":
        alerts.append(failed_run_alert(run_id, "every image failed" if total else "the run failed", summary))
    errors = int(summary.get("failed", 0)) - int(summary.get("duplicates", 0))
    if total and errors / total > config.alert_failure_rate:
        alerts.append(_high_error_rate(summary, errors, total, config))
    low = int(summary.get("confidence_distribution", {}).get("low_confidence_<70%", 0))
    if low > config.alert_low_confidence_count:
        alerts.append(_low_confidence(summary, low, total, config))
    seconds = float(summary.get("processing_time_seconds", 0))
    if seconds > config.alert_max_duration_seconds:
        alerts.append(_slow(run_id, seconds, total, config))
    if status != "failed":
        alerts.append(_complete(summary, seconds))
    return alerts


def _high_error_rate(summary: dict, errors: int, total: int, config: Config) -> Alert:
    return Alert(
        "ERROR", "High Error Rate",
        f"Error rate is {100 * errors / total:.1f}% (threshold: {config.alert_failure_rate:.0%}). "
        "This may indicate issues with the model or API.",
        details=(("Batch", summary.get("timestamp", "")), ("Total processed", str(total)),
                 ("Failed", str(errors)), ("Success rate", f"{summary.get('success_rate', 0):.1f}%")),
        details_title="Batch Details",
        actions=("Review failed images in logs", "Check API error logs", "Verify image quality",
                 "Consider re-running batch"))


def _low_confidence(summary: dict, low: int, total: int, config: Config) -> Alert:
    return Alert(
        "WARNING", "Low Confidence Predictions",
        f"{low} predictions with confidence < {config.check_threshold:.0%} detected in batch run. "
        "This may indicate poor image quality or need for manual review.",
        details=(("Batch", summary.get("timestamp", "")), ("Total images", str(total)),
                 ("Low confidence", f"{low} ({100 * low / max(total, 1):.1f}%)")),
        actions=("Review flagged items in morning briefing",))


def _slow(run_id: str, seconds: float, total: int, config: Config) -> Alert:
    return Alert(
        "WARNING", "Slow Batch Processing",
        f"Processing took {seconds / 60:.1f} min "
        f"(threshold: {config.alert_max_duration_seconds / 60:.0f} min).",
        details=(("Batch", run_id), ("Total images", str(total))),
        actions=("Check API performance", "Check system resources"))


def _complete(summary: dict, seconds: float) -> Alert:
    details = [("Batch", summary.get("timestamp", "")),
               ("Total processed", str(summary.get("total_processed", 0))),
               ("Success rate", f"{summary.get('success_rate', 0):.1f}%"),
               ("Processing time", f"{seconds:.0f}s ({seconds / 60:.1f} min)"),
               ("Avg confidence", f"{100 * summary.get('average_confidence', 0):.1f}%")]
    total = max(1, int(summary.get("total_processed", 0)))
    for category, count in list(summary.get("categories", {}).items())[:3]:
        details.append((category, f"{count} ({100 * count / total:.1f}%)"))
    return Alert("INFO", "Batch Processing Complete", "✓ Nightly batch processing completed successfully.",
                 details=tuple(details), details_title="Stats")


def failed_run_alert(run_id: str, error: str, summary: dict | None = None) -> Alert:
    return Alert(
        "CRITICAL", "Batch Processing Failed",
        f"The nightly batch {run_id} failed: {error}. Unprocessed images stay in the incoming folder; "
        "the next run resumes the work.",
        details=(("Batch", run_id),) + ((("Total images", str(summary.get("total_processed", 0))),)
                                        if summary else ()),
        actions=("Read the batch log", "Check the API and the model files", "Re-run the batch"))


def interrupted_run_alert(run_id: str, attempts: int) -> Alert:
    return Alert(
        "CRITICAL", "Batch Run Interrupted",
        f"Batch run {run_id} stopped before finishing (crash, kill or power loss; attempt {attempts}). "
        "This run is resuming it from the journal.",
        details=(("Batch", run_id),),
        actions=("Check the system log for the cause", "Verify the resumed run's report"))


def api_down_alert(api_url: str, reason: str, fallback: bool) -> Alert:
    what = ("Classifying in-process instead (slower, but the night's work is done)." if fallback
            else "The batch cannot classify without it.")
    return Alert("CRITICAL", "API Down",
                 f"Fashion Classification API at {api_url} is not responding ({reason}). {what}",
                 actions=("Check the API service", "Restart it if needed"))


def no_recent_run_alert(last_run: str | None, config: Config, now: datetime | None = None) -> Alert | None:
    """For monitoring scripts: WARNING (e-mail) when the last batch is older than the limit."""
    now = now or datetime.now()
    if last_run:
        age_hours = (now - datetime.fromisoformat(last_run)).total_seconds() / 3600
        if age_hours <= config.alert_no_run_hours:
            return None
        message = f"The last batch ran {age_hours:.0f} hours ago (limit: {config.alert_no_run_hours:g} h)."
    else:
        message = "No batch run has been recorded."
    return Alert("WARNING", "No Batch Run", message, source="monitoring", channels=("email",),
                 actions=("Check the scheduler (crontab -l)", "Read logs/cron_batch.log"))
