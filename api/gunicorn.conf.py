"""Gunicorn settings: ``gunicorn -c api/gunicorn.conf.py api.wsgi:app`` (``make run``).

- workers from cores (``FASHION_API_WORKERS``, 0 = cores + 1: one can read an upload
  or answer a probe while the others compute); "cores" are those this process may use:
  the CPU affinity and a container's cgroup CPU limit (``fashion_classifier.cpus``);
- sync workers (``FASHION_API_THREADS`` 0 or 1). Inference is CPU-bound, and a sync worker
  takes a connection only when it is free, so the load spreads evenly. With threads
  (gthread) a keep-alive connection stays on the worker that accepted it: in our load
  tests a burst of clients often landed on one worker while the other idled
  (docs/benchmarks/api.md). ``FASHION_API_THREADS=N`` > 1 still selects gthread;
- inference threads per worker: cores / workers (at least 1) unless
  ``FASHION_INFERENCE_THREADS`` is set, so busy workers do not oversubscribe the cores;
- ``preload_app``: the model is loaded and warmed up once in the master and
  shared copy-on-write by the workers (fast start, little memory per worker);
- Prometheus multiprocess mode so /metrics sums all workers;
- on a graceful stop each worker writes its queued history rows first.
"""

import os
import shutil
import tempfile
from pathlib import Path

from fashion_classifier.config import Config
from fashion_classifier.cpus import available_cpus

_config = Config.from_env()

bind = f"0.0.0.0:{_config.port}"
_cores = available_cpus()
workers = _config.api_workers or _cores + 1
threads = _config.api_threads or 1
worker_class = "sync" if threads == 1 else "gthread"
# read by Config.from_env() when api.wsgi builds the app (after this file, in this process)
os.environ.setdefault("FASHION_INFERENCE_THREADS", str(max(1, _cores // workers)))
preload_app = True
timeout = _config.api_worker_timeout
graceful_timeout = 30
keepalive = 5  # gthread only; sync workers close after each response
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # heartbeat off the disk
accesslog = "-"
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
    from fashion_classifier.api.recorder import close_all

    close_all()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_prometheus_dir:
        shutil.rmtree(_prometheus_dir, ignore_errors=True)
