"""The reference system's response keys, added beside ours in this one place.

Clients written for the reference API read a few values under other names. Each route passes
its body through the function here for it, so every key of ours stays and the reference's
appear beside it, defined as the reference defines them:

- ``all_probabilities``: a copy of ``all_predictions`` (``/predict``, batch items);
- ``total_processed``: ``total`` of ``/predict_batch``; ``total``: ``count`` of ``/classes``;
- ``classes``: the number of classes on ``/health`` (0 without a model), and on ``/`` the
  reference's ``status`` ("running") and ``model {loaded, classes}``;
- ``/stats``: images received by ``/predict`` and ``/predict_batch`` (``total_images_processed``)
  = classified (``successful_predictions``) + not (``failed_predictions``), ``success_rate`` in
  percent of them (0 before the first), ``uptime_human`` ("H:MM:SS", "2 days, 3:04:05") and
  ``model_loaded``.
"""

from __future__ import annotations

from datetime import timedelta


def prediction(body: dict) -> dict:
    if "all_predictions" in body:
        body["all_probabilities"] = dict(body["all_predictions"])
    return body


def batch(body: dict) -> dict:
    for item in body["results"]:
        prediction(item)
    body["total_processed"] = body["total"]
    return body


def classes(body: dict) -> dict:
    body["total"] = body["count"]
    return body


def health(body: dict, class_count: int) -> dict:
    body["classes"] = class_count if body["model_loaded"] else 0
    return body


def index(body: dict, class_count: int) -> dict:
    loaded = body["model_loaded"]
    body["status"] = "running"
    body["model"] = {"loaded": loaded, "classes": class_count if loaded else 0}
    return body


def stats(body: dict, images_received: int, model_loaded: bool) -> dict:
    successful = body["total_predictions"]
    total = max(images_received, successful)
    body.update({
        "total_images_processed": total,
        "successful_predictions": successful,
        "failed_predictions": total - successful,
        "success_rate": round(100 * successful / total, 2) if total else 0,
        "uptime_human": uptime_human(body["uptime_seconds"]),
        "model_loaded": model_loaded,
    })
    return body


def uptime_human(seconds: float) -> str:
    """As the reference prints it: ``str(timedelta)`` without the fraction of a second."""
    return str(timedelta(seconds=int(seconds)))
