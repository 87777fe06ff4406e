"""The OpenAPI 3.0 document of the whole API, built from the live config."""

from __future__ import annotations

from .. import __version__
from ..config import Config
from ..labels import OTHER, category_names
from ..model import TIERS

JSON = "application/json"
ERROR_STATUSES = {
    400: "Bad request: missing or empty file, not an image in a supported format (judged by content), "
         "corrupt or truncated image, too many pixels, invalid JSON or base64",
    401: "Missing or invalid API key (only when API-key auth is on)",
    404: "No such endpoint", 405: "Method not allowed",
    413: "Body or file too large",
    429: "Rate limit exceeded (see Retry-After)", 500: "Unexpected server error",
    503: "Model not loaded",
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema_name: str, description: str) -> dict:
    headers = {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}}
    return {"description": description, "headers": headers, "content": {JSON: {"schema": _ref(schema_name)}}}


def _errors(*statuses: int) -> dict:
    return {str(s): _json("Error", ERROR_STATUSES[s]) for s in statuses}


def _get(summary: str, schema: str, tag: str, *errors: int, description: str = "") -> dict:
    return {"get": {"summary": summary, "description": description, "tags": [tag],
                    "operationId": summary.lower().replace(" ", "_").replace(",", "")[:40],
                    "responses": {"200": _json(schema, "OK"), **_errors(*errors)}}}


