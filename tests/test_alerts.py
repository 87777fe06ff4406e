"""Alerts: the spec's rules, e-mail through a real SMTP server with STARTTLS and login,
Slack through a real HTTP receiver, retries, and failing channels that never break a batch."""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime, timedelta

import pytest
from alert_servers import PASSWORD, USER, SlackReceiver, SmtpServer, free_port, self_signed_cert
from batch_support import bad_inputs, clean_env, copy_photos, db_rows, run_batch, write_file

from fashion_classifier.alerts import Alert, batch_alerts, no_recent_run_alert, send_alert
from fashion_classifier.config import Config
from fashion_classifier.history import HistoryDB


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("the openssl command is needed to make the SMTP server's test certificate")
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp(certificate):
    with SmtpServer(*certificate) as server:
        yield server


def alert_config(tmp_path, smtp=None, slack=None, certificate=None, **extra) -> Config:
    settings = dict(root=tmp_path, logs_dir=tmp_path / "logs", history_db=tmp_path / "logs" / "history.db",
                    alert_retries=2, alert_timeout_seconds=5.0, alert_email_to=("returns-lead@example.com",))
    if smtp is not None:
        settings |= dict(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_user=USER, smtp_password=PASSWORD,
                         smtp_starttls=True, smtp_ca_file=certificate[0])
    if slack is not None:
        settings |= dict(slack_webhook_url=slack.url)
    return Config(**(settings | extra))


def summary(total=247, failed=5, duplicates=0, low=13, seconds=495.0, categories=None) -> dict:
    return {"timestamp": "20251013_020000", "total_processed": total, "successful": total - failed,
            "failed": failed, "duplicates": duplicates,
            "success_rate": round(100 * (total - failed) / total, 2) if total else 100.0,
            "processing_time_seconds": seconds, "average_confidence": 0.872,
            "categories": categories or {"Tshirts": 87, "Casual Shoes": 45, "Handbags": 32},
            "confidence_distribution": {"high_confidence_>85%": 198, "medium_confidence_70-85%": 31,
                                        "low_confidence_<70%": low}}


def subjects(alerts) -> list[tuple[str, str]]:
    return [(a.severity, a.subject) for a in alerts]


def test_rules_fire_exactly_at_the_spec_thresholds():
    config = Config()
    assert subjects(batch_alerts(summary(), "success", config)) == [("INFO", "Batch Processing Complete")]
    assert ("ERROR", "High Error Rate") not in subjects(batch_alerts(summary(100, 10), "success", config))
    assert ("ERROR", "High Error Rate") in subjects(batch_alerts(summary(100, 11), "partial", config))
    assert ("ERROR", "High Error Rate") not in subjects(
        batch_alerts(summary(100, 30, duplicates=25), "success", config)), "duplicates are not errors"
    low = ("WARNING", "Low Confidence Predictions")
    assert low not in subjects(batch_alerts(summary(low=50), "success", config))
    assert low in subjects(batch_alerts(summary(low=51), "success", config))
    slow = ("WARNING", "Slow Batch Processing")
    assert slow not in subjects(batch_alerts(summary(seconds=900), "success", config))
    assert slow in subjects(batch_alerts(summary(seconds=901), "success", config))
    crashed = subjects(batch_alerts(summary(10, 10), "failed", config))
    assert crashed[0] == ("CRITICAL", "Batch Processing Failed") and ("INFO", "Batch Processing Complete") \
        not in crashed
    strict = Config(alert_failure_rate=0.01, alert_low_confidence_count=5, alert_max_duration_seconds=60)
    assert len(batch_alerts(summary(), "success", strict)) == 4, "thresholds come from the config"


