"""All settings in one place: environment variables with sane defaults.

Every path, threshold, port and limit of the system is a field of ``Config``.
``Config.from_env()`` reads them; tests build a ``Config`` directly (or with
``replace``) and inject it, so nothing reads ``os.environ`` anywhere else.

Project settings use the ``FASHION_`` prefix; a few conventional names
(``PORT``, ``API_URL``, ``RATELIMIT_ENABLED``) are read as they are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


def _default_root() -> Path:
    """The checkout root when running from source, else the current directory."""
    here = Path(__file__).resolve()
    candidate = here.parents[2]  # <root>/src/fashion_classifier/config.py
    if (candidate / "models").is_dir() and (candidate / "src").is_dir():
        return candidate
    return Path.cwd()


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


# field name -> environment variable, where it is not FASHION_<NAME>
_ENV_NAMES = {
    "port": "PORT",
    "api_url": "API_URL",
    "ratelimit_enabled": "RATELIMIT_ENABLED",
}

# fields holding paths relative to ``root`` unless absolute
_PATH_FIELDS = {
    "dataset_dir", "splits_dir", "models_dir", "model_path", "keras_model_path",
    "labels_path", "model_card_path", "incoming_dir", "processed_dir", "failed_dir",
    "results_dir", "batch_results_dir", "reports_dir", "visualizations_dir", "logs_dir",
    "history_db", "locations_file", "api_keys_file",
    "monitoring_state_dir", "exports_dir", "category_codes_file", "corrections_dir", "dashboard_users_file",
}


@dataclass(frozen=True)
class Config:
    root: Path = field(default_factory=_default_root)

    # data and model artifacts
    dataset_dir: Path = Path("../shared/datasets/fashion-product-images-small")
    weights_dir: Path = Path("../shared/weights")
    splits_dir: Path = Path("data/splits")
    models_dir: Path = Path("models")
    model_path: Path = Path("models/fashion_classifier.tflite")
    keras_model_path: Path = Path("models/fashion_classifier.keras")
    labels_path: Path = Path("models/labels.json")
    model_card_path: Path = Path("models/model_card.json")
    backend: str = "litert"  # "litert" (default, no TensorFlow) or "keras"
    inference_threads: int = 0  # LiteRT threads per interpreter; 0: one per core
    seed: int = 1337

    # refund tiers
    auto_threshold: float = 0.85
    check_threshold: float = 0.70

    # image intake
    max_upload_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 50_000_000  # decompression-bomb limit

    # folders of the nightly run
    incoming_dir: Path = Path("data/incoming")
    processed_dir: Path = Path("data/processed_batches")
    failed_dir: Path = Path("data/failed")
    results_dir: Path = Path("results")
    batch_results_dir: Path = Path("results/batch_results")
    reports_dir: Path = Path("results/reports")
    visualizations_dir: Path = Path("results/visualizations")
    logs_dir: Path = Path("logs")
    history_db: Path = Path("logs/execution_history.db")
    locations_file: Path = Path("config/locations.json")

    # API service
    port: int = 5000
    api_url: str = "http://127.0.0.1:5000"
    max_batch_files: int = 50
    ratelimit_enabled: bool = True
    ratelimit_storage_uri: str = "memory://"
    ratelimit_predict: str = "100 per hour"
    ratelimit_batch: str = "20 per hour"
    ratelimit_stats: str = "10 per minute"
    trusted_keys: tuple[str, ...] = ()
    trusted_addresses: tuple[str, ...] = ()
    auth_enabled: bool = False
    api_keys: tuple[str, ...] = ()
    api_keys_file: Path | None = None
    cors_origins: tuple[str, ...] = ()
    max_batch_upload_bytes: int = 256 * 1024 * 1024  # whole /predict_batch body; each file max_upload_bytes
    api_workers: int = 0  # gunicorn workers; 0: one per core
    api_threads: int = 0  # gunicorn threads per worker; 0: 4
    api_worker_timeout: int = 120  # gunicorn worker timeout, seconds (a 50-photo batch of 12-MP JPEGs fits)
    api_log_level: str = "INFO"
    api_log_json: bool = True  # one JSON object per log line (false: plain text)
    stats_window_hours: float = 24.0  # latency percentiles of /stats cover this window

    # batch processor
    batch_chunk_size: int = 48  # three of the predictor's 16-image buckets per request
    batch_concurrency: int = 4
    min_file_age_seconds: float = 5.0
    api_retries: int = 3
    api_timeout_seconds: float = 30.0
    fallback_local: bool = True
    batch_key: str = ""  # sent as X-Batch-Key; empty: the first of trusted_keys
    batch_chunk_bytes: int = 24 * 1024 * 1024  # a chunk also closes at this many bytes (12-MP photos)
    api_backoff_seconds: float = 0.5  # first retry delay, doubled per attempt
    batch_fsync: bool = True  # fsync moved files' folders before the journal says "done"
    batch_sync_interval_seconds: float = 1.0  # how often that happens (0: after every chunk)
    batch_lock_file: Path = Path("logs/batch.lock")
    report_max_thumbnails: int = 300  # review thumbnails embedded in the HTML report

    # alerts
    alert_failure_rate: float = 0.10
    alert_low_confidence_count: int = 50
    alert_max_duration_seconds: float = 15 * 60
    alert_no_run_hours: float = 36
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    smtp_sender: str = "fashion-classifier@localhost"
    smtp_ca_file: Path | None = None  # extra CA to trust for STARTTLS (a private mail relay)
    alert_email_to: tuple[str, ...] = ()
    slack_webhook_url: str = ""
    alert_timeout_seconds: float = 10.0
    alert_retries: int = 3

    # retention
    results_retention_days: int = 30
    logs_retention_days: int = 90

    # monitoring (monitoring/*.py) and the dashboard
    health_check_timeout_seconds: float = 5.0
    health_check_failures_to_alert: int = 3  # consecutive failed checks before "API Down"
    health_check_slow_seconds: float = 2.0  # a slower /health answer is a warning
    monitoring_state_dir: Path = Path("logs/monitoring")  # what the cron checks remember between runs
    batch_schedule_time: str = "02:00"  # the crontab's nightly start, shown as "Next Scheduled Run"
    alert_min_free_disk_gb: float = 5.0
    exports_dir: Path = Path("exports")
    category_codes_file: Path = Path("config/category_codes.json")
    corrections_dir: Path = Path("data/corrections")
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8050
    dashboard_refresh_seconds: int = 30
    dashboard_users_file: Path | None = None  # "name:password-hash" lines; set: login required
    dashboard_api_keys: tuple[str, ...] = ()  # X-API-Key access for scripts; set: key or login required
    dashboard_secret_key: str = ""  # signs the login cookie; empty: random per process
    dashboard_allow_open: bool = False  # serve without login on a non-loopback address

    def path(self, name: str) -> Path:
        """A path setting resolved against ``root``."""
        value = Path(getattr(self, name))
        return value if value.is_absolute() else self.root / value

    def with_overrides(self, **changes) -> Config:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            name = _ENV_NAMES.get(f.name, f"FASHION_{f.name.upper()}")
            if name in env:
                values[f.name] = _convert(f.name, f.type, env[name])
        return cls(**values)


def _convert(name: str, type_name, raw: str):
    type_text = str(type_name)
    try:
        if name == "root" or name in _PATH_FIELDS or "Path" in type_text:
            return Path(raw) if raw else None
        if type_text.startswith("tuple"):
            return _list(raw)
        if type_text == "bool":
            return _bool(raw)
        if type_text == "int":
            return int(raw)
        if type_text == "float":
            return float(raw)
        return raw
    except ValueError as exc:
        raise ValueError(f"bad value for setting {name}: {exc}") from exc


def load_config() -> Config:
    """The configuration of this process, from its environment."""
    return Config.from_env()
