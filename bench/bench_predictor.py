"""Predictor benchmark: our LiteRT Predictor against Keras, side by side in one run.

Every path starts from the JPEG bytes of real product photos (decode, letterbox,
model), so the comparison is what a request costs:
  - Keras ``model.predict`` on one image (the reference system's serving path)
  - Keras ``model(x)`` on one image
  - our Predictor at batch 1 (``predict_bytes``) and batch 32 (``predict_many``)
plus the Predictor's cold start (process start to first prediction) and RSS,
each measured in a fresh subprocess. Writes a markdown table.

    python bench/bench_predictor.py [--quick] [--out docs/benchmarks/predictor.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fashion_classifier.config import Config  # noqa: E402
from fashion_classifier.data.prepare import read_split  # noqa: E402
from fashion_classifier.model import Predictor  # noqa: E402

COLD_START = """
import time, resource, sys
t0 = time.perf_counter()
sys.path.insert(0, {src!r})
from fashion_classifier.config import Config
from fashion_classifier.model import Predictor
p = Predictor.from_config(Config(root={root!r}))
p.predict_bytes(open({photo!r}, 'rb').read())
elapsed = time.perf_counter() - t0
rss = int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) / 1024
print(elapsed, rss, 'tensorflow' in sys.modules)
"""


def photos(config: Config, count: int) -> list[bytes]:
    records = read_split(config.path("splits_dir"), "test")[:count]
    return [(config.path("dataset_dir") / r.path).read_bytes() for r in records]


def timed(fn, items, repeat: int) -> list[float]:
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(items[i % len(items)])
        times.append(time.perf_counter() - start)
    return times


def summarize(name: str, times: list[float], images_per_call: int) -> dict:
    arr = np.array(times[max(1, len(times) // 10):])  # drop warm-up calls
    return {"path": name, "p50_ms": 1000 * float(np.median(arr)) / images_per_call,
            "p95_ms": 1000 * float(np.percentile(arr, 95)) / images_per_call,
            "images_per_s": images_per_call / float(np.mean(arr))}


def keras_paths(config: Config, predictor: Predictor, data: list[bytes], repeat: int) -> list[dict]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    model = keras.saving.load_model(str(config.path("keras_model_path")), compile=False)

    def keras_predict(item):
        return model.predict(predictor.preprocess(item)[None].astype(np.float32), verbose=0)

    def keras_call(item):
        return np.asarray(model(predictor.preprocess(item)[None].astype(np.float32), training=False))

    keras_predict(data[0])
    keras_call(data[0])
    return [summarize("Keras model.predict, batch 1 (reference path)", timed(keras_predict, data, repeat), 1),
            summarize("Keras model(x), batch 1", timed(keras_call, data, repeat), 1)]


def cold_start(config: Config, photo: Path, runs: int) -> dict:
    results = []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", COLD_START.format(
            src=str(ROOT / "src"), root=str(config.root), photo=str(photo))],
            capture_output=True, text=True, check=True).stdout.split()
        wall = time.perf_counter() - start
        results.append((wall, float(out[1]), out[2] == "True"))
    return {"cold_start_s": float(np.median([r[0] for r in results])),
            "rss_mb": float(np.median([r[1] for r in results])),
            "tensorflow_imported": any(r[2] for r in results)}


def markdown(rows: list[dict], extra: dict, reference: dict, ours: dict) -> str:
    lines = ["| path | p50 ms/image | p95 ms/image | images/s |", "|---|---:|---:|---:|"]
    lines += [f"| {r['path']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['images_per_s']:.0f} |"
              for r in rows]
    lines += ["", f"- Predictor batch 1 p50 is **{reference['p50_ms'] / ours['p50_ms']:.1f}x** lower than "
                  f"Keras `model.predict` (same run, same photos).",
              f"- Cold start (process start to first prediction, median of {extra['runs']}): "
              f"{extra['cold_start_s']:.2f} s; RSS after it: {extra['rss_mb']:.0f} MB; "
              f"TensorFlow imported: {extra['tensorflow_imported']}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: few repetitions")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "predictor.md"))
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras paths (no TensorFlow)")
    args = parser.parse_args(argv)
    repeat, cold_runs = (30, 1) if args.quick else (400, 5)
    load_before = os.getloadavg()[0]
    config = Config(root=ROOT)
    data = photos(config, 64)
    predictor = Predictor.from_config(config)
    rows = []
    if not args.no_keras:
        rows += keras_paths(config, predictor, data, max(20, repeat // 4))
    rows.append(summarize("our Predictor (LiteRT), batch 1", timed(predictor.predict_bytes, data, repeat), 1))
    batches = [data[i:i + 32] for i in range(0, 64, 32)]
    rows.append(summarize("our Predictor (LiteRT), batch 32",
                          timed(predictor.predict_many, batches, max(6, repeat // 16)), 32))
    first = config.path("dataset_dir") / read_split(config.path("splits_dir"), "test")[0].path
    extra = dict(cold_start(config, first, cold_runs), runs=cold_runs)
    ours = rows[-2]
    reference = rows[0] if not args.no_keras else ours
    text = (f"# Predictor benchmark\n\nModel {predictor.version}, input {predictor.input_size}, "
            f"{os.cpu_count()} cores, `python bench/bench_predictor.py{' --quick' if args.quick else ''}`, "
            f"{time.strftime('%Y-%m-%d %H:%M')}; load average {load_before:.1f} before and "
            f"{os.getloadavg()[0]:.1f} after (above ~0.5 on 2 cores means other work shared the CPU "
            f"and absolute times are inflated; the ratio is the robust figure).\n\n"
            + markdown(rows, extra, reference, ours))
    print(text)
    print(json.dumps({"rows": rows, **extra}))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
