"""``--engine ray`` on a real local Ray instance: the same inputs as the local engine, the same results.

One input folder is copied twice; the local engine (``--local``) processes one
copy and the Ray engine (2 actors, small batches) the other, each into its own
output root. Per file, categories, confidences, tiers, hashes and placement
must agree, and so must the CSV rows, the JSON summary and the HTML report
(run ids, timings and the classifier path aside).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from batch_support import (
    FAILED,
    PROCESSED,
    RESULTS,
    bad_inputs,
    batch_command,
    check_exactly_once,
    clean_env,
    copy_photos,
    csv_rows,
    dataset_photos,
    db_rows,
    phone_photo,
    placed_files,
    png_bytes,
    run_batch,
    sha256,
    start_batch,
    wait_for_line,
    write_file,
)
from PIL import Image

from fashion_classifier.batch.runner import BatchOptions, effective_config, engine_factory

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(300)
RUN_ID = re.compile(r"\d{8}_\d{6}")
TOLERANCE = 1e-5  # float tolerance between the engines' probabilities
# the default engine through the real CLI, reporting whether anything imported Ray
LOCAL_WRAPPER = ("import sys; from fashion_classifier.batch.cli import main; code = main(sys.argv[1:]); "
                 "print('RAY_IMPORTED=' + str('ray' in sys.modules)); sys.exit(code)")


def _inputs(incoming: Path) -> dict[str, str]:
    """Photos (top level and dated subfolders), a duplicate, bad files and name collisions."""
    inputs = copy_photos(incoming, 20) | copy_photos(incoming, 6, offset=40, subfolder="20261124")
    first = sorted(incoming.glob("*.jpg"))[0]
    inputs |= write_file(incoming, "20261125/same_photo_again.jpg", first.read_bytes())  # duplicate
    # the same name in two folders: the second must become name_2 in both engines
    rotated = Image.open(first).convert("RGB").rotate(90, expand=True)
    inputs |= write_file(incoming, f"20261125/{first.name}", png_bytes(rotated))
    inputs |= bad_inputs(incoming)
    inputs |= write_file(incoming, "20261125/truncated.jpg", first.read_bytes()[:500])  # collides in failed/
    inputs |= write_file(incoming, "phone.jpg", phone_photo(dataset_photos(1, offset=70)[0], (1600, 1200)))
    return inputs


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    base = tmp_path_factory.mktemp("engines")
    inputs = _inputs(base / "in_local")
    shutil.copytree(base / "in_local", base / "in_ray")
    local = subprocess.run(
        [sys.executable, "-c", LOCAL_WRAPPER] + batch_command(base / "in_local", base / "local")[2:]
        + ["--local", "--no-alerts", "-q"], cwd=ROOT, env=clean_env(), capture_output=True, text=True,
        timeout=120)
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    try:
        ray = run_batch(base / "in_ray", base / "ray", "--engine", "ray", "--ray-actors", "2", "--no-alerts",
                        "-q", env=clean_env(FASHION_RAY_BATCH_SIZE="8", RAY_TMPDIR=ray_tmp), timeout=180)
        leftovers = _processes_using(ray_tmp)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    return {"base": base, "inputs": inputs, "local": local, "ray": ray, "ray_leftovers": leftovers}


def _processes_using(marker: str) -> list[str]:
    """Live processes whose command line names ``marker`` (Ray's session folder).

    That finds the GCS server, the raylet and the workers. Ray's per-node agents
    rename themselves (``ray::DashboardAgent``) and leave on their own within a
    minute of their raylet's exit, so they are not looked for.
    """
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (cmdline.parent / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        if marker in text and state != "Z":
            found.append(text)
    return found


def _journal(out: Path) -> dict[str, dict]:
    return {r["rel_name"]: r for r in db_rows(out, "SELECT * FROM batch_files ORDER BY seq")}


def test_both_engines_complete_and_ray_stays_out_of_the_default_engine(engines):
    local, ray = engines["local"], engines["ray"]
    assert local.returncode == 0, local.stderr
    assert ray.returncode == 0, ray.stderr
    assert "RAY_IMPORTED=False" in local.stdout, local.stdout  # the default engine never imports ray
    assert "via local" in local.stdout and "via ray" in ray.stdout, (local.stdout, ray.stdout)
    assert engines["ray_leftovers"] == [], "the local Ray instance was not shut down"
    # the Ray run passes the same exactly-once inventory as every local run
    rows = check_exactly_once(engines["inputs"], engines["base"] / "in_ray", engines["base"] / "ray")
    assert len(rows) == len(engines["inputs"]) == 33


def test_same_result_for_every_file(engines):
    local, ray = _journal(engines["base"] / "local"), _journal(engines["base"] / "ray")
    assert set(local) == set(ray) == set(engines["inputs"])
    for name, want in local.items():
        got = ray[name]
        for column in ("status", "category", "tier", "top2_category", "error_code", "error", "content_hash",
                       "model_version", "state", "move_method", "duplicate_of_name"):
            if column == "duplicate_of_name":  # ids differ between databases: compare by file
                want_of = _name_of(local, want["duplicate_of"])
                assert _name_of(ray, got["duplicate_of"]) == want_of, name
                continue
            assert _no_run(got[column]) == _no_run(want[column]), (name, column, got[column], want[column])
        if want["status"] == "success":
            assert math.isclose(got["confidence"], want["confidence"], abs_tol=TOLERANCE), name
            want_all, got_all = json.loads(want["all_predictions"]), json.loads(got["all_predictions"])
            assert want_all.keys() == got_all.keys()
            assert all(math.isclose(got_all[k], v, abs_tol=TOLERANCE) for k, v in want_all.items()), name
        assert want["classified_by"] in ("local", "batch")
        assert got["classified_by"] == ("ray" if want["classified_by"] == "local" else "batch"), name
    statuses = {r["status"] for r in local.values()}
    assert statuses == {"success", "error", "duplicate"}, statuses  # the inputs exercise every outcome


def _no_run(value):
    """Run ids (start times) differ between the two runs; a duplicate's error names the earlier one."""
    return RUN_ID.sub("RUN", value) if isinstance(value, str) else value


def _name_of(journal: dict[str, dict], row_id) -> str | None:
    return next((name for name, row in journal.items() if row["id"] == row_id), None) if row_id else None


def test_same_placement(engines):
    def layout(out: Path) -> dict[str, str]:
        return {p.relative_to(out).as_posix(): sha256(p.read_bytes()) for p in placed_files(out)}

    local, ray = layout(engines["base"] / "local"), layout(engines["base"] / "ray")
    assert ray == local
    assert (FAILED / "truncated_2.jpg").as_posix() in local  # the collision rule, in scan order
    assert sum(n.startswith(PROCESSED.as_posix()) for n in local) == 28


def test_same_csv_rows(engines):
    def rows(out: Path) -> list[dict]:
        found = csv_rows(out)
        assert len({r["_file"] for r in found}) == 1
        return [{k: _no_run(v) for k, v in r.items() if k not in ("timestamp", "_file")} for r in found]

    local, ray = rows(engines["base"] / "local"), rows(engines["base"] / "ray")
    assert [r["filename"] for r in ray] == [r["filename"] for r in local]
    for want, got in zip(local, ray, strict=True):
        assert math.isclose(float(got.pop("confidence")), float(want.pop("confidence")), abs_tol=1e-4)
        assert got == want


def test_same_summary_and_report(engines):
    def summary(out: Path) -> dict:
        [path] = (out / RESULTS).glob("summary_*.json")
        data = json.loads(_no_run(path.read_text()))
        volatile = ("timestamp", "run_id", "started_at", "processing_time_seconds", "throughput",
                    "outputs", "classifier_path")
        return {k: v for k, v in data.items() if k not in volatile} | {"_path": data["classifier_path"]}

    local, ray = summary(engines["base"] / "local"), summary(engines["base"] / "ray")
    assert (local.pop("_path"), ray.pop("_path")) == ("local", "ray")
    assert math.isclose(ray.pop("average_confidence"), local.pop("average_confidence"), abs_tol=1e-4)
    assert ray == local
    assert local["duplicates"] == 1 and local["failed"] == 5

    def report(out: Path) -> str:
        [path] = (out / RESULTS).glob("batch_report_*.html")
        text = _no_run(path.read_text(encoding="utf-8"))
        text = re.sub(r"classified via \w+", "classified via ENGINE", text)
        return re.sub(r'(<div class="card">(Time|Throughput)<b>)[^<]*', r"\1…", text)

    local_html, ray_html = report(engines["base"] / "local"), report(engines["base"] / "ray")
    assert "Pick lists" in ray_html and "truncated_2.jpg" in ray_html
    assert ray_html == local_html


def test_dry_run_on_ray_previews_what_the_local_engine_did(engines, tmp_path):
    """``--dry-run --engine ray`` predicts the local run's destinations, moving nothing."""
    incoming = tmp_path / "in"
    made = copy_photos(incoming, 20) | bad_inputs(incoming)  # the same files as the engines' inputs
    before = {p.name: p.read_bytes() for p in incoming.rglob("*") if p.is_file()}
    local_out = engines["base"] / "local"
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    try:
        result = run_batch(incoming, tmp_path / "out", "--dry-run", "--engine", "ray", "--ray-actors", "1",
                           env=clean_env(RAY_TMPDIR=ray_tmp), timeout=120)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    assert {p.name: p.read_bytes() for p in incoming.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "out" / "logs").exists()  # nothing recorded
    assert "Classified via ray" in result.stdout
    local = {r["filename"]: r for r in csv_rows(local_out)}
    for name in made:
        line = next(line for line in result.stdout.splitlines() if line.startswith(f"  {name}: "))
        if local[name]["status"] == "success":
            assert f" {local[name]['category']} " in line, line
        else:
            assert "error [" in line and str(FAILED) in line, line


def test_sigterm_mid_run_is_recorded_and_the_local_engine_finishes_the_run(tmp_path):
    """Ray's own SIGTERM handler (a bare exit) must not replace the batch's: exit 143, resumable."""
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 400, offset=3)
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    try:
        process = start_batch(incoming, out, "--engine", "ray", "--ray-actors", "1", "--no-alerts",
                              env=clean_env(FASHION_RAY_BATCH_SIZE="4", RAY_TMPDIR=ray_tmp))
        try:
            wait_for_line(process, "classify + move", timeout=120)  # Ray is up, results are arriving
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 143
        finally:
            if process.poll() is None:
                process.kill()
        assert _processes_using(ray_tmp) == [], "the local Ray instance was not shut down"
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    [run] = db_rows(out, "SELECT * FROM batch_runs")
    assert run["status"] == "failed" and "Terminated: SIGTERM" in run["error_message"], run
    done = db_rows(out, "SELECT COUNT(*) AS n FROM batch_files WHERE state = 'done'")[0]["n"]
    assert 0 < done < len(inputs)  # stopped mid-run
    result = run_batch(incoming, out, "--local", "--no-alerts", "-q")  # the other engine finishes it
    assert result.returncode == 0, result.stderr
    check_exactly_once(inputs, incoming, out)
    [run] = db_rows(out, "SELECT * FROM batch_runs")
    assert run["status"] == "success" and run["classifier_path"] == "local+ray"
    assert run["total_images"] == len(inputs)


