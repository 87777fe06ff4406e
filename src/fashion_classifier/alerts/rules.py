"""The spec's alert rules (6.5.1), thresholds from Config.

| condition                         | severity | channels      |
| batch fails completely / crashed  | CRITICAL | email + Slack |
| error rate > alert_failure_rate   | ERROR    | email + Slack |
| low confidence > count threshold  | WARNING  | Slack         |
| processing time > max duration    | WARNING  | Slack         |
| no batch run in alert_no_run_hours| WARNING  | email         |
| batch completes                   | INFO     | Slack         |
| share of Other jumps (see below)  | WARNING  | email + Slack |

"Other" photos (none of our categories) are review work, never failures. Their
share of a night is compared with the recent nights': a WARNING when it reaches
``alert_other_share`` outright, or ``alert_other_jump`` times the median of the
last nights and at least ``alert_other_min_points`` points above it (a new kind
of return arriving, or a broken camera whose photos look like nothing we know).
"""

from __future__ import annotations

from datetime import datetime

from ..config import Config
from .model import Alert


def batch_alerts(summary: dict, status: str, config: Config,
                 recent_other_shares: list[float] | None = None) -> list[Alert]:
    """Alerts for a finished run, from its JSON summary (see ``batch.outputs.summary``);
    ``recent_other_shares``: the Other share of the last nights with photos."""
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
    other = other_share_alert(summary, recent_other_shares or [], config)
    if other:
        alerts.append(other)
    seconds = float(summary.get("processing_time_seconds", 0))
    if seconds > config.alert_max_duration_seconds:
        alerts.append(_slow(run_id, seconds, total, config))
    if status != "failed":
        alerts.append(_complete(summary, seconds))
    return alerts


def other_share_alert(summary: dict, recent: list[float], config: Config) -> Alert | None:
    """WARNING when tonight's share of Other photos is high or jumps against the recent nights."""
    other = summary.get("other") or {}
    count, share = int(other.get("count", 0)), float(other.get("share", 0.0))
    if int(summary.get("successful", 0)) < config.alert_other_min_photos or not count:
        return None
    usual = sorted(recent)[len(recent) // 2] if recent else None
    jumped = usual is not None and share >= config.alert_other_jump * usual \
        and share - usual >= config.alert_other_min_points / 100
    if share < config.alert_other_share and not jumped:
        return None
    before = (f"{100 * usual:.1f}% on the last {len(recent)} nights (median)" if usual is not None
              else "no history")
    return Alert(
        "WARNING", "Many Photos Not In Our Categories",
        f"{count} photos ({100 * share:.1f}%) tonight were none of our categories (Other); usually "
        f"{before}. A new kind of return may be arriving, or the camera may be broken.",
        details=(("Batch", summary.get("timestamp", "")), ("Other", f"{count} ({100 * share:.1f}%)"),
                 ("Usual share", before)),
        channels=("email", "slack"),
        actions=("Look at the Other section of the batch report", "Check the camera and the photo set-up",
                 "Confirm or correct them in the review queue"))


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
