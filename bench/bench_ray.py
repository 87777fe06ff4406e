"""Ray engine benchmark: the batch on Ray Data next to the local engine, on one machine.

On the same images, in one run:
  1. the whole batch with the local engine (``--local``: in-process Predictor) and
     with ``--engine ray`` (a local Ray instance, 2 actors), each timed from
     process start to exit: the end-to-end overhead ratio of Ray on one machine;
  2. the Ray engine's classification stream alone, in this process on one Ray
     instance (``ray.init(num_cpus=2)``), with 1 and with 2 actors of one core
     each: the scaling from 1 to 2 workers and the per-core throughput that
     docs/SCALING.md multiplies out;
  3. the Predictor alone on one thread (the per-core ceiling without Ray).
The machine's load average is recorded before and after: other jobs on the
machine (tests of other work) slow every number and are said in the report.

    python bench/bench_ray.py [--quick] [--images N] [--out docs/benchmarks/ray.md]
"""

from __future__ import annotations

import argparse
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

from fashion_classifier.config import Config  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke mode: 150 images, no markdown unless --out")
    p.add_argument("--images", type=int, default=2000, help="catalogue photos (default 2000)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="images per map_batches call (default: config)")
    p.add_argument("--out", type=Path, default=None,
                   help="markdown output (default docs/benchmarks/ray.md; none in --quick mode)")
    args = p.parse_args(argv)
    if args.quick:
        args.images = min(args.images, 150)
    elif args.out is None:
        args.out = ROOT / "docs" / "benchmarks" / "ray.md"
    return args


def photos(config: Config, count: int) -> list[Path]:
    folder = config.path("dataset_dir") / "images"
    names = sorted(os.listdir(folder))
    step = max(1, len(names) // count)
    return [folder / names[i * step] for i in range(count)]


def cpu_busy(seconds: float = 3.0) -> float:
    """Share of all cores busy over ``seconds`` (from /proc/stat), while this benchmark waits."""
    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values) - idle, sum(values)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(1, total1 - total0)


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
    categories = {}
    for folder in (out / "data" / "processed_batches").iterdir():
        for path in folder.iterdir():
            categories[path.name] = folder.name
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


def ray_streams(config: Config, pool: Path) -> dict[int, dict]:
    import ray

    rows = [{"id": i, "seq": i, "source_path": str(p), "rel_name": p.name, "size": p.stat().st_size}
            for i, p in enumerate(sorted(pool.iterdir()), start=1)]
    previous = signal.getsignal(signal.SIGTERM)
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    startup = time.perf_counter() - start
    try:
        stream_seconds(config, rows[:64], 2)  # workers' imports and the OS page cache, not measured
        results = {n: stream_run(config, rows, n) for n in (1, 2)}
    finally:
        ray.shutdown()
        signal.signal(signal.SIGTERM, previous)
    results[0] = {"startup": startup}
    return results


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


def report(args, config: Config, e2e: dict, streams: dict, per_core: float, before, after,
           same: bool) -> str:
    local, ray = e2e["local"], e2e["ray"]
    one, two = streams[1], streams[2]
    lines = [
        "# Ray engine benchmark", "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M UTC} on {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}, "
        f"{args.images} catalogue photos; {busy_text(before, after)}.", "",
        "Command: `python bench/bench_ray.py" + (" --quick" if args.quick else "")
        + f" --images {args.images}`", "",
        "## Local engine vs Ray engine, end to end (one machine)", "",
        "Process start to exit of `src/batch_processor.py`: scan, classify, move with the journal, "
        "CSV + XLSX + JSON + HTML, history. Ray's time includes starting and stopping the local Ray "
        "instance and its actors (each loads the model once).", "",
        "| engine | images | wall s | img/s | vs local |",
        "|---|---:|---:|---:|---:|",
        f"| local (`--local`, Predictor on {os.cpu_count()} threads) | {local['images']} "
        f"| {local['wall']:.2f} | {local['rate']:.0f} | 1.00x |",
        f"| ray (`--engine ray --ray-actors 2`) | {ray['images']} | {ray['wall']:.2f} | {ray['rate']:.0f} "
        f"| {ray['wall'] / local['wall']:.2f}x time |",
        "",
        f"Overhead ratio (Ray wall / local wall): **{ray['wall'] / local['wall']:.2f}x**; inside the run "
        f"(after process start-up): local {local['run_seconds']:.2f} s, Ray {ray['run_seconds']:.2f} s. "
        f"Same category for every file in both runs: **{'yes' if same else 'NO'}**.", "",
        "## Scaling from 1 to 2 Ray workers", "",
        f"The classification stream alone (read + classify, results back to the driver; no moves), on one "
        f"Ray instance (`ray.init(num_cpus=2)`, started in {streams[0]['startup']:.1f} s), one core and one "
        f"LiteRT thread per actor, batches of {config.ray_batch_size}. Each stream runs on all images and "
        "on a small prefix; *steady* = the extra images / the extra seconds, so the fixed start-up "
        "(actors start, each loads the model) cancels out, and *start-up* is what remains.", "",
        "| actors | images | total s | img/s overall | start-up s | img/s steady | img/s per actor |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in (one, two):
        lines.append(f"| {r['actors']} | {args.images} | {r['seconds']:.2f} | {r['rate']:.0f} "
                     f"| {r['startup']:.1f} | {r['steady']:.0f} | {r['steady'] / r['actors']:.0f} |")
    lines += [
        "",
        f"Scaling 1 -> 2 actors: **{two['steady'] / one['steady']:.2f}x** steady "
        f"({two['rate'] / one['rate']:.2f}x overall; ideal 2.00x). The Predictor alone on one thread, "
        f"no Ray: **{per_core:.0f} img/s per core**; one Ray actor reaches "
        f"{one['steady'] / per_core:.0%} of it.", "",
        "These per-core numbers are the input of the multi-machine estimate in docs/SCALING.md.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    config = Config.from_env()
    if args.batch_size:
        config = replace(config, ray_batch_size=args.batch_size)
    before = machine_state()
    print(f"machine before: {before}", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="bench-ray-", dir="/tmp"))
    try:
        pool = work / "pool"
        pool.mkdir()
        for path in photos(config, args.images):
            shutil.copyfile(path, pool / path.name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FASHION_")}
        env["RAY_TMPDIR"] = str(work)
        if args.batch_size:
            env["FASHION_RAY_BATCH_SIZE"] = str(args.batch_size)
        e2e = {"local": batch_run(pool, work, "local", ["--local"], env),
               "ray": batch_run(pool, work, "ray", ["--engine", "ray", "--ray-actors", "2"], env)}
        same = e2e["local"]["categories"] == e2e["ray"]["categories"]
        print(f"end to end: local {e2e['local']['wall']:.2f} s, ray {e2e['ray']['wall']:.2f} s "
              f"({e2e['ray']['wall'] / e2e['local']['wall']:.2f}x); same categories: {same}", file=sys.stderr)
        streams = ray_streams(config, pool)
        print(f"ray stream: 1 actor {streams[1]['steady']:.0f} img/s steady, 2 actors "
              f"{streams[2]['steady']:.0f} img/s ({streams[2]['steady'] / streams[1]['steady']:.2f}x)",
              file=sys.stderr)
        per_core = predictor_per_core(config, pool, config.ray_batch_size)
        after = machine_state()
        text = report(args, config, e2e, streams, per_core, before, after, same)
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
