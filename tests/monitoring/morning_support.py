"""A small real history for the clerk's morning: two nights with photos, then a night without.

Each night is a real ``src/batch_processor.py --local`` run, moved back in time
(``backdate``) with its report files renamed to the new run id, as the batch
would have named them that night. Both nights hold a photo named
``IMG_0001.jpg`` (different content), so the queue has two entries with one
name. Strict tiers send (nearly) every photo to the review queue.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from batch_support import RESULTS, clean_env, run_batch, write_file

from fashion_classifier.batch.outputs import output_paths

from .history_support import backdate, db_path, latest_run_id, photo_pool

STRICT = {"FASHION_AUTO_THRESHOLD": "0.999999", "FASHION_CHECK_THRESHOLD": "0.99999"}
SAME_NAME = "IMG_0001.jpg"


def run_night(base: Path, out: Path, number: int, photos: dict[str, Path], when: datetime) -> str:
    """One real batch run of ``photos`` (name -> source), dated ``when``; returns its run id."""
    incoming = base / f"incoming_{number}"
    incoming.mkdir(parents=True)
    for name, source in photos.items():
        write_file(incoming, name, source.read_bytes())
    result = run_batch(incoming, out, "--local", "--quiet", env=clean_env(**STRICT))
    assert result.returncode in (0, 1), result.stderr
    old = latest_run_id(out)
    new = backdate(db_path(out), old, when)
    before = output_paths(out / RESULTS, out / "logs", old)
    for kind, path in output_paths(out / RESULTS, out / "logs", new).items():
        before[kind].rename(path)
    return new


def build_morning(base: Path, now: datetime | None = None) -> dict:
    """``out`` with the nights ``earlier`` (2 days ago), ``last`` (yesterday) and ``empty`` (today)."""
    now = now or datetime.now()
    out, pool = base / "out", photo_pool()
    earlier = {SAME_NAME: pool[0], **{f"return_{i}.jpg": pool[i] for i in (1, 2, 3)}}
    last = {SAME_NAME: pool[4], **{f"return_{i}.jpg": pool[i] for i in (5, 6, 7, 8)}}
    day = now.replace(hour=2, minute=0, second=0, microsecond=0)
    runs = {"earlier": run_night(base, out, 0, earlier, day - timedelta(days=2)),
            "last": run_night(base, out, 1, last, day - timedelta(days=1))}
    runs["empty"] = run_night(base, out, 2, {}, min(now - timedelta(minutes=30), day + timedelta(minutes=5)))
    return {"out": out, "runs": runs, "photos": {"earlier": len(earlier), "last": len(last)}}
