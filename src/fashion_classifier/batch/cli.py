"""Command line of the nightly batch (``python src/batch_processor.py --help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import Config
from .runner import BatchOptions, run_batch

EPILOG = """\
exit codes: 0 run completed (some images may have failed: see the report),
1 the run failed (it resumes next time), 3 another run holds the lock, 143 terminated.

Settings not on the command line come from the environment (Config.from_env):
API_URL, FASHION_BATCH_KEY, FASHION_SMTP_HOST, FASHION_SLACK_WEBHOOK_URL, ...
See docs/BATCH.md.
"""


def parser(config: Config) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="batch_processor.py",
        description="Nightly batch: classify the returns photos in the incoming folder, move each into "
                    "its category folder (or failed/), write CSV/XLSX/JSON/HTML reports, record the run "
                    "and send alerts. Resumes a run that was interrupted.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", "-i", type=Path, metavar="DIR",
                   help=f"incoming folder, dated subfolders included (default: {config.incoming_dir})")
    p.add_argument("--output-root", "-o", type=Path, metavar="DIR",
                   help="root for data/processed_batches, data/failed, results/ and logs/ "
                        "(default: the project root)")
    p.add_argument("--api-url", metavar="URL",
                   help=f"classification API (default: API_URL or {config.api_url})")
    p.add_argument("--local", action="store_true", help="classify in-process with the Predictor, no API")
    p.add_argument("--engine", choices=("local", "ray"),
                   help="where images are classified: 'local' (this machine: the API, or in-process with "
                        "--local) or 'ray' (Ray Data actors, each with a Predictor; journal, moves and "
                        f"reports stay here) (default: {config.batch_engine})")
    p.add_argument("--ray-address", metavar="ADDRESS",
                   help="Ray cluster for --engine ray, e.g. ray://head:10001 or auto "
                        f"(default: {config.ray_address or 'a local Ray instance'})")
    p.add_argument("--ray-actors", type=_positive, metavar="N",
                   help="Predictor actors for --engine ray (default: "
                        f"{config.ray_num_actors or 'one per CPU of the cluster'})")
    p.add_argument("--no-fallback", dest="fallback", action="store_false", default=None,
                   help="if the API is down, fail the run instead of classifying in-process")
    p.add_argument("--dry-run", action="store_true",
                   help="show what would happen; move, write and record nothing")
    p.add_argument("--limit", type=_non_negative, metavar="N", help="process at most N files this run")
    p.add_argument("--concurrency", "-c", type=_positive, metavar="N",
                   help=f"chunks in flight at once (default: {config.batch_concurrency})")
    p.add_argument("--chunk-size", type=_positive, metavar="N",
                   help=f"images per API request (default: {config.batch_chunk_size}, "
                        f"at most {config.max_batch_files})")
    p.add_argument("--min-age", type=float, metavar="SECONDS",
                   help=f"skip files modified more recently (default: {config.min_file_age_seconds:g})")
    p.add_argument("--allow-duplicates", dest="duplicate_check", action="store_false",
                   help="classify photos seen in an earlier run again instead of sending them to failed/ "
                        "as duplicates (e.g. to re-run returned images)")
    p.add_argument("--no-alerts", dest="alerts", action="store_false", help="send no e-mail/Slack alerts")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress or milestones on stderr")
    return p


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def main(argv: list[str] | None = None, config: Config | None = None) -> int:
    config = config or Config.from_env()
    args = parser(config).parse_args(argv)
    options = BatchOptions(
        input_dir=args.input, output_root=args.output_root, api_url=args.api_url, local=args.local,
        dry_run=args.dry_run, limit=args.limit, concurrency=args.concurrency, chunk_size=args.chunk_size,
        min_age=args.min_age, fallback=args.fallback, duplicate_check=args.duplicate_check,
        alerts=args.alerts, show_progress=not args.quiet, engine=args.engine, ray_address=args.ray_address,
        ray_actors=args.ray_actors)
    outcome = run_batch(config, options)
    for report in outcome.runs:
        summary = report.summary
        print(f"run {report.run_id}{' (resumed)' if report.resumed else ''}: {report.status}, "
              f"{summary['total_processed']} images, {summary['successful']} successful, "
              f"{summary['failed']} failed, via {summary['classifier_path']}; "
              f"report {report.outputs.get('html', '')}")
    if outcome.message:
        print(f"batch: {outcome.message}", file=sys.stderr)
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
