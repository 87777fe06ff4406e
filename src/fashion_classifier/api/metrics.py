"""Prometheus metrics: requests and latency by endpoint and status, predictions
by category, model load time.

Each app has its own registry (tests build many apps). Under gunicorn,
``api/gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's
own setting, read by the library at import) so that a scrape of any worker
reports the sum over all workers.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)

from ..labels import OTHER

LATENCY_BUCKETS = (0.005, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONFIDENCE_BUCKETS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0)
BATCH_BUCKETS = (1, 2, 5, 10, 16, 20, 32, 50, 100)


def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        labels = ["endpoint", "method", "status"]
        self.requests = Counter("fashion_api_requests", "HTTP requests handled", labels, registry=r)
        self.latency = Histogram("fashion_api_request_duration_seconds", "Request latency in seconds",
                                 labels, buckets=LATENCY_BUCKETS, registry=r)
        self.predictions = Counter("fashion_api_predictions", "Images classified",
                                   ["category", "tier"], registry=r)
        self.out_of_scope = Counter("fashion_api_predictions_other",
                                    "Images answered Other (none of our categories)", registry=r)
        self.batch_other_share = Gauge("fashion_batch_other_share",
                                       "Share of Other photos in the latest nightly batch with photos",
                                       registry=r, multiprocess_mode="max")
        self.confidence = Histogram("fashion_api_prediction_confidence", "Top-1 confidence",
                                    buckets=CONFIDENCE_BUCKETS, registry=r)
        self.image_errors = Counter("fashion_api_image_errors", "Uploads rejected", ["code"], registry=r)
        self.batch_files = Histogram("fashion_api_batch_files", "Files per /predict_batch call",
                                     buckets=BATCH_BUCKETS, registry=r)
        self.recorder_dropped = Counter("fashion_api_history_dropped",
                                        "api_calls rows dropped (history queue full)", registry=r)
        self.model_loaded = Gauge("fashion_model_loaded", "1 once the model is loaded and warmed up",
                                  registry=r, multiprocess_mode="max")
        self.model_load_seconds = Gauge("fashion_model_load_seconds", "Model load and warm-up time",
                                        registry=r, multiprocess_mode="max")
        self.model_info = Gauge("fashion_model_info", "Model version being served", ["version", "backend"],
                                registry=r, multiprocess_mode="max")
        if not multiprocess_mode():
            ProcessCollector(registry=r)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint, method, str(status)).observe(seconds)

    def observe_prediction(self, category: str, tier: str, confidence: float) -> None:
        self.predictions.labels(category, tier).inc()
        if category == OTHER:
            self.out_of_scope.inc()
        self.confidence.observe(confidence)

    def model(self, predictor) -> None:
        loaded = predictor is not None
        self.model_loaded.set(1 if loaded else 0)
        if loaded:
            self.model_load_seconds.set(predictor.load_seconds)
            previous = getattr(self, "_model_labels", None)
            labels = (predictor.version, predictor.backend_name)
            if previous and previous != labels:  # a hot reload: the old version is no longer served
                self.model_info.labels(*previous).set(0)
            self.model_info.labels(*labels).set(1)
            self._model_labels = labels

    def render(self) -> tuple[bytes, str]:
        if not multiprocess_mode():
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        ProcessCollector(registry=registry)  # the scraped worker's own memory and CPU
        return generate_latest(registry), CONTENT_TYPE_LATEST
