"""The monitoring dashboard (``python monitoring/dashboard.py`` -> http://localhost:8050).

At a glance: API status and latency, the last batch, trends (runs, success
rate, throughput, confidence and category mix), recent alerts; and the clerk's
review queue. Reads the execution-history database; works offline (every
asset is served from this package).
"""

from .factory import create_app

__all__ = ["create_app"]
