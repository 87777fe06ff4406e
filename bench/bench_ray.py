"""Ray engine benchmark: the batch on Ray Data next to the local engine, on one machine.

On the same images, in one run:
  1. the whole batch with the local engine (``--local``: in-process Predictor) and
     with ``--engine ray`` (a local Ray instance, 2 actors), each timed from
     process start to exit: the end-to-end overhead ratio of Ray on one machine;
  2. the Ray engine's classification stream alone, in this process on one Ray
     instance (``ray.init(num_cpus=2)``), with 1 and with 2 actors of one core
     each, on catalogue photos and on 12-MP phone JPEGs: the scaling from 1 to 2
     workers and the per-core throughput that docs/SCALING.md multiplies out;
  3. the Predictor alone on one thread (the per-core ceiling without Ray);
  4. the driver alone (journal, moves, reports; classification free): the most
     one nightly run can take, however large the cluster.
How busy the machine is without this benchmark (CPU used by others just before
and just after) goes into the report: other jobs slow every number.

    python bench/bench_ray.py [--quick] [--images N] [--phones N] [--out docs/benchmarks/ray.md]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bench_batch import phone_jpeg  # noqa: E402  (4000x3000 JPEGs with sensor-like noise)
from bench_batch import small_photos as photos  # noqa: E402  (evenly spread catalogue photos)
from httpbench import cpu_busy  # noqa: E402

from fashion_classifier.config import Config  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke mode: 150 + 12 photos, no markdown unless --out")
    p.add_argument("--images", type=int, default=2000, help="catalogue photos (default 2000)")
    p.add_argument("--phones", type=int, default=120, help="12-MP phone JPEGs (default 120)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="images per map_batches call (default: config)")
    p.add_argument("--out", type=Path, default=None,
                   help="markdown output (default docs/benchmarks/ray.md; none in --quick mode)")
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.phones = min(args.images, 150), min(args.phones, 12)
    elif args.out is None:
        args.out = ROOT / "docs" / "benchmarks" / "ray.md"
    return args


def machine_state() -> dict:
    """How busy the machine is without this benchmark: CPU share of others, load, other test runs."""
    pytest = subprocess.run(["pgrep", "-fc", "pytest"], capture_output=True, text=True).stdout.strip()
    return {"busy": cpu_busy(), "load": os.getloadavg(), "pytest": int(pytest or 0)}


# --- end to end: the CLI, local engine vs Ray engine -------------------------------------------
def batch_run(pool: Path, work: Path, name: str, extra: list[str], env: dict) -> dict:
    incoming, out = work / f"in_{name}", work / f"out_{name}"
    shutil.copytree(pool, incoming)
    count = sum(1 for _ in incoming.iterdir())
    command = [sys.executable, str(ROOT / "src" / "batch_processor.py"), "--input", str(incoming),
               "--output-root", str(out), "--min-age", "0", "--no-alerts", "--quiet", *extra]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"batch failed: {result.stderr[-3000:]}")
    summary = json.loads(next((out / "results" / "batch_results").glob("summary_*.json")).read_text())
    if summary["total_processed"] != count or any(incoming.rglob("*.jpg")):
        raise RuntimeError(f"batch processed {summary['total_processed']} of {count}")
    # category per photo content: which of two identical photos is the duplicate may differ between
    # runs of the local engine (its chunks are handed over as they finish), the category never does
    with open(next((out / "results" / "batch_results").glob("batch_results_*.csv")), encoding="utf-8-sig",
              newline="") as handle:
        categories = {row["content_hash"]: row["category"] for row in csv.DictReader(handle)
                      if row["status"] == "success"}
    return {"images": count, "wall": wall, "rate": count / wall, "path": summary["classifier_path"],
            "run_seconds": summary["processing_time_seconds"], "categories": categories}


# --- the Ray stream alone: 1 vs 2 actors ----------------------------------------------------------
def stream_seconds(config: Config, rows: list[dict], actors: int) -> float:
    """Wall time of one classification stream over ``rows`` (actors start, model loads, all batches)."""
    from fashion_classifier.batch.ray_engine import RayEngine

    engine = RayEngine(replace(config, ray_num_actors=actors, ray_cpus_per_actor=1.0))
    start = time.perf_counter()
    total = sum(len(group) for group in engine.stream(rows))
    seconds = time.perf_counter() - start
    engine.close()
    if total != len(rows):
        raise RuntimeError(f"stream returned {total} of {len(rows)}")
    return seconds


def stream_run(config: Config, rows: list[dict], actors: int) -> dict:
    """Steady throughput from two sizes: the fixed start-up cost cancels in the difference."""
    small = rows[:min(len(rows) // 4, 2 * actors * config.ray_batch_size)]
    t_small = stream_seconds(config, small, actors)
    t_full = stream_seconds(config, rows, actors)
    steady = (len(rows) - len(small)) / max(1e-9, t_full - t_small)
    return {"actors": actors, "seconds": t_full, "rate": len(rows) / t_full, "steady": steady,
            "startup": max(0.0, t_small - len(small) / steady), "small": len(small), "t_small": t_small}


def rows_of(pool: Path) -> list[dict]:
    return [{"id": i, "seq": i, "source_path": str(p), "rel_name": p.name, "size": p.stat().st_size}
            for i, p in enumerate(sorted(pool.iterdir()), start=1)]


def ray_streams(config: Config, pools: dict[str, Path]) -> tuple[float, dict[str, dict[int, dict]]]:
    """Ray start-up seconds, and per set the 1- and 2-actor stream results, on one Ray instance."""
    import ray

    previous = signal.getsignal(signal.SIGTERM)
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    startup = time.perf_counter() - start
    try:
        first = rows_of(next(iter(pools.values())))
        stream_seconds(config, first[:64], 2)  # workers' imports and the OS page cache, not measured
        results = {name: {n: stream_run(config, rows_of(pool), n) for n in (1, 2)}
                   for name, pool in pools.items()}
    finally:
        ray.shutdown()
        signal.signal(signal.SIGTERM, previous)
    return startup, results


class InstantEngine:
    """Classification for free (a fixed result per file): what is left is the driver's own work."""

    def __init__(self, batch: int):
        self.batch = batch

    def stream(self, rows):
        from fashion_classifier.batch.pipeline import FileOutcome

        result = {"status": "success", "category": "Tshirts", "confidence": 0.97, "model_version": "bench",
                  "all_predictions": {"Tshirts": 0.97, "Shirts": 0.03}}
        for start in range(0, len(rows), self.batch):
            yield [FileOutcome(row, f"{row['id']:064x}", result, "ray")
                   for row in rows[start:start + self.batch]]

    def describe(self) -> str:
        return "no classification (driver benchmark)"

    def close(self) -> None:
        pass


