"""Alert rules of the monitoring checks (spec 3.2.3), built like the batch's (``rules.py``).

| condition                                   | severity | channels      |
| API health check failed N times in a row    | CRITICAL | email + Slack |
| the API answers but its model is not loaded | CRITICAL | email + Slack |
| the API is back after such an alert         | INFO     | email + Slack |
| free disk space below the limit             | WARNING  | email         |

"No batch run in 36 hours" is ``rules.no_recent_run_alert``.
"""

from __future__ import annotations

from .model import Alert

BOTH = ("email", "slack")


def api_unhealthy_alert(url: str, failures: int, since: str, reason: str, model_missing: bool) -> Alert:
    details = (("URL", url), ("Consecutive failed checks", str(failures)), ("Failing since", since),
               ("Last error", reason))
    if model_missing:
        return Alert("CRITICAL", "Model Not Loaded",
                     f"The Fashion Classification API at {url} answers, but its model is not loaded.",
                     source="monitoring", details=details,
                     actions=("Read the API log for the model load error", "Check the model files",
                              "Restart the API"))
    return Alert("CRITICAL", "API Down",
                 "Fashion Classification API is not responding. Please check the service immediately.",
                 source="monitoring", details=details,
                 actions=("Check the API service (systemctl status / docker ps)", "Restart it if needed"))


def api_recovered_alert(url: str, failures: int, since: str, latency: float) -> Alert:
    """Sent once, to everyone who heard about the outage."""
    return Alert("INFO", "API Recovered",
                 f"✓ The Fashion Classification API at {url} is healthy again.",
                 source="monitoring", channels=BOTH,
                 details=(("Failing since", since), ("Failed checks", str(failures)),
                          ("Response time now", f"{latency:.3f}s")))


def disk_space_alert(path: str, free_gb: float, limit_gb: float) -> Alert:
    return Alert("WARNING", "Disk Space Low",
                 f"Only {free_gb:.1f} GB free on the disk holding {path} (limit: {limit_gb:g} GB).",
                 source="monitoring", channels=("email",),
                 actions=("Archive or delete old results and logs", "Check data/processed_batches"))
