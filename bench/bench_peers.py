"""The same Predictor behind other servers, side by side in one run (issue 18).

Every server serves ``Predictor.from_config(Config.from_env())`` (the shipped model in models/)
at POST /predict, multipart field ``file``:

  ours      gunicorn -c api/gunicorn.conf.py api.wsgi:app (the product, rate limits off)
  flask     a bare Flask app (bench/peers/flask_app.py) under the same gunicorn config
  fastapi   FastAPI + uvicorn, one worker (bench/peers/fastapi_app.py)
  litserve  LitServe, its defaults (bench/peers/litserve_app.py)
  bentoml   BentoML, its defaults (bench/peers/bentoml_service.py)

Interleaved rounds: each server is started, measured and stopped in turn, then again.
Per server: latency with one client (a ~60x80 product photo and a 12-MP JPEG), requests/s
with concurrent clients (both photos), cold start (process start to the first 200 of its
ready URL, and to its first /predict answer), RSS per worker. Then our ratio to the best
peer on each measure. Writes markdown (default docs/benchmarks/peers.md). Loopback only.

The peers live in requirements-bench.txt, installed in a separate venv (``make bench-peers``);
a peer whose package is missing from this Python is skipped.

    python bench/bench_peers.py [--quick] [--rounds 2] [--duration 15] [--servers ours,flask,...]
                                [--inference-threads N] [--ours-env NAME=VALUE] [--out PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpbench as hb
from bench_api import concurrent, latencies

SERVERS = ("ours", "flask", "fastapi", "litserve", "bentoml")
PEERS = SERVERS[1:]
INSTALL_HINT = "pip install -r requirements-bench.txt"


@dataclass(frozen=True)
class Server:
    name: str
    label: str
    ready_path: str
    needs: tuple[str, ...]  # modules that must be importable here

    def argv(self, port: int) -> list[str]:
        py = sys.executable
        if self.name == "ours":
            return hb.gunicorn_argv(port)
        if self.name == "flask":
            return hb.gunicorn_argv(port, app="bench.peers.flask_app:app")
        if self.name == "fastapi":
            return [py, "-m", "uvicorn", "bench.peers.fastapi_app:app", "--host", "127.0.0.1",
                    "--port", str(port)]
        if self.name == "litserve":
            return [py, "bench/peers/litserve_app.py", str(port)]
        if self.name == "bentoml":
            return [py, "-m", "bentoml", "serve", "bench.peers.bentoml_service:Classifier",
                    "--host", "127.0.0.1", "--port", str(port)]
        raise ValueError(self.name)


CATALOGUE = {
    "ours": Server("ours", "ours (gunicorn, api/gunicorn.conf.py)", "/readyz", ()),
    "flask": Server("flask", "bare Flask (same gunicorn config)", "/readyz", ()),
    "fastapi": Server("fastapi", "FastAPI + uvicorn, 1 worker", "/readyz",
                      ("fastapi", "uvicorn", "multipart")),
    "litserve": Server("litserve", "LitServe (defaults)", "/health", ("litserve", "fastapi", "multipart")),
    "bentoml": Server("bentoml", "BentoML (defaults)", "/readyz", ("bentoml",)),
}


def missing_module(server: Server) -> str | None:
    for module in server.needs:
        if importlib.util.find_spec(module) is None:
            return {"multipart": "python-multipart"}.get(module, module)
    return None


def descendants(pid: int) -> list[int]:
    out = []
    for child in hb.children(pid):
        out += [child, *descendants(child)]
    return out


def kill_tree(process: subprocess.Popen) -> None:
    """Stop a server (SIGTERM, then SIGKILL) and every process it left behind."""
    left = descendants(process.pid)
    try:
        hb.stop_server(process, timeout=20)
    except (subprocess.TimeoutExpired, OSError):
        pass
    for pid in left + descendants(process.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def kill_our_children() -> None:
    """Last resort (Ctrl-C, an exception mid-start): every process this script started."""
    for pid in hb.children(os.getpid()):
        tree = descendants(pid)
        for target in (pid, *tree):
            try:
                os.kill(target, signal.SIGTERM)
            except OSError:
                pass
        deadline = time.time() + 10
        while time.time() < deadline and Path(f"/proc/{pid}").exists():
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                break
            time.sleep(0.1)
        for target in (pid, *tree):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass


def worker_memory(pid: int) -> dict:
    """RSS of the processes doing the work (the children if any, else the process) and of all."""
    tree = [pid, *descendants(pid)]
    workers = hb.children(pid) or [pid]
    mem = {p: hb.memory_mb(p) for p in tree}
    return {"worker_rss": max(mem[p]["rss"] for p in workers if p in mem), "workers": len(workers),
            "total_rss": sum(m["rss"] for m in mem.values()),
            "total_pss": sum(m["pss"] for m in mem.values()),
            "processes": len(tree)}


def measure(server: Server, args, small: list, big: list, env: dict, log: Path) -> dict:
    port = hb.free_port()
    process, ready = hb.start_server(server.argv(port), port, env, ready_path=server.ready_path,
                                     timeout=args.start_timeout, log=log)
    try:
        client = hb.Client(port, timeout=args.request_timeout)
        first = latencies(client, "/predict", small[:1], 1, 0)[0]
        out: dict = {"cold_ready_s": ready, "cold_predict_s": ready + first}
        out["small"] = latencies(client, "/predict", small, args.requests, args.warmup)
        out["big"] = latencies(client, "/predict", big, args.big_requests, 2)
        client.close()
        out["memory_idle"] = worker_memory(process.pid)
        out["rps_small"] = concurrent(port, small, args.clients, args.duration)
        out["rps_big"] = concurrent(port, big, args.clients, args.duration)
        out["memory"] = worker_memory(process.pid)
        return out
    finally:
        kill_tree(process)


def predictor_alone(threads: int, photos: list[bytes], big_jpeg: bytes, args) -> dict:
    """The Predictor in this process, no HTTP: the yardstick of each server's own cost."""
    from fashion_classifier.config import Config
    from fashion_classifier.model import Predictor

    predictor = Predictor.from_config(Config(root=hb.ROOT).with_overrides(inference_threads=threads))

    def times(items: list[bytes], count: int, warmup: int) -> list[float]:
        out = []
        for i in range(warmup + count):
            start = time.perf_counter()
            predictor.predict_bytes(items[i % len(items)])
            if i >= warmup:
                out.append(time.perf_counter() - start)
        return out

    return {"small": times(photos, args.requests, args.warmup),
            "big": times([big_jpeg], args.big_requests, 2)}