def driver_ceiling(config: Config, pool: Path, work: Path) -> dict:
    """The driver alone: scan, journal, moves, CSV/XLSX/JSON/HTML and history, classification free.

    Every engine funnels its results through this single process, so this is
    the most images per second one nightly run (one journal) can take.
    """
    from fashion_classifier.batch import runner

    incoming, out = work / "in_driver", work / "out_driver"
    shutil.copytree(pool, incoming)
    original = runner.engine_factory
    runner.engine_factory = lambda cfg: (lambda: InstantEngine(cfg.ray_batch_size))
    try:
        start = time.perf_counter()
        outcome = runner.run_batch(config, runner.BatchOptions(
            input_dir=incoming, output_root=out, min_age=0, alerts=False, show_progress=False))
        seconds = time.perf_counter() - start
    finally:
        runner.engine_factory = original
    processed = outcome.runs[0].summary["total_processed"] if outcome.runs else 0
    if outcome.exit_code != 0 or processed != len(list(pool.iterdir())):
        raise RuntimeError(f"driver benchmark failed: {outcome.message}")
    return {"images": processed, "seconds": seconds, "rate": processed / seconds}


def predictor_per_core(config: Config, pool: Path, chunk: int) -> float:
    from fashion_classifier.model import Predictor

    predictor = Predictor.from_config(replace(config, inference_threads=1))
    data = [p.read_bytes() for p in sorted(pool.iterdir())]
    predictor.predict_many(data[:chunk])
    start = time.perf_counter()
    for i in range(0, len(data), chunk):
        predictor.predict_many(data[i:i + chunk])
    return len(data) / (time.perf_counter() - start)


