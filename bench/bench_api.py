"""API benchmark over real HTTP, side by side in one run.

Measures, on this machine and in one run:
  - the Predictor's own throughput (in-process, no HTTP) as the yardstick;
  - our API under gunicorn (api/gunicorn.conf.py): cold start to /readyz 200,
    RSS/PSS per worker, /predict latency with one client (small photo and a
    12-MP JPEG), /predict_batch with 50 small photos, sustained throughput with
    concurrent clients;
  - the reference system's path (bench/reference_server.py: Flask + Keras
    ``model.predict`` per request, one gunicorn sync worker as in the spec).
Prints ratios and writes a markdown table (default docs/benchmarks/api.md).
Loopback only.

    python bench/bench_api.py [--quick] [--clients 4] [--duration 20] [--no-reference]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpbench as hb

from fashion_classifier.config import Config
from fashion_classifier.model import Predictor

BUSY = "**a model training process was running during the run**"
TARGETS = {"predict_p50": 15.0, "predict_p95": 25.0, "big_p50": 80.0, "batch_p50": 600.0,
           "throughput_ratio": 0.70, "reference_ratio": 5.0, "cold_start": 2.0, "rss": 200.0}


def best_predictor_throughput(photos: list[bytes], seconds: float) -> tuple[float, str]:
    """The Predictor's best in-process images/s over its thread settings (the yardstick)."""
    cores = os.cpu_count() or 1
    runs = {(inference, driving): predictor_throughput(photos, seconds, inference, driving)
            for inference in sorted({1, cores}) for driving in sorted({1, cores})}
    (inference, driving), best = max(runs.items(), key=lambda kv: kv[1])
    return best, f"{inference} inference thread(s), {driving} calling thread(s)"


def predictor_throughput(photos: list[bytes], seconds: float, inference_threads: int, threads: int) -> float:
    """Images per second of one in-process Predictor driven by ``threads`` threads."""
    config = Config(root=hb.ROOT).with_overrides(inference_threads=inference_threads)
    predictor = Predictor.from_config(config)
    for photo in photos[:10]:
        predictor.predict_bytes(photo)
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def run(slot: int) -> None:
        i = slot
        while time.perf_counter() < stop:
            predictor.predict_bytes(photos[i % len(photos)])
            counts[slot] += 1
            i += threads

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


def latencies(client: hb.Client, path: str, bodies: list[tuple[bytes, str]], count: int,
              warmup: int) -> list[float]:
    times = []
    for i in range(warmup + count):
        body, content_type = bodies[i % len(bodies)]
        start = time.perf_counter()
        status, payload = client.request("POST", path, body, content_type)
        elapsed = time.perf_counter() - start
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {payload[:200]!r}")
        if i >= warmup:
            times.append(elapsed)
    return times


def concurrent(port: int, bodies: list[tuple[bytes, str]], clients: int, seconds: float) -> dict:
    """``clients`` keep-alive clients sending /predict back to back for ``seconds``."""
    times: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = time.perf_counter() + seconds

    def run(slot: int) -> None:
        client = hb.Client(port)
        i = slot
        while time.perf_counter() < stop:
            body, content_type = bodies[i % len(bodies)]
            start = time.perf_counter()
            status, _ = client.request("POST", "/predict", body, content_type)
            times[slot].append(time.perf_counter() - start)
            errors[slot] += status != 200
            i += clients
        client.close()

    workers = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - start
    flat = [t for slot in times for t in slot]
    return {"rps": len(flat) / wall, "errors": sum(errors), **hb.percentiles_ms(flat)}


def worker_memory(master_pid: int) -> list[dict]:
    return [hb.memory_mb(pid) for pid in hb.children(master_pid)]