def _schemas(config: Config) -> dict:
    number01 = {"type": "number", "minimum": 0, "maximum": 1}
    nullable_str = {"type": "string", "nullable": True}
    top = {"type": "object", "required": ["category", "confidence"],
           "properties": {"category": {"type": "string"}, "confidence": number01}}
    prediction_props = {
        "category": {"type": "string", "example": "Tshirts",
                     "description": f"one of /classes, or \"{OTHER}\": none of our categories"},
        "confidence": number01,
        "in_scope": {"type": "boolean",
                     "description": f"false when the photo is none of our categories (category {OTHER})"},
        "closest_category": {"type": "string", "description": "the likeliest of our categories "
                             "(for an Other answer: what it looks most like)"},
        "closest_confidence": number01,
        "all_predictions": {"type": "object", "additionalProperties": number01,
                            "description": "probability of every class, highest first"},
        "all_probabilities": {"type": "object", "additionalProperties": number01,
                              "description": "the same as all_predictions (the reference system's name)"},
        "top3": {"type": "array", "items": top, "maxItems": 3},
        "tier": {"type": "string", "enum": list(TIERS),
                 "description": f"auto >= {config.auto_threshold}, check >= {config.check_threshold}, "
                                f"else review (mode {config.tier_mode}); {OTHER} is always review"},
        "model_version": {"type": "string"},
    }
    prediction_required = list(prediction_props)
    return {
        "Error": {"type": "object", "required": ["error", "status", "timestamp", "request_id"],
                  "properties": {"error": {"type": "string"}, "status": {"type": "integer"},
                                 "code": {"type": "string"}, "timestamp": {"type": "string"},
                                 "request_id": nullable_str}},
        "Prediction": {"type": "object", "required": prediction_required + ["timestamp", "request_id"],
                       "properties": {**prediction_props, "timestamp": {"type": "string"},
                                      "processing_time_ms": {"type": "number"},
                                      "request_id": {"type": "string"}}},
        "BatchSuccess": {"type": "object", "required": ["index", "filename", "status"] + prediction_required,
                         "properties": {"index": {"type": "integer", "minimum": 0},
                                        "filename": {"type": "string"},
                                        "status": {"type": "string", "enum": ["success"]},
                                        **prediction_props}},
        "BatchError": {"type": "object", "required": ["index", "filename", "status", "error", "code"],
                       "properties": {"index": {"type": "integer", "minimum": 0},
                                      "filename": {"type": "string"},
                                      "status": {"type": "string", "enum": ["error"]},
                                      "error": {"type": "string"}, "code": {"type": "string"}}},
        "BatchResponse": {
            "type": "object",
            "required": ["results", "total", "successful", "failed", "model_version", "processing_time_ms",
                         "request_id", "timestamp"],
            "properties": {
                "results": {"type": "array", "maxItems": config.max_batch_files,
                            "items": {"oneOf": [_ref("BatchSuccess"), _ref("BatchError")]}},
                "total": {"type": "integer"}, "successful": {"type": "integer"},
                "failed": {"type": "integer"}, "model_version": {"type": "string"},
                "total_processed": {"type": "integer", "description": "= total (the reference's name)"},
                "processing_time_ms": {"type": "number"}, "request_id": {"type": "string"},
                "timestamp": {"type": "string"}}},
        "Health": {"type": "object", "required": ["status", "model_loaded", "timestamp", "uptime", "version"],
                   "properties": {"status": {"type": "string", "enum": ["healthy", "unhealthy"]},
                                  "model_loaded": {"type": "boolean"}, "timestamp": {"type": "string"},
                                  "history_writable": {"type": "boolean"}, "problem": {"type": "string"},
                                  "uptime": {"type": "number"}, "uptime_seconds": {"type": "number"},
                                  "version": {"type": "string"}, "model_version": nullable_str,
                                  "classes": {"type": "integer", "description": "number of classes"}}},
        "Status": {"type": "object", "required": ["status", "timestamp"],
                   "properties": {"status": {"type": "string"}, "timestamp": {"type": "string"},
                                  "model_version": {"type": "string"}}},
        "Info": {"type": "object", "required": ["service", "version", "endpoints"],
                 "properties": {"service": {"type": "string"}, "version": {"type": "string"},
                                "model_version": nullable_str, "model_loaded": {"type": "boolean"},
                                "endpoints": {"type": "array", "items": {"type": "object"}},
                                "docs": {"type": "string"}, "openapi": {"type": "string"},
                                "timestamp": {"type": "string"}, "status": {"type": "string"},
                                "model": {"type": "object", "properties": {
                                    "loaded": {"type": "boolean"}, "classes": {"type": "integer"}}}}},
        "Classes": {"type": "object", "required": ["classes", "count", "other"],
                    "properties": {"classes": {"type": "array", "items": {"type": "string"},
                                               "example": list(category_names(config))},
                                   "count": {"type": "integer"},
                                   "total": {"type": "integer",
                                             "description": "= count (the reference's name)"},
                                   "other": {"type": "string", "example": OTHER,
                                             "description": "the answer for none of our categories"},
                                   "answers": {"type": "array", "items": {"type": "string"}},
                                   "open_world": {"type": "boolean"}}},
        "Version": {"type": "object", "required": ["api_version", "model_version", "model"],
                    "properties": {"api_version": {"type": "string"}, "model_version": nullable_str,
                                   "model": {"type": "object"}, "tiers": {"type": "object"},
                                   "limits": {"type": "object"}, "python": {"type": "string"},
                                   "timestamp": {"type": "string"}}},
        "Stats": {"type": "object",
                  "required": ["total_requests", "error_rate", "requests_by_endpoint",
                               "predictions_by_category", "latency_ms", "timestamp"],
                  "properties": {"total_requests": {"type": "integer"},
                                 "successful_requests": {"type": "integer"},
                                 "failed_requests": {"type": "integer"},
                                 "error_rate": number01, "server_error_rate": number01,
                                 "requests_by_endpoint": {"type": "object"},
                                 "status_codes": {"type": "object",
                                                  "additionalProperties": {"type": "integer"}},
                                 "total_predictions": {"type": "integer"},
                                 "predictions_by_category": {"type": "object",
                                                             "additionalProperties": {"type": "integer"}},
                                 "predictions_by_tier": {"type": "object",
                                                         "additionalProperties": {"type": "integer"}},
                                 "latency_ms": {"type": "object"},
                                 "first_request": nullable_str, "last_request": nullable_str,
                                 "pending_writes": {"type": "integer"},
                                 "uptime_seconds": {"type": "number"},
                                 "timestamp": {"type": "string"}, "request_id": {"type": "string"},
                                 # the reference's keys: images of /predict and /predict_batch
                                 "total_images_processed": {"type": "integer"},
                                 "successful_predictions": {"type": "integer"},
                                 "failed_predictions": {"type": "integer"},
                                 "success_rate": {"type": "number", "minimum": 0, "maximum": 100,
                                                  "description": "percent of the images classified"},
                                 "uptime_human": {"type": "string", "example": "1 day, 2:03:04"},
                                 "model_loaded": {"type": "boolean"}}},
    }


