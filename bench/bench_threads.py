"""Our API under several thread settings, against FastAPI, side by side in one run (issue 18).

Each variant is our gunicorn server (api/gunicorn.conf.py, rate limits off) with extra
environment variables; ``fastapi`` is bench/peers/fastapi_app.py under uvicorn (one worker,
the Predictor on every core), skipped when FastAPI is not installed (``make bench-peers``
builds .venv-bench with it). Interleaved rounds: every variant is started, measured and
stopped in turn, then again. Per variant: 1-client p50/p95 of small product photos and of a
12-MP JPEG, and requests/s with 4 keep-alive clients (small photos). Writes markdown
(default docs/benchmarks/threads.md). Loopback only.

    python bench/bench_threads.py [--quick] [--rounds 3] [--duration 6] [--variant NAME=ENV,ENV ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpbench as hb
from bench_api import concurrent, latencies

DEFAULT_VARIANTS = [
    "shipped=",
    "no solo lane=FASHION_SOLO_INFERENCE_THREADS=1",
    "no keep-alive hold=FASHION_API_KEEPALIVE_HOLD_MS=0",
    "2 threads everywhere=FASHION_INFERENCE_THREADS=2",
    "1 worker x 2 threads=FASHION_API_WORKERS=1",
    "mirror for every photo=FASHION_MIRROR_BELOW=2",
]


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, envs = text.partition("=")
    env = dict(item.split("=", 1) for item in envs.split(",") if item)
    return name, env


def argv_for(name: str, port: int) -> list[str]:
    if name == "fastapi":
        return [sys.executable, "-m", "uvicorn", "bench.peers.fastapi_app:app", "--host", "127.0.0.1",
                "--port", str(port)]
    return hb.gunicorn_argv(port)


def measure(name: str, env_extra: dict, small: list, big: list, args, tmp: Path) -> dict:
    port = hb.free_port()
    env = {"RATELIMIT_ENABLED": "false", "FASHION_LOGS_DIR": str(tmp),
           "FASHION_HISTORY_DB": str(tmp / "history.db"), **env_extra}
    process, _ = hb.start_server(argv_for(name, port), port, env, log=tmp / f"{name}.log")
    try:
        client = hb.Client(port)
        out = {"small": latencies(client, "/predict", small, args.requests, 30),
               "big": latencies(client, "/predict", big, args.big_requests, 2)}
        client.close()
        out["rps"] = concurrent(port, small, args.clients, args.duration)["rps"]
        return out
    finally:
        hb.stop_server(process)


def report(command: str, variants: list, runs: dict, started: str, load) -> str:
    lines = [
        "# Workers and inference threads",
        "",
        f"`{command}` on {started}; {os.cpu_count()} cores; load average "
        f"{' / '.join(f'{v:.2f}' for v in load)} before. Interleaved rounds; latencies pooled over "
        "rounds, requests/s the median of the rounds (each round's in brackets).",
        "",
        "| variant | environment | small p50 / p95 ms | 12-MP p50 ms | req/s small, 4 clients |",
        "|---|---|---|---|---|",
    ]
    for name, env in variants:
        kept = runs[name]
        if not kept:
            continue
        small = hb.percentiles_ms([t for r in kept for t in r["small"]])
        big = hb.percentiles_ms([t for r in kept for t in r["big"]])
        rps = [r["rps"] for r in kept]
        shown = ", ".join(f"`{k}={v}`" for k, v in env.items()) or ("uvicorn, 1 worker" if name == "fastapi"
                                                                   else "defaults")
        lines.append(f"| {name} | {shown} | {small['p50']:.1f} / {small['p95']:.1f} | {big['p50']:.0f} | "
                     f"{statistics.median(rps):.0f} ({', '.join(f'{x:.0f}' for x in rps)}) |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Our API under thread settings against FastAPI (loopback).")
    parser.add_argument("--quick", action="store_true", help="smoke: 1 round, 2 variants, few requests")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of each 4-client run")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=300, help="small-photo requests per round")
    parser.add_argument("--big-requests", type=int, default=30, help="12-MP requests per round")
    parser.add_argument("--variant", action="append", metavar="NAME=ENV,ENV",
                        help="a variant of ours (repeatable; default: the five of threads.md)")
    parser.add_argument("--no-fastapi", action="store_true")
    parser.add_argument("--out", default=str(hb.ROOT / "docs" / "benchmarks" / "threads_run.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.requests, args.big_requests = 1, 1.0, 20, 2
    variants = [parse_variant(v) for v in (args.variant or DEFAULT_VARIANTS[:2 if args.quick else None])]
    if not args.no_fastapi:
        if importlib.util.find_spec("fastapi") and importlib.util.find_spec("uvicorn"):
            variants.append(("fastapi", {}))
        else:
            print("fastapi: skipped, not installed (pip install -r requirements-bench.txt)")
    photos = hb.small_photos(64)
    small = [hb.multipart("file", [(f"p{i}.jpg", p)]) for i, p in enumerate(photos)]
    big = [hb.multipart("file", [("12mp.jpg", hb.twelve_mp_jpeg(photos[0]))])]
    started, load = time.strftime("%Y-%m-%d %H:%M %Z"), os.getloadavg()
    runs: dict[str, list] = {name: [] for name, _ in variants}
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        for round_no in range(1, args.rounds + 1):
            for name, env in variants:
                print(f"round {round_no}/{args.rounds}: {name} ...", flush=True)
                run = measure(name, env, small, big, args, Path(tmp))
                runs[name].append(run)
                print(f"  small p50 {hb.percentiles_ms(run['small'])['p50']:.1f} ms, {run['rps']:.0f} req/s",
                      flush=True)
    command = "python bench/bench_threads.py " + " ".join(sys.argv[1:] if argv is None else argv)
    hb.publish(report(command.strip(), variants, runs, started, load), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
