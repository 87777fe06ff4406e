"""In-process classification with the shared Predictor (``--local`` and the API fallback)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..config import Config
from ..imaging import ImageError
from .client import Upload


class LocalClassifier:
    """Loads the Predictor on first use; results have the API's per-file shape."""

    def __init__(self, config: Config):
        self.config = config
        self._predictor = None
        self._lock = threading.Lock()
        self.version: str | None = None  # the store version to load (the one the API served)

    def pin(self, version: str | None) -> None:
        """Classify with this version when the fallback starts (one model version per run)."""
        with self._lock:
            if self._predictor is None:
                self.version = version

    @property
    def predictor(self):
        with self._lock:
            if self._predictor is None:
                from ..model import Predictor  # LiteRT import costs a second: only when needed
                from ..models.store import StoreError

                try:
                    self._predictor = Predictor.from_config(self.config, version=self.version)
                except StoreError:  # not a stored version (the shipped model, or the API's own file)
                    self._predictor = Predictor.from_config(self.config)
            return self._predictor

    def predict_batch(self, uploads: Sequence[Upload]) -> list[dict]:
        predictor = self.predictor
        results = []
        for outcome in predictor.predict_many([u.data for u in uploads]):
            if isinstance(outcome, ImageError):
                results.append({"status": "error", "error": str(outcome), "code": outcome.code})
            else:
                results.append({"status": "success", **outcome.to_dict()})
        return results
