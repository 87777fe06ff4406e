"""A stand-in for the reference system's API, for tests of our batch against it.

The response shapes are those of the seed repository's ``api/app.py`` (named in the spec):
``/health`` -> ``{status, model_loaded, classes, timestamp}``; ``/predict_batch`` (multipart
field ``files``) -> ``{results: [{filename, category, confidence}], total_processed,
timestamp}``, no ``status`` or ``index`` per item, and a 500 ``{error}`` for the whole request
when any file is not an image. The classifier is our Predictor, so its answers can be
compared with an in-process run. Run it as a real server:

    gunicorn --pythonpath tests -b 127.0.0.1:PORT reference_api:app
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask, jsonify, request

from fashion_classifier.config import Config
from fashion_classifier.model import Predictor

predictor = Predictor.from_config(Config.from_env())
app = Flask(__name__)


@app.get("/health")
def health():
    return jsonify({"status": "healthy", "model_loaded": True, "classes": len(predictor.labels),
                    "timestamp": datetime.now().isoformat()})


@app.post("/predict_batch")
def predict_batch():
    try:
        results = []
        for file in request.files.getlist("files"):
            prediction = predictor.predict_bytes(file.read())
            results.append({"filename": file.filename, "category": prediction.category,
                            "confidence": prediction.confidence})
        if not results:
            return jsonify({"error": "No images provided"}), 400
        return jsonify({"results": results, "total_processed": len(results),
                        "timestamp": datetime.now().isoformat()})
    except Exception as exc:  # as the reference: any failure fails the whole request
        return jsonify({"error": str(exc)}), 500
