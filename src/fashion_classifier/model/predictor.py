"""The one Predictor that the API and the batch share.

It loads the LiteRT (``.tflite``) model by default, without TensorFlow; the
Keras model is an optional backend (``backend="keras"``) for parity checks.
Loaded once, warmed up, thread-safe, batch-capable. Images go through
``imaging`` exactly as in training.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..imaging import DEFAULT_MAX_PIXELS, DecodeBudget, ImageError, decode_image, to_model_input
from ..labels import DEFAULT_CATEGORIES, OTHER, load_labels, split_labels
from .tiers import TierPolicy, policy_from

BATCH_BUCKET = 16  # the batch interpreter's fixed size; smaller remainders run two by two


@dataclass(frozen=True)
class Prediction:
    category: str  # one of the model's categories, or "Other" (none of ours)
    confidence: float
    probabilities: dict[str, float]
    top3: list[tuple[str, float]]
    tier: str
    model_version: str
    in_scope: bool = True
    closest_category: str = ""  # the likeliest of our categories (the answer itself when in scope)
    closest_confidence: float = 0.0

    def to_dict(self) -> dict:
        return {
            "category": self.category,
            "confidence": round(self.confidence, 6),
            "in_scope": self.in_scope,
            "closest_category": self.closest_category,
            "closest_confidence": round(self.closest_confidence, 6),
            "all_predictions": {k: round(v, 6) for k, v in self.probabilities.items()},
            "top3": [{"category": c, "confidence": round(p, 6)} for c, p in self.top3],
            "tier": self.tier,
            "model_version": self.model_version,
        }


@dataclass
class ModelInfo:
    """What the model card says about the artifacts (read without TensorFlow)."""

    version: str = "unknown"
    input_size: tuple[int, int] = (224, 224)
    labels: tuple[str, ...] = DEFAULT_CATEGORIES  # the model's outputs in order (may end with Other)
    card: dict = field(default_factory=dict)
    flip_tta: bool = False  # average the prediction with the mirror image's

    @classmethod
    def load(cls, labels_path: Path, card_path: Path) -> ModelInfo:
        labels = load_labels(labels_path) if Path(labels_path).is_file() else DEFAULT_CATEGORIES
        card = json.loads(Path(card_path).read_text()) if Path(card_path).is_file() else {}
        size = tuple(card.get("input_size", {}).get("hw", (224, 224)))
        return cls(card.get("version", "unknown"), (int(size[0]), int(size[1])), labels, card,
                   card.get("test_time_augmentation") == "hflip")

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories photos are sorted into (the labels without Other)."""
        return split_labels(self.labels)[0]

    @property
    def has_other(self) -> bool:
        return split_labels(self.labels)[1]

    @property
    def other_threshold(self) -> float | None:
        """P(Other) at or above which the answer is Other (None: only when Other is the argmax)."""
        value = (self.card.get("open_world") or {}).get("other_threshold")
        return None if value is None else float(value)


