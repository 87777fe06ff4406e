"""Every endpoint through the Flask test client, on the shipped model and temporary files."""

from __future__ import annotations

import json

import pytest
from api_support import flush, make_app, product_png, real_photos, state, upload, upload_batch

from fashion_classifier import __version__
from fashion_classifier.api.logqueue import flush_all
from fashion_classifier.history import HistoryDB
from fashion_classifier.labels import CATEGORIES

PREDICTION_KEYS = {"category", "confidence", "timestamp", "all_predictions", "top3", "tier",
                   "model_version", "processing_time_ms", "request_id"}


def assert_valid_prediction(body: dict, predictor) -> None:
    assert set(body["all_predictions"]) == set(CATEGORIES) | {"Other"}  # the model's labels
    assert sum(body["all_predictions"].values()) == pytest.approx(1.0, abs=1e-3)
    assert list(body["all_predictions"].values()) == sorted(body["all_predictions"].values(), reverse=True)
    assert body["category"] == max(body["all_predictions"], key=body["all_predictions"].get)
    assert body["confidence"] == body["all_predictions"][body["category"]]
    assert [t["category"] for t in body["top3"]] == list(body["all_predictions"])[:3]
    confidence = body["confidence"]
    expected_tier = "auto" if confidence >= 0.85 else "check" if confidence >= 0.70 else "review"
    assert body["tier"] == ("review" if body["category"] == "Other" else expected_tier)
    assert body["in_scope"] is (body["category"] != "Other")
    assert body["model_version"] == predictor.version


def test_index_lists_every_endpoint(client):
    body = client.get("/").get_json()
    paths = {e["path"] for e in body["endpoints"]}
    assert {"/health", "/predict", "/predict_batch", "/classes", "/stats", "/version", "/metrics",
            "/healthz", "/readyz", "/openapi.json", "/docs"} <= paths
    assert body["version"] == __version__ and body["model_loaded"] is True


def test_health_has_the_spec_keys(client, shipped_predictor):
    response = client.get("/health")
    body = response.get_json()
    assert response.status_code == 200
    assert {"status", "model_loaded", "timestamp", "uptime", "version"} <= set(body)
    assert body["status"] == "healthy" and body["model_loaded"] is True
    assert body["uptime"] >= 0 and body["version"] == __version__
    assert body["model_version"] == shipped_predictor.version


def test_liveness_and_readiness(client, shipped_predictor):
    assert client.get("/healthz").get_json()["status"] == "alive"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["model_version"] == shipped_predictor.version


def test_classes_are_the_models_categories_and_name_other(client, shipped_predictor):
    body = client.get("/classes").get_json()
    assert body["classes"] == list(shipped_predictor.categories) == list(CATEGORIES)
    assert body["count"] == 10 == body["total"] and body["other"] == "Other"
    assert body["answers"] == list(CATEGORIES) + ["Other"]
    assert body["open_world"] is shipped_predictor.info.has_other


def test_version_reports_model_card_facts(client, shipped_predictor, tmp_config):
    body = client.get("/version").get_json()
    assert body["api_version"] == __version__
    assert body["model_version"] == shipped_predictor.version
    assert body["model"]["backend"] == "litert"
    assert [body["model"]["input_size"]["height"], body["model"]["input_size"]["width"]] == \
        list(shipped_predictor.input_size)
    assert body["model"]["test_metrics"]["accuracy"] == shipped_predictor.info.card["metrics"]["accuracy"]
    assert body["tiers"] == {"mode": "fixed", "auto": tmp_config.auto_threshold,
                             "check": tmp_config.check_threshold, "per_category": {}}


def test_predict_real_photo(client, shipped_predictor):
    response = upload(client, real_photos(1)[0])
    body = response.get_json()
    assert response.status_code == 200, body
    assert PREDICTION_KEYS <= set(body)
    assert_valid_prediction(body, shipped_predictor)
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["processing_time_ms"] > 0


def test_predict_matches_the_predictor(client, shipped_predictor):
    photo = real_photos(3)[2]
    body = upload(client, photo).get_json()
    direct = shipped_predictor.predict_bytes(photo)
    assert body["category"] == direct.category
    assert body["confidence"] == pytest.approx(direct.confidence, abs=1e-6)


def test_tiers_follow_configured_thresholds(tmp_config, shipped_predictor):
    photo = real_photos(1)[0]
    confidence = shipped_predictor.predict_bytes(photo).confidence
    # the shipped Predictor carries the default policy, so build one with other thresholds
    from fashion_classifier.model import Predictor

    strict = Predictor.from_config(tmp_config.with_overrides(auto_threshold=1.0, check_threshold=1.0))
    app = make_app(tmp_config, strict)
    body = upload(app.test_client(), photo).get_json()
    assert body["tier"] == ("auto" if confidence >= 1.0 else "review")
    state(app).recorder.close()