def lone_request_threads(name: str, args) -> int:
    """Inference threads a server gives a request that is alone: every core, except the bare
    Flask peer under our gunicorn config (cores / workers, no solo lane)."""
    if args.inference_threads:
        return args.inference_threads
    cores = os.cpu_count() or 1
    return max(1, cores // (cores + 1)) if name == "flask" else cores  # gunicorn.conf: cores // workers


def stack_costs(results: dict, alone: dict[int, dict], args) -> list[tuple[str, str]]:
    """Per server: its 1-client p50 minus the Predictor's own p50 at the same threads."""
    rows = []
    for name, r in results.items():
        threads = lone_request_threads(name, args)
        if not isinstance(r, dict) or threads not in alone:
            continue
        base = alone[threads]
        rows.append((CATALOGUE[name].label,
                     f"{r['small_p50'] - base['small_p50']:.1f} ms (small: {r['small_p50']:.1f} - "
                     f"{base['small_p50']:.1f}), {r['big_p50'] - base['big_p50']:.0f} ms (12-MP: "
                     f"{r['big_p50']:.0f} - {base['big_p50']:.0f}); Predictor at {threads} thread(s)"))
    return rows


def summarize(runs: list[dict]) -> dict:
    """Rounds combined: latencies pooled, throughput and cold start the median, memory the max."""
    small = hb.percentiles_ms([t for r in runs for t in r["small"]])
    big = hb.percentiles_ms([t for r in runs for t in r["big"]])
    return {
        "small_p50": small["p50"], "small_p95": small["p95"], "big_p50": big["p50"], "big_p95": big["p95"],
        "rps_small": statistics.median(r["rps_small"]["rps"] for r in runs),
        "rps_big": statistics.median(r["rps_big"]["rps"] for r in runs),
        "errors": sum(r["rps_small"]["errors"] + r["rps_big"]["errors"] for r in runs),
        "cold_ready_s": statistics.median(r["cold_ready_s"] for r in runs),
        "cold_predict_s": statistics.median(r["cold_predict_s"] for r in runs),
        "worker_rss": max(r["memory"]["worker_rss"] for r in runs),
        "workers": runs[-1]["memory"]["workers"],
        "total_rss": max(r["memory"]["total_rss"] for r in runs),
        "processes": runs[-1]["memory"]["processes"],
        "rounds": len(runs),
        "per_round_rps": [round(r["rps_small"]["rps"], 1) for r in runs],
        "per_round_rps_big": [round(r["rps_big"]["rps"], 1) for r in runs],
    }


# measure key, column title, format, higher is better
METRICS = [
    ("small_p50", "small p50 ms", "{:.1f}", False),
    ("small_p95", "small p95 ms", "{:.1f}", False),
    ("big_p50", "12-MP p50 ms", "{:.0f}", False),
    ("big_p95", "12-MP p95 ms", "{:.0f}", False),
    ("rps_small", "req/s small, {c} clients", "{:.1f}", True),
    ("rps_big", "req/s 12-MP, {c} clients", "{:.1f}", True),
    ("cold_ready_s", "cold start to ready s", "{:.2f}", False),
    ("cold_predict_s", "cold start to 1st /predict s", "{:.2f}", False),
    ("worker_rss", "RSS per worker MB", "{:.0f}", False),
    ("total_rss", "RSS all processes MB", "{:.0f}", False),
]


def ratios(results: dict) -> list[tuple[str, str]]:
    """Our value against the best peer's, per measure, as 'x times better/worse'."""
    ours = results.get("ours")
    peers = {n: r for n, r in results.items() if n != "ours" and isinstance(r, dict)}
    if not isinstance(ours, dict) or not peers:
        return []
    rows = []
    for key, title, fmt, higher in METRICS:
        best_name = (max if higher else min)(peers, key=lambda n: peers[n][key])
        best, mine = peers[best_name][key], ours[key]
        ratio = mine / best if best else float("nan")
        good = ratio >= 1 if higher else ratio <= 1
        factor = max(ratio, 1 / ratio) if ratio else float("nan")
        verdict = f"{factor:.2f}x {'better' if good else 'worse'}" if abs(ratio - 1) > 0.005 else "equal"
        rows.append((title, f"ours {fmt.format(mine)} / {best_name} {fmt.format(best)} = {ratio:.2f} "
                            f"({verdict})"))
    return rows


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def report(args, command: str, results: dict, load_before, load_after, other_share: float,
           started: str, big_bytes: int, small_bytes: int, alone: dict | None = None) -> str:
    c = args.clients
    head = ["server", *[title.format(c=c) for _, title, _, _ in METRICS], "processes (children)", "non-200"]
    lines = [
        "# The same Predictor behind other servers",
        "",
        f"`{command}` on {started}; {os.cpu_count()} cores ({cpu_model()}); Python "
        f"{sys.version.split()[0]} ({sys.executable}); load average "
        f"{' / '.join(f'{v:.2f}' for v in load_before)} before, "
        f"{' / '.join(f'{v:.2f}' for v in load_after)} after; other processes used "
        f"**{other_share:.0%}** of the CPU during the run (above a few % the numbers are not comparable).",
        "",
        f"Inference threads: {args.inference_threads or 'each server its own default'}; "
        f"extra environment of ours: {args.ours_env or 'none'} (rate limits off for all).",
        "",
        f"{args.rounds} interleaved round(s): each server started, measured, stopped in turn. "
        f"1 client: {args.requests} small-photo requests ({small_bytes / 1000:.1f} kB, ~60x80 JPEG) and "
        f"{args.big_requests} 12-MP JPEG requests ({big_bytes / 1e6:.1f} MB) per round, latencies "
        f"pooled over rounds; then {c} keep-alive clients for {args.duration:.0f} s each (median over "
        "rounds). Cold start: process start to the first 200 of the server's ready URL, and to its "
        "first /predict answer "
        "(median). RSS per worker: the largest child process after the load (the process itself for "
        "single-process servers; LitServe's children include its API server, not only its inference "
        "worker); all processes: the whole tree, master included.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name in args.servers:
        r = results.get(name)
        label = CATALOGUE[name].label
        if isinstance(r, dict):
            cells = [fmt.format(r[key]) for key, _, fmt, _ in METRICS]
            cells += [f"{r['processes']} ({r['workers']})", str(r["errors"])]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        else:
            lines.append(f"| {label} | {r} |" + " |" * (len(head) - 2))
    rows = ratios(results)
    if rows:
        lines += ["", "## Ours against the best peer", "", "| measure | ours / best peer |", "|---|---|"]
        lines += [f"| {title.format(c=c)} | {text} |" for title, text in rows]
    lines += ["", "Ratios: ours divided by the best peer on that measure; for latency, time and memory "
                  "below 1 is better, for requests/s above 1.", ""]
    costs = stack_costs(results, alone or {}, args)
    if costs:
        lines += ["## Each server's own cost per request", "",
                  "Its 1-client p50 minus the p50 of the Predictor alone in the benchmark's process (no "
                  "HTTP), in the same rounds, at the inference threads the server gives a lone request: "
                  + ", ".join(f"{t} thread(s) {a['small_p50']:.1f} ms small / {a['big_p50']:.0f} ms 12-MP"
                              for t, a in sorted((alone or {}).items())) + ". It includes the client and "
                  "the loopback round trip, the same for every server.", "",
                  "| server | own cost per request |", "|---|---|"]
        lines += [f"| {label} | {text} |" for label, text in costs] + [""]
    lines += [f"- {CATALOGUE[n].label}: req/s per round, small {r['per_round_rps']}, "
              f"12-MP {r['per_round_rps_big']}." for n, r in results.items() if isinstance(r, dict)]
    return "\n".join(lines) + "\n"


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM: the same clean-up as Ctrl-C


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="The same Predictor behind our API and peer servers, side by side (loopback only).")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 1 round, few requests, short runs")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of each concurrent run")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma list of {','.join(SERVERS)}")
    parser.add_argument("--inference-threads", type=int, default=0,
                        help="FASHION_INFERENCE_THREADS for every server (default: each one's own: 1 per "
                             "gunicorn worker on 2 cores, all cores in a single-process server)")
    parser.add_argument("--ours-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra environment variable for ours only (repeatable), e.g. "
                             "FASHION_API_LOG_FILES=false, to see what a setting costs")
    parser.add_argument("--out", default=str(hb.ROOT / "docs" / "benchmarks" / "peers.md"))
    args = parser.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = [s for s in args.servers if s not in CATALOGUE]
    if unknown or not args.servers:
        parser.error(f"unknown server(s) {unknown}; choose from {','.join(SERVERS)}")
    bad = [e for e in args.ours_env if "=" not in e]
    if bad:
        parser.error(f"--ours-env wants NAME=VALUE, not {bad}")
    args.ours_env = dict(e.split("=", 1) for e in args.ours_env)
    args.requests, args.warmup, args.big_requests = (20, 5, 3) if args.quick else (300, 30, 30)
    if args.quick:
        args.rounds, args.duration = 1, min(args.duration, 3.0)
    args.rounds = max(1, args.rounds)
    args.start_timeout, args.request_timeout = 120.0, 60.0
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python bench/bench_peers.py " + " ".join(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)
    results: dict = {}
    servers = []
    for name in args.servers:
        missing = missing_module(CATALOGUE[name])
        if missing:
            results[name] = f"skipped: {missing} not installed ({INSTALL_HINT})"
            print(f"{name}: {results[name]}", flush=True)
        else:
            servers.append(CATALOGUE[name])
    photos = hb.small_photos(64)
    small = [hb.multipart("file", [(f"p{i}.jpg", p)]) for i, p in enumerate(photos)]
    big_jpeg = hb.twelve_mp_jpeg(photos[0])
    big = [hb.multipart("file", [("12mp.jpg", big_jpeg)])]
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    load_before = os.getloadavg()
    other = hb.OtherWork()
    runs: dict[str, list[dict]] = {s.name: [] for s in servers}
    alone_runs: dict[int, list[dict]] = {t: [] for t in sorted({1, os.cpu_count() or 1})}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
            # production defaults but rate limits off; logs, history and metrics files in a temp folder
            env = {"RATELIMIT_ENABLED": "false", "FASHION_LOGS_DIR": tmp,
                   "FASHION_HISTORY_DB": str(Path(tmp) / "history.db"),
                   "BENTOML_DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1"}
            if args.inference_threads:
                env["FASHION_INFERENCE_THREADS"] = str(args.inference_threads)
            for round_no in range(1, args.rounds + 1):
                for threads, kept in alone_runs.items():
                    print(f"round {round_no}/{args.rounds}: the Predictor alone, {threads} thread(s) ...",
                          flush=True)
                    kept.append(predictor_alone(threads, photos, big_jpeg, args))
                for server in servers:
                    if isinstance(results.get(server.name), str):
                        continue  # failed in an earlier round
                    print(f"round {round_no}/{args.rounds}: {server.name} ...", flush=True)
                    log = Path(tmp) / f"{server.name}.log"
                    try:
                        server_env = {**env, **args.ours_env} if server.name == "ours" else env
                        run = measure(server, args, small, big, server_env, log)
                    except KeyboardInterrupt:
                        raise
                    except Exception as exc:  # a peer that fails must not stop the others
                        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                        results[server.name] = f"failed: {type(exc).__name__}: {exc}"
                        print(f"  {results[server.name]}\n  log tail:\n{tail}", flush=True)
                        continue
                    runs[server.name].append(run)
                    print(f"  small p50 {hb.percentiles_ms(run['small'])['p50']:.1f} ms, "
                          f"{run['rps_small']['rps']:.1f} req/s small, "
                          f"{run['rps_big']['rps']:.1f} req/s 12-MP, ready {run['cold_ready_s']:.2f} s",
                          flush=True)
    except KeyboardInterrupt:
        print("interrupted: stopping every server started", file=sys.stderr)
        kill_our_children()
        return 130
    finally:
        kill_our_children()
    for name, server_runs in runs.items():
        if server_runs and not isinstance(results.get(name), str):
            results[name] = summarize(server_runs)
    load_after = os.getloadavg()
    alone = {t: {"small_p50": hb.percentiles_ms([x for r in kept for x in r["small"]])["p50"],
                 "big_p50": hb.percentiles_ms([x for r in kept for x in r["big"]])["p50"]}
             for t, kept in alone_runs.items() if kept}
    text = report(args, command.strip(), results, load_before, load_after, other.share(), started,
                  len(big_jpeg), statistics.mean(len(p) for p in photos), alone)
    hb.publish(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
