"""Rate limits (flask-limiter): per client address, per endpoint, from Config.

Only /predict, /predict_batch and /stats are limited (the spec's table);
probes, docs and metrics never are. Trusted internal callers are exempt.
``RATELIMIT_ENABLED=false`` (flask-limiter's own setting name, read by
``Config``) turns every limit off. A 429 is rendered by ``errors`` as JSON;
flask-limiter adds ``Retry-After`` and the ``X-RateLimit-*`` headers.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many

from ..config import Config
from .security import is_trusted


def endpoint_limits(config: Config) -> dict[str, str]:
    return {
        "predict.predict": config.ratelimit_predict,
        "predict.predict_batch": config.ratelimit_batch,
        "stats.stats": config.ratelimit_stats,
    }


def init_ratelimits(app: Flask, config: Config) -> Limiter | None:
    """Call after the blueprints are registered: it wraps their view functions.

    With the limits off no Limiter is installed at all: flask-limiter's disabled check still
    cost every request a before-request hook and a trusted-caller test."""
    limits = {endpoint: value for endpoint, value in endpoint_limits(config).items() if value.strip()}
    for value in limits.values():
        parse_many(value)  # a typo in a limit fails at start, not on every request
    app.config["RATELIMIT_ENABLED"] = config.ratelimit_enabled
    if not config.ratelimit_enabled:
        return None
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        storage_uri=config.ratelimit_storage_uri,
        headers_enabled=True,
        swallow_errors=True,  # a storage outage must not fail predictions
        key_prefix="fashion-api",
    )
    app.extensions["fashion_api_limiter"] = limiter  # route limits hold only a weak reference
    limiter.request_filter(lambda: is_trusted(config))
    for endpoint, value in limits.items():
        # per-app wrapping (not decorators at import) so every app has its own limits
        app.view_functions[endpoint] = limiter.limit(value)(app.view_functions[endpoint])
    return limiter
