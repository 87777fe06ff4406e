"""``summary_<run>.json``: the spec's keys first, then throughput and run details."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ...model import TIER_TITLES
from .atomic import write_text
from .results import RunResults


def summary_dict(results: RunResults, run: dict, processing_seconds: float, classifier_path: str,
                 skipped: list[dict], outputs: dict[str, str]) -> dict:
    total = len(results.rows)
    seconds = round(processing_seconds, 3)
    per_second = total / processing_seconds if processing_seconds > 0 else 0.0
    return {
        # the spec's keys (6.3.3)
        "timestamp": results.run_id,
        "total_processed": total,
        "successful": len(results.successes),
        "failed": len(results.failures),
        "success_rate": results.success_rate,
        "processing_time_seconds": seconds,
        "categories": results.categories_sorted(),
        "confidence_distribution": results.confidence_distribution(),
        "errors": [{"filename": r.filename, "error": r.error, "code": r.error_code,
                    "status": r.status, "destination": r.destination, "detail": r.detail}
                   for r in results.failures],
        # beyond the spec
        "throughput": {"images_per_second": round(per_second, 2),
                       "images_per_minute": round(per_second * 60, 1)},
        "tiers": {TIER_TITLES[t]: len(results.in_tier(t)) for t in TIER_TITLES},
        "other": {"count": len(results.others),  # none of our categories: review work, not failures
                  "share": round(len(results.others) / total, 4) if total else 0.0},
        "confidence_thresholds": {"auto": results.tiers.auto_threshold,
                                  "check": results.tiers.check_threshold},
        "duplicates": len(results.duplicates),
        "review": review_counts(results),
        "sources_kept": [{"filename": r.filename, "destination": r.destination, "note": r.note}
                         for r in results.rows if r.source_kept],
        "average_confidence": round(results.average_confidence, 4),
        "run_id": results.run_id,
        "started_at": run.get("started_at"),
        "attempts": run.get("attempts", 1),
        "resumed": int(run.get("attempts", 1)) > 1,
        "classifier_path": classifier_path,
        "model_version": (results.model_versions or [None])[0],
        "model_versions": results.model_versions,  # more than one: the API switched mid-run
        "skipped": skipped,
        "outputs": outputs,
    }


def write_summary(path: Path, summary: dict) -> Path:
    return write_text(path, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")


def review_counts(results: RunResults) -> dict:
    """The clerks' standing decisions on this run's photos, by action, and how many still wait."""
    decided = Counter(r.review_action for r in results.successes if r.review_action)
    waiting = [r for r in results.needs_a_look]
    return {"decided": sum(decided.values()), "by_action": dict(sorted(decided.items())),
            "corrected": sum(1 for r in results.successes if r.corrected_category),
            "waiting": len(waiting)}
