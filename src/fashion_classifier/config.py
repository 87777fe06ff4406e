"""All settings in one place: environment variables with sane defaults.

Every path, threshold, port and limit of the system is a field of ``Config``.
``Config.from_env()`` reads them; tests build a ``Config`` directly (or with
``replace``) and inject it, so nothing reads ``os.environ`` anywhere else.

Project settings use the ``FASHION_`` prefix; a few conventional names
(``PORT``, ``API_URL``, ``RATELIMIT_ENABLED``) are read as they are. The reference system's
alert settings (``SMTP_SERVER``, ``SMTP_PORT``, ``SMTP_USER``, ``SMTP_PASSWORD``,
``ALERT_EMAIL``, ``SLACK_WEBHOOK``) are aliases, read when ours are not set.
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

# the reference system's names, read when the field's own variable is not set (and not empty)
_ALIASES = {
    "smtp_host": "SMTP_SERVER",
    "smtp_port": "SMTP_PORT",
    "smtp_user": "SMTP_USER",
    "smtp_password": "SMTP_PASSWORD",
    "alert_email_to": "ALERT_EMAIL",
    "slack_webhook_url": "SLACK_WEBHOOK",
}

# fields holding paths relative to ``root`` unless absolute
_PATH_FIELDS = {
    "cache_dir", "dataset_dir", "splits_dir", "other_dataset_dir", "other_splits_dir", "models_dir", "model_path", "keras_model_path",
    "labels_path", "model_card_path", "incoming_dir", "processed_dir", "failed_dir",
    "results_dir", "batch_results_dir", "reports_dir", "visualizations_dir", "logs_dir",
    "history_db", "locations_file", "api_keys_file", "internal_key_file",
    "monitoring_state_dir", "exports_dir", "category_codes_file", "corrections_dir", "retake_dir", "dashboard_users_file",
}


@dataclass(frozen=True)
class Config:
    root: Path = field(default_factory=_default_root)  # the project folder; relative paths below are resolved against it

    # data and model artifacts
    dataset_dir: Path = Path("../shared/datasets/fashion-product-images-small")  # Kaggle layout: styles.csv + images/ (training only)
    weights_dir: Path = Path("../shared/weights")  # ImageNet MobileNetV2 weights (training only)
    splits_dir: Path = Path("data/splits")  # train/val/test CSVs written by python -m fashion_classifier.data
    other_dataset_dir: Path = Path("../shared/datasets/fashion-product-images-small-other")  # photos of article types that are none of ours (training the Other answer)
    other_splits_dir: Path = Path("data/splits/other")  # the other types split by type, then by image (python -m fashion_classifier.data --other)
    models_dir: Path = Path("models")  # where training writes the artifacts
    model_path: Path = Path("models/fashion_classifier.tflite")  # the served LiteRT model
    keras_model_path: Path = Path("models/fashion_classifier.keras")  # the Keras model (backend "keras", parity checks)
    labels_path: Path = Path("models/labels.json")  # category names in output order
    model_card_path: Path = Path("models/model_card.json")  # version, input size, metrics of the model
    backend: str = "litert"  # "litert" (default, no TensorFlow) or "keras"
    inference_threads: int = 0  # LiteRT threads per interpreter; 0: one per core (gunicorn: cores / workers)
    solo_inference_threads: int = 0  # the API's threads for a request alone in the server; 0: every core; 1: no solo lane
    mirror_below: float | None = None  # the mirror view runs when the plain view's top probability is below this; empty: the model card's (2: every photo, 0: none)
    seed: int = 1337  # split and training seed
    cache_dir: Path = Path("data/cache")  # decoded training arrays, reused between runs

    # refund tiers
    auto_threshold: float = 0.85  # confidence at or above: tier "auto" (auto-approve)
    check_threshold: float = 0.70  # confidence at or above (below auto): tier "check" (quick check); below: "review"
    tier_mode: str = "fixed"  # "fixed": the thresholds above; "precision": the model card's auto-approve lines fitted on validation data for its target precision

    # image intake
    max_upload_bytes: int = 10 * 1024 * 1024  # largest accepted image file (bytes)
    max_image_pixels: int = 50_000_000  # decompression-bomb limit

    # folders of the nightly run
    incoming_dir: Path = Path("data/incoming")  # where the clerks drop photos (dated subfolders too)
    processed_dir: Path = Path("data/processed_batches")  # classified photos, one folder per category
    failed_dir: Path = Path("data/failed")  # photos that could not be classified (reason in the reports)
    results_dir: Path = Path("results")  # evaluation results and the folders below
    batch_results_dir: Path = Path("results/batch_results")  # per-run CSV, XLSX and JSON summary
    reports_dir: Path = Path("results/reports")  # HTML reports
    visualizations_dir: Path = Path("results/visualizations")  # training and evaluation plots
    logs_dir: Path = Path("logs")  # batch logs, cron logs, monitoring state
    history_db: Path = Path("logs/execution_history.db")  # SQLite history shared by API, batch and monitoring
    locations_file: Path = Path("config/locations.json")  # category -> warehouse location for the pick lists

    # API service
    api_host: str = "127.0.0.1"  # address the API binds (make run, systemd, python api/app.py); 0.0.0.0: every interface (the container)
    port: int = 5000  # API port (gunicorn and python api/app.py)
    api_url: str = "http://127.0.0.1:5000"  # where the batch and the monitoring find the API
    max_batch_files: int = 50  # files per /predict_batch request
    ratelimit_enabled: bool = True  # false turns the public rate limits off (benchmarks, tests)
    ratelimit_storage_uri: str = "memory://"  # flask-limiter storage; redis://host:6379 to share limits across workers
    ratelimit_predict: str = "100 per hour"  # per client address on /predict
    ratelimit_batch: str = "20 per hour"  # per client address on /predict_batch
    ratelimit_stats: str = "10 per minute"  # per client address on /stats
    trusted_keys: tuple[str, ...] = ()  # X-Batch-Key values of trusted internal callers (never rate limited), besides the internal key
    internal_key_file: Path | None = None  # the secret the API and the batch share (made at first start, mode 0600); empty: internal.key in FASHION_LOGS_DIR
    trusted_addresses: tuple[str, ...] = ()  # client addresses treated as trusted callers
    proxy_hops: int = 0  # reverse proxies in front whose X-Forwarded-For/-Proto to believe (0: none, never spoofable)
    auth_enabled: bool = False  # require an X-API-Key on the API
    api_keys: tuple[str, ...] = ()  # accepted API keys (comma-separated)
    api_keys_file: Path | None = None  # file with one API key per line
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to call the API
    max_batch_upload_bytes: int = 256 * 1024 * 1024  # whole /predict_batch body; each file max_upload_bytes
    api_workers: int = 0  # gunicorn workers; 0: cores + 1
    api_threads: int = 4  # request threads per gunicorn worker (gthread: a slow client holds one thread, not a worker)
    api_worker_timeout: int = 120  # gunicorn restarts a worker whose main loop is stuck this long (seconds)
    api_keepalive_hold_ms: float = 2.0  # a thread that answered a kept-alive connection waits this long for its next request before handing it back to gunicorn's poller (0: never)
    api_header_timeout_seconds: float = 10.0  # request line and headers must arrive within this, else JSON 408
    api_body_timeout_seconds: float = 60.0  # the whole request body must arrive within this, else JSON 408
    request_max_pixels: int = 200_000_000  # decoded pixels one /predict_batch may spend; later files: request_budget_exceeded
    request_decode_seconds: float = 20.0  # decoding seconds one /predict_batch may spend; later files: request_budget_exceeded
    api_log_level: str = "INFO"  # API log level
    api_log_json: bool = True  # one JSON object per log line on stderr (false: plain text)
    api_access_log: bool = False  # also gunicorn's own access line per request on stdout (the app's JSON request line has the same facts and the request id)
    api_log_files: bool = True  # also write logs/api.log and logs/api_errors.log (false: stderr only)
    api_log_max_bytes: int = 10 * 1024 * 1024  # api.log and api_errors.log rotate at this size (0: never, e.g. under logrotate)
    api_log_backups: int = 10  # rotated log files kept (api.log.1 ... api.log.10)
    stats_window_hours: float = 24.0  # latency percentiles of /stats cover this window
    model_reload_seconds: float = 1.0  # how often each API worker looks whether another model version was promoted

    # batch processor
    batch_chunk_size: int = 48  # three of the predictor's 16-image buckets per request
    batch_concurrency: int = 4  # API requests in flight during the batch
    min_file_age_seconds: float = 5.0  # younger files are skipped (still being copied)
    api_retries: int = 3  # retries of a failed API call before falling back
    api_timeout_seconds: float = 30.0  # timeout of one batch API request
    fallback_local: bool = True  # classify in-process when the API is down
    batch_key: str = ""  # sent as X-Batch-Key; empty: the first of trusted_keys
    batch_chunk_bytes: int = 24 * 1024 * 1024  # a chunk also closes at this many bytes (12-MP photos)
    api_backoff_seconds: float = 0.5  # first retry delay, doubled per attempt
    batch_fsync: bool = True  # fsync moved files' folders before the journal says "done"
    batch_sync_interval_seconds: float = 1.0  # how often that happens (0: after every chunk)
    batch_lock_file: Path = Path("logs/batch.lock")  # one batch run at a time
    report_max_thumbnails: int = 300  # review thumbnails embedded in the HTML report

    # batch on Ray (--engine ray, docs/SCALING.md)
    batch_engine: str = "local"  # "local" (this machine: API or in-process) or "ray"
    ray_address: str = ""  # an existing Ray cluster ("ray://head:10001", "auto"); empty: a local instance
    ray_num_actors: int = 0  # Predictor actors; 0: one per ray_cpus_per_actor CPUs of the cluster
    ray_batch_size: int = 48  # images per map_batches call (three of the Predictor's 16-image buckets)
    ray_cpus_per_actor: float = 1.0  # CPUs Ray reserves per actor (also its inference threads)

    # alerts
    alert_failure_rate: float = 0.10  # ERROR alert above this share of failed images
    alert_low_confidence_count: int = 50  # WARNING alert above this many low-confidence images
    alert_max_duration_seconds: float = 15 * 60  # WARNING alert when a run takes longer
    alert_no_run_hours: float = 36  # WARNING alert when no batch ran for this long
    alert_other_share: float = 0.30  # WARNING alert when this share of a night's photos is Other (none of ours)
    alert_other_jump: float = 2.0  # ... or when the Other share is this many times the median of the last nights
    alert_other_min_points: float = 5.0  # ... and at least this many percentage points above it
    alert_other_min_photos: int = 20  # no Other-share alert for nights with fewer classified photos
    alert_other_history_runs: int = 7  # how many earlier nights make the "usual" Other share
    smtp_host: str = ""  # mail relay for e-mail alerts; empty: no e-mail
    smtp_port: int = 587  # mail relay port
    smtp_user: str = ""  # SMTP login (empty: no login)
    smtp_password: str = ""  # SMTP password
    smtp_starttls: bool = True  # upgrade the SMTP connection with STARTTLS
    smtp_sender: str = "fashion-classifier@localhost"  # From: address of alert e-mails
    smtp_ca_file: Path | None = None  # extra CA to trust for STARTTLS (a private mail relay)
    alert_email_to: tuple[str, ...] = ()  # alert e-mail recipients (comma-separated)
    slack_webhook_url: str = ""  # Slack incoming webhook; empty: no Slack
    alert_timeout_seconds: float = 10.0  # timeout of one alert delivery
    alert_retries: int = 3  # delivery attempts per channel

    # retention
    results_retention_days: int = 30  # batch results older than this are deleted
    logs_retention_days: int = 90  # batch logs older than this are deleted

    # monitoring (monitoring/*.py) and the dashboard
    health_check_timeout_seconds: float = 5.0
    health_check_failures_to_alert: int = 3  # consecutive failed checks before "API Down"
    health_check_slow_seconds: float = 2.0  # a slower /health answer is a warning
    monitoring_state_dir: Path = Path("logs/monitoring")  # what the cron checks remember between runs
    batch_schedule_time: str = "02:00"  # the crontab's nightly start, shown as "Next Scheduled Run"
    alert_min_free_disk_gb: float = 5.0  # WARNING alert below this much free disk
    exports_dir: Path = Path("exports")  # inventory exports
    category_codes_file: Path = Path("config/category_codes.json")  # category -> inventory code for the inventory export
    corrections_dir: Path = Path("data/corrections")  # the review queue's labelled corrections for retraining
    retake_dir: Path = Path("data/retake")  # photos a clerk marked unusable in the review queue: take them again
    dashboard_host: str = "127.0.0.1"  # dashboard listen address
    dashboard_port: int = 8050  # dashboard port
    dashboard_url: str = "http://127.0.0.1:8050"  # the dashboard as the clerks reach it (the HTML report links its review queue)
    dashboard_refresh_seconds: int = 30  # how often the dashboard page refreshes itself
    dashboard_users_file: Path | None = None  # "name:password-hash" lines; set: login required
    dashboard_api_keys: tuple[str, ...] = ()  # X-API-Key access for scripts; set: key or login required
    dashboard_secret_key: str = ""  # signs the login cookie; empty: random per process
    dashboard_allow_open: bool = False  # serve without login on a non-loopback address

    def path(self, name: str) -> Path:
        """A path setting resolved against ``root``."""
        value = Path(getattr(self, name))
        return value if value.is_absolute() else self.root / value

    def internal_key_path(self) -> Path:
        """The shared secret of the API and the batch (``internal_key_file``, else beside the logs)."""
        return self.path("internal_key_file") if self.internal_key_file else self.path("logs_dir") / "internal.key"

    def with_overrides(self, **changes) -> Config:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            name = _ENV_NAMES.get(f.name, f"FASHION_{f.name.upper()}")
            alias = _ALIASES.get(f.name, "")
            if name in env:
                values[f.name] = _convert(f.name, f.type, env[name])
            elif env.get(alias, "").strip():
                values[f.name] = _convert(f.name, f.type, env[alias])
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
        if type_text == "float | None":
            return float(raw) if raw.strip() else None
        return raw
    except ValueError as exc:
        raise ValueError(f"bad value for setting {name}: {exc}") from exc


def load_config() -> Config:
    """The configuration of this process, from its environment."""
    return Config.from_env()


def settings_table() -> str:
    """Markdown table of every setting: variable, default, meaning (from this file's comments)."""
    import inspect

    meanings, section = {}, ""
    for line in inspect.getsource(Config).splitlines():
        text = line.strip()
        if text.startswith("# "):
            section = text[2:]
        elif ":" in text and not text.startswith(("def ", "@", '"', "class ", "return")):
            name = text.split(":", 1)[0]
            meanings[name] = (section, text.split("  # ", 1)[1] if "  # " in text else "")
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    defaults = Config(root=Path("."))
    for f in fields(Config):
        env = f"`{_ENV_NAMES.get(f.name, f'FASHION_{f.name.upper()}')}`"
        if f.name in _ALIASES:
            env += f" (alias `{_ALIASES[f.name]}`)"
        default = "the checkout (or the current folder)" if f.name == "root" else _show(getattr(defaults, f.name))
        section, meaning = meanings.get(f.name, ("", ""))
        rows.append(f"| {env} | {default} | {meaning or section} |")
    return "\n".join(rows) + "\n"


def _show(value) -> str:
    if isinstance(value, tuple):
        return f"`{','.join(value)}`" if value else "(empty)"
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--markdown"]:
        print("usage: python -m fashion_classifier.config --markdown\n"
              "prints the table of every setting (docs/CONFIGURATION.md)")
        sys.exit(0 if sys.argv[1:] in (["--help"], ["-h"]) else 64)
    print(settings_table(), end="")
