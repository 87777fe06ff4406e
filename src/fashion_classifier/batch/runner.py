"""One invocation of the nightly batch: lock, resume what a crash left, run, clean up.

``run_batch(config, options)`` is what the CLI calls. It takes the run lock
(a second concurrent invocation exits with code 3 and touches nothing),
resumes every run the journal shows unfinished, then starts a new run for the
files that are ready in the incoming folder, and finally applies retention.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from ..alerts import deliver
from ..alerts.rules import api_down_alert, failed_run_alert
from ..config import Config
from ..history import HistoryDB, now_iso
from ..internal_key import internal_key
from .classify import Classifier
from .client import ApiClient
from .journal import Journal, open_journal
from .local import LocalClassifier
from .lock import BatchLocked, RunLock
from .moves import file_hash, remove_stale_partials
from .naming import new_run_id
from .retention import clean
from .scanning import remove_emptied_folders, scan_incoming
from .session import Context, RunReport, RunSession

EXIT_OK, EXIT_FAILED, EXIT_LOCKED, EXIT_TERMINATED = 0, 1, 3, 143
OUTPUT_FIELDS = ("processed_dir", "failed_dir", "results_dir", "batch_results_dir", "reports_dir",
                 "logs_dir", "history_db", "batch_lock_file")


@dataclass
class BatchOptions:
    input_dir: Path | None = None
    output_root: Path | None = None  # data/processed_batches, data/failed, results/, logs/ go below it
    api_url: str | None = None
    local: bool = False
    dry_run: bool = False
    limit: int | None = None
    concurrency: int | None = None
    chunk_size: int | None = None
    min_age: float | None = None
    fallback: bool | None = None
    duplicate_check: bool = True  # False: photos seen before are classified again, not flagged
    alerts: bool = True
    show_progress: bool = True
    engine: str | None = None  # "local" or "ray" (default: config.batch_engine)
    ray_address: str | None = None
    ray_actors: int | None = None


@dataclass
class BatchOutcome:
    exit_code: int
    runs: list[RunReport] = field(default_factory=list)
    message: str = ""


class Terminated(BaseException):
    """SIGTERM (cron's timeout, a shutdown): recorded like a crash, resumed next time."""


def effective_config(config: Config, options: BatchOptions) -> Config:
    """The configuration with the command line's choices applied."""
    changes: dict = {}
    if options.output_root is not None:
        root = Path(options.output_root).resolve()
        for name in OUTPUT_FIELDS:
            value = getattr(config, name)
            if value is not None and not Path(value).is_absolute():
                changes[name] = root / value
    if options.input_dir is not None:
        changes["incoming_dir"] = Path(options.input_dir).resolve()
    for option, name in (("api_url", "api_url"), ("concurrency", "batch_concurrency"),
                         ("chunk_size", "batch_chunk_size"), ("min_age", "min_file_age_seconds"),
                         ("fallback", "fallback_local"), ("engine", "batch_engine"),
                         ("ray_address", "ray_address"), ("ray_actors", "ray_num_actors")):
        value = getattr(options, option)
        if value is not None:
            changes[name] = value
    return replace(config, **changes)


def run_batch(config: Config, options: BatchOptions) -> BatchOutcome:
    config = effective_config(config, options)
    if options.dry_run:
        from .dryrun import dry_run

        return BatchOutcome(dry_run(config, options))
    try:
        lock = RunLock(config.path("batch_lock_file")).acquire()
    except BatchLocked as exc:
        return BatchOutcome(EXIT_LOCKED, message=f"not started: {exc}")
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        return _locked_run(config, options)
    except Terminated:
        return BatchOutcome(EXIT_TERMINATED, message="terminated by SIGTERM; the next run resumes")
    except Exception as exc:  # outside any run (history database, scan): still say so loudly
        message = f"✗ could not run: {type(exc).__name__}: {exc}"
        run_id = new_run_id()
        history = _record_unstarted(config, run_id, message)
        if options.alerts:
            deliver(config, history, failed_run_alert(run_id, message))
        if history is not None:
            history.close()
        return BatchOutcome(EXIT_FAILED, message=message)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        lock.release()


def _record_unstarted(config: Config, run_id: str, message: str) -> HistoryDB | None:
    """A run that failed before it could start still gets its batch_runs row (best effort)."""
    try:
        history = HistoryDB(config.path("history_db"))
        history.log_batch_run({"timestamp": now_iso(), "run_id": run_id, "total_images": 0, "successful": 0,
                               "failed": 0, "success_rate": 0.0, "duration_seconds": 0.0,
                               "status": "failed", "error_message": message, "classifier_path": "none"})
        return history
    except Exception as exc:  # the database itself may be what failed
        print(f"batch: could not record the failed run in the history: {exc}", file=sys.stderr)
        return None


def _locked_run(config: Config, options: BatchOptions) -> BatchOutcome:
    journal = open_journal(config.path("history_db"))
    history = HistoryDB(config.path("history_db"))
    base = Path(options.output_root).resolve() if options.output_root else config.root
    ctx = Context(config, journal, history, lambda: _make_classifier(config, options, history), base,
                  alerts=options.alerts, show_progress=options.show_progress,
                  duplicate_check=options.duplicate_check, engine_factory=engine_factory(config))
    outcome = BatchOutcome(EXIT_OK)
    stale = remove_stale_partials([config.path("processed_dir"), config.path("failed_dir")])
    if stale:
        print(f"batch: removed {len(stale)} partial files of interrupted copies", file=sys.stderr)
    try:
        for run in journal.unfinished_runs():
            outcome.runs.append(_session(ctx, run["run_id"], resumed=True, outcome=outcome))
        new = _new_run(ctx, journal, options, resumed_any=bool(outcome.runs), outcome=outcome)
        if new is not None:
            outcome.runs.append(new)
        _cleanup(config, outcome)
    finally:
        ctx.close()
        history.close()
        journal.close()
    outcome.runs = [r for r in outcome.runs if r is not None]
    if any(r.status == "failed" for r in outcome.runs):
        outcome.exit_code = EXIT_FAILED
    return outcome


def _session(ctx: Context, run_id: str, resumed: bool, outcome: BatchOutcome, files=None) -> RunReport | None:
    session = RunSession(ctx, run_id, resumed)
    try:
        return session.resume() if resumed else session.start(files)
    except Exception as exc:  # recorded by the session (log, batch_runs, CRITICAL alert)
        outcome.exit_code = EXIT_FAILED
        outcome.message = f"✗ run {run_id} failed: {type(exc).__name__}: {exc}"
        return None


def _new_run(ctx: Context, journal: Journal, options: BatchOptions, resumed_any: bool,
             outcome: BatchOutcome) -> RunReport | None:
    config = ctx.config
    scan = scan_incoming(config.path("incoming_dir"), config.min_file_age_seconds, repair_names=True)
    ctx.renamed = [f"Renamed {old} to {new} in the incoming folder (the name was not valid UTF-8)"
                   for old, new in scan.renamed]
    for line in ctx.renamed:
        print(f"batch: {line}", file=sys.stderr)
    files, kept = [], []
    kept_sources = journal.kept_sources()
    for candidate in scan.candidates:
        earlier = kept_sources.get((str(candidate.path), candidate.size, candidate.mtime))
        if earlier is None:
            files.append(candidate)
        elif not _finish_kept_copy(journal, earlier, candidate.path):
            kept.append(candidate.rel_name)  # copied earlier; the source still cannot be deleted
    if options.limit is not None:
        files = files[:max(0, options.limit)]
    ctx.skipped = [{"filename": s.rel_name, "reason": s.reason} for s in scan.skipped] + [
        {"filename": name, "reason": "already processed (copied; source could not be removed)"}
        for name in kept]
    if not files and resumed_any:
        return None  # a resume-only invocation: no empty run on top
    run_id = _free_run_id(journal)
    report = _session(ctx, run_id, resumed=False, outcome=outcome, files=files)
    remove_emptied_folders(config.path("incoming_dir"), {c.path.parent for c in files})
    return report


def _finish_kept_copy(journal: Journal, row: dict, source: Path) -> bool:
    """Delete a source an earlier run had to leave behind, once that is allowed and its copy is intact."""
    dest = Path(row["dest_path"])
    try:
        if not dest.is_file() or file_hash(dest) != row["content_hash"]:
            return False
        os.unlink(source)
    except OSError:
        return False
    journal.source_removed(row["id"], f"{row['note']}; source removed by a later run")
    print(f"batch: removed {source}, copied to {dest} by run {row['run_id']}", file=sys.stderr)
    return True


def _free_run_id(journal: Journal) -> str:
    """Run ids are seconds; two runs in one second (a quick resume) wait for the next one."""
    while True:
        run_id = new_run_id()
        if not journal.run_exists(run_id):
            return run_id
        time.sleep(0.05)


def engine_factory(config: Config):
    """None for the local engine; for ``ray`` a factory (Ray is imported only when it is called)."""
    if config.batch_engine == "local":
        return None
    if config.batch_engine != "ray":
        raise ValueError(f"unknown batch engine {config.batch_engine!r} (local or ray)")

    def make():
        from .ray_engine import RayEngine

        return RayEngine(config)

    return make


def _version_changed(old: str, new: str) -> None:
    print(f"batch: ⚠ the API switched model version during this run ({old} -> {new}); each photo "
          "records the version that classified it, the summary lists both", file=sys.stderr)


def _make_classifier(config: Config, options: BatchOptions, history: HistoryDB) -> Classifier:
    local = LocalClassifier(config)
    if options.local:
        return Classifier(None, local, fallback=True)
    api = ApiClient(config.api_url, key=batch_key(config),
                    timeout=config.api_timeout_seconds, retries=config.api_retries,
                    backoff=config.api_backoff_seconds, pool_size=config.batch_concurrency,
                    on_call=lambda record: _record_unreached(history, record))
    classifier = Classifier(api, local, fallback=config.fallback_local,
                            on_switch=lambda reason: _api_down(config, options, history, reason),
                            on_version_change=_version_changed)
    ready, detail = _wait_ready(api, config)
    if ready:
        print(f"batch: ✓ API is healthy and ready ({config.api_url}, {detail})", file=sys.stderr)
    elif config.fallback_local:
        classifier.switch_to_local(detail)
    else:
        _api_down(config, options, history, detail)
        from .client import ApiUnavailable

        raise ApiUnavailable(f"API at {config.api_url} is not ready ({detail}) and fallback is off")
    return classifier


def batch_key(config: Config) -> str:
    """What the batch sends as X-Batch-Key: FASHION_BATCH_KEY, else the first trusted key, else the
    internal key that the API trusts out of the box."""
    return config.batch_key or next(iter(config.trusted_keys), "") or internal_key(config) or ""


def _wait_ready(api: ApiClient, config: Config) -> tuple[bool, str]:
    detail = ""
    for attempt in range(config.api_retries + 1):
        if attempt:
            time.sleep(config.api_backoff_seconds * 2 ** (attempt - 1))
        ready, detail = api.ready(timeout=min(5.0, config.api_timeout_seconds))
        if ready:
            return True, detail
    return False, detail


def _api_down(config: Config, options: BatchOptions, history: HistoryDB, reason: str) -> None:
    print(f"batch: ✗ API unavailable ({reason}); "
          + ("classifying in-process" if config.fallback_local else "no fallback"), file=sys.stderr)
    if options.alerts:
        deliver(config, history, api_down_alert(config.api_url, reason, config.fallback_local))


def _record_unreached(history: HistoryDB, record) -> None:
    """The API logs the calls it receives; only those that never reached it are the batch's to log."""
    if record.status_code or history is None:
        return
    row = {f.name: getattr(record, f.name) for f in fields(record)}
    try:
        history.record_api_calls([row])
    except Exception as exc:  # history is best effort; classification goes on
        print(f"batch: could not record an API call: {exc}", file=sys.stderr)


def _cleanup(config: Config, outcome: BatchOutcome) -> None:
    keep = {path for report in outcome.runs if report for path in report.files}
    removed = clean(config.path("batch_results_dir"), config.path("logs_dir"),
                    config.results_retention_days, config.logs_retention_days, keep)
    if removed:
        print(f"batch: retention removed {len(removed)} expired files", file=sys.stderr)


def _on_sigterm(signum, frame) -> None:
    raise Terminated("SIGTERM received")


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread() and os.name == "posix"
