"""Fixtures of the monitoring tests: one real multi-night history, copies of it, alert receivers."""

from __future__ import annotations

import shutil
from datetime import datetime

import pytest
from alert_servers import PASSWORD, USER, SlackReceiver, SmtpServer, self_signed_cert
from batch_support import clean_env

from .history_support import Night, build_history, clone

# fourteen nights: a partial one (bad files), a failed one (only bad files), and last night
NIGHTS = [Night(13, 8), Night(12, 9), Night(11, 7, bad=True), Night(10, 9), Night(9, 8),
          Night(8, 0, only_bad=True), Night(7, 9), Night(6, 8), Night(5, 10), Night(4, 7, bad=True),
          Night(3, 9), Night(2, 8), Night(1, 9), Night(0, 12)]
@pytest.fixture(scope="session")
def history(tmp_path_factory):
    """``out`` of fourteen real nightly runs (read only: tests that change it take ``history_copy``)."""
    base = tmp_path_factory.mktemp("history")
    return {"out": build_history(base, NIGHTS, datetime.now()), "nights": NIGHTS}


@pytest.fixture
def history_copy(history, tmp_path):
    return clone(history["out"], tmp_path / "out")


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("the openssl command is needed to make the SMTP server's test certificate")
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def receivers(certificate):
    """A real SMTP server (STARTTLS + login) and a Slack webhook receiver, with the env to reach them."""
    with SmtpServer(*certificate) as smtp, SlackReceiver() as slack:
        env = clean_env(FASHION_SMTP_HOST="127.0.0.1", FASHION_SMTP_PORT=str(smtp.port),
                        FASHION_SMTP_USER=USER, FASHION_SMTP_PASSWORD=PASSWORD,
                        FASHION_SMTP_CA_FILE=str(certificate[0]),
                        FASHION_ALERT_EMAIL_TO="it-oncall@example.com", FASHION_SLACK_WEBHOOK_URL=slack.url,
                        FASHION_ALERT_RETRIES="0", FASHION_ALERT_TIMEOUT_SECONDS="5")
        yield smtp, slack, env