def measure_ours(args, photos: list[bytes], big: bytes, tmp: Path) -> dict:
    # production defaults (JSON request log, access log, history) except the rate limits
    env = {"RATELIMIT_ENABLED": "false", "FASHION_HISTORY_DB": str(tmp / "history.db")}
    if args.workers:
        env["FASHION_API_WORKERS"] = str(args.workers)
    if args.threads:
        env["FASHION_API_THREADS"] = str(args.threads)
    cold = []
    for _ in range(args.cold_runs):  # every start but the last is stopped again
        port = hb.free_port()
        process, seconds = hb.start_server(hb.gunicorn_argv(port), port, env, log=tmp / "ours.log")
        cold.append(seconds)
        if len(cold) < args.cold_runs:
            hb.stop_server(process)
    out: dict = {"cold_start_s": statistics.median(cold), "cold_starts": cold}
    try:
        small = [hb.multipart("file", [(f"p{i}.jpg", p)]) for i, p in enumerate(photos)]
        client = hb.Client(port)
        out["predict"] = hb.percentiles_ms(latencies(client, "/predict", small, args.requests, 50))
        big_body = [hb.multipart("file", [("12mp.jpg", big)])]
        out["big"] = hb.percentiles_ms(latencies(client, "/predict", big_body, args.big_requests, 3))
        batch = [hb.multipart("files", [(f"{i}.jpg", p) for i, p in enumerate(photos[:50])])]
        out["batch"] = hb.percentiles_ms(latencies(client, "/predict_batch", batch, args.batch_requests, 2))
        client.close()
        out["memory_before_load"] = worker_memory(process.pid)
        out["concurrent"] = concurrent(port, small, args.clients, args.duration)
        out["memory"] = worker_memory(process.pid)
        out["workers"] = len(out["memory"])
    finally:
        hb.stop_server(process)
    return out


def measure_reference(args, photos: list[bytes], tmp: Path) -> dict:
    port = hb.free_port()
    argv = [str(hb.BIN / "gunicorn"), "--pythonpath", "bench", "-b", f"127.0.0.1:{port}", "--timeout", "120",
            "reference_server:app"]
    process, seconds = hb.start_server(argv, port, {}, ready_path="/health", log=tmp / "reference.log")
    try:
        small = [hb.multipart("file", [(f"p{i}.jpg", p)]) for i, p in enumerate(photos)]
        client = hb.Client(port)
        result = hb.percentiles_ms(latencies(client, "/predict", small, args.reference_requests, 10))
        client.close()
        return {"predict": result, "cold_start_s": seconds}
    finally:
        hb.stop_server(process)


def training_running() -> bool:
    return os.system("pgrep -f fashion_classifier.training > /dev/null") == 0


