"""``create_app``: the application factory (Flask tutorial style).

Config and Predictor can be injected (tests share one Predictor); by default
the config comes from the environment and the model is loaded here, once. In
gunicorn with ``preload_app`` this runs in the master, so every worker shares
the loaded, warmed-up model copy-on-write.
"""

from __future__ import annotations

import logging

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.middleware.proxy_fix import ProxyFix

from ..config import Config
from ..history import HistoryDB
from ..internal_key import internal_key
from ..model import Predictor, lanes
from ..models.store import ModelStore, uses_store
from . import multipart
from .body import BodyGuard
from .context import init_request_context
from .errors import register_error_handlers
from .holder import ModelHolder
from .logs import LogFiles, configure_logging
from .metrics import Metrics
from .ratelimit import init_ratelimits
from .recorder import CallRecorder
from .routes import register_blueprints
from .security import init_auth, init_cors, load_api_keys
from .state import EXTENSION_KEY, ApiState
from .uploads import UploadRequest

log = logging.getLogger(__name__)


def create_app(config: Config | None = None, predictor: Predictor | None = None) -> Flask:
    config = config or Config.from_env()
    files = LogFiles(config.path("logs_dir"), config.api_log_max_bytes, config.api_log_backups) \
        if config.api_log_files else None
    configure_logging(config.api_log_level, config.api_log_json, files)
    config = _trust_internal_key(config)
    multipart.install()  # odd file names in a multipart body cost nothing but themselves
    app = Flask(__name__)
    app.test_client_class = ClosingTestClient
    app.request_class = UploadRequest
    app.json.sort_keys = False  # keep the spec's key order
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes  # per request in context._start
    if config.proxy_hops > 0:  # behind a balancer: rate limits, trusted addresses and logs see the client
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.proxy_hops, x_proto=config.proxy_hops)
    app.wsgi_app = BodyGuard(app.wsgi_app, config.api_body_timeout_seconds)  # slow or broken bodies: 408/400
    state = _build_state(config, predictor)
    app.extensions[EXTENSION_KEY] = state
    init_request_context(app)  # first: every later hook and error has a request id
    init_auth(app, config, state.api_keys)
    register_blueprints(app)
    init_ratelimits(app, config)
    init_cors(app, config)
    register_error_handlers(app)
    log.info("API ready", extra={"model_loaded": state.ready,
                                 "model_version": state.predictor.version if state.ready else None})
    return app


class ClosingTestClient(FlaskClient):
    """Closes every response right away, as a WSGI server does once it has sent it: the
    history row and the log line are written then (``context._finish``)."""

    def open(self, *args, buffered: bool = True, **kwargs):
        return super().open(*args, buffered=buffered, **kwargs)


def _trust_internal_key(config: Config) -> Config:
    """The batch's key (made here at first start) joins the trusted keys: it is never rate limited."""
    key = internal_key(config)
    if key is None or key in config.trusted_keys:
        return config
    return config.with_overrides(trusted_keys=config.trusted_keys + (key,))


def _build_state(config: Config, predictor: Predictor | None) -> ApiState:
    load_error = None
    injected = predictor is not None
    in_flight = lanes.for_server()
    if predictor is None:
        try:
            predictor = Predictor.from_config(config, in_flight=in_flight)
        except Exception as exc:  # serve /health and /readyz (503) instead of crash-looping
            load_error = f"{type(exc).__name__}: {exc}"
            log.critical("model could not be loaded: %s", load_error)
    _migrate(config)
    metrics = Metrics()
    metrics.model(predictor)
    watch = ModelStore.of(config) if uses_store(config) and not injected else None
    holder = ModelHolder(predictor, watch, lambda: Predictor.from_config(config, in_flight=in_flight),
                         config.model_reload_seconds,
                         on_switch=metrics.model)
    return ApiState(config=config, holder=holder, recorder=CallRecorder(config.path("history_db")),
                    metrics=metrics, api_keys=load_api_keys(config), load_error=load_error,
                    in_flight=in_flight)


def _migrate(config: Config) -> None:
    """Create or upgrade the history database once, before workers fork."""
    try:
        HistoryDB(config.path("history_db")).close()
    except Exception:
        log.exception("history database %s not usable; calls will not be recorded",
                      config.path("history_db"))
