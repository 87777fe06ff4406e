"""Who is calling: trusted internal callers, optional API keys, CORS.

A trusted caller (the nightly batch) sends ``X-Batch-Key`` with a configured
key, or comes from a configured address or network; it is exempt from rate
limits and from API-key auth. Keys are compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from functools import lru_cache
from pathlib import Path

from flask import Flask, g, request

from ..config import Config
from .errors import ApiError

log = logging.getLogger(__name__)

BATCH_KEY_HEADER = "X-Batch-Key"
API_KEY_HEADER = "X-API-Key"
# what API-key auth protects: the endpoints that do work or expose usage data
PROTECTED_ENDPOINTS = frozenset({"predict.predict", "predict.predict_batch", "stats.stats"})


def key_matches(candidate: str | None, keys) -> bool:
    """Constant-time membership: every key is compared, whatever matches first."""
    if not candidate:
        return False
    given = candidate.encode("utf-8", "surrogateescape")
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode("utf-8", "surrogateescape"))
    return found


@lru_cache(maxsize=64)
def _networks(addresses: tuple[str, ...]) -> tuple:
    networks = []
    for item in addresses:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            log.warning("ignoring bad trusted address %r", item)
    return tuple(networks)


def address_trusted(remote: str | None, addresses: tuple[str, ...]) -> bool:
    if not remote or not addresses:
        return False
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(ip in network for network in _networks(addresses))


def is_trusted(config: Config) -> bool:
    """Whether this request comes from a trusted internal caller (cached per request)."""
    if "trusted" not in g:
        g.trusted = (key_matches(request.headers.get(BATCH_KEY_HEADER), config.trusted_keys)
                     or address_trusted(request.remote_addr, config.trusted_addresses))
    return g.trusted


def load_api_keys(config: Config) -> frozenset[str]:
    """Keys from ``FASHION_API_KEYS`` plus the keys file (one a line, # comments)."""
    keys = {k for k in config.api_keys if k}
    if config.api_keys_file:
        path = Path(config.path("api_keys_file"))
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                keys.add(line)
    return frozenset(keys)


def init_auth(app: Flask, config: Config, keys: frozenset[str]) -> None:
    if not config.auth_enabled:
        return
    if not keys and not config.trusted_keys:
        log.warning("API-key auth is on but no keys are configured: protected endpoints refuse everyone")

    @app.before_request
    def _require_api_key():
        if request.endpoint not in PROTECTED_ENDPOINTS or is_trusted(config):
            return None
        if not key_matches(request.headers.get(API_KEY_HEADER), keys):
            raise ApiError(401, "missing or invalid API key (header X-API-Key)", "invalid_api_key")
        return None


def init_cors(app: Flask, config: Config) -> None:
    if not config.cors_origins:
        return
    from flask_cors import CORS

    CORS(app, origins=list(config.cors_origins), expose_headers=["X-Request-ID", "Retry-After"],
         allow_headers=["Content-Type", API_KEY_HEADER, "X-Request-ID"], max_age=600)
