"""Gunicorn settings: ``gunicorn -c api/gunicorn.conf.py api.wsgi:app`` (``make run``).

- binds ``FASHION_API_HOST:PORT``, 127.0.0.1:5000 by default (the container sets 0.0.0.0);
- workers from cores (``FASHION_API_WORKERS``, 0 = cores + 1: one can read an upload
  or answer a probe while the others compute); "cores" are those this process may use:
  the CPU affinity and a container's cgroup CPU limit (``fashion_classifier.cpus``);
- ``GuardedThreadWorker`` (gthread, ``FASHION_API_THREADS`` threads each, default 4): a
  connection takes a thread only once its bytes arrive, and its head and body must arrive
  within ``FASHION_API_HEADER_TIMEOUT_SECONDS`` / ``FASHION_API_BODY_TIMEOUT_SECONDS``
  (else JSON 408), so slow clients hold threads for a bounded time and never every worker.
  Sync workers were the earlier choice (a keep-alive connection stays on the worker that
  accepted it under gthread, which spread load tests less evenly: docs/benchmarks/api.md),
  but one client sending its body at 1 byte/s pinned a sync worker until its timeout.
  docs/API.md ("Slow clients and expensive requests") has the reasoning and the numbers;
- the same worker answers gunicorn's own errors (400, 414, 431, ...) with the API's JSON body;
- inference threads per worker: cores / workers (at least 1) unless
  ``FASHION_INFERENCE_THREADS`` is set, so busy workers do not oversubscribe the cores;
  a prediction request that is alone in the whole server runs on every core instead
  (``FASHION_SOLO_INFERENCE_THREADS``; the workers count their requests in flight in shared
  memory, one slot each, given out in ``pre_fork`` and cleared in ``child_exit``:
  ``fashion_classifier.model.lanes``, docs/benchmarks/threads.md);
- ``preload_app``: the model file is read and checked once in the master (a broken model
  stops the server before any worker starts); each worker builds its own LiteRT
  interpreters after the fork (``post_fork``: their thread pool does not survive it); the
  rest of the app is shared copy-on-write (little memory per worker);
- Prometheus multiprocess mode so /metrics sums all workers;
- on a graceful stop each worker writes its queued history rows first.
"""

import os
import shutil
import tempfile
from pathlib import Path

from fashion_classifier.config import Config
from fashion_classifier.cpus import available_cpus
from fashion_classifier.model.predictor import warm_in_children

_config = Config.from_env()

_host = f"[{_config.api_host}]" if ":" in _config.api_host else _config.api_host  # IPv6 in brackets
bind = f"{_host}:{_config.port}"
_cores = available_cpus()
workers = _config.api_workers or _cores + 1
threads = max(1, _config.api_threads)
worker_class = "fashion_classifier.api.worker.GuardedThreadWorker"
# read by Config.from_env() when api.wsgi builds the app (after this file, in this process)
os.environ.setdefault("FASHION_INFERENCE_THREADS", str(max(1, _cores // workers)))
preload_app = True
warm_in_children()  # the master loads and checks the model; each worker warms up its own
timeout = _config.api_worker_timeout
graceful_timeout = 30
keepalive = 5  # seconds an idle kept-alive connection may wait for its next request
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # heartbeat off the disk
accesslog = "-" if _config.api_access_log else None  # the app's JSON log line is the access log
errorlog = "-"
loglevel = "info"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
control_socket_disable = True  # several servers (tests, benchmarks) may run side by side

# prometheus_client reads this at import, so it must be set before the app loads
_prometheus_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_own_prometheus_dir = not _prometheus_dir
if _own_prometheus_dir:
    _prometheus_dir = tempfile.mkdtemp(prefix="fashion-prometheus-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _prometheus_dir
else:
    for _stale in Path(_prometheus_dir).glob("*.db"):  # counts of an earlier run
        _stale.unlink()


def worker_exit(server, worker):
    from fashion_classifier.api.logqueue import flush_all
    from fashion_classifier.api.recorder import close_all

    close_all()
    flush_all()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    from fashion_classifier.model import lanes

    multiprocess.mark_process_dead(worker.pid)
    lanes.for_server().release(getattr(worker, "in_flight_slot", None))  # requests that died with it


def on_exit(server):
    if _own_prometheus_dir:
        shutil.rmtree(_prometheus_dir, ignore_errors=True)


def pre_fork(server, worker):
    # the preloaded model's LiteRT interpreters do not survive a fork with their threads, and
    # a child cannot build its own while the parent's exist: the master drops them (it never
    # predicts); each worker builds and warms up its own before it accepts a request
    from fashion_classifier.model import lanes
    from fashion_classifier.model.predictor import release_before_fork

    release_before_fork()
    # the worker's own slot of the server's in-flight count (the solo lane: model.lanes)
    taken = [getattr(w, "in_flight_slot", None) for w in server.WORKERS.values()]
    worker.in_flight_slot = lanes.for_server().claim(taken)


def post_fork(server, worker):
    import signal

    from fashion_classifier.model.predictor import rebuild_after_fork

    # the worker still has the master's signal handlers until gunicorn installs its own after
    # this hook: a SIGTERM while it builds its interpreters would only be queued for a master
    # that is not there, and the worker would never stop. Default handling meanwhile: it ends
    # the worker, which has not accepted anything yet.
    for number in worker.SIGNALS:
        signal.signal(number, signal.SIG_DFL)
    # a stop that came before that (in the master's queue when it forked, or caught here by the
    # master's handler) is in this process's copy of the master's queue: stop now, as asked
    if _stop_was_asked(server.SIG_QUEUE):
        raise SystemExit(0)
    rebuild_after_fork()


def _stop_was_asked(signals) -> bool:
    import queue
    import signal

    stops, asked = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}, False
    while True:
        try:
            asked = signals.get_nowait() in stops or asked
        except queue.Empty:
            return asked