def test_alert_texts_follow_the_spec_examples():
    config = Config()
    error = next(a for a in batch_alerts(summary(247, 38), "partial", config) if a.severity == "ERROR")
    assert error.email_subject() == "[ERROR] Fashion Classifier - High Error Rate"
    body = error.email_body()
    for text in ("Severity: ERROR", "Error rate is 15.4% (threshold: 10%)", "Batch Details:",
                 "- Total processed: 247", "- Failed: 38", "Recommended Actions:", "1. Review failed images",
                 "This is an automated alert from Fashion Classification System"):
        assert text in body
    low = next(a for a in batch_alerts(summary(low=52), "success", config) if a.severity == "WARNING")
    slack = low.slack_text()
    assert slack.startswith("🟡 WARNING: Fashion Classifier Alert\n*Low Confidence Predictions*")
    assert "52 predictions with confidence < 70%" in slack and "Low confidence: 52 (21.1%)" in slack
    info = batch_alerts(summary(), "success", config)[-1].slack_text()
    assert info.startswith("🟢 INFO") and "Tshirts: 87 (35.2%)" in info and "495s (8.2 min)" in info


def test_no_recent_run_rule():
    config = Config(alert_no_run_hours=36)
    now = datetime(2026, 11, 25, 12, 0, 0)
    assert no_recent_run_alert((now - timedelta(hours=35)).isoformat(), config, now) is None
    late = no_recent_run_alert((now - timedelta(hours=37)).isoformat(), config, now)
    assert late.severity == "WARNING" and late.routes == ("email",)
    assert no_recent_run_alert(None, config, now).subject == "No Batch Run"


def test_critical_alert_by_email_with_starttls_and_login_and_by_slack(tmp_path, smtp, certificate):
    with SlackReceiver() as slack:
        config = alert_config(tmp_path, smtp, slack, certificate)
        db = HistoryDB(config.path("history_db"))
        result = send_alert(config, db, "CRITICAL", "API Down",
                            "Fashion Classification API is not responding.", source="monitoring")
    assert result.status("email") == "sent" and result.status("slack") == "sent"
    [mail] = smtp.mailbox.messages
    assert mail["tls"] and mail["login"], "STARTTLS first, then login"
    assert mail["to"] == ["returns-lead@example.com"]
    assert mail["subject"] == "[CRITICAL] Fashion Classifier - API Down"
    assert "Severity: CRITICAL" in mail["body"] and "is not responding" in mail["body"]
    assert len(slack.texts) == 1
    assert slack.texts[0].startswith("🔴 CRITICAL: Fashion Classifier Alert\n*API Down*")
    [stored] = db.recent_alerts()
    assert (stored["severity"], stored["subject"], stored["source"]) == ("CRITICAL", "API Down", "monitoring")
    delivery = json.loads(stored["delivery"])
    assert delivery["email"]["status"] == "sent" and delivery["slack"]["status"] == "sent"
    assert "CRITICAL monitoring: API Down" in (tmp_path / "logs" / "alerts.log").read_text()


def test_warnings_go_to_slack_only(tmp_path, smtp, certificate):
    with SlackReceiver() as slack:
        config = alert_config(tmp_path, smtp, slack, certificate)
        result = send_alert(config, None, "WARNING", "Low Confidence Predictions", "52 predictions ...")
    assert list(result.delivery) == ["slack"] and result.status("slack") == "sent"
    assert smtp.mailbox.messages == []


def test_slack_is_retried_until_it_answers(tmp_path):
    with SlackReceiver(fail_first=2) as slack:
        config = alert_config(tmp_path, slack=slack, alert_retries=3)
        result = send_alert(config, None, "INFO", "Batch Processing Complete", "done")
    assert result.delivery["slack"] == {"status": "sent", "attempts": 3, "note": "HTTP 200"}
    assert slack.attempts == 3 and len(slack.posts) == 1