def _upload_body(field: str, many: bool, config: Config) -> dict:
    """Multipart uploads, or base64 images in JSON (``payloads``)."""
    binary = {"type": "string", "format": "binary"}
    # no "format": "byte": text that is not valid base64 is the item's own error result, not a 400
    b64 = {"type": "string", "description": "the image file, base64"}
    if many:
        items = {"minItems": 1, "maxItems": config.max_batch_files}
        upload = {"type": "array", "items": binary, **items}
        as_json = {"oneOf": [
            {"type": "object", "required": ["images"], "title": "images",
             "properties": {"images": {"type": "array", "items": b64, **items}}},
            {"type": "object", "required": ["instances"], "title": "TF-Serving instances",
             "properties": {"instances": {"type": "array", **items, "items": {
                 "type": "object", "required": ["b64"], "properties": {"b64": b64}}}}}],
            "description": "results are named image_0.jpg, image_1.jpg, ... in order"}
    else:
        upload = binary
        as_json = {"type": "object", "required": ["image"], "properties": {"image": b64}}
    return {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": [field],
                                           "properties": {field: upload}}},
        JSON: {"schema": as_json}}}


def _paths(config: Config) -> dict:
    secured = [{}, {"ApiKey": []}, {"BatchKey": []}]
    return {
        "/": _get("Service info", "Info", "info", description="Service info and the endpoint list."),
        "/health": {"get": {**_get("Health check", "Health", "health")["get"],
                            "responses": {"200": _json("Health", "Healthy"),
                                          "503": _json("Health", "Model or history unavailable")}}},
        "/healthz": _get("Liveness", "Status", "health", description="200 while the process answers."),
        "/readyz": _get("Readiness", "Status", "health", 503,
                        description="200 only once the model is loaded and warmed up "
                                    "and the history database is writable."),
        "/classes": _get("List categories", "Classes", "info"),
        "/version": _get("Versions", "Version", "info", description="API and model versions, model card."),
        "/stats": {"get": {**_get("API statistics", "Stats", "stats", 401, 429)["get"], "security": secured,
                           "description": "From the history database; "
                                          f"rate limit {config.ratelimit_stats}."}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "tags": ["stats"], "operationId": "metrics",
                             "responses": {"200": {"description": "Prometheus text format", "content": {
                                 "text/plain": {"schema": {"type": "string"}}}}}}},
        "/predict": {"post": {
            "summary": "Classify one image", "tags": ["predict"], "operationId": "predict",
            "description": f"Multipart field `file`, or JSON `{{\"image\": \"<base64>\"}}`; the image at "
                           f"most {config.max_upload_bytes} bytes; rate limit {config.ratelimit_predict}.",
            "security": secured, "requestBody": _upload_body("file", False, config),
            "responses": {"200": _json("Prediction", "The prediction"),
                          **_errors(400, 401, 413, 429, 503)}}},
        "/predict_batch": {"post": {
            "summary": "Classify many images", "tags": ["predict"], "operationId": "predict_batch",
            "description": f"Multipart field `files`, repeated, or JSON `{{\"images\": [...]}}` or "
                           "`{\"instances\": [{\"b64\": ...}]}` of base64 images; at most "
                           f"{config.max_batch_files} images; one result per image in input order, each a "
                           "success or its own error. "
                           f"Rate limit {config.ratelimit_batch}.",
            "security": secured, "requestBody": _upload_body("files", True, config),
            "responses": {"200": _json("BatchResponse", "One result per file"),
                          **_errors(400, 401, 413, 429, 503)}}},
        "/openapi.json": {"get": {"summary": "This document", "tags": ["info"], "operationId": "openapi",
                                  "responses": {"200": {"description": "OpenAPI document",
                                                        "content": {JSON: {"schema": {"type": "object"}}}}}}},
        "/docs": {"get": {"summary": "Documentation page", "tags": ["info"], "operationId": "docs",
                          "responses": {"200": {"description": "HTML page",
                                                "content": {"text/html": {"schema": {"type": "string"}}}}}}},
    }


def build_openapi(config: Config) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Fashion Product Classifier API", "version": __version__,
                 "description": "Classifies returned-product photos into ten fashion categories with a "
                                "refund tier (auto / check / review). Every error is JSON "
                                "{error, status, code, timestamp, request_id}; every response carries "
                                "X-Request-ID."},
        "servers": [{"url": "/"}],
        "tags": [{"name": n} for n in ("predict", "info", "health", "stats")],
        "paths": _paths(config),
        "components": {
            "schemas": _schemas(config),
            "headers": {"RequestId": {"description": "Request id (the client's if sane, else generated)",
                                      "schema": {"type": "string"}}},
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                           "description": "Only when FASHION_AUTH_ENABLED=true"},
                "BatchKey": {"type": "apiKey", "in": "header", "name": "X-Batch-Key",
                             "description": "Trusted internal caller: exempt from rate limits and auth"}},
        },
    }