def test_batch_results_in_order_with_per_file_errors(client, shipped_predictor):
    photos = real_photos(3)
    items = [(photos[0], "a.jpg"), (b"not an image at all", "b.jpg"), (photos[1], "c.jpg"),
             (b"", "empty.jpg"), (product_png(), "d.png"), (photos[2][:200], "truncated.jpg")]
    response = upload_batch(client, items)
    body = response.get_json()
    assert response.status_code == 200, body
    assert {"results", "total", "successful", "failed", "model_version", "processing_time_ms",
            "request_id", "timestamp"} <= set(body)
    assert (body["total"], body["successful"], body["failed"]) == (6, 3, 3)
    assert [r["index"] for r in body["results"]] == list(range(6))
    assert [r["filename"] for r in body["results"]] == [name for _, name in items]
    assert [r["status"] for r in body["results"]] == ["success", "error", "success", "error", "success",
                                                      "error"]
    assert [r.get("code") for r in body["results"] if r["status"] == "error"] == \
        ["unsupported_format", "empty_file", "truncated_image"]
    for result in body["results"]:
        if result["status"] == "success":
            assert PREDICTION_KEYS - {"timestamp", "processing_time_ms", "request_id"} <= set(result)
            assert_valid_prediction(result, shipped_predictor)
        else:
            assert result["error"]
    assert body["results"][0]["category"] == shipped_predictor.predict_bytes(photos[0]).category


def test_batch_of_fifty_matches_single_predictions(client, shipped_predictor):
    photos = real_photos(50)
    body = upload_batch(client, [(p, f"{i}.jpg") for i, p in enumerate(photos)]).get_json()
    assert body["successful"] == 50
    for photo, result in zip(photos, body["results"], strict=True):
        assert result["category"] == shipped_predictor.predict_bytes(photo).category


def test_batch_limit_is_configurable(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor, max_batch_files=3)
    client = app.test_client()
    ok = upload_batch(client, [(product_png(), f"{i}.png") for i in range(3)])
    assert ok.status_code == 200 and ok.get_json()["total"] == 3
    too_many = upload_batch(client, [(product_png(), f"{i}.png") for i in range(4)])
    assert too_many.status_code == 400 and too_many.get_json()["code"] == "too_many_files"
    state(app).recorder.close()


def test_metrics_prometheus_text(client):
    upload(client, product_png())
    upload(client, b"")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'fashion_api_requests_total{endpoint="/predict",method="POST",status="200"} 1.0' in text
    assert 'fashion_api_requests_total{endpoint="/predict",method="POST",status="400"} 1.0' in text
    assert 'fashion_api_request_duration_seconds_bucket{endpoint="/predict",le="0.005",method="POST"' in text
    assert "fashion_api_predictions_total{category=" in text
    assert 'fashion_api_image_errors_total{code="empty_file"} 1.0' in text
    assert "fashion_model_load_seconds " in text and "fashion_model_loaded 1.0" in text


def test_stats_from_the_database(app, client):
    photos = real_photos(4)
    upload(client, photos[0])
    upload_batch(client, [(p, "x.jpg") for p in photos[1:]] + [(b"junk", "bad.jpg")])
    upload(client, b"")
    client.get("/nope")
    flush(app)
    body = client.get("/stats").get_json()
    assert body["total_requests"] == 4
    assert body["successful_requests"] == 2 and body["failed_requests"] == 2
    assert body["error_rate"] == pytest.approx(0.5)
    assert body["requests_by_endpoint"]["/predict"] == {"requests": 2, "errors": 1}
    assert body["requests_by_endpoint"]["/predict_batch"] == {"requests": 1, "errors": 0}
    assert body["requests_by_endpoint"]["other"] == {"requests": 1, "errors": 1}
    assert body["total_predictions"] == 4
    assert set(body["predictions_by_category"]) == set(CATEGORIES) | {"Other"}
    assert sum(body["predictions_by_category"].values()) == 4
    assert sum(body["predictions_by_tier"].values()) == 4
    latency = body["latency_ms"]["by_endpoint"]["/predict"]
    assert latency["count"] == 2 and 0 < latency["p50"] <= latency["p95"]
    assert body["status_codes"] == {"200": 2, "400": 1, "404": 1}


