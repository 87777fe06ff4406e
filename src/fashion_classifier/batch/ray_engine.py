"""``--engine ray``: the batch's classification step on Ray Data, for more than one machine.

Only classification moves to Ray. This process (the driver) keeps the run lock,
the journal, the moves and the outputs, exactly as with the local engine:

1. the pending journal rows become a Ray dataset (``ray.data.from_items``);
2. ``read_files`` (a ``map_batches`` stage) reads each file where the worker
   runs, with the local engine's own size limits, hashes and read errors
   (``pipeline._read``);
3. ``PredictorActor`` (``map_batches`` on an actor pool) holds one shared
   ``Predictor``, loaded once per actor, and classifies through the same
   ``LocalClassifier`` code as ``--local``, so results have the same shape;
4. the results stream back in scan order (``preserve_order``) as
   ``FileOutcome`` lists into ``RunSession._handle_outcomes``: the shared code
   that journals, moves, detects duplicates and later writes CSV/XLSX/JSON/HTML.

A crash anywhere leaves the journal as the local engine would, and the next
run (with either engine) resumes it. Ray is imported only in this module, and
this module only when ``--engine ray`` is used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import signal
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace

from ..config import Config
from .client import Upload
from .local import LocalClassifier
from .pipeline import FileOutcome, _read

ROW_COLUMNS = ("id", "source_path", "rel_name", "size")  # what a worker needs of a journal row
CLASSIFIED_BY = "ray"


# --- the workers' side ---------------------------------------------------------------
def read_files(batch, max_bytes: int):
    """Stage 1: journal rows -> bytes, content hash, and the read error (as JSON) if any.

    Missing, unreadable, empty and oversized files get the local engine's
    results (``pipeline._read``); readable ones an empty ``result`` to fill.
    """
    import pandas as pd

    data, hashes, results, by = [], [], [], []
    for row in batch[list(ROW_COLUMNS)].to_dict("records"):
        outcome, payload = _read(row, max_bytes)
        data.append(payload)
        hashes.append(outcome.content_hash if outcome else hashlib.sha256(payload).hexdigest())
        results.append(json.dumps(outcome.result) if outcome else "")
        by.append(outcome.classified_by if outcome else "")
    return pd.DataFrame({"id": batch["id"].to_numpy(), "data": pd.Series(data, dtype=object),
                         "content_hash": pd.Series(hashes, dtype=object), "result": results,
                         "classified_by": by})


class PredictorActor:
    """Stage 2: one shared Predictor per actor (loaded and warmed up once), per-file results as JSON."""

    def __init__(self, config: Config, threads: int):
        self.local = LocalClassifier(replace(config, inference_threads=threads))
        self.local.predictor  # noqa: B018  load now, not inside the first batch

    def __call__(self, batch):
        import pandas as pd

        results = list(batch["result"])
        by = list(batch["classified_by"])
        todo = [i for i, result in enumerate(results) if not result]
        if todo:
            uploads = [Upload(str(batch["id"].iat[i]), batch["data"].iat[i]) for i in todo]
            for i, result in zip(todo, self.local.predict_batch(uploads), strict=True):
                results[i], by[i] = json.dumps(result), CLASSIFIED_BY
        return pd.DataFrame({"id": batch["id"].to_numpy(), "content_hash": batch["content_hash"].to_numpy(),
                             "result": results, "classified_by": by})


# --- the driver's side -----------------------------------------------------------------
def connect(config: Config) -> bool:
    """Join the cluster at ``ray_address``, or start a local instance; True if this call started Ray."""
    import ray

    if ray.is_initialized():  # a caller (test, benchmark, notebook) owns the connection
        return False
    options = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        if config.ray_address:
            ray.init(address=config.ray_address, **options)
        else:
            ray.init(**options)
    except SystemExit as exc:  # SIGTERM while Ray was starting: its handler exits; ours is owed the signal
        if previous is None or exc.code != signal.SIGTERM or not callable(previous):
            raise
        ray.shutdown()
        signal.signal(signal.SIGTERM, previous)
        previous(signal.SIGTERM, None)
        raise
    finally:
        if previous is not None:
            # ray.init makes SIGTERM a bare sys.exit; the batch's own handler records an interrupted run
            signal.signal(signal.SIGTERM, previous)
    return True


def actor_count(config: Config, cluster_cpus: float) -> int:
    """``ray_num_actors``, or as many actors as the cluster's CPUs hold."""
    if config.ray_num_actors > 0:
        return config.ray_num_actors
    return max(1, int(cluster_cpus // max(config.ray_cpus_per_actor, 1e-9)))


def actor_threads(config: Config) -> int:
    """LiteRT threads per actor: its reserved CPUs (two actors on two cores do not oversubscribe)."""
    return config.inference_threads or max(1, int(config.ray_cpus_per_actor))


def _quiet_console() -> None:
    """Ray Data's INFO lines on stderr are not the run's (its session log files keep them)."""
    for name in ("ray", "ray.data"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                handler.setLevel(max(handler.level, logging.WARNING))


def batch_size_for(files: int, config: Config, actors: int, total_bytes: int = 0) -> int:
    """``ray_batch_size`` images, fewer when they are large or the run is small.

    Like the local engine's chunks, a batch holds at most ``batch_chunk_bytes``
    (on average: ten 12-MP photos, not 48), and a small run still gives every
    actor a batch.
    """
    size = config.ray_batch_size
    if total_bytes > 0 and files > 0:
        size = min(size, config.batch_chunk_bytes * files // total_bytes)
    return max(1, min(size, math.ceil(files / max(1, actors))))


def build_dataset(rows: Sequence[dict], config: Config, actors: int):
    """The read -> classify pipeline over ``rows`` (lazy: nothing runs until it is iterated)."""
    import ray.data

    _quiet_console()
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # scan order: the same names as the local engine
    context.enable_progress_bars = False  # the batch shows its own progress
    context.print_on_execution_start = False
    batch_size = batch_size_for(len(rows), config, actors, sum(int(row.get("size") or 0) for row in rows))
    items = [{name: row[name] for name in ROW_COLUMNS} for row in rows]
    dataset = ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / batch_size)))
    dataset = dataset.map_batches(read_files, fn_kwargs={"max_bytes": config.max_upload_bytes},
                                  batch_size=batch_size, batch_format="pandas")
    return dataset.map_batches(
        PredictorActor, fn_constructor_kwargs={"config": config, "threads": actor_threads(config)},
        compute=ray.data.ActorPoolStrategy(size=actors), batch_size=batch_size,
        num_cpus=config.ray_cpus_per_actor, batch_format="pandas")


def to_outcomes(batch, by_id: dict[int, dict]) -> list[FileOutcome]:
    """A result batch from Ray -> the local engine's ``FileOutcome``s (journal row, hash, result, path)."""
    return [FileOutcome(by_id[int(row_id)], _text_or_none(content_hash), json.loads(result), classified_by)
            for row_id, content_hash, result, classified_by
            in zip(batch["id"], batch["content_hash"], batch["result"], batch["classified_by"], strict=True)]


def _text_or_none(value) -> str | None:
    return value if isinstance(value, str) and value else None  # pandas may hand a null back as NaN


class RayEngine:
    """What the run session asks of an engine: ``stream(rows)`` of outcomes, then ``close()``."""

    def __init__(self, config: Config):
        self.config = config
        self._owns_ray = False
        self._connected = False

    def stream(self, rows: Sequence[dict]) -> Iterator[list[FileOutcome]]:
        """Classify ``rows`` (pending journal rows) on Ray; yields each finished batch, in scan order."""
        if not rows:
            return
        import ray

        if not self._connected:
            self._owns_ray = connect(self.config)
            self._connected = True
        actors = actor_count(self.config, ray.cluster_resources().get("CPU", 1))
        by_id = {int(row["id"]): row for row in rows}
        dataset = build_dataset(rows, self.config, actors)
        for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"):
            yield to_outcomes(batch, by_id)

    def describe(self) -> str:
        where = self.config.ray_address or "a local Ray instance"
        return f"Ray Data on {where}"

    def close(self) -> None:
        if self._owns_ray:
            import ray

            ray.shutdown()
        self._owns_ray = self._connected = False
