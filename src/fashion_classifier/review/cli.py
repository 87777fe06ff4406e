"""``monitoring/export_corrections.py``: the clerks' labels as a training split."""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from pathlib import Path

from ..config import Config
from ..monitoring.common import add_location_args, history_missing, located
from .decisions import ReviewDB, resolve_planned
from .export import export_corrections


def main(argv: list[str] | None = None, config: Config | None = None) -> int:
    config = config or Config.from_env()
    p = argparse.ArgumentParser(
        prog="export_corrections.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write every photo a clerk reviewed in the dashboard, with the clerk's label, as "
                    "<dir>/corrections.csv (id,path,label,sha256,group: the data/splits layout) and "
                    "<dir>/images/.",
        epilog="Read it like a split: read_split(Path('data/corrections'), 'corrections').\n"
               "exit codes: 0 written, 2 no history database.")
    p.add_argument("--output", type=Path, metavar="DIR",
                   help=f"export folder (default: {config.corrections_dir})")
    p.add_argument("--corrected-only", action="store_true",
                   help="only photos whose category was corrected (default: confirmed ones too)")
    add_location_args(p)
    args = p.parse_args(argv)
    config = located(config, args)
    if history_missing(config, "export_corrections"):
        return 2
    with closing(ReviewDB(config.path("history_db"))) as db:
        resolve_planned(db)
        result = export_corrections(db, args.output or config.path("corrections_dir"), args.corrected_only)
    print(f"{result.rows} labelled photos ({result.corrected} corrected, {result.confirmed} confirmed)"
          f" -> {result.csv_path}")
    if result.missing:
        print(f"export_corrections: {len(result.missing)} reviewed photos are gone: "
              f"{', '.join(result.missing[:5])}", file=sys.stderr)
    return 0