def report(args, r: dict) -> str:
    ours, own = r["ours"], r["predictor_ips"]
    ratio = ours["concurrent"]["rps"] / own
    rss = max(m["rss"] for m in ours["memory"])
    pss = max(m["pss"] for m in ours["memory"])
    rows = [
        ("/predict small photo, 1 client, p50", f"{ours['predict']['p50']:.1f} ms", "<= 15 ms",
         ours["predict"]["p50"] <= TARGETS["predict_p50"]),
        ("/predict small photo, 1 client, p95", f"{ours['predict']['p95']:.1f} ms", "<= 25 ms",
         ours["predict"]["p95"] <= TARGETS["predict_p95"]),
        ("/predict 12-MP JPEG, p50", f"{ours['big']['p50']:.1f} ms", "<= 80 ms",
         ours["big"]["p50"] <= TARGETS["big_p50"]),
        ("/predict_batch 50 small photos, p50", f"{ours['batch']['p50'] / 1000:.3f} s", "<= 0.6 s",
         ours["batch"]["p50"] <= TARGETS["batch_p50"]),
        (f"throughput, {args.clients} clients, {args.duration:.0f} s",
         f"{ours['concurrent']['rps']:.0f} req/s = {ratio:.0%} of the Predictor's best {own:.0f} img/s "
         f"({r['predictor_setting']}, in-process)",
         ">= 70 %", ratio >= TARGETS["throughput_ratio"]),
        ("cold start to /readyz 200 (median)", f"{ours['cold_start_s']:.2f} s", "<= 2 s",
         ours["cold_start_s"] <= TARGETS["cold_start"]),
        (f"memory per worker ({ours['workers']} workers), after load", f"RSS {rss:.0f} MB, PSS {pss:.0f} MB",
         "RSS <= 200 MB", rss <= TARGETS["rss"]),
    ]
    if "reference" in r:
        ref = r["reference"]["predict"]
        speedup = ref["p50"] / ours["predict"]["p50"]
        rows.append(("p50 vs reference path (Keras model.predict per request)",
                     f"{ref['p50']:.1f} ms vs {ours['predict']['p50']:.1f} ms = {speedup:.1f}x lower",
                     ">= 5x", speedup >= TARGETS["reference_ratio"]))
    lines = ["| measure | measured | target | met |", "|---|---|---|---|"]
    lines += [f"| {name} | {value} | {target} | {'yes' if ok else '**no**'} |"
              for name, value, target, ok in rows]
    c = ours["concurrent"]
    lines += ["", f"- Concurrent run: {c['n']} requests, {c['errors']} non-200, "
                  f"latency p50 {c['p50']:.1f} ms, p95 {c['p95']:.1f} ms, p99 {c['p99']:.1f} ms.",
              f"- 12-MP JPEG: {len(r['big_bytes']) / 1e6:.1f} MB; p95 {ours['big']['p95']:.1f} ms.",
              f"- Batch of 50: p95 {ours['batch']['p95'] / 1000:.3f} s.",
              f"- Cold starts: {', '.join(f'{s:.2f}' for s in ours['cold_starts'])} s.",
              f"- Workers' memory before the concurrent run: {_memory(ours['memory_before_load'])}."]
    if "reference" in r:
        ref = r["reference"]
        lines.append(f"- Reference path p95 {ref['predict']['p95']:.1f} ms; its cold start to /health "
                     f"{ref['cold_start_s']:.1f} s.")
    return "\n".join(lines) + "\n"


def _memory(entries: list[dict]) -> str:
    return ", ".join("RSS {rss:.0f} / PSS {pss:.0f} MB".format(**m) for m in entries)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="API benchmark over loopback HTTP, side by side in one run.")
    parser.add_argument("--quick", action="store_true", help="smoke mode: few requests, short runs")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for the throughput run")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of the throughput run")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: the config's)")
    parser.add_argument("--threads", type=int, default=0, help="threads per worker (default: the config's)")
    parser.add_argument("--no-reference", action="store_true", help="skip the Keras reference server")
    parser.add_argument("--out", default=str(hb.ROOT / "docs" / "benchmarks" / "api.md"))
    args = parser.parse_args(argv)
    args.requests, args.big_requests, args.batch_requests, args.reference_requests, args.cold_runs = (
        (40, 5, 3, 20, 1) if args.quick else (1000, 60, 20, 200, 3))
    if args.quick:
        args.duration = min(args.duration, 3.0)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    busy = training_running()
    busy_before = hb.cpu_busy()
    other = hb.OtherWork()
    photos = hb.small_photos(64)
    big = hb.twelve_mp_jpeg(photos[0])
    results: dict = {"big_bytes": big}
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        results["predictor_ips"], results["predictor_setting"] = best_predictor_throughput(
            photos, args.duration / 4)
        results["ours"] = measure_ours(args, photos, big, Path(tmp))
        if not args.no_reference:
            results["reference"] = measure_reference(args, photos, Path(tmp))
    busy = busy or training_running()
    other_share = other.share()
    command = "python bench/bench_api.py " + " ".join(sys.argv[1:] if argv is None else argv)
    load = os.getloadavg()
    header = (f"# API benchmark\n\n`{command.strip()}` on {time.strftime('%Y-%m-%d %H:%M %Z')}, "
              f"{os.cpu_count()} cores; other processes used {busy_before:.0%} of the CPU just before "
              f"the run and **{other_share:.0%} during it**; load average {load[0]:.1f} after it; "
              f"{BUSY if busy else 'machine otherwise idle'}."
              f" Model input {Predictor.from_config(Config(root=hb.ROOT)).input_size} (h, w).\n\n")
    text = header + report(args, results)
    hb.publish(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
