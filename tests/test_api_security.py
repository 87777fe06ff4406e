"""Rate limits, trusted callers, optional API keys, CORS."""

from __future__ import annotations

import pytest
from api_support import assert_error, make_app, product_png, state, upload, upload_batch

from fashion_classifier.api.security import address_trusted, key_matches
from fashion_classifier.config import Config

PHOTO = product_png()


@pytest.fixture
def limited(tmp_config, shipped_predictor):
    """Limits on, small enough to reach in a test; one trusted key and one trusted network."""
    app = make_app(tmp_config, shipped_predictor, ratelimit_enabled=True,
                   ratelimit_predict="3 per hour", ratelimit_batch="2 per hour",
                   ratelimit_stats="2 per minute", trusted_keys=("nightly-secret",),
                   trusted_addresses=("10.20.0.0/16", "192.0.2.7"))
    yield app
    state(app).recorder.close()


def test_predict_limit_gives_json_429_with_retry_after(limited):
    client = limited.test_client()
    for _ in range(3):
        assert upload(client, PHOTO).status_code == 200
    response = upload(client, PHOTO)
    body = assert_error(response, 429, "rate_limited")
    assert "3 per 1 hour" in body["error"]
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_batch_and_stats_limits(limited):
    client = limited.test_client()
    for _ in range(2):
        assert upload_batch(client, [(PHOTO, "a.png")]).status_code == 200
    assert_error(upload_batch(client, [(PHOTO, "a.png")]), 429)
    for _ in range(2):
        assert client.get("/stats").status_code == 200
    assert_error(client.get("/stats"), 429)


def test_probes_and_info_are_never_limited(limited):
    client = limited.test_client()
    for _ in range(30):
        for path in ("/health", "/healthz", "/readyz", "/classes", "/version", "/metrics", "/"):
            assert client.get(path).status_code == 200, path


def test_limits_are_per_client_address(limited):
    one = limited.test_client()
    other = limited.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    for _ in range(3):
        upload(one, PHOTO)
    assert upload(one, PHOTO).status_code == 429
    assert upload(other, PHOTO).status_code == 200


def test_trusted_batch_key_is_never_limited(limited):
    client = limited.test_client()
    for _ in range(12):
        assert upload(client, PHOTO, headers={"X-Batch-Key": "nightly-secret"}).status_code == 200
        assert upload_batch(client, [(PHOTO, "a.png")], headers={"X-Batch-Key": "nightly-secret"}) \
            .status_code == 200
    # a wrong key is just an ordinary client
    for _ in range(3):
        upload(client, PHOTO, headers={"X-Batch-Key": "nightly-secreT"})
    assert upload(client, PHOTO, headers={"X-Batch-Key": "nightly-secreT"}).status_code == 429


@pytest.mark.parametrize("address", ["10.20.3.4", "192.0.2.7"])
def test_trusted_addresses_are_never_limited(limited, address):
    client = limited.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    for _ in range(10):
        assert upload(client, PHOTO).status_code == 200


def test_ratelimit_enabled_false_from_the_environment(tmp_path, shipped_predictor):
    env = {"FASHION_HISTORY_DB": str(tmp_path / "h.db"), "FASHION_LOGS_DIR": str(tmp_path / "logs"),
           "FASHION_RATELIMIT_PREDICT": "1 per hour"}
    on = make_app(Config.from_env(env), shipped_predictor, ratelimit_enabled=True)
    upload(on.test_client(), PHOTO)
    assert upload(on.test_client(), PHOTO).status_code == 429
    config = Config.from_env({**env, "RATELIMIT_ENABLED": "false"})
    assert config.ratelimit_enabled is False
    off = make_app(config, shipped_predictor, ratelimit_enabled=config.ratelimit_enabled)
    client = off.test_client()
    assert all(upload(client, PHOTO).status_code == 200 for _ in range(5))
    for app in (on, off):
        state(app).recorder.close()


def test_a_bad_limit_fails_at_start(tmp_config, shipped_predictor):
    with pytest.raises(ValueError):
        make_app(tmp_config, shipped_predictor, ratelimit_predict="lots per fortnight")


# --- API keys -------------------------------------------------------------
@pytest.fixture
def secured(tmp_config, shipped_predictor, tmp_path):
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("# the shop's keys\nfile-key-1\n\n  file-key-2  \n")
    app = make_app(tmp_config, shipped_predictor, auth_enabled=True, api_keys=("env-key",),
                   api_keys_file=keys_file, trusted_keys=("nightly-secret",))
    yield app
    state(app).recorder.close()


