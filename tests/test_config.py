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
