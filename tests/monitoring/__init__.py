"""Tests of the monitoring scripts, the review queue and the dashboard (a package, so its conftest
and helpers never shadow the top-level ones)."""