class _LiteRTBackend:
    """LiteRT interpreters of one process: a forked child (a gunicorn worker of a preloaded
    app) builds its own before its first call, because the interpreter's thread pool does not
    survive a fork (a 2-thread interpreter ran single-threaded in the child). The parent must
    drop its own before forking (``release_before_fork``): a child building an interpreter
    while the parent's were alive at the fork hung in LiteRT."""

    def __init__(self, model_path: Path, threads: int):
        self._content = Path(model_path).read_bytes()
        self._threads = threads
        self._build_lock = threading.Lock()
        self._build()
        shape = self._single[0].get_input_details()[0]["shape"]
        self.input_size = (int(shape[1]), int(shape[2]))
        self.outputs = int(self._single[0].get_output_details()[0]["shape"][-1])
        _BACKENDS.add(self)

    def _build(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._single = self._make(Interpreter, self._content, self._threads, 1)
        # a photo and its mirror (test-time averaging) in one invocation, not two
        self._pair = self._make(Interpreter, self._content, self._threads, 2)
        self._batch = self._make(Interpreter, self._content, self._threads, BATCH_BUCKET)
        self._single_lock = threading.Lock()
        self._pair_lock = threading.Lock()
        self._batch_lock = threading.Lock()
        self._pid = os.getpid()

    def release(self) -> None:
        """Drop this process's interpreters; the next call builds new ones."""
        with self._build_lock:
            self._single = self._pair = self._batch = None
            self._pid = None

    def ensure_own(self) -> bool:
        """Build this process's interpreters if they were inherited through a fork (True if built)."""
        if self._pid == os.getpid():
            return False
        with self._build_lock:
            if self._pid == os.getpid():
                return False
            self._build()
            for entry, lock in ((self._single, self._single_lock), (self._pair, self._pair_lock),
                                (self._batch, self._batch_lock)):
                shape = entry[0].get_input_details()[0]["shape"]
                self._run(entry, lock, np.full(shape, 255.0, dtype=np.float32))  # warm-up
            return True

    @staticmethod
    def _make(interpreter_cls, content, threads, batch):
        # LiteRT's default is one thread; a photo at a time wants every core
        interpreter = interpreter_cls(model_content=content, num_threads=threads or os.cpu_count() or 1)
        input_index = interpreter.get_input_details()[0]["index"]
        if batch != 1:
            shape = list(interpreter.get_input_details()[0]["shape"])
            interpreter.resize_tensor_input(input_index, [batch] + shape[1:])
        interpreter.allocate_tensors()
        return interpreter, input_index, interpreter.get_output_details()[0]["index"]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self._pid != os.getpid():
            self.ensure_own()
        x = x.astype(np.float32, copy=False)
        out = np.empty((len(x), self.outputs), dtype=np.float32)
        whole = len(x) - len(x) % BATCH_BUCKET
        for start in range(0, whole, BATCH_BUCKET):
            out[start:start + BATCH_BUCKET] = self._run(self._batch, self._batch_lock,
                                                        x[start:start + BATCH_BUCKET])
        pairs_end = whole + (len(x) - whole) // 2 * 2
        for i in range(whole, pairs_end, 2):
            out[i:i + 2] = self._run(self._pair, self._pair_lock, x[i:i + 2])
        if pairs_end < len(x):
            out[-1] = self._run(self._single, self._single_lock, x[-1:])[0]
        return out

    @staticmethod
    def _run(entry, lock, x):
        interpreter, input_index, output_index = entry
        with lock:  # one interpreter is not re-entrant
            interpreter.set_tensor(input_index, x)
            interpreter.invoke()
            return interpreter.get_tensor(output_index).copy()


_BACKENDS: weakref.WeakSet = weakref.WeakSet()  # every LiteRT backend of this process


def release_before_fork() -> None:
    """In the parent, before a fork (gunicorn's ``pre_fork``): drop every interpreter."""
    for backend in list(_BACKENDS):
        backend.release()
    gc.collect()


def rebuild_after_fork() -> int:
    """In a forked child: build the interpreters of every inherited Predictor now (gunicorn's
    ``post_fork``), so the first request does not pay for it. Returns how many were built."""
    return sum(backend.ensure_own() for backend in list(_BACKENDS))


class _KerasBackend:
    def __init__(self, model_path: Path):
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras

        self._model = keras.saving.load_model(str(model_path), compile=False)
        shape = self._model.input_shape
        self.input_size = (int(shape[1]), int(shape[2]))
        self.outputs = int(self._model.output_shape[-1])

    def __call__(self, x: np.ndarray, chunk: int = 32) -> np.ndarray:
        # eager calls on big batches hold every activation at once: gigabytes
        return np.concatenate([np.asarray(self._model(x[i:i + chunk].astype(np.float32), training=False))
                               for i in range(0, len(x), chunk)])


class Predictor:
    """Loads a model once; turns image bytes or arrays into ``Prediction``s."""

    def __init__(self, model_path: Path, info: ModelInfo | None = None, backend: str = "litert",
                 threads: int = 0, tiers: TierPolicy | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, warmup: bool = True):
        start = time.perf_counter()
        self.info = info or ModelInfo()
        self.backend_name = backend
        if backend == "litert":
            self._backend = _LiteRTBackend(model_path, threads)
        elif backend == "keras":
            self._backend = _KerasBackend(model_path)
        else:
            raise ValueError(f"unknown backend {backend!r} (litert or keras)")
        self.input_size: tuple[int, int] = self._backend.input_size
        self.labels = self.info.labels
        if self._backend.outputs != len(self.labels):
            raise ValueError(f"{model_path} has {self._backend.outputs} outputs but the labels file "
                             f"names {len(self.labels)}: the model and its labels do not belong together")
        self.categories = self.info.categories
        self._other = self.labels.index(OTHER) if self.info.has_other else None
        self._in_scope = np.array([i for i, label in enumerate(self.labels) if label != OTHER])
        self.tiers = tiers or TierPolicy()
        self.max_pixels = max_pixels
        if warmup:
            self.warmup()
        self.load_seconds = time.perf_counter() - start

    @classmethod
    def from_config(cls, config, backend: str | None = None, warmup: bool = True,
                    version: str | None = None) -> Predictor:
        """The model in service (the store's current version), or the store's ``version``."""
        from ..models.store import serving_config

        config = serving_config(config, version)
        backend = backend or config.backend
        path = config.path("keras_model_path" if backend == "keras" else "model_path")
        info = ModelInfo.load(config.path("labels_path"), config.path("model_card_path"))
        return cls(path, info, backend=backend, threads=config.inference_threads,
                   tiers=policy_from(config, info.card),
                   max_pixels=config.max_image_pixels, warmup=warmup)

    @property
    def version(self) -> str:
        return self.info.version

    def warmup(self) -> None:
        """First invocations allocate and pack weights; pay that before serving."""
        blank = np.full((BATCH_BUCKET + 1,) + self.input_size + (3,), 255, dtype=np.uint8)
        self.predict_arrays(blank)

    def preprocess(self, data: bytes, budget: DecodeBudget | None = None) -> np.ndarray:
        """Image bytes -> model input (raises ``ImageError``)."""
        image = decode_image(data, max_pixels=self.max_pixels,
                             draft_size=(self.input_size[1], self.input_size[0]), budget=budget)
        return to_model_input(image, self.input_size)

    def predict_arrays(self, x: np.ndarray) -> np.ndarray:
        """uint8 N x H x W x 3 -> probabilities N x len(labels)."""
        if x.ndim == 3:
            x = x[None]
        if not self.info.flip_tta:
            return self._backend(x)
        probs = self._backend(np.concatenate([x, x[:, :, ::-1]]))
        return (probs[: len(x)] + probs[len(x):]) / 2

    def is_other(self, probabilities: np.ndarray) -> bool:
        """The open-world rule: Other is the likeliest output, or its probability reaches the
        threshold fitted on validation data (model card)."""
        if self._other is None:
            return False
        p_other = float(probabilities[self._other])
        threshold = self.info.other_threshold
        if int(np.argmax(probabilities)) == self._other:
            return True
        return threshold is not None and p_other >= threshold

    def to_prediction(self, probabilities: np.ndarray) -> Prediction:
        order = np.argsort(probabilities)[::-1]
        closest = int(self._in_scope[np.argmax(probabilities[self._in_scope])])
        closest_p = float(probabilities[closest])
        other = self.is_other(probabilities)
        category = OTHER if other else self.labels[closest]
        confidence = float(probabilities[self._other]) if other else closest_p
        return Prediction(
            category=category,
            confidence=confidence,
            probabilities={label: float(p) for label, p in zip(self.labels, probabilities, strict=True)},
            top3=[(self.labels[int(i)], float(probabilities[int(i)])) for i in order[:3]],
            tier=self.tiers.tier(confidence, category),
            model_version=self.version,
            in_scope=not other,
            closest_category=self.labels[closest],
            closest_confidence=closest_p,
        )

    def predict_bytes(self, data: bytes) -> Prediction:
        return self.to_prediction(self.predict_arrays(self.preprocess(data))[0])

    def predict_many(self, items: Sequence[bytes],
                     budget: DecodeBudget | None = None) -> list[Prediction | ImageError]:
        """One result per input, in order; a bad image is its own ``ImageError``, not a failure.

        With a ``budget``, images past it are ``DecodeBudgetError`` results (not decoded).
        """
        results: list[Prediction | ImageError | None] = [None] * len(items)
        good, arrays = [], []
        for i, data in enumerate(items):
            try:
                arrays.append(self.preprocess(data, budget))
                good.append(i)
            except ImageError as exc:
                results[i] = exc
        if arrays:
            for i, probs in zip(good, self.predict_arrays(np.stack(arrays)), strict=True):
                results[i] = self.to_prediction(probs)
        return results  # type: ignore[return-value]
