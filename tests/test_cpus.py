"""CPUs a process may use: affinity and a container's cgroup CPU quota (v1 and v2 layouts)."""

from __future__ import annotations

import os

from fashion_classifier.cpus import available_cpus, cgroup_cpu_quota


def fake_cgroup(root, files: dict[str, str]):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


def test_cgroup_v2_quota_rounds_up(tmp_path):
    root = fake_cgroup(tmp_path, {"cpu.max": "150000 100000"})
    assert cgroup_cpu_quota(root) == 1.5
    assert available_cpus(root) == min(2, len(os.sched_getaffinity(0)))


def test_cgroup_v1_quota_as_a_container_sees_it(tmp_path):
    root = fake_cgroup(tmp_path, {"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"})
    assert cgroup_cpu_quota(root) == 0.5
    assert available_cpus(root) == 1  # half a CPU still gets one worker


def test_unlimited_cgroups_leave_the_affinity(tmp_path):
    root = fake_cgroup(tmp_path, {"cpu.max": "max 100000", "cpu/cpu.cfs_quota_us": "-1",
                                  "cpu/cpu.cfs_period_us": "100000"})
    assert cgroup_cpu_quota(root) is None
    assert available_cpus(root) == len(os.sched_getaffinity(0))
    assert cgroup_cpu_quota(tmp_path / "no-cgroup-fs") is None


def test_garbage_in_the_cgroup_files_is_ignored(tmp_path):
    root = fake_cgroup(tmp_path, {"cpu.max": "lots", "cpu/cpu.cfs_quota_us": "0"})
    assert cgroup_cpu_quota(root) is None
