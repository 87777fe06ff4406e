"""What a run leaves for the morning: CSV, XLSX, JSON summary and HTML report.

All of them are built from the journal's rows of the run (``results.build``),
never from memory, so a run resumed after a crash writes complete files. Each
file is written to a temporary name and renamed into place: a reader never
sees half a report, and a rerun replaces a crashed attempt's file whole.
"""

from .results import ResultRow, RunResults, build, output_paths

__all__ = ["ResultRow", "RunResults", "build", "output_paths"]