# --- report -------------------------------------------------------------------------------------
def busy_text(before: dict, after: dict) -> str:
    """The machine's state just before and just after the measurements, as one sentence."""
    others = max(before["busy"], after["busy"])
    verdict = ("**busy**: other jobs were using the CPU, so every number here is lower than on an idle "
               "machine" if others > 0.15 else "**idle** apart from this benchmark")
    return (f"other processes used {before['busy']:.0%} of the {os.cpu_count()} cores just before and "
            f"{after['busy']:.0%} just after the measurements (load average {before['load'][0]:.2f} before; "
            f"{before['pytest']} other pytest processes running): {verdict}")


def report(args, config: Config, e2e: dict, startup: float, streams: dict, per_core: dict, driver: dict,
           sizes: dict, before: dict, after: dict, same: bool) -> str:
    local, ray = e2e["local"], e2e["ray"]
    sets = ", ".join(f"{name} ({n} photos, {sizes[name] / 1024:,.1f} KiB each on average)"
                     for name, n in (("catalogue", args.images), ("phone", args.phones)))
    lines = [
        "# Ray engine benchmark", "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M UTC} on {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}; "
        f"sets: {sets}.", "",
        f"Machine state: {busy_text(before, after)}.", "",
        "Command: `python bench/bench_ray.py" + (" --quick" if args.quick else "")
        + f" --images {args.images} --phones {args.phones}`", "",
        "## Local engine vs Ray engine, end to end (one machine)", "",
        "Process start to exit of `src/batch_processor.py` on the catalogue set: scan, classify, move with "
        "the journal, CSV + XLSX + JSON + HTML, history. Ray's time includes starting and stopping the "
        "local Ray instance and its actors (each loads the model once).", "",
        "| engine | images | wall s | img/s | time vs local |",
        "|---|---:|---:|---:|---:|",
        f"| local (`--local`, Predictor on {os.cpu_count()} threads) | {local['images']} "
        f"| {local['wall']:.2f} | {local['rate']:.0f} | 1.00x |",
        f"| ray (`--engine ray --ray-actors 2`) | {ray['images']} | {ray['wall']:.2f} | {ray['rate']:.0f} "
        f"| {ray['wall'] / local['wall']:.2f}x |",
        "",
        f"Overhead ratio (Ray wall / local wall): **{ray['wall'] / local['wall']:.2f}x**; inside the run "
        f"(after process start-up): local {local['run_seconds']:.2f} s, Ray {ray['run_seconds']:.2f} s. "
        f"Same category for every photo in both runs: **{'yes' if same else 'NO'}**.", "",
        "## Scaling from 1 to 2 Ray workers", "",
        f"The classification stream alone (read + classify, results back to the driver; no moves), on one "
        f"Ray instance (`ray.init(num_cpus=2)`, started in {startup:.1f} s), one core and one "
        f"LiteRT thread per actor, batches of {config.ray_batch_size}. Each stream runs on all images and "
        "on a small prefix; *steady* = the extra images / the extra seconds, so the fixed start-up "
        "(actors start, each loads the model) cancels out, and *start-up* is what remains. *Predictor, "
        "1 thread* is the same photos through the Predictor in one process without Ray: the per-core "
        "ceiling.", "",
        "| set | actors | total s | img/s overall | start-up s | img/s steady | per actor | 1 -> 2 "
        "| Predictor, 1 thread | actor vs it |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, by_actors in streams.items():
        one = by_actors[1]
        for r in by_actors.values():
            speedup = f"{r['steady'] / one['steady']:.2f}x" if r["actors"] > 1 else ""
            lines.append(f"| {name} | {r['actors']} | {r['seconds']:.2f} | {r['rate']:.0f} "
                         f"| {r['startup']:.1f} | {r['steady']:.0f} | {r['steady'] / r['actors']:.0f} "
                         f"| {speedup} "
                         f"| {per_core[name]:.0f} | {r['steady'] / r['actors'] / per_core[name]:.0%} |")
    lines += [
        "",
        "## The driver alone", "",
        "Every engine funnels its results through one process per run (journal, moves, reports). With "
        f"classification made free, that process handled **{driver['rate']:.0f} img/s** "
        f"({driver['images']} catalogue photos in {driver['seconds']:.2f} s: scan, journal, moves with "
        "fsync, CSV + XLSX + JSON + HTML, history): the ceiling of one nightly run (one journal), "
        "whatever the cluster.", "",
        "These per-core and per-driver numbers are the inputs of the multi-machine estimate in "
        "docs/SCALING.md.",
    ]
    return "\n".join(lines) + "\n"


def make_sets(config: Config, work: Path, images: int, phones: int) -> dict[str, Path]:
    pools = {"catalogue": work / "pool", "phone": work / "phones"}
    for folder in pools.values():
        folder.mkdir()
    for path in photos(config, images):
        shutil.copyfile(path, pools["catalogue"] / path.name)
    for i, path in enumerate(photos(config, phones * 7 + 1)[1::7][:phones]):
        (pools["phone"] / f"phone_{i:03d}.jpg").write_bytes(phone_jpeg(path, i))
    return pools


def main(argv=None) -> int:
    args = parse_args(argv)
    config = Config.from_env()
    if args.batch_size:
        config = replace(config, ray_batch_size=args.batch_size)
    work = Path(tempfile.mkdtemp(prefix="bench-ray-", dir="/tmp"))
    try:
        pools = make_sets(config, work, args.images, args.phones)
        sizes = {name: sum(p.stat().st_size for p in pool.iterdir()) / max(1, len(list(pool.iterdir())))
                 for name, pool in pools.items()}
        before = machine_state()
        print(f"machine before: {before}", file=sys.stderr)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FASHION_")}
        env["RAY_TMPDIR"] = str(work)
        if args.batch_size:
            env["FASHION_RAY_BATCH_SIZE"] = str(args.batch_size)
        pool = pools["catalogue"]
        e2e = {"local": batch_run(pool, work, "local", ["--local"], env),
               "ray": batch_run(pool, work, "ray", ["--engine", "ray", "--ray-actors", "2"], env)}
        same = e2e["local"]["categories"] == e2e["ray"]["categories"]
        print(f"end to end: local {e2e['local']['wall']:.2f} s, ray {e2e['ray']['wall']:.2f} s "
              f"({e2e['ray']['wall'] / e2e['local']['wall']:.2f}x); same categories: {same}", file=sys.stderr)
        startup, streams = ray_streams(config, pools)
        for name, r in streams.items():
            print(f"ray stream, {name}: 1 actor {r[1]['steady']:.0f} img/s steady, 2 actors "
                  f"{r[2]['steady']:.0f} img/s ({r[2]['steady'] / r[1]['steady']:.2f}x)", file=sys.stderr)
        per_core = {name: predictor_per_core(config, p, config.ray_batch_size) for name, p in pools.items()}
        driver = driver_ceiling(config, pool, work)
        print(f"driver alone: {driver['rate']:.0f} img/s", file=sys.stderr)
        after = machine_state()
        text = report(args, config, e2e, startup, streams, per_core, driver, sizes, before, after, same)
        print(text)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text, encoding="utf-8")
            print(f"wrote {args.out}", file=sys.stderr)
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