# --- the engine in this process, next to the local engine's own chunk code -----------------
@pytest.fixture(scope="module")
def ray_instance():
    import ray

    previous = signal.getsignal(signal.SIGTERM)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        signal.signal(signal.SIGTERM, previous)


def test_engine_outcomes_match_the_local_chunk_code(ray_instance, tmp_config, tmp_path):
    from fashion_classifier.batch.classify import Classifier
    from fashion_classifier.batch.local import LocalClassifier
    from fashion_classifier.batch.pipeline import VANISHED, classify_chunk
    from fashion_classifier.batch.ray_engine import RayEngine

    folder = tmp_path / "files"
    copy_photos(folder, 6)
    bad_inputs(folder)
    write_file(folder, "huge.jpg", os.urandom(tmp_config.max_upload_bytes + 1))
    paths = sorted(p for p in folder.iterdir()) + [folder / "vanished.jpg"]  # listed, then gone
    rows = [{"id": i, "seq": i, "source_path": str(p), "rel_name": p.name, "size": 1} for i, p in
            enumerate(paths, start=1)]
    config = tmp_config.with_overrides(batch_engine="ray", ray_num_actors=2, ray_batch_size=3)
    engine = RayEngine(config)
    groups = list(engine.stream(rows))
    engine.close()
    assert ray_instance.is_initialized(), "the engine shut down a Ray it did not start"
    assert len(groups) == 4  # 11 files in batches of 3, streamed back as they finish
    got = [outcome for group in groups for outcome in group]
    want = classify_chunk(rows, Classifier(None, LocalClassifier(config), fallback=True),
                          config.max_upload_bytes)
    assert [o.row["id"] for o in got] == [r["id"] for r in rows]  # scan order
    codes = {}
    for g, w in zip(got, want, strict=True):
        assert g.row is rows[g.row["id"] - 1]  # the caller's journal row, for the shared code
        assert g.content_hash == w.content_hash
        assert {k: v for k, v in g.result.items() if k not in ("confidence", "all_predictions", "top3")} \
            == {k: v for k, v in w.result.items() if k not in ("confidence", "all_predictions", "top3")}
        if w.result["status"] == "success":
            assert math.isclose(g.result["confidence"], w.result["confidence"], abs_tol=TOLERANCE)
        # read errors are the batch's own ("batch") in both; whatever reached a Predictor says where
        if g.row["rel_name"] == "huge.jpg":  # over the upload limit: the local engine's reduction
            # (shrink.py) finds it no photo before any classifier; Ray's Predictor reads it whole
            assert (w.classified_by, g.classified_by) == ("batch", "ray")
        else:
            assert g.classified_by == {"local": "ray"}.get(w.classified_by, w.classified_by)
        codes[g.row["rel_name"]] = g.result.get("code") or g.result["status"]
    assert codes["vanished.jpg"] == "file_missing" and got[-1].result["status"] == VANISHED
    # 11 MB of noise: not a photo, whatever its size (big photos are reduced, never refused)
    assert codes["huge.jpg"] == "unsupported_format" and codes["empty.jpg"] == "empty_file"
    assert codes["not_an_image.jpg"] == "unsupported_format"
    assert list(codes.values()).count("success") == 6


