"""What the app holds for its lifetime: config, model, recorder, metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from flask import current_app

from ..config import Config
from ..model import Predictor
from ..model.lanes import InFlight, for_server
from .holder import ModelHolder
from .metrics import Metrics
from .recorder import CallRecorder

EXTENSION_KEY = "fashion_api"


@dataclass
class ApiState:
    config: Config
    holder: ModelHolder
    recorder: CallRecorder
    metrics: Metrics
    api_keys: frozenset[str] = frozenset()
    load_error: str | None = None
    in_flight: InFlight = field(default_factory=for_server)  # prediction requests of the whole server
    started: float = field(default_factory=time.time)

    @property
    def predictor(self) -> Predictor | None:
        """The version in service now (hot-reloaded: keep the reference for a whole request)."""
        return self.holder.get()

    @property
    def ready(self) -> bool:
        """Loaded and warmed up (``Predictor`` warms up in its constructor)."""
        return self.predictor is not None

    @property
    def uptime(self) -> float:
        return time.time() - self.started


def get_state() -> ApiState:
    return current_app.extensions[EXTENSION_KEY]
