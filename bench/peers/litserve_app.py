"""LitServe around the Predictor, with LitServe's defaults (one inference worker, /health).

    python bench/peers/litserve_app.py PORT

Binds 127.0.0.1 (LitServe's default is 0.0.0.0) and writes no client.py; nothing else is set.
"""

import sys

import litserve as ls
from fastapi import Request


class PredictorAPI(ls.LitAPI):
    def setup(self, device):
        from fashion_classifier.config import Config
        from fashion_classifier.model import Predictor

        self.predictor = Predictor.from_config(Config.from_env())

    def decode_request(self, request: Request):
        return request["file"].file.read()

    def predict(self, data):
        return self.predictor.predict_bytes(data)

    def encode_response(self, prediction):
        return prediction.to_dict()


if __name__ == "__main__":
    ls.LitServer(PredictorAPI()).run(host="127.0.0.1", port=int(sys.argv[1]), generate_client_file=False)
