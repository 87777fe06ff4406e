"""Bounded load test of the API under gunicorn, loopback only; stops by itself.

Starts the API (api/gunicorn.conf.py, default limits, one trusted key) on a free
127.0.0.1 port, then runs ``--users`` closed-loop clients for ``--duration``
seconds (or until ``--max-requests``) with a realistic mix: single photos, a few
12-MP JPEGs, batches of 10 and 50, probes, stats, metrics and bad uploads. The
trusted clients (like the nightly batch) must never meet a 429; one public client
without the key shows the limits working. Worker memory is sampled every 5 s.

Pass: zero 5xx, zero connection errors, no 429 for trusted clients, worker RSS
growth after warm-up below 10 %, every response recorded in api_calls.
Writes a markdown report (default docs/benchmarks/load_test.md).

    python bench/load_test.py [--duration 300] [--users 6] [--quick]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpbench as hb

TRUSTED_KEY = "load-test-trusted-key"


Task = tuple[str, float, str, str, "bytes | None", "str | None"]  # name, weight, method, path, body, type


def build_tasks(photos: list[bytes], big: bytes) -> list[Task]:
    single = hb.multipart("file", [("p.jpg", photos[0])])
    return [
        ("predict", 58, "POST", "/predict", None, None),  # body varies: filled per call
        ("predict_12mp", 3, "POST", "/predict", *hb.multipart("file", [("12mp.jpg", big)])),
        ("batch_10", 8, "POST", "/predict_batch",
         *hb.multipart("files", [(f"{i}.jpg", p) for i, p in enumerate(photos[:10])])),
        ("batch_50", 3, "POST", "/predict_batch",
         *hb.multipart("files", [(f"{i}.jpg", p) for i, p in enumerate(photos[:50])])),
        ("health", 8, "GET", "/health", None, None),
        ("classes", 5, "GET", "/classes", None, None),
        ("stats", 2, "GET", "/stats", None, None),
        ("metrics", 3, "GET", "/metrics", None, None),
        ("bad_empty", 3, "POST", "/predict", *hb.multipart("file", [("empty.jpg", b"")])),
        ("bad_text", 3, "POST", "/predict", *hb.multipart("file", [("notes.jpg", b"not an image")])),
        ("not_found", 1, "GET", "/nope", None, None),
        ("single_repeat", 3, "POST", "/predict", *single),
    ]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter] = defaultdict(Counter)
        self.connection_errors = 0
        self.trusted_429 = 0
        self.public = Counter()

    def add(self, name: str, status: int, seconds: float) -> None:
        with self.lock:
            self.times[name].append(seconds)
            self.statuses[name][status] += 1
            if status == 429:
                self.trusted_429 += 1

    @property
    def total(self) -> int:
        return sum(sum(c.values()) for c in self.statuses.values()) + sum(self.public.values())


def trusted_user(port, tasks, small, stats: Stats, stop: float, budget: list[int], seed: int) -> None:
    rng = random.Random(seed)
    client = hb.Client(port, headers={"X-Batch-Key": TRUSTED_KEY})
    weights = [t[1] for t in tasks]
    while time.perf_counter() < stop and budget[0] > 0:
        budget[0] -= 1
        name, _, method, path, body, content_type = rng.choices(tasks, weights)[0]
        if name == "predict":
            body, content_type = small[rng.randrange(len(small))]
        start = time.perf_counter()
        try:
            status, _ = client.request(method, path, body, content_type)
        except OSError:
            with stats.lock:
                stats.connection_errors += 1
            continue
        stats.add(name, status, time.perf_counter() - start)
    client.close()


def public_user(port, small, stats: Stats, stop: float) -> None:
    """One client without the key, at about 20 requests/s: meets the 100/hour limit."""
    client = hb.Client(port)
    while time.perf_counter() < stop:
        try:
            status, _ = client.request("POST", "/predict", *small[0])
        except OSError:
            with stats.lock:
                stats.connection_errors += 1
            continue
        with stats.lock:
            stats.public[status] += 1
        time.sleep(0.05)
    client.close()


def sample_memory(master: int, stop: float, samples: list, interval: float = 5.0) -> None:
    start = time.perf_counter()
    while time.perf_counter() < stop:
        samples.append((time.perf_counter() - start,
                        {pid: {**hb.memory_mb(pid), "cpu": hb.cpu_seconds(pid)}
                         for pid in hb.children(master)}))
        time.sleep(min(interval, max(0.0, stop - time.perf_counter())))


def memory_growth(samples: list, warmup_s: float) -> dict:
    after = [s for s in samples if s[0] >= warmup_s] or samples[-1:]
    first, last = after[0][1], samples[-1][1]
    common = sorted(set(first) & set(last))
    growth = {pid: (first[pid]["rss"], last[pid]["rss"]) for pid in common}
    restarted = set(first) != set(last)  # a worker that died (or was recycled) changes its pid
    worst = max(((b - a) / a for a, b in growth.values()), default=float("nan"))
    step = max(5.0, samples[-1][0] / 10)
    series = [(t, [mem[pid]["rss"] for pid in sorted(mem)]) for t, mem in samples
              if int(t // step) != int((t - 5.0) // step) or t == samples[-1][0]]
    cpu = [last[pid]["cpu"] - samples[0][1].get(pid, {"cpu": 0.0})["cpu"] for pid in sorted(last)]
    return {"per_worker": growth, "worst_growth": worst, "workers_restarted": restarted, "cpu": cpu,
            "max_rss": max(m["rss"] for _, mem in samples for m in mem.values()), "series": series}


def recorded_rows(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT COUNT(*) FROM api_calls").fetchone()[0]
    finally:
        conn.close()


def report(args, stats: Stats, wall: float, memory: dict, rows: int, sent: int) -> tuple[str, bool]:
    five_xx = sum(n for c in stats.statuses.values() for s, n in c.items() if s >= 500)
    five_xx += sum(n for s, n in stats.public.items() if s >= 500)
    checks = {
        "zero 5xx": five_xx == 0,
        "zero connection errors": stats.connection_errors == 0,
        "no 429 for trusted clients": stats.trusted_429 == 0,
        "public client limited (429 seen)": stats.public.get(429, 0) > 0 or args.duration < 30,
        "worker RSS growth after warm-up < 10 %": memory["worst_growth"] < 0.10,
        "no worker restarted": not memory["workers_restarted"],
        "every response recorded in api_calls": rows >= sent,
    }
    lines = [f"{stats.total} requests in {wall:.0f} s = {stats.total / wall:.0f} req/s with {args.users} "
             f"trusted clients + 1 public client.", "",
             "| task | requests | statuses | p50 ms | p95 ms | p99 ms |", "|---|---:|---|---:|---:|---:|"]
    for name in sorted(stats.times, key=lambda n: -len(stats.times[n])):
        p = hb.percentiles_ms(stats.times[name])
        codes = ", ".join(f"{s}: {n}" for s, n in sorted(stats.statuses[name].items()))
        lines.append(f"| {name} | {p['n']} | {codes} | {p['p50']:.1f} | {p['p95']:.1f} | {p['p99']:.1f} |")
    public = ", ".join(f"{s}: {n}" for s, n in sorted(stats.public.items()))
    lines += ["", f"- Public client (no key, limit 100/hour): {public}.",
              "- Worker RSS (MB) after warm-up -> end: " + ", ".join(
                  f"{a:.0f} -> {b:.0f}" for a, b in memory["per_worker"].values())
              + f"; worst growth {memory['worst_growth']:+.1%}; max RSS {memory['max_rss']:.0f} MB.",
              "- CPU seconds per worker (how evenly the load spread): "
              + ", ".join(f"{c:.0f}" for c in memory["cpu"]) + ".",
              "- RSS over time (s: MB per worker): " + "; ".join(
                  f"{t:.0f}: " + "/".join(f"{v:.0f}" for v in values)
                  for t, values in memory["series"]) + ".",
              f"- api_calls rows after a graceful stop: {rows} (responses received: {sent}, plus probes).",
              f"- Connection errors: {stats.connection_errors}.", "",
              "| check | result |", "|---|---|"]
    lines += [f"| {name} | {'pass' if ok else '**FAIL**'} |" for name, ok in checks.items()]
    return "\n".join(lines) + "\n", all(checks.values())


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Bounded loopback load test of the API (stops by itself).")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load (default 300)")
    parser.add_argument("--users", type=int, default=6, help="closed-loop trusted clients (default 6)")
    parser.add_argument("--max-requests", type=int, default=2_000_000, help="hard cap on requests sent")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 15 s")
    parser.add_argument("--out", default=str(hb.ROOT / "docs" / "benchmarks" / "load_test.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = min(args.duration, 15.0)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    busy_before = hb.cpu_busy()
    other = hb.OtherWork()
    photos = hb.small_photos(64)
    tasks = build_tasks(photos, hb.twelve_mp_jpeg(photos[1]))
    small = [hb.multipart("file", [(f"p{i}.jpg", p)]) for i, p in enumerate(photos)]
    stats, samples, budget = Stats(), [], [args.max_requests]
    with tempfile.TemporaryDirectory(prefix="load-test-") as tmp:
        db = Path(tmp) / "history.db"
        port = hb.free_port()
        env = {"FASHION_HISTORY_DB": str(db), "FASHION_TRUSTED_KEYS": TRUSTED_KEY}
        process, _ = hb.start_server(hb.gunicorn_argv(port), port, env, log=Path(tmp) / "server.log")
        try:
            start = time.perf_counter()
            stop = start + args.duration
            threads = [threading.Thread(target=trusted_user,
                                        args=(port, tasks, small, stats, stop, budget, k))
                       for k in range(args.users)]
            threads += [threading.Thread(target=public_user, args=(port, small, stats, stop)),
                        threading.Thread(target=sample_memory, args=(process.pid, stop, samples))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(args.duration + 120)
            wall = time.perf_counter() - start
        finally:
            hb.stop_server(process)
        rows = recorded_rows(db)
    other_share = other.share()
    memory = memory_growth(samples, warmup_s=min(60.0, args.duration / 4))
    body, ok = report(args, stats, wall, memory, rows, stats.total)
    command = "python bench/load_test.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = (f"# Load test\n\n`{command.strip()}` on {time.strftime('%Y-%m-%d %H:%M %Z')}, loopback, "
            f"gunicorn with api/gunicorn.conf.py defaults; other processes used {busy_before:.0%} of the "
            f"CPU just before the run and **{other_share:.0%} during it**.\n\n{body}")
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
