"""BentoML around the Predictor, with BentoML's defaults (one worker, /readyz).

    python -m bentoml serve bench.peers.bentoml_service:Classifier --host 127.0.0.1 --port 3000

POST /predict, multipart field ``file``.
"""

from pathlib import Path

import bentoml

from fashion_classifier.config import Config
from fashion_classifier.model import Predictor


@bentoml.service
class Classifier:
    def __init__(self):
        self.predictor = Predictor.from_config(Config.from_env())

    @bentoml.api
    def predict(self, file: Path) -> dict:
        return self.predictor.predict_bytes(file.read_bytes()).to_dict()
