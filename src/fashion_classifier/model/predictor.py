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
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..cpus import available_cpus
from ..imaging import DEFAULT_MAX_PIXELS, DecodeBudget, ImageError, decode_image, to_model_input
from ..labels import DEFAULT_CATEGORIES, OTHER, load_labels, split_labels
from .lanes import InFlight
from .tiers import TierPolicy, policy_from

BATCH_BUCKET = 16  # the batch interpreter's fixed size; smaller remainders run two by two
ALWAYS_MIRROR = 2.0  # a mirror_below no probability reaches: the mirror view for every photo


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
    mirror_below: float = ALWAYS_MIRROR  # ... when the plain view's top probability is below this

    @classmethod
    def load(cls, labels_path: Path, card_path: Path) -> ModelInfo:
        labels = load_labels(labels_path) if Path(labels_path).is_file() else DEFAULT_CATEGORIES
        card = json.loads(Path(card_path).read_text()) if Path(card_path).is_file() else {}
        size = tuple(card.get("input_size", {}).get("hw", (224, 224)))
        return cls(card.get("version", "unknown"), (int(size[0]), int(size[1])), labels, card,
                   card.get("test_time_augmentation") == "hflip",
                   float(card.get("mirror_below", ALWAYS_MIRROR)))

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


class _Interpreters:
    """The interpreters of one thread count: a photo, a pair (a batch's remainder, two by two)
    and a 16-image bucket, each behind its own lock."""

    def __init__(self, name: str, content: bytes, threads: int,
                 sizes: tuple[int, ...] = (1, 2, BATCH_BUCKET)):
        from ai_edge_litert.interpreter import Interpreter

        self.name, self.threads = name, threads
        self._entries = {size: self._make(Interpreter, content, threads, size) for size in sizes}
        self._locks = {size: threading.Lock() for size in self._entries}
        shape = self._entries[1][0].get_input_details()[0]["shape"]
        self.input_size = (int(shape[1]), int(shape[2]))
        self.outputs = int(self._entries[1][0].get_output_details()[0]["shape"][-1])

    @staticmethod
    def _make(interpreter_cls, content, threads, batch):
        interpreter = interpreter_cls(model_content=content, num_threads=threads)
        input_index = interpreter.get_input_details()[0]["index"]
        if batch != 1:
            shape = list(interpreter.get_input_details()[0]["shape"])
            interpreter.resize_tensor_input(input_index, [batch] + shape[1:])
        interpreter.allocate_tensors()
        return interpreter, input_index, interpreter.get_output_details()[0]["index"]

    def warm(self) -> None:
        """First invocations allocate and pack weights; pay that before serving."""
        for size in self._entries:
            self._run(size, np.full((size,) + self.input_size + (3,), 255.0, dtype=np.float32))

    def handles(self, count: int) -> bool:
        """Whether this lane has the interpreters for ``count`` images (the solo lane: one)."""
        return count == 1 or len(self._entries) > 1

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = np.empty((len(x), self.outputs), dtype=np.float32)
        whole = len(x) - len(x) % BATCH_BUCKET
        for start in range(0, whole, BATCH_BUCKET):
            out[start:start + BATCH_BUCKET] = self._run(BATCH_BUCKET, x[start:start + BATCH_BUCKET])
        pairs_end = whole + (len(x) - whole) // 2 * 2
        for i in range(whole, pairs_end, 2):
            out[i:i + 2] = self._run(2, x[i:i + 2])
        if pairs_end < len(x):
            out[-1] = self._run(1, x[-1:])[0]
        return out

    def _run(self, size: int, x: np.ndarray) -> np.ndarray:
        interpreter, input_index, output_index = self._entries[size]
        with self._locks[size]:  # one interpreter is not re-entrant
            interpreter.set_tensor(input_index, x)
            interpreter.invoke()
            return interpreter.get_tensor(output_index).copy()


class _LiteRTBackend:
    """LiteRT interpreters of one process, in one or two lanes: ``shared`` (``threads`` each)
    and, when ``solo_threads`` is more, ``solo`` for a request that has the server to itself
    (``lanes``). A forked child (a gunicorn worker of a preloaded app) builds its own before
    its first call, because the interpreter's thread pool does not survive a fork (a 2-thread
    interpreter ran single-threaded in the child). The parent must drop its own before forking
    (``release_before_fork``): a child building an interpreter while the parent's were alive at
    the fork hung in LiteRT."""

    def __init__(self, model_path: Path, threads: int, solo_threads: int = 0):
        self._content = Path(model_path).read_bytes()
        self._threads = threads or available_cpus()  # LiteRT's own default is one thread
        self._solo_threads = solo_threads if solo_threads > self._threads else 0
        self._build_lock = threading.Lock()
        self.invocations = {"shared": 0, "solo": 0}  # calls per lane, for tests and curiosity
        self._build()
        self.input_size = self._shared.input_size
        self.outputs = self._shared.outputs
        _BACKENDS.add(self)

    @property
    def threads(self) -> dict[str, int]:
        """Threads per lane: {"shared": n} or {"shared": n, "solo": m}."""
        return {"shared": self._threads, **({"solo": self._solo_threads} if self._solo_threads else {})}

    def _build(self) -> None:
        self._shared = _Interpreters("shared", self._content, self._threads)
        # one photo at a time: a batch request is throughput work, it takes the shared lane
        self._solo = (_Interpreters("solo", self._content, self._solo_threads, (1,))
                      if self._solo_threads else None)
        self._pid = os.getpid()

    def warm(self) -> None:
        for lane in (self._shared, self._solo):
            if lane is not None:
                lane.warm()

    def release(self) -> None:
        """Drop this process's interpreters; the next call builds new ones."""
        with self._build_lock:
            self._shared = self._solo = None
            self._pid = None

    def ensure_own(self) -> bool:
        """Build this process's interpreters if they were inherited through a fork (True if built)."""
        if self._pid == os.getpid():
            return False
        with self._build_lock:
            if self._pid == os.getpid():
                return False
            self._build()
            self.warm()
            return True

    def __call__(self, x: np.ndarray, solo: bool = False) -> np.ndarray:
        if self._pid != os.getpid():
            self.ensure_own()
        lane = self._solo if solo and self._solo is not None and self._solo.handles(len(x)) else self._shared
        self.invocations[lane.name] += 1  # approximate under threads; exact in tests
        return lane(x.astype(np.float32, copy=False))


