"""FastAPI around the Predictor (one uvicorn worker, its defaults).

    python -m uvicorn bench.peers.fastapi_app:app --host 127.0.0.1 --port 8000

A plain ``def`` endpoint: FastAPI runs it in its thread pool, as its docs advise for
blocking work (``predict_bytes`` is thread-safe).
"""

from fastapi import FastAPI, File, UploadFile

from fashion_classifier.config import Config
from fashion_classifier.model import Predictor

predictor = Predictor.from_config(Config.from_env())
app = FastAPI()


@app.get("/readyz")
def readyz():
    return {"status": "ready"}


@app.post("/predict")
def predict(file: UploadFile = File(...)):
    return predictor.predict_bytes(file.file.read()).to_dict()
