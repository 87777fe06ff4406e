"""Nightly-batch benchmark: end to end against the Predictor's own throughput, side by side.

On the same images, in one run:
  1. the Predictor in-process (``predict_many`` on chunks of the photos' bytes): the ceiling;
  2. the whole batch through the API (real gunicorn on loopback): scan, classify,
     move, journal, CSV/XLSX/JSON/HTML, history; timed from process start to exit;
  3. the whole batch with ``--local`` (in-process Predictor, no API).
Two sets: small catalogue photos, and a mix with 12-MP phone-size JPEGs.
Ratios are taken between numbers of this same run; the reference system's
29.4 images/minute (spec 6.8.1) is shown for scale. Writes a markdown table.

    python bench/bench_batch.py [--quick] [--small N] [--phones N] [--out docs/benchmarks/batch.md]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from httpbench import free_port  # noqa: E402

from fashion_classifier.config import Config  # noqa: E402
from fashion_classifier.model import Predictor  # noqa: E402

REFERENCE_PER_MINUTE = 29.4
BATCH_KEY = "bench-batch-key"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke mode: tiny sets, no markdown unless --out")
    p.add_argument("--small", type=int, default=1000, help="small catalogue photos per set (default 1000)")
    p.add_argument("--phones", type=int, default=30, help="12-MP JPEGs in the mixed set (default 30)")
    p.add_argument("--repeat", type=int, default=2,
                   help="runs of each batch mode; the fastest counts, like the Predictor's (default 2)")
    p.add_argument("--concurrency", type=int, default=None, help="batch requests in flight (default: config)")
    p.add_argument("--chunk-size", type=int, default=None, help="images per request (default: config)")
    p.add_argument("--api-inference-threads", type=int, default=None, metavar="N",
                   help="FASHION_INFERENCE_THREADS for the API server only (default: its config)")
    p.add_argument("--out", type=Path, default=None,
                   help="markdown output (default docs/benchmarks/batch.md; none in --quick mode)")
    args = p.parse_args(argv)
    if args.quick:
        args.small, args.phones, args.repeat = min(args.small, 120), min(args.phones, 3), 1
    elif args.out is None:
        args.out = ROOT / "docs" / "benchmarks" / "batch.md"
    return args


# --- image sets ----------------------------------------------------------------------
def small_photos(config: Config, count: int) -> list[Path]:
    folder = config.path("dataset_dir") / "images"
    names = sorted(os.listdir(folder))
    step = max(1, len(names) // count)
    return [folder / names[i * step] for i in range(count)]


def phone_jpeg(source: Path, seed: int) -> bytes:
    """4000x3000 JPEG with sensor-like noise, so size and decode cost are phone-like (2-4 MB)."""
    image = Image.open(source).convert("RGB").resize((4000, 3000), Image.Resampling.BILINEAR)
    noise = np.random.default_rng(seed).integers(-12, 13, (3000, 4000, 3), dtype=np.int16)
    pixels = np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def build_sets(config: Config, work: Path, small: int, phones: int) -> dict[str, Path]:
    sets = {"small photos": work / "set_small", "mixed with 12-MP": work / "set_mixed"}
    for folder in sets.values():
        folder.mkdir(parents=True)
    for path in small_photos(config, small):
        shutil.copyfile(path, sets["small photos"] / path.name)
    mixed_small = small_photos(config, max(1, small // 2))
    for path in mixed_small:
        shutil.copyfile(path, sets["mixed with 12-MP"] / path.name)
    for i, path in enumerate(small_photos(config, phones * 7 + 1)[1::7][:phones]):
        (sets["mixed with 12-MP"] / f"phone_{i:03d}.jpg").write_bytes(phone_jpeg(path, i))
    return sets


# --- measurements --------------------------------------------------------------------------
def predictor_rate(predictor: Predictor, folder: Path, chunk: int) -> dict:
    data = [p.read_bytes() for p in sorted(folder.iterdir())]
    predictor.predict_many(data[:chunk])  # warm
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(data), chunk):
        predictor.predict_many(data[i:i + chunk])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"rate": len(data) / wall, "cpu_ms": 1000 * cpu / len(data)}


def process_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of live processes (the API server: master and workers)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def batch_rate(pool: Path, work: Path, name: str, extra: list[str], env: dict,
               server_pids: list[int]) -> dict:
    incoming, out = work / f"in_{name}", work / f"out_{name}"
    shutil.copytree(pool, incoming)
    count = sum(1 for _ in incoming.iterdir())
    command = [sys.executable, str(ROOT / "src" / "batch_processor.py"), "--input", str(incoming),
               "--output-root", str(out), "--min-age", "0", "--no-alerts", "--quiet", *extra]
    start, cpu = time.perf_counter(), children_cpu() + process_cpu(server_pids)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, children_cpu() + process_cpu(server_pids) - cpu
    if result.returncode != 0:
        raise RuntimeError(f"batch failed: {result.stderr[-3000:]}")
    summary = json.loads(next((out / "results" / "batch_results").glob("summary_*.json")).read_text())
    left = sum(1 for p in incoming.rglob("*") if p.is_file())
    if summary["total_processed"] != count or left:
        raise RuntimeError(f"batch processed {summary['total_processed']} of {count}, left {left}")
    return {"images": count, "wall": wall, "rate": count / wall, "path": summary["classifier_path"],
            "run_seconds": summary["processing_time_seconds"], "cpu_ms": 1000 * cpu / count}


class Api:
    def __init__(self, work: Path, inference_threads: int | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        env.update(PORT=str(self.port), FASHION_HISTORY_DB=str(work / "api_history.db"),
                   FASHION_TRUSTED_KEYS=BATCH_KEY, FASHION_API_LOG_LEVEL="WARNING")
        if inference_threads is not None:
            env["FASHION_INFERENCE_THREADS"] = str(inference_threads)
        self.log = open(work / "gunicorn.log", "wb")
        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.process = subprocess.Popen(
            [str(gunicorn), "-c", "api/gunicorn.conf.py", "-b", f"127.0.0.1:{self.port}", "--access-logfile",
             "/dev/null", "api.wsgi:app"], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/readyz", timeout=2).ok:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("API did not start")

    @property
    def pids(self) -> list[int]:
        workers = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [self.process.pid] + [int(p) for p in workers.stdout.split()]

    def stop(self) -> None:
        import signal

        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(60)
        self.log.close()


def under_load() -> str:
    found = subprocess.run(["pgrep", "-f", "fashion_classifier.training"], capture_output=True, text=True)
    return "yes (a training job was using the CPU)" if found.stdout.strip() else "no training job"


def load_average() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# --- report ----------------------------------------------------------------------------------
HEADER = ("| set | images | Predictor alone (img/s) | batch via API (img/s) | ratio | batch --local (img/s) "
          "| ratio | via API vs reference (29.4/min) |")


def row(name: str, r: dict) -> str:
    api, local, ceiling = r["api"], r["local"], r["predictor"]  # img/s
    return (f"| {name} | {api['images']} | {ceiling:.0f} | {api['rate']:.0f} | {api['rate'] / ceiling:.0%} "
            f"| {local['rate']:.0f} | {local['rate'] / ceiling:.0%} "
            f"| {api['rate'] * 60 / REFERENCE_PER_MINUTE:,.0f}x |")


def table(results: dict, config: Config, args, load: str, input_size, loads: tuple[str, str]) -> str:
    chunk = args.chunk_size or config.batch_chunk_size
    concurrency = args.concurrency or config.batch_concurrency
    lines = [
        "# Nightly batch benchmark", "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M UTC} on {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}; "
        f"under load: **{load}**; load average (1/5/15 min) {loads[0]} at the start, {loads[1]} at the end "
        "(other jobs on the machine show up here).", "",
        "Command: `python bench/bench_batch.py" + (" --quick" if args.quick else "")
        + f" --small {args.small} --phones {args.phones} --repeat {args.repeat}`", "",
        "End to end = process start to exit of `src/batch_processor.py`: scan, classify, move with the "
        "journal, write CSV + XLSX + JSON + HTML report + log, record history. The Predictor alone is "
        "`predict_many` on the same photos' bytes, in chunks of the batch's size. Each mode runs "
        f"{args.repeat}x interleaved with the Predictor (measured before and after each round); "
        "the fastest of each counts. All numbers come from this one run.", "",
        HEADER, "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [row(name, r) for name, r in results.items()]
    lines += ["", f"Settings: chunk size {chunk}, concurrency {concurrency}, gunicorn from "
              "`api/gunicorn.conf.py` (workers = cores), "
              f"model `{config.model_path}` (input {input_size}).", ""]
    lines += ["CPU per image (all processes: the batch, and the API's gunicorn master and workers), lower "
              "is better. Less sensitive to other jobs on the machine than wall time, but only indicative: "
              "LiteRT's worker threads spin while they wait, and the Predictor alone decodes on one thread "
              "while they do, so it can cost more CPU per image than the API, whose two workers keep them "
              "busy.", "",
              "| set | Predictor alone (ms) | batch via API (ms) | Predictor / via API | batch --local (ms) "
              "| Predictor / --local |", "|---|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        base, api, local = r["predictor_cpu_ms"], r["api"]["cpu_ms"], r["local"]["cpu_ms"]
        lines.append(f"| {name} | {base:.1f} | {api:.1f} | {base / api:.0%} | {local:.1f} "
                     f"| {base / local:.0%} |")
    lines.append("")
    for name, r in results.items():
        api, local = r["api"], r["local"]
        lines.append(f"- {name}: via API {api['wall']:.2f} s wall ({api['run_seconds']:.2f} s inside the "
                     f"run, path `{api['path']}`); --local {local['wall']:.2f} s wall.")
    return "\n".join(lines) + "\n"


def measure(name: str, pool: Path, predictor: Predictor, chunk: int, work: Path, extra: list[str],
            env: dict, repeat: int, server_pids: list[int]) -> dict:
    slug = name.split()[0]
    alone, api_runs, local_runs = [predictor_rate(predictor, pool, chunk)], [], []
    for i in range(repeat):  # interleaved, so a burst of other work hits all three alike
        api_runs.append(batch_rate(pool, work, f"{slug}_api{i}", extra, env, server_pids))
        local_runs.append(batch_rate(pool, work, f"{slug}_local{i}", extra + ["--local"], env, []))
        alone.append(predictor_rate(predictor, pool, chunk))
    rate = max(r["rate"] for r in alone)
    cpu_ms = min(r["cpu_ms"] for r in alone)
    via_api = max(api_runs, key=lambda r: r["rate"]) | {"cpu_ms": min(r["cpu_ms"] for r in api_runs)}
    local = max(local_runs, key=lambda r: r["rate"]) | {"cpu_ms": min(r["cpu_ms"] for r in local_runs)}
    print(f"{name}: predictor {rate:.0f} img/s ({cpu_ms:.1f} ms CPU/img); batch via API "
          f"{via_api['rate']:.0f} img/s ({via_api['rate'] / rate:.0%}, {via_api['cpu_ms']:.1f} ms CPU/img, "
          f"path {via_api['path']}); --local {local['rate']:.0f} img/s ({local['rate'] / rate:.0%}, "
          f"{local['cpu_ms']:.1f} ms CPU/img)", file=sys.stderr)
    return {"predictor": rate, "predictor_cpu_ms": cpu_ms, "api": via_api, "local": local}


def main(argv=None) -> int:
    args = parse_args(argv)
    config = Config.from_env()
    load, load_start = under_load(), load_average()
    print(f"under load: {load}; load average {load_start}", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    extra = []
    if args.chunk_size:
        extra += ["--chunk-size", str(args.chunk_size)]
    if args.concurrency:
        extra += ["--concurrency", str(args.concurrency)]
    try:
        sets = build_sets(config, work, args.small, args.phones)
        predictor = Predictor.from_config(config)
        api = Api(work, args.api_inference_threads)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FASHION_")}
        env.update(API_URL=api.url, FASHION_BATCH_KEY=BATCH_KEY)
        chunk = args.chunk_size or config.batch_chunk_size
        try:
            results = {name: measure(name, pool, predictor, chunk, work, extra, env, args.repeat, api.pids)
                       for name, pool in sets.items()}
        finally:
            api.stop()
        text = table(results, config, args, load, predictor.input_size, (load_start, load_average()))
        print(text)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text, encoding="utf-8")
            print(f"wrote {args.out}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
