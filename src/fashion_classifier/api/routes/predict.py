"""POST /predict (one image) and POST /predict_batch (many, one result each)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ...history import utc_iso
from ...imaging import DecodeBudget, ImageError
from ...model import Prediction
from ...model.predictor import BATCH_BUCKET
from ..context import elapsed_ms
from ..errors import ApiError
from ..state import get_state
from ..uploads import FileTooLargeError, clean_filename, read_file, single_upload

bp = Blueprint("predict", __name__)


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
def predict():
    predictor = _predictor()
    config = get_state().config
    data = read_file(single_upload(request.files, request.form), config.max_upload_bytes)
    g.images = 1
    try:
        prediction = predictor.predict_bytes(data)
    except ImageError as exc:
        get_state().metrics.image_errors.labels(exc.code).inc()
        raise ApiError.from_image_error(exc) from None
    _observe([prediction])
    g.category, g.confidence, g.tier = prediction.category, prediction.confidence, prediction.tier
    body = _response_fields(prediction)
    return jsonify({
        "category": body.pop("category"),
        "confidence": body.pop("confidence"),
        "timestamp": utc_iso(),
        **body,
        "processing_time_ms": elapsed_ms(),
        "request_id": g.request_id,
    })


@bp.post("/predict_batch")
def predict_batch():
    predictor = _predictor()
    config = get_state().config
    files = request.files.getlist("files")
    if not files:
        raise ApiError(400, "No files provided (multipart field 'files', repeated)", "missing_files")
    if len(files) > config.max_batch_files:
        raise ApiError(400, f"{len(files)} files; at most {config.max_batch_files} per request",
                       "too_many_files", max_batch_files=config.max_batch_files)
    g.images = len(files)
    get_state().metrics.batch_files.observe(len(files))
    results: list[dict] = []
    # the request's decode budget: past it, files are answered request_budget_exceeded (docs/API.md)
    budget = DecodeBudget(config.request_max_pixels, config.request_decode_seconds)
    # chunks of the predictor's batch size: memory holds one chunk of raw bytes at a time
    for start in range(0, len(files), BATCH_BUCKET):
        results += _classify_chunk(predictor, files[start:start + BATCH_BUCKET], start, config, budget)
    return jsonify(_batch_body(results, predictor.version))


def _classify_chunk(predictor, files, offset: int, config, budget: DecodeBudget) -> list[dict]:
    names = [clean_filename(f.filename) for f in files]
    outcomes: list = [None] * len(files)
    payloads: dict[int, bytes] = {}
    for i, storage in enumerate(files):
        try:
            payloads[i] = read_file(storage, config.max_upload_bytes)
        except FileTooLargeError as exc:
            outcomes[i] = exc
    for i, outcome in zip(payloads, predictor.predict_many(list(payloads.values()), budget),
                          strict=True):
        outcomes[i] = outcome
    return [_result(offset + i, names[i], outcome) for i, outcome in enumerate(outcomes)]


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