def test_auth_is_off_by_default(tmp_config):
    assert Config().auth_enabled is False


@pytest.mark.parametrize("key", ["env-key", "file-key-1", "file-key-2"])
def test_valid_api_keys_pass(secured, key):
    client = secured.test_client()
    assert upload(client, PHOTO, headers={"X-API-Key": key}).status_code == 200
    assert client.get("/stats", headers={"X-API-Key": key}).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": ""}, {"X-API-Key": "env-ke"},
                                     {"X-API-Key": "env-key "}, {"X-API-Key": "# the shop's keys"},
                                     {"Authorization": "Bearer env-key"}])
def test_missing_or_wrong_api_key_is_401(secured, headers):
    client = secured.test_client()
    assert_error(upload(client, PHOTO, headers=headers), 401, "invalid_api_key")
    assert_error(upload_batch(client, [(PHOTO, "a.png")], headers=headers), 401)
    assert_error(client.get("/stats", headers=headers), 401)


def test_probes_need_no_key_and_trusted_caller_skips_auth(secured):
    client = secured.test_client()
    for path in ("/health", "/healthz", "/readyz", "/classes", "/version", "/metrics", "/openapi.json"):
        assert client.get(path).status_code == 200, path
    assert upload(client, PHOTO, headers={"X-Batch-Key": "nightly-secret"}).status_code == 200


def test_key_matching():
    keys = ("alpha", "beta-longer-key")
    assert key_matches("alpha", keys) and key_matches("beta-longer-key", keys)
    assert not key_matches("alph", keys) and not key_matches("alphaa", keys)
    assert not key_matches("", keys) and not key_matches(None, keys) and not key_matches("x", ())
    assert key_matches("ключ", ("ключ",))


def test_address_matching():
    assert address_trusted("10.1.2.3", ("10.0.0.0/8",))
    assert address_trusted("::1", ("::1",))
    assert not address_trusted("11.1.2.3", ("10.0.0.0/8",))
    assert not address_trusted("not-an-ip", ("10.0.0.0/8",))
    assert not address_trusted("10.1.2.3", ("garbage",))
    assert not address_trusted(None, ("10.0.0.0/8",))


# --- CORS -------------------------------------------------------------------
def test_cors_off_by_default(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor)
    response = app.test_client().get("/health", headers={"Origin": "https://shop.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    state(app).recorder.close()


def test_cors_origins_configurable(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor, cors_origins=("https://shop.example",))
    client = app.test_client()
    allowed = client.get("/health", headers={"Origin": "https://shop.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "X-Request-ID" in allowed.headers["Access-Control-Expose-Headers"]
    other = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.options("/predict", headers={"Origin": "https://shop.example",
                                                    "Access-Control-Request-Method": "POST",
                                                    "Access-Control-Request-Headers": "X-API-Key"})
    assert preflight.status_code == 200
    assert "x-api-key" in preflight.headers["Access-Control-Allow-Headers"].lower()
    state(app).recorder.close()


def test_forwarded_for_is_ignored_without_a_trusted_proxy(limited):
    """A client cannot spoof a trusted address (or a fresh budget) with its own header."""
    client = limited.test_client()
    for i in range(3):
        upload(client, PHOTO, headers={"X-Forwarded-For": f"198.51.100.{i}"})
    assert upload(client, PHOTO, headers={"X-Forwarded-For": "10.20.3.4"}).status_code == 429


def test_behind_one_proxy_limits_and_trust_follow_the_forwarded_client(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor, ratelimit_enabled=True, ratelimit_predict="2 per hour",
                   trusted_addresses=("10.20.0.0/16",), proxy_hops=1)
    balancer = app.test_client()
    balancer.environ_base["REMOTE_ADDR"] = "192.0.2.1"  # every request arrives from the balancer

    def via(client_address: str):
        # the balancer appends the address it saw; anything before it is the client's own claim
        return upload(balancer, PHOTO, headers={"X-Forwarded-For": f"10.20.9.9, {client_address}"})

    assert [via("203.0.113.5").status_code for _ in range(3)] == [200, 200, 429]
    assert via("203.0.113.6").status_code == 200, "another client behind the same balancer has its own budget"
    assert all(via("10.20.3.4").status_code == 200 for _ in range(5)), "trusted network, seen via the proxy"
    state(app).recorder.close()
