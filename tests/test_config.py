"""Configuration from the environment: defaults, parsing, errors, path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_classifier.config import Config


def test_defaults_match_the_reference_design():
    config = Config.from_env({})
    assert config.port == 5000
    assert config.api_url == "http://127.0.0.1:5000"
    assert (config.auto_threshold, config.check_threshold) == (0.85, 0.70)
    assert config.max_upload_bytes == 10 * 1024 * 1024
    assert config.max_batch_files == 50
    assert config.ratelimit_predict == "100 per hour" and config.ratelimit_stats == "10 per minute"
    assert config.history_db == Path("logs/execution_history.db")
    assert config.dataset_dir == Path("../shared/datasets/fashion-product-images-small")
    assert config.backend == "litert"


def test_environment_overrides_every_kind_of_value(tmp_path):
    config = Config.from_env({
        "PORT": "8080", "API_URL": "http://10.0.0.1:9", "RATELIMIT_ENABLED": "false",
        "FASHION_AUTO_THRESHOLD": "0.9", "FASHION_TRUSTED_KEYS": "a, b,,c",
        "FASHION_HISTORY_DB": str(tmp_path / "h.db"), "FASHION_ROOT": str(tmp_path),
        "FASHION_INCOMING_DIR": "in", "FASHION_SMTP_STARTTLS": "no",
    })
    assert config.port == 8080 and config.api_url == "http://10.0.0.1:9"
    assert config.ratelimit_enabled is False and config.smtp_starttls is False
    assert config.auto_threshold == 0.9
    assert config.trusted_keys == ("a", "b", "c")
    assert config.path("history_db") == tmp_path / "h.db"  # absolute stays
    assert config.path("incoming_dir") == tmp_path / "in"  # relative joins root


@pytest.mark.parametrize("name,value", [("PORT", "eighty"), ("RATELIMIT_ENABLED", "maybe"),
                                        ("FASHION_AUTO_THRESHOLD", "high")])
def test_bad_values_name_the_setting(name, value):
    with pytest.raises(ValueError, match="bad value for setting"):
        Config.from_env({name: value})


def test_default_root_is_the_checkout():
    root = Config().root
    assert (root / "src" / "fashion_classifier" / "config.py").is_file()
    assert Config().path("models_dir") == root / "models"


def test_configuration_doc_lists_every_setting_with_a_meaning():
    from fashion_classifier.config import settings_table

    table = settings_table()
    doc = (Config().root / "docs" / "CONFIGURATION.md").read_text()
    assert table in doc, "docs/CONFIGURATION.md is stale: python -m fashion_classifier.config --markdown"
    readme = (Config().root / "README.md").read_text()
    assert table in readme, "README's settings table is stale: python -m fashion_classifier.config --markdown"
    rows = table.splitlines()[2:]
    assert len(rows) == len(Config.__dataclass_fields__)
    assert all(not row.endswith("|  |") for row in rows)
    assert "| `PORT` | `5000` |" in table and "| `RATELIMIT_ENABLED` | `true` |" in table


REFERENCE_ALERT_ENV = {"SMTP_SERVER": "mail.example.com", "SMTP_PORT": "2525", "SMTP_USER": "alerts",
                       "SMTP_PASSWORD": "pw", "ALERT_EMAIL": "lead@example.com,ops@example.com",
                       "SLACK_WEBHOOK": "https://hooks.example.com/T/B/X"}


def test_reference_alert_settings_are_read_as_aliases():
    config = Config.from_env(REFERENCE_ALERT_ENV)
    assert (config.smtp_host, config.smtp_port, config.smtp_user, config.smtp_password) == \
        ("mail.example.com", 2525, "alerts", "pw")
    assert config.alert_email_to == ("lead@example.com", "ops@example.com")
    assert config.slack_webhook_url == "https://hooks.example.com/T/B/X"


def test_our_settings_win_over_the_aliases_and_empty_aliases_are_unset():
    ours = Config.from_env({**REFERENCE_ALERT_ENV, "FASHION_SMTP_HOST": "relay.local",
                            "FASHION_SMTP_PORT": "25", "FASHION_SLACK_WEBHOOK_URL": ""})
    assert (ours.smtp_host, ours.smtp_port, ours.slack_webhook_url) == ("relay.local", 25, "")
    assert ours.smtp_user == "alerts", "an alias still fills what ours leave unset"
    empty = Config.from_env({"SMTP_PORT": "", "SMTP_SERVER": "  "})
    assert (empty.smtp_port, empty.smtp_host) == (587, "")
    with pytest.raises(ValueError, match="smtp_port"):
        Config.from_env({"SMTP_PORT": "submission"})


def test_settings_table_names_the_aliases():
    from fashion_classifier.config import settings_table

    table = settings_table()
    for ours, alias in (("FASHION_SMTP_HOST", "SMTP_SERVER"), ("FASHION_ALERT_EMAIL_TO", "ALERT_EMAIL"),
                        ("FASHION_SLACK_WEBHOOK_URL", "SLACK_WEBHOOK")):
        assert f"| `{ours}` (alias `{alias}`) |" in table