def test_engine_choice_and_settings():
    options = BatchOptions(engine="ray", ray_address="ray://head:10001", ray_actors=3)
    from fashion_classifier.config import Config

    config = effective_config(Config(), options)
    assert (config.batch_engine, config.ray_address, config.ray_num_actors) == ("ray", "ray://head:10001", 3)
    assert engine_factory(effective_config(Config(), BatchOptions())) is None  # default: local, no Ray
    assert callable(engine_factory(config))
    with pytest.raises(ValueError, match="unknown batch engine"):
        engine_factory(Config(batch_engine="spark"))
    env_config = Config.from_env({"FASHION_BATCH_ENGINE": "ray", "FASHION_RAY_ADDRESS": "auto",
                                  "FASHION_RAY_NUM_ACTORS": "4", "FASHION_RAY_BATCH_SIZE": "16"})
    assert (env_config.batch_engine, env_config.ray_address, env_config.ray_num_actors,
            env_config.ray_batch_size) == ("ray", "auto", 4, 16)


def test_actor_count_and_batch_size():
    from fashion_classifier.batch.ray_engine import actor_count, actor_threads, batch_size_for
    from fashion_classifier.config import Config

    assert actor_count(Config(), cluster_cpus=16) == 16  # one actor per CPU of the cluster
    assert actor_count(Config(ray_cpus_per_actor=2), cluster_cpus=16) == 8
    assert actor_count(Config(ray_num_actors=3), cluster_cpus=16) == 3
    assert actor_count(Config(), cluster_cpus=0.5) == 1
    assert actor_threads(Config(ray_cpus_per_actor=2)) == 2
    assert actor_threads(Config(inference_threads=3)) == 3
    assert batch_size_for(1000, Config(), actors=4) == 48
    assert batch_size_for(10, Config(), actors=2) == 5  # small runs still reach every actor
    assert batch_size_for(1, Config(), actors=8) == 1
    # like the local engine's chunks, a batch holds about batch_chunk_bytes: ten 2.4 MB phone photos
    assert batch_size_for(1000, Config(), actors=2, total_bytes=1000 * 2_400_000) == 10
    assert batch_size_for(1000, Config(), actors=2, total_bytes=1000 * 50_000_000) == 1
