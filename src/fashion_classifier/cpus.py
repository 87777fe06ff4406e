"""How many CPUs this process may really use: the affinity mask and a cgroup CPU limit.

``os.cpu_count()`` is the host's count; a container started with ``--cpus 1`` on a
16-core host would otherwise start 17 gunicorn workers. The limit is the CFS quota:
``cpu.max`` (cgroup v2) or ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (v1), rounded up.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """min(affinity, cgroup quota), at least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """CPUs allowed by the cgroup (e.g. 1.5; the tightest limit found), None when unlimited."""
    limits = []
    for folder in _own_cgroup_folders(cgroup_root):
        quota, _, period = (_read(folder / "cpu.max") or "").partition(" ")
        limits.append(_ratio(quota, period or "100000"))
        v1_quota, v1_period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
        limits.append(_ratio(v1_quota or "", v1_period or ""))
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def _own_cgroup_folders(root: Path) -> list[Path]:
    """This process's cgroup first (as /proc/self/cgroup names it), then the mount's root,
    which is the container's own cgroup where the runtime mounts it so."""
    folders = []
    for line in (_read(Path("/proc/self/cgroup")) or "").splitlines():
        _, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if controllers == "":
            folders.append(root / relative)
        elif "cpu" in controllers.split(","):
            folders.append(root / "cpu" / relative)
    return [*folders, root, root / "cpu"]


def _ratio(quota: str, period: str) -> float | None:
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:  # "max": no limit
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
