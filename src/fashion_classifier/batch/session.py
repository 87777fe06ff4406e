"""One run: list (or resume) its files, classify, move, write outputs, alert.

A run's id is its start time, ``YYYYMMDD_HHMMSS``, and names all its files.
A run that died (crash, ``kill -9``, power cut) is *resumed* under its own id
by the next invocation: its moves are finished, its unclassified files are
classified, its log gets a "RESUMED" section, and its CSV/XLSX/JSON/HTML are
written (or rewritten whole) from the journal when it completes. Files that
arrived after the crash belong to a new run with a new id.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..alerts import batch_alerts, deliver, interrupted_run_alert
from ..alerts.rules import failed_run_alert
from ..config import Config
from ..history import HistoryDB, now_iso
from ..model import TIER_TITLES
from ..model.tiers import deployment_policy
from ..progress import progress
from .classify import Classifier, journal_fields
from .faults import crash_point
from .journal import DONE, LEFT, PENDING, PLANNED, REPORTED, RUNNING, Journal
from .locations import load_locations
from .moves import fsync_dir
from .naming import display_path, printable
from .outputs import build, output_paths
from .outputs.html_report import review_url, write_report
from .outputs.summary import summary_dict, write_summary
from .outputs.tables import write_csv, write_xlsx
from .pipeline import VANISHED, FileOutcome, make_chunks, run_chunks
from .placement import Placement
from .runlog import RunLog

MAX_LOGGED_SKIPS = 50  # skipped files named in the run log
PATHS = ("api", "local", "ray")  # what can classify a file, in the order a run's path names them


@dataclass
class Context:
    """What the runs of one invocation share."""

    config: Config
    journal: Journal
    history: HistoryDB
    classifier_factory: object  # () -> Classifier, called when a run has files to classify
    base: Path  # paths in logs and CSV are shown relative to this
    alerts: bool = True
    show_progress: bool = True
    duplicate_check: bool = True
    skipped: list[dict] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)  # log lines: incoming names made UTF-8 by the scan
    engine_factory: object = None  # () -> an engine with stream(rows)/close() (``--engine ray``); None: local
    _classifier: Classifier | None = None
    _engine: object = None

    @property
    def classifier(self) -> Classifier:
        if self._classifier is None:
            self._classifier = self.classifier_factory()
        return self._classifier

    @property
    def engine(self):
        if self._engine is None:
            self._engine = self.engine_factory()
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


@dataclass
class RunReport:
    run_id: str
    status: str
    summary: dict
    outputs: dict[str, str]
    resumed: bool
    files: list[Path] = field(default_factory=list)  # absolute paths of this run's outputs


class RunSession:
    def __init__(self, ctx: Context, run_id: str, resumed: bool):
        self.ctx = ctx
        self.config = ctx.config
        self.journal = ctx.journal
        self.run_id = run_id
        self.resumed = resumed
        self.paths = output_paths(self.config.path("batch_results_dir"), self.config.path("logs_dir"), run_id)
        self.log = RunLog(self.paths["log"], quiet=not ctx.show_progress)
        self.tiers = deployment_policy(self.config)
        self.placement = Placement(self.journal, self.config.path("processed_dir"),
                                   self.config.path("failed_dir"))
        self.started = time.monotonic()
        self.previous_seconds = 0.0
        self.total = 0
        self.paths_used: set[str] = set()
        self._seen: dict[str, dict] = {}  # content hash -> first classified row with it (duplicates)
        self._unsynced: list[dict] = []  # moved, waiting for the next journal sync
        self._last_sync = time.monotonic()

    # --- entry ------------------------------------------------------------------
    def start(self, files) -> RunReport:
        self.log.banner("BATCH PROCESSING STARTED")
        for line in self.ctx.renamed:
            self.log.info(line)
        return self._guarded(lambda: self._listed_work(files))

    def _listed_work(self, files) -> RunReport:
        """List the files in the journal, then work; a failure to list is recorded like any other."""
        self.journal.start_run(self.run_id, self.config.path("incoming_dir"), os.getpid(), files)
        return self._work()

    def resume(self) -> RunReport:
        run = self.journal.run(self.run_id)
        self.journal.resume_run(self.run_id, os.getpid())
        self.previous_seconds = float(run["active_seconds"] or 0)
        self.paths_used.update(p for p in (run.get("classifier_path") or "").split("+") if p)
        self.log.banner(f"BATCH PROCESSING RESUMED (attempt {run['attempts'] + 1})")
        self.log.info(f"Run {self.run_id} was interrupted while {run['state']}; finishing its work")
        if run["state"] == RUNNING and not run.get("error_message") and self.ctx.alerts:
            deliver(self.config, self.ctx.history, interrupted_run_alert(self.run_id, run["attempts"]))
        if run["state"] == REPORTED:  # outputs and history were complete: only the alerts remain
            return self._guarded(self._alert_and_close)
        return self._guarded(self._work)

    def _guarded(self, step) -> RunReport:
        try:
            return step()
        except BaseException as exc:  # SIGTERM and crashes are recorded, then re-raised
            self._record_crash(exc)
            raise
        finally:
            self.log.close()

    # --- the work -------------------------------------------------------------------
    def _work(self) -> RunReport:
        self.total = len(self.journal.files(self.run_id))
        self._recover_planned()
        pending = self.journal.files(self.run_id, [PENDING])
        self.log.info(f"Found {len(pending)} images to process" +
                      (f" ({self.total - len(pending)} already done)" if self.total != len(pending) else ""))
        self._log_skipped()
        if pending:
            self._classify_and_move(pending)
        return self._finish()

    def _log_skipped(self) -> None:
        """What the scan left in the incoming folder, and why (all of it in the summary JSON)."""
        skipped = [] if self.resumed else self.ctx.skipped
        if not skipped:
            return
        self.log.info(f"Skipped {len(skipped)} files, left where they are:")
        for item in skipped[:MAX_LOGGED_SKIPS]:
            self.log.info(f"  - {printable(item['filename'])}: {item['reason']}")
        if len(skipped) > MAX_LOGGED_SKIPS:
            self.log.info(f"  ... and {len(skipped) - MAX_LOGGED_SKIPS} more (listed in the summary JSON)")

    def _recover_planned(self) -> None:
        planned = self.journal.files(self.run_id, [PLANNED])
        if not planned:
            return
        self.log.info(f"Finishing {len(planned)} moves interrupted by the crash")
        finished = []
        for row in planned:
            finished.append(self.placement.resolve(row))
            self._log_file(row, finished[-1])
        self._sync_and_record(finished)

    def _classify_and_move(self, pending: list[dict]) -> None:
        if self.ctx.engine_factory is not None:  # another engine classifies; the rest is the same code
            self.log.info(f"Classifying on {self.ctx.engine.describe()}")
            stream = self.ctx.engine.stream(pending)
        else:
            classifier = self.ctx.classifier  # connects to the API (or loads the model) on first use
            chunks = make_chunks(pending, min(self.config.batch_chunk_size, self.config.max_batch_files),
                                 self.config.batch_chunk_bytes)
            stream = run_chunks(chunks, classifier, self.config.max_upload_bytes,
                                self.config.batch_concurrency)
        files = (row for group in stream for row in self._handle_outcomes(group))
        if self.ctx.show_progress:
            files = progress(files, "classify + move", total=len(pending), unit="img")
        for _ in files:
            pass
        self._flush()

    def _handle_outcomes(self, outcomes: list[FileOutcome]) -> list[dict]:
        """Decide (one commit), move, and queue the results for the next sync of the journal."""
        planned, finished = [], []
        if self.ctx.duplicate_check:  # one query for the whole group
            self._seen.update(self.journal.first_successes(
                o.content_hash for o in outcomes if o.content_hash and o.content_hash not in self._seen))
        for outcome in outcomes:
            row = outcome.row
            if outcome.result.get("status") == VANISHED:  # not read: stays in the incoming folder
                finished.append(Placement._left(row, outcome.result.get("code") or "file_missing",
                                                outcome.result["error"]))
                continue
            planned.append(self._decide(outcome))
            if outcome.classified_by in PATHS:
                self.paths_used.add(outcome.classified_by)
        self.journal.plan(planned)  # decisions are durable before anything moves
        crash_point("after_plan")
        for row in planned:
            finished.append(self.placement.move(row))
            crash_point("after_move")
        by_id = {o.row["id"]: o.row for o in outcomes} | {r["id"]: r for r in planned}
        for done in finished:
            self._log_file(by_id[done["id"]], done)
        self._unsynced += finished
        if time.monotonic() - self._last_sync >= self.config.batch_sync_interval_seconds:
            self._flush()
        return finished

    def _flush(self) -> None:
        """Moves are durable (folders fsynced), then the journal marks them done, in one commit.

        Between two flushes moved files stay "planned" in the journal; a crash
        there is finished by ``Placement.resolve``, which finds them in place.
        """
        crash_point("before_finish")
        self._sync_and_record(self._unsynced)
        crash_point("after_finish")
        self._unsynced = []
        self._last_sync = time.monotonic()
        self.log.flush()

    def _decide(self, outcome: FileOutcome) -> dict:
        row = dict(outcome.row)
        fields = journal_fields(outcome.result, self.tiers)
        row.update(fields, content_hash=outcome.content_hash, classified_by=outcome.classified_by,
                   classified_at=now_iso())
        if row["status"] == "success" and outcome.content_hash and self.ctx.duplicate_check:
            first = self._seen.get(outcome.content_hash)
            if first is not None:
                now = first.get("current_path") or first.get("dest_path")  # after any review decision
                where = display_path(now, self.ctx.base) if now else ""
                row.update(status="duplicate", error_code="duplicate", duplicate_of=first["id"],
                           error=f"duplicate of {first['rel_name']} (run {first['run_id']}"
                                 + (f", now {where})" if where else ")"))
        folder = self.placement.folder_for(row["status"], row.get("category"))
        row["dest_path"] = self.placement.destination(row, folder)
        if row["status"] == "success" and outcome.content_hash:
            self._seen.setdefault(outcome.content_hash, row)
        return row

    def _sync_and_record(self, finished: list[dict]) -> None:
        if self.config.batch_fsync:
            for folder in self.placement.touched:
                fsync_dir(folder)
        self.placement.touched.clear()
        self.journal.finish(finished, self.run_id, self._elapsed(), self._path())

    def _elapsed(self) -> float:
        return self.previous_seconds + time.monotonic() - self.started

    def _path(self) -> str:
        return "+".join(p for p in PATHS if p in self.paths_used) or "none"

    # --- per-file log lines ----------------------------------------------------------
    def _log_file(self, row: dict, done: dict) -> None:
        log = self.log
        log.file("")
        log.file(f"Processing [{row['seq']}/{self.total or row['seq']}]: {printable(row['rel_name'])}")
        status = done.get("status") or row.get("status")
        if status == "success":
            log.file(f"  ✓ Category: {row['category']} (confidence: {100 * row['confidence']:.1f}%, "
                     f"{TIER_TITLES.get(row.get('tier'), '')})")
        elif status == "duplicate":
            log.file(f"  ✗ Duplicate: {printable(row.get('error') or '')}")
        else:
            log.file(f"  ✗ Error [{done.get('error_code') or row.get('error_code')}]: "
                     f"{printable(done.get('error') or row.get('error') or '')}")
        if done["state"] == DONE:
            log.file(f"  ✓ Moved to: {printable(display_path(done['dest_path'], self.ctx.base))}"
                     + (f" ({done['note']})" if done.get("note") else ""))
        else:
            log.file(f"  ✗ Not moved; still at {printable(display_path(row['source_path'], self.ctx.base))}")

    # --- completion -----------------------------------------------------------------
    def _finish(self) -> RunReport:
        files = self.journal.files_now(self.run_id)  # with any review decisions made meanwhile
        unfinished = [f for f in files if f["state"] not in (DONE, LEFT)]
        if unfinished:
            raise RuntimeError(f"{len(unfinished)} files of run {self.run_id} are not finished")
        results = build(self.run_id, files, self.ctx.base, self.tiers)
        seconds = self._elapsed()
        outputs = {k: display_path(v, self.ctx.base) for k, v in self.paths.items()}
        summary = summary_dict(results, self.journal.run(self.run_id), seconds, self._path(),
                               self.ctx.skipped if not self.resumed else [], outputs)
        status = _status(results, self.config)
        self.log.banner("SAVING RESULTS")
        self._write_outputs(results, summary)
        self.journal.finalize(self.run_id, self._batch_run(summary, status), outputs)
        crash_point("after_finalize")
        self._log_totals(summary)
        report = RunReport(self.run_id, status, summary, outputs, self.resumed, list(self.paths.values()))
        self._send_alerts(summary, status)
        crash_point("after_alerts")
        self.journal.mark_finished(self.run_id)
        return report

    def _write_outputs(self, results, summary: dict) -> None:
        write_csv(self.paths["csv"], results)
        crash_point("after_csv")
        self.log.info(f"✓ Results saved to: {display_path(self.paths['csv'], self.ctx.base)}")
        write_xlsx(self.paths["xlsx"], results)
        self.log.info(f"✓ Spreadsheet saved to: {display_path(self.paths['xlsx'], self.ctx.base)}")
        write_summary(self.paths["summary"], summary)
        self.log.info(f"✓ Summary saved to: {display_path(self.paths['summary'], self.ctx.base)}")
        write_report(self.paths["html"], results, summary, load_locations(self.config.path("locations_file")),
                     self.config.report_max_thumbnails, review_url(self.config))
        self.log.info(f"✓ Report saved to: {display_path(self.paths['html'], self.ctx.base)}")

    def _batch_run(self, summary: dict, status: str) -> dict:
        run = self.journal.run(self.run_id)
        note = None
        if run.get("error_message"):
            note = f"completed on attempt {run['attempts']} after: {run['error_message']}"
        elif int(run["attempts"]) > 1:
            note = f"resumed after an interruption (attempt {run['attempts']})"
        return {"timestamp": now_iso(), "total_images": summary["total_processed"],
                "successful": summary["successful"], "failed": summary["failed"],
                "success_rate": summary["success_rate"],
                "duration_seconds": summary["processing_time_seconds"],
                "status": status, "error_message": note, "classifier_path": summary["classifier_path"],
                "images_per_second": summary["throughput"]["images_per_second"],
                "low_confidence": summary["confidence_distribution"]["low_confidence_<70%"],
                "summary_json": display_path(self.paths["summary"], self.ctx.base)}

    def _log_totals(self, summary: dict) -> None:
        self.log.banner("BATCH PROCESSING COMPLETE")
        self.log.info(f"Total processed: {summary['total_processed']}")
        self.log.info(f"Successful: {summary['successful']}")
        self.log.info(f"Failed: {summary['failed']}" +
                      (f" (of which duplicates: {summary['duplicates']})" if summary["duplicates"] else ""))
        self.log.info(f"Processing time: {summary['processing_time_seconds']:.1f}s "
                      f"({summary['throughput']['images_per_minute']:.0f} images/minute, "
                      f"via {summary['classifier_path']})")
        self.log.file("")
        self.log.info("Category distribution:")
        for category, count in summary["categories"].items():
            self.log.info(f"  - {category}: {count}")
        versions = summary.get("model_versions") or []
        if len(versions) > 1:
            self.log.info(f"⚠ Model version changed during the run: {' -> '.join(versions)} "
                          "(each photo records the version that classified it)")
        elif versions:
            self.log.info(f"Model version: {versions[0]}")
        self.log.file("")
        self.log.info(f"Log file: {display_path(self.paths['log'], self.ctx.base)}")

    def _alert_and_close(self) -> RunReport:
        run = self.journal.run(self.run_id)
        summary = json.loads(self.paths["summary"].read_text(encoding="utf-8"))
        batch_run = self.journal.batch_run(self.run_id) or {}
        status = batch_run.get("status", "success")
        self._send_alerts(summary, status)
        self.journal.mark_finished(self.run_id)
        return RunReport(self.run_id, status, summary, json.loads(run["outputs"] or "{}"), True,
                         list(self.paths.values()))

    def _send_alerts(self, summary: dict, status: str) -> None:
        if not self.ctx.alerts:
            return
        recent = self.journal.other_shares(self.run_id, self.config.alert_other_history_runs)
        for alert in batch_alerts(summary, status, self.config, recent):
            result = deliver(self.config, self.ctx.history, alert)
            channels = ", ".join(f"{c}: {d.get('status')}" for c, d in sorted(result.delivery.items()))
            self.log.info(f"Alert {alert.severity} '{alert.subject}' ({channels or 'no channels'})")

    def _record_crash(self, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        try:
            self.log.info(f"✗ BATCH PROCESSING FAILED: {message}")
            self.log.file(traceback.format_exc())
            self.log.flush()
            files = self.journal.files(self.run_id)
            done = [f for f in files if f["state"] in (DONE, LEFT)]
            ok = sum(1 for f in done if f["status"] == "success")
            self.journal.record_failure(self.run_id, message, {
                "timestamp": now_iso(), "total_images": len(files), "successful": ok,
                "failed": len(done) - ok, "success_rate": round(100 * ok / len(files), 2) if files else 0.0,
                "duration_seconds": round(self._elapsed(), 3), "status": "failed", "error_message": message,
                "classifier_path": self._path()})
            if self.ctx.alerts:
                deliver(self.config, self.ctx.history, failed_run_alert(self.run_id, message))
        except Exception as inner:  # the original failure matters more than this one
            self.log.info(f"✗ could not record the failure: {inner}")


def _status(results, config: Config) -> str:
    if results.rows and len(results.errors) == len(results.rows):
        return "failed"
    if results.error_rate > config.alert_failure_rate:
        return "partial"
    return "success"