_BACKENDS: weakref.WeakSet = weakref.WeakSet()  # every LiteRT backend of this process


_FORKING_PARENT: int | None = None  # pid of a process that only loads models for its forked children


def warm_in_children() -> None:
    """In a parent that forks workers (gunicorn's master, before it loads the app): models are
    built there (a broken one stops the server) but warmed up only in each child, which builds
    its own interpreters anyway; warming the parent's would only delay the start."""
    global _FORKING_PARENT
    _FORKING_PARENT = os.getpid()


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

    def warm(self) -> None:
        self(np.full((1,) + self.input_size + (3,), 255, dtype=np.uint8))

    def __call__(self, x: np.ndarray, solo: bool = False, chunk: int = 32) -> np.ndarray:
        # eager calls on big batches hold every activation at once: gigabytes
        return np.concatenate([np.asarray(self._model(x[i:i + chunk].astype(np.float32), training=False))
                               for i in range(0, len(x), chunk)])


class Predictor:
    """Loads a model once; turns image bytes or arrays into ``Prediction``s."""

    def __init__(self, model_path: Path, info: ModelInfo | None = None, backend: str = "litert",
                 threads: int = 0, tiers: TierPolicy | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, warmup: bool = True,
                 solo_threads: int = 0, in_flight: InFlight | None = None):
        """``threads``: per interpreter (0: every core). With ``in_flight`` (the API server's
        request count) and more ``solo_threads``, a request alone in the server runs on those."""
        start = time.perf_counter()
        self.info = info or ModelInfo()
        self.backend_name = backend
        self._in_flight = in_flight
        if backend == "litert":
            self._backend = _LiteRTBackend(model_path, threads, solo_threads if in_flight else 0)
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
        self.mirror_lines = self._mirror_lines_per_output()  # per output: mirror below this top probability
        self.max_pixels = max_pixels
        if warmup:
            self.warmup()
        self.load_seconds = time.perf_counter() - start

    @classmethod
    def from_config(cls, config, backend: str | None = None, warmup: bool = True,
                    version: str | None = None, in_flight: InFlight | None = None) -> Predictor:
        """The model in service (the store's current version), or the store's ``version``.

        ``in_flight``: the API server's request count (``lanes.for_server()``), for the solo lane."""
        from ..models.store import serving_config

        config = serving_config(config, version)
        backend = backend or config.backend
        path = config.path("keras_model_path" if backend == "keras" else "model_path")
        info = ModelInfo.load(config.path("labels_path"), config.path("model_card_path"))
        if config.mirror_below is not None:
            info = replace(info, mirror_below=config.mirror_below)
        return cls(path, info, backend=backend, threads=config.inference_threads,
                   tiers=policy_from(config, info.card), max_pixels=config.max_image_pixels,
                   warmup=warmup, solo_threads=config.solo_inference_threads or available_cpus(),
                   in_flight=in_flight)

    @property
    def version(self) -> str:
        return self.info.version

    def _mirror_lines_per_output(self) -> np.ndarray:
        """Per output: the top probability below which the mirror runs. The card's line, fitted
        for the fixed tiers; a category whose auto-approve line (precision mode) is above it
        gets the mirror for every photo, since near that line the mirror can change the tier."""
        line = self.info.mirror_below
        return np.array([ALWAYS_MIRROR if label != OTHER and self.tiers.auto_line(label) > line else line
                         for label in self.labels], dtype=np.float32)

    @property
    def threads(self) -> dict[str, int]:
        """Inference threads per lane (empty for the Keras backend)."""
        return getattr(self._backend, "threads", {})

    def warmup(self) -> None:
        """First invocations allocate and pack weights; pay that before serving."""
        if _FORKING_PARENT != os.getpid():
            self._backend.warm()

    def preprocess(self, data: bytes, budget: DecodeBudget | None = None) -> np.ndarray:
        """Image bytes -> model input (raises ``ImageError``)."""
        image = decode_image(data, max_pixels=self.max_pixels,
                             draft_size=(self.input_size[1], self.input_size[0]), budget=budget)
        return to_model_input(image, self.input_size)

    def predict_arrays(self, x: np.ndarray) -> np.ndarray:
        """uint8 N x H x W x 3 -> probabilities N x len(labels).

        The mirror view (test-time averaging) runs only for the photos whose plain view is
        not sure (top probability below the card's ``mirror_below``, or an auto-approve line
        above it: ``_mirror_lines_per_output``): above it, the mirror changed no answer and
        0.04 % of the tiers on validation data (docs/MODEL.md, "The mirror view")."""
        if x.ndim == 3:
            x = x[None]
        solo = self._in_flight is not None and self._in_flight.total() <= 1
        probs = self._backend(x, solo=solo)
        if not self.info.flip_tta:
            return probs
        unsure = np.flatnonzero(probs.max(axis=1) < self.mirror_lines[probs.argmax(axis=1)])
        if len(unsure):
            probs[unsure] = (probs[unsure] + self._backend(x[unsure, :, ::-1], solo=solo)) / 2
        return probs

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
