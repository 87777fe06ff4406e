"""The reference system's serving path, for side-by-side benchmarks only.

As in the spec (final report 1.2): Flask, a Keras model loaded at start, and
``model.predict`` called per request on the preprocessed image. Run it with
gunicorn like the spec's Dockerfile (one sync worker):

    gunicorn --pythonpath bench -b 127.0.0.1:5001 reference_server:app

It uses the project's preprocessing, so only the serving path differs.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from flask import Flask, jsonify, request  # noqa: E402

from fashion_classifier.config import Config  # noqa: E402
from fashion_classifier.imaging import ImageError, load_model_input  # noqa: E402
from fashion_classifier.labels import load_labels  # noqa: E402

config = Config.from_env()
model = keras.saving.load_model(str(config.path("keras_model_path")), compile=False)
INPUT_SIZE = (int(model.input_shape[1]), int(model.input_shape[2]))
LABELS = load_labels(config.path("labels_path"))  # the model's outputs (the ten, and Other)
app = Flask(__name__)


@app.get("/health")
def health():
    return jsonify({"status": "healthy", "model_loaded": True, "timestamp": datetime.now().isoformat()})


@app.post("/predict")
def predict():
    file = request.files.get("file")
    if file is None:
        return jsonify({"error": "No file provided", "status": 400}), 400
    try:
        image = load_model_input(file.read(), INPUT_SIZE)
    except ImageError as exc:
        return jsonify({"error": str(exc), "status": 400}), 400
    predictions = model.predict(image[None].astype(np.float32), verbose=0)[0]
    best = int(np.argmax(predictions))
    return jsonify({"category": LABELS[best], "confidence": float(predictions[best]),
                    "timestamp": datetime.now().isoformat(),
                    "all_predictions": {c: float(p) for c, p in zip(LABELS, predictions, strict=True)}})