def test_dead_channels_are_recorded_and_never_raise(tmp_path):
    with SlackReceiver(fail_first=-1) as slack:
        config = alert_config(tmp_path, slack=slack, smtp_host="127.0.0.1", smtp_port=free_port(),
                              alert_retries=1, alert_timeout_seconds=2.0)
        db = HistoryDB(config.path("history_db"))
        started = time.monotonic()
        result = send_alert(config, db, "ERROR", "High Error Rate", "Error rate is 15.5%")
        elapsed = time.monotonic() - started
    assert result.delivery["email"]["status"] == "failed"
    assert "Connection" in result.delivery["email"]["error"]
    assert result.delivery["slack"]["status"] == "failed" and "500" in result.delivery["slack"]["error"]
    assert slack.attempts == 2, "one try plus one retry"
    stored = json.loads(db.recent_alerts()[0]["delivery"])
    assert stored["email"]["status"] == stored["slack"]["status"] == "failed"
    assert elapsed < 30, "bounded by retries x timeout"


def test_unknown_severity_is_refused():
    with pytest.raises(ValueError):
        Alert("URGENT", "x", "y")


def test_batch_sends_its_alerts_by_email_and_slack(tmp_path, smtp, certificate):
    incoming, out = tmp_path / "in", tmp_path / "out"
    copy_photos(incoming, 8)
    bad_inputs(incoming)
    write_file(incoming, "also_broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    with SlackReceiver() as slack:
        env = clean_env(FASHION_SMTP_HOST="127.0.0.1", FASHION_SMTP_PORT=str(smtp.port),
                        FASHION_SMTP_USER=USER, FASHION_SMTP_PASSWORD=PASSWORD,
                        FASHION_SMTP_CA_FILE=str(certificate[0]),
                        FASHION_ALERT_EMAIL_TO="returns-lead@example.com,it@example.com",
                        FASHION_SLACK_WEBHOOK_URL=slack.url, FASHION_ALERT_MAX_DURATION_SECONDS="0")
        result = run_batch(incoming, out, "--local", env=env)
    assert result.returncode == 0, result.stderr
    assert [m["subject"] for m in smtp.mailbox.messages] == ["[ERROR] Fashion Classifier - High Error Rate"]
    assert smtp.mailbox.messages[0]["to"] == ["returns-lead@example.com", "it@example.com"]
    assert "Error rate is 33.3% (threshold: 10%)" in smtp.mailbox.messages[0]["body"]
    titles = [text.splitlines()[1] for text in slack.texts]
    assert titles == ["*High Error Rate*", "*Slow Batch Processing*", "*Batch Processing Complete*"]
    stored = db_rows(out, "SELECT severity, subject, delivery FROM alerts ORDER BY id")
    assert [(a["severity"], a["subject"]) for a in stored] == [
        ("ERROR", "High Error Rate"), ("WARNING", "Slow Batch Processing"),
        ("INFO", "Batch Processing Complete")]
    for alert in stored:
        assert all(d["status"] == "sent" for d in json.loads(alert["delivery"]).values())


def test_batch_completes_when_every_channel_is_down(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 4)
    with SlackReceiver(fail_first=-1) as slack:
        env = clean_env(FASHION_SMTP_HOST="127.0.0.1", FASHION_SMTP_PORT=str(free_port()),
                        FASHION_ALERT_EMAIL_TO="x@example.com", FASHION_SLACK_WEBHOOK_URL=slack.url,
                        FASHION_ALERT_RETRIES="1", FASHION_ALERT_TIMEOUT_SECONDS="2",
                        FASHION_ALERT_FAILURE_RATE="0", FASHION_ALERT_MAX_DURATION_SECONDS="0")
        result = run_batch(incoming, out, "--local", env=env)
    assert result.returncode == 0, result.stderr
    runs = db_rows(out, "SELECT * FROM batch_runs")
    assert len(runs) == 1 and runs[0]["total_images"] == len(inputs)
    deliveries = [json.loads(a["delivery"]) for a in db_rows(out, "SELECT delivery FROM alerts")]
    assert deliveries and all(d["slack"]["status"] == "failed" for d in deliveries)
    assert "slack: failed" in result.stderr
