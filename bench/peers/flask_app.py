"""A bare Flask app around the Predictor: our API minus everything but /predict.

    gunicorn -c api/gunicorn.conf.py bench.peers.flask_app:app

Same gunicorn settings as ours (workers, worker class, preload, fork hooks); no validation
beyond the Predictor's own, no logging, limits, history or metrics in the app.
"""

from flask import Flask, jsonify, request

from fashion_classifier.config import Config
from fashion_classifier.model import Predictor

predictor = Predictor.from_config(Config.from_env())
app = Flask(__name__)


@app.get("/readyz")
def readyz():
    return {"status": "ready"}


@app.post("/predict")
def predict():
    upload = request.files.get("file")
    if upload is None:
        return jsonify(error="no file"), 400
    return jsonify(predictor.predict_bytes(upload.read()).to_dict())
