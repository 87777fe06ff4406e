"""POST /predict (one image) and POST /predict_batch (many, one result each).

Each takes multipart uploads or a JSON body of base64 images (parsed in ``payloads``); the
reference system's extra keys are added by ``compat``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, g, jsonify, request

from ...history import utc_iso
from ...imaging import DecodeBudget, ImageError
from ...model import Prediction
from ...model.predictor import BATCH_BUCKET
from .. import compat, payloads
from ..context import elapsed_ms
from ..errors import ApiError
from ..state import get_state
from ..uploads import clean_filename, predict_upload, read_file

bp = Blueprint("predict", __name__)


def counted(view):
    """Count the request in the server's in-flight total while it runs: the Predictor gives a
    request that is alone every core (``model.lanes``)."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        with get_state().in_flight.request():
            return view(*args, **kwargs)
    return wrapper


def _predictor():
    predictor = get_state().predictor
    if predictor is None:
        raise ApiError(503, "model not loaded", "model_not_loaded")
    return predictor


def _response_fields(prediction: Prediction) -> dict:
    body = prediction.to_dict()
    # highest first, as in the spec's example
    body["all_predictions"] = dict(sorted(body["all_predictions"].items(), key=lambda kv: -kv[1]))
    return body


def _observe(predictions: list[Prediction]) -> None:
    metrics = get_state().metrics
    for p in predictions:
        metrics.observe_prediction(p.category, p.tier, p.confidence)
    g.predictions = predictions


@bp.post("/predict")
@counted
def predict():
    predictor = _predictor()
    config = get_state().config
    if request.is_json:
        data = payloads.single_image(_json_body(), config.max_upload_bytes)
    else:
        data = predict_upload(request, config.max_upload_bytes)
    g.images = 1
    try:
        prediction = predictor.predict_bytes(data)
    except ImageError as exc:
        get_state().metrics.image_errors.labels(exc.code).inc()
        raise ApiError.from_image_error(exc) from None
    _observe([prediction])
    g.category, g.confidence, g.tier = prediction.category, prediction.confidence, prediction.tier
    body = _response_fields(prediction)
    return jsonify(compat.prediction({
        "category": body.pop("category"),
        "confidence": body.pop("confidence"),
        "timestamp": utc_iso(),
        **body,
        "processing_time_ms": elapsed_ms(),
        "request_id": g.request_id,
    }))


def _json_body():
    # the limit was set for JSON in context._start; cache=False: the raw text is not kept twice
    return payloads.parse_json(request.get_data(cache=False))


@dataclass(frozen=True)
class _Item:
    """One image of a batch request: its name, and how to get its bytes (or its ApiError)."""

    name: str
    load: Callable[[], bytes]


def _batch_items(config) -> list[_Item]:
    limit = config.max_upload_bytes
    if request.is_json:
        images = payloads.batch_images(_json_body(), config.max_batch_files)
        return [_Item(image.name, lambda image=image: image.load(limit)) for image in images]
    files = request.files.getlist("files")
    if not files:
        raise ApiError(400, "No files provided (multipart field 'files', repeated)", "missing_files")
    if len(files) > config.max_batch_files:
        raise ApiError(400, f"{len(files)} files; at most {config.max_batch_files} per request",
                       "too_many_files", max_batch_files=config.max_batch_files)
    return [_Item(clean_filename(f.filename), lambda f=f: read_file(f, limit)) for f in files]


@bp.post("/predict_batch")
@counted
def predict_batch():
    predictor = _predictor()
    config = get_state().config
    items = _batch_items(config)
    g.images = len(items)
    get_state().metrics.batch_files.observe(len(items))
    results: list[dict] = []
    # the request's decode budget: past it, files are answered request_budget_exceeded (docs/API.md)
    budget = DecodeBudget(config.request_max_pixels, config.request_decode_seconds)
    # chunks of the predictor's batch size: memory holds one chunk of raw bytes at a time
    for start in range(0, len(items), BATCH_BUCKET):
        results += _classify_chunk(predictor, items[start:start + BATCH_BUCKET], start, budget)
    return jsonify(compat.batch(_batch_body(results, predictor.version)))


def _classify_chunk(predictor, items: list[_Item], offset: int, budget: DecodeBudget) -> list[dict]:
    outcomes: list = [None] * len(items)
    data: dict[int, bytes] = {}
    for i, item in enumerate(items):
        try:
            data[i] = item.load()
        except ApiError as exc:  # too large, not valid base64: this item's own error
            outcomes[i] = exc
    for i, outcome in zip(data, predictor.predict_many(list(data.values()), budget), strict=True):
        outcomes[i] = outcome
    return [_result(offset + i, items[i].name, outcome) for i, outcome in enumerate(outcomes)]


def _result(index: int, filename: str, outcome) -> dict:
    if isinstance(outcome, Prediction):
        return {"index": index, "filename": filename, "status": "success", **_response_fields(outcome),
                "_prediction": outcome}
    code = outcome.code
    if isinstance(outcome, ImageError):
        get_state().metrics.image_errors.labels(code).inc()
    message = outcome.message if isinstance(outcome, ApiError) else str(outcome)
    return {"index": index, "filename": filename, "status": "error", "error": message, "code": code}


def _batch_body(results: list[dict], model_version: str) -> dict:
    predictions = [r.pop("_prediction") for r in results if "_prediction" in r]
    _observe(predictions)
    failed = len(results) - len(predictions)
    codes = sorted({r["code"] for r in results if r["status"] == "error"})
    # one api_calls row per request: no single category; the failed files and their codes
    g.failed, g.error_code = failed, ",".join(codes) or None
    return {
        "results": results,
        "total": len(results),
        "successful": len(predictions),
        "failed": failed,
        "model_version": model_version,
        "processing_time_ms": elapsed_ms(),
        "request_id": g.request_id,
        "timestamp": utc_iso(),
    }
