"""``--dry-run``: what a run would do, with nothing moved and nothing recorded."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from ..model import TIER_TITLES
from ..model.tiers import deployment_policy
from .naming import display_path, safe_name, with_suffix_number
from .pipeline import VANISHED, make_chunks, run_chunks
from .scanning import scan_incoming


def dry_run(config, options) -> int:
    from .runner import engine_factory

    scan = scan_incoming(config.path("incoming_dir"), config.min_file_age_seconds)
    files = scan.candidates[:options.limit] if options.limit is not None else scan.candidates
    out = sys.stdout
    out.write(f"DRY RUN: {len(files)} files would be processed from {config.path('incoming_dir')}"
              " (nothing is moved, written or recorded)\n")
    for skipped in scan.skipped:
        out.write(f"  skip  {skipped.rel_name}: {skipped.reason}\n")
    if not files:
        return 0
    rows = [{"id": i, "seq": i, "source_path": str(c.path), "rel_name": c.rel_name, "size": c.size}
            for i, c in enumerate(files, 1)]
    make_engine = engine_factory(config)
    engine = make_engine() if make_engine else None
    try:
        path = _preview(config, options, rows, engine, out)
    finally:
        if engine is not None:
            engine.close()
    out.write(f"Classified via {path}\n")
    return 0


def _preview(config, options, rows: list[dict], engine, out) -> str:
    """Print each file's would-be result and destination; returns the classifier path used."""
    from .runner import _make_classifier

    if engine is not None:
        stream, classifier = engine.stream(rows), None
    else:
        classifier = _make_classifier(config, replace(options, alerts=False), history=None)
        chunks = make_chunks(rows, min(config.batch_chunk_size, config.max_batch_files),
                             config.batch_chunk_bytes)
        stream = run_chunks(chunks, classifier, config.max_upload_bytes, config.batch_concurrency)
    tiers = deployment_policy(config)
    taken: set[str] = set()
    base = Path(options.output_root).resolve() if options.output_root else config.root
    for chunk in stream:
        for outcome in chunk:
            result = outcome.result
            if result.get("status") == "success":
                tier = TIER_TITLES[tiers.tier(float(result["confidence"]), result.get("category"))]
                folder = config.path("processed_dir") / safe_name(result["category"])
                what = f"{result['category']} {100 * float(result['confidence']):.1f}% ({tier})"
            else:
                folder = config.path("failed_dir")
                what = f"error [{result.get('code')}] {result.get('error')}"
            if result.get("status") == VANISHED:
                out.write(f"  skip  {outcome.row['rel_name']}: {result.get('error')}\n")
                continue
            dest = _free(folder, safe_name(outcome.row["rel_name"]), taken)
            out.write(f"  {outcome.row['rel_name']}: {what} -> {display_path(dest, base)}\n")
    return classifier.path if classifier is not None else config.batch_engine


def _free(folder: Path, name: str, taken: set[str]) -> Path:
    number = 1
    while True:
        candidate = folder / (name if number == 1 else with_suffix_number(name, number))
        if str(candidate) not in taken and not os.path.lexists(candidate):
            taken.add(str(candidate))
            return candidate
        number += 1
