"""The nightly batch: incoming photos -> category folders, reports, history and alerts.

Modules, in the order a run uses them: ``scanning`` (what is ready to process),
``journal`` (crash-safe per-file state in SQLite), ``client``/``local``/``classify``
(the API with retries and an in-process fallback), ``moves`` (no-loss, no-overwrite
placement), ``outputs`` (CSV, XLSX, JSON, HTML, log), ``retention``, ``runner``
(orchestration and crash recovery) and ``cli``.
"""

from .runner import BatchOptions, BatchOutcome, run_batch

__all__ = ["BatchOptions", "BatchOutcome", "run_batch"]
