"""Monitoring: cron-friendly health checks, execution-history reports, weekly and custom
reports, and the inventory export, all read from the execution-history database.

The scripts in ``monitoring/`` are thin entry points to the ``main`` functions here.
Health checks exit like Nagios plugins: 0 OK, 1 warning, 2 critical.
"""

from .status import CRITICAL, OK, WARNING, level_name

__all__ = ["CRITICAL", "OK", "WARNING", "level_name"]
