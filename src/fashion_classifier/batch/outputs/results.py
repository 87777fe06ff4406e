"""The run's results as rows and totals, computed from the journal."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ...labels import OTHER
from ...model import AUTO, CHECK, REVIEW, TIER_TITLES, TierPolicy
from ..naming import display_path
from .messages import plain_error

# the spec's columns, then (appended, never in between) what the review changed, the error's code
# and its technical wording (``error`` is the clerk's sentence)
CSV_COLUMNS = ("filename", "category", "confidence", "status", "timestamp", "tier", "top2_category",
               "destination", "content_hash", "error", "model_version",
               "model_category", "corrected_category", "reviewed_by", "review", "reviewed_at", "folder",
               "error_code", "error_detail")
# a decision's action in plain words (an action without an entry is shown as its name)
ACTION_WORDS = {"confirmed": "confirmed", "corrected": "category corrected",
                "retake": "photo unusable: take it again"}
_DIGITS = re.compile(r"(\d+)")
CONFIDENCE_KEYS = ("high_confidence_>85%", "medium_confidence_70-85%", "low_confidence_<70%")


@dataclass(frozen=True)
class ResultRow:
    filename: str  # relative to the incoming folder
    category: str  # where the photo is now: the clerk's category if reviewed, else the model's
    confidence: float
    status: str  # success, error, duplicate
    timestamp: str
    tier: str  # auto / check / review ("" unless success)
    top2_category: str
    top2_confidence: float | None
    destination: str  # relative to the output root when below it
    dest_abs: str
    content_hash: str
    error: str  # the clerk's sentence (messages.py); the technical one is in ``detail``
    error_code: str
    classified_by: str
    note: str
    move_method: str = ""
    model_version: str = ""
    detail: str = ""  # the technical reason (the run log has it too)
    model_category: str = ""  # what the model said
    review_action: str = ""  # the standing review decision ("" if none)
    review_category: str = ""
    reviewer: str = ""
    reviewed_at: str = ""
    seq: int = 0

    @property
    def corrected_category(self) -> str:
        return self.review_category if self.review_action and self.review_category != self.model_category \
            else ""

    @property
    def review_words(self) -> str:
        action = self.review_action
        if action == "corrected" and self.review_category == OTHER:
            return "not one of ours"
        return ACTION_WORDS.get(action, action.replace("_", " ")) if action else ""

    @property
    def shelf(self) -> str:
        """The category folder the photo is in now ("" if it was left where it was)."""
        return Path(self.dest_abs).parent.name if self.dest_abs else ""

    @property
    def source_kept(self) -> bool:
        return self.move_method == "copy (source kept)"

    @property
    def tier_title(self) -> str:
        return TIER_TITLES.get(self.tier, "")

    def csv_values(self) -> list:
        return [self.filename, self.category, f"{self.confidence:.4f}", self.status, self.timestamp,
                self.tier_title, self.top2_category, self.destination, self.content_hash, self.error,
                self.model_version, self.model_category, self.corrected_category, self.reviewer,
                self.review_words, self.reviewed_at, self.shelf, self.error_code, self.detail]


@dataclass
class RunResults:
    run_id: str
    rows: list[ResultRow]
    tiers: TierPolicy
    categories: Counter = field(default_factory=Counter)

    def __post_init__(self):
        # a photo set aside by the review (a retake: no category) is on no shelf and in no count
        self.categories = Counter(r.category for r in self.successes if r.category)

    @property
    def successes(self) -> list[ResultRow]:
        return [r for r in self.rows if r.status == "success"]

    @property
    def failures(self) -> list[ResultRow]:
        return [r for r in self.rows if r.status != "success"]

    @property
    def errors(self) -> list[ResultRow]:
        return [r for r in self.rows if r.status == "error"]

    @property
    def duplicates(self) -> list[ResultRow]:
        return [r for r in self.rows if r.status == "duplicate"]

    @property
    def needs_a_look(self) -> list[ResultRow]:
        """Photos still waiting for a clerk (manual review, quick check, Other), in the review
        queue's order: manual review first, least certain first (review/queue.py)."""
        waiting = [r for r in self.successes if not r.review_action
                   and (r.tier in (REVIEW, CHECK) or r.model_category == OTHER)]
        return sorted(waiting, key=lambda r: (r.tier != REVIEW, r.confidence, r.seq))

    @property
    def reviewed(self) -> list[ResultRow]:
        return sorted((r for r in self.successes if r.review_action), key=lambda r: natural_key(r.filename))

    def in_tier(self, tier: str) -> list[ResultRow]:
        return [r for r in self.successes if r.tier == tier]

    @property
    def others(self) -> list[ResultRow]:
        """Photos the model judged none of our categories (in processed_batches/Other/)."""
        return [r for r in self.successes if r.category == OTHER]

    @property
    def success_rate(self) -> float:
        return round(100.0 * len(self.successes) / len(self.rows), 2) if self.rows else 100.0

    @property
    def error_rate(self) -> float:
        """Share of files that could not be classified or placed (duplicates are not errors)."""
        return len(self.errors) / len(self.rows) if self.rows else 0.0

    def confidence_distribution(self) -> dict[str, int]:
        counts = Counter(r.tier for r in self.successes)
        return dict(zip(CONFIDENCE_KEYS, (counts[AUTO], counts[CHECK], counts[REVIEW]), strict=True))

    @property
    def model_versions(self) -> list[str]:
        """The model versions that classified this run's photos, in order of first use."""
        return list(dict.fromkeys(r.model_version for r in self.successes if r.model_version))

    def categories_sorted(self) -> dict[str, int]:
        return dict(sorted(self.categories.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def average_confidence(self) -> float:
        good = self.successes
        return sum(r.confidence for r in good) / len(good) if good else 0.0


def natural_key(name: str) -> list:
    """``IMG_2`` before ``IMG_10``: digit runs compare as numbers, the rest without case."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
            for part in _DIGITS.split(name) if part]


def build(run_id: str, files: list[dict], base: Path, tiers: TierPolicy) -> RunResults:
    """Journal rows of a run (terminal states) -> ``RunResults`` in scan order."""
    return RunResults(run_id, [_row(f, base) for f in files], tiers)


def _row(f: dict, base: Path) -> ResultRow:
    """One journal row; with ``where_now.RUN_FILES_NOW``'s columns, as it is after the review."""
    status = f.get("status") or "error"
    success = status == "success"
    dest = (f.get("current_path") or f.get("dest_path")) if f.get("state") == "done" else None
    return ResultRow(
        filename=f["rel_name"],
        category=_current_category(f) if success else "",
        confidence=float(f.get("confidence") or 0.0) if success else 0.0,
        status=status,
        timestamp=f.get("finished_at") or f.get("classified_at") or "",
        tier=(f.get("tier") or "") if success else "",
        top2_category=(f.get("top2_category") or "") if success else "",
        top2_confidence=f.get("top2_confidence") if success else None,
        destination=display_path(dest, base) if dest else "",
        dest_abs=dest or "",
        content_hash=f.get("content_hash") or "",
        error=plain_error(f.get("error_code"), f.get("error") or "", status) if not success else "",
        error_code=f.get("error_code") or "",
        classified_by=f.get("classified_by") or "",
        note=f.get("note") or "",
        move_method=f.get("move_method") or "",
        model_version=(f.get("model_version") or "") if success else "",
        detail=f.get("error") or "",
        model_category=(f.get("category") or "") if success else "",
        review_action=f.get("review_action") or "",
        review_category=f.get("review_category") or "",
        reviewer=f.get("reviewer") or "",
        reviewed_at=f.get("reviewed_at") or "",
        seq=int(f.get("seq") or 0),
    )


def _current_category(f: dict) -> str:
    """The clerk's category when a decision stands ("" for a photo set aside: a retake), else the model's."""
    current = f.get("current_category")
    return current if current is not None else (f.get("category") or "")


def output_paths(results_dir: Path, logs_dir: Path, run_id: str) -> dict[str, Path]:
    """The spec's file names for one run."""
    return {
        "csv": results_dir / f"batch_results_{run_id}.csv",
        "xlsx": results_dir / f"batch_results_{run_id}.xlsx",
        "summary": results_dir / f"summary_{run_id}.json",
        "html": results_dir / f"batch_report_{run_id}.html",
        "log": logs_dir / f"batch_{run_id}.log",
    }