def test_every_call_is_recorded(app, client, tmp_config):
    upload(client, real_photos(1)[0], headers={"X-Request-ID": "trace-123"})
    client.get("/classes")
    flush(app)
    db = HistoryDB(tmp_config.path("history_db"))
    rows = [dict(r) for r in db.execute("SELECT * FROM api_calls ORDER BY id")]
    predictions = [dict(r) for r in db.execute("SELECT * FROM api_predictions")]
    db.close()
    assert [(r["endpoint"], r["method"], r["status_code"], bool(r["success"])) for r in rows] == \
        [("/predict", "POST", 200, True), ("/classes", "GET", 200, True)]
    assert rows[0]["request_id"] == "trace-123" and rows[0]["images"] == 1
    assert rows[0]["category"] in CATEGORIES and rows[0]["response_time"] > 0
    assert [(p["request_id"], p["category"]) for p in predictions] == [("trace-123", rows[0]["category"])]


def test_calls_record_what_was_predicted_or_why_not(app, client, tmp_config):
    photos = real_photos(2)
    answer = upload(client, photos[0]).get_json()
    broken = bytearray(product_png())
    broken[60:80] = b"\xff" * 20  # inside the compressed data
    assert upload(client, bytes(broken)).status_code == 400
    assert upload(client, b"plain text").status_code == 400
    batch = upload_batch(client, [(photos[1], "a.jpg"), (b"", "empty.jpg"), (b"junk", "junk.jpg")]).get_json()
    assert upload(client, bytes(11 * 1024 * 1024), "huge.jpg").status_code == 413
    flush(app)
    db = HistoryDB(tmp_config.path("history_db"))
    rows = [dict(r) for r in db.execute("SELECT * FROM api_calls ORDER BY id")]
    db.close()
    keys = ("endpoint", "status_code", "category", "tier", "error", "images", "failed")
    fields = [tuple(r[k] for k in keys) for r in rows]
    codes = ",".join(sorted(r["code"] for r in batch["results"] if r["status"] == "error"))
    assert fields == [
        ("/predict", 200, answer["category"], answer["tier"], None, 1, None),
        ("/predict", 400, None, None, "corrupt_image", 1, None),
        ("/predict", 400, None, None, "unsupported_format", 1, None),
        ("/predict_batch", 200, None, None, codes, 3, 2),
        ("/predict", 413, None, None, "payload_too_large", 0, None),
    ]
    assert rows[0]["confidence"] == pytest.approx(answer["confidence"], abs=1e-6)
    assert [r["confidence"] for r in rows[1:]] == [None] * 4
    assert batch["failed"] == 2 and codes == "empty_file,unsupported_format"


def test_stats_survive_a_restart(tmp_config, shipped_predictor):
    first = make_app(tmp_config, shipped_predictor)
    upload(first.test_client(), product_png())
    state(first).recorder.close()  # a graceful shutdown writes what is queued
    second = make_app(tmp_config, shipped_predictor)
    body = second.test_client().get("/stats").get_json()
    assert body["total_requests"] == 1 and body["total_predictions"] == 1
    state(second).recorder.close()


def test_model_not_loaded(tmp_config, tmp_path):
    app = make_app(tmp_config, None, model_path=tmp_path / "missing.tflite")
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 503 and health.get_json()["model_loaded"] is False
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["code"] == "not_ready"
    assert client.get("/healthz").status_code == 200
    predict = upload(client, product_png())
    assert predict.status_code == 503 and predict.get_json()["code"] == "model_not_loaded"
    assert client.get("/classes").get_json()["classes"] == list(CATEGORIES)
    assert "fashion_model_loaded 0.0" in client.get("/metrics").get_data(as_text=True)
    state(app).recorder.close()


def test_structured_log_lines_carry_the_request_id(tmp_config, shipped_predictor, capsys):
    app = make_app(tmp_config, shipped_predictor, api_log_level="INFO")
    app.test_client().get("/classes", headers={"X-Request-ID": "log-trace-7"})
    upload(app.test_client(), b"", headers={"X-Request-ID": "log-trace-8"})
    flush_all()  # request lines are written in batches (api.logqueue)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    by_id = {line["request_id"]: line for line in lines if line["logger"].endswith("access")}
    assert by_id["log-trace-7"]["status"] == 200 and by_id["log-trace-7"]["path"] == "/classes"
    assert by_id["log-trace-8"]["status"] == 400 and by_id["log-trace-8"]["error_code"] == "empty_file"
    assert by_id["log-trace-7"]["duration_ms"] > 0
    state(app).recorder.close()
