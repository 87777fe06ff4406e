"""Two (or more) model folders side by side, one run: p50 and p95 of ``Predictor.predict_bytes``
at batch 1 on the committed photos, in interleaved rounds, and each one's ratio to the first.

    python bench/bench_models.py OLD_MODEL_DIR NEW_MODEL_DIR [--rounds 6]

A model folder holds fashion_classifier.tflite, labels.json and model_card.json (``models/``,
``models/versions/<v>/``, a training run's ``--out``). Used for issue 12's "serving latency
within +10 %": the open-world model against the closed one it replaced.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fashion_classifier.model import Predictor  # noqa: E402
from fashion_classifier.model.predictor import ModelInfo  # noqa: E402


def load(folder: Path) -> Predictor:
    info = ModelInfo.load(folder / "labels.json", folder / "model_card.json")
    return Predictor(folder / "fashion_classifier.tflite", info)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="model folders; the first is the baseline")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds (default: %(default)s)")
    args = parser.parse_args(argv)
    photos = [p.read_bytes() for p in sorted((ROOT / "tests" / "fixtures" / "photos").glob("*/*.jpg"))]
    predictors = {folder: load(folder) for folder in args.models}
    times: dict[Path, list[float]] = {folder: [] for folder in predictors}
    for _ in range(args.rounds):
        for folder, predictor in predictors.items():
            for photo in photos * 3:
                start = time.perf_counter()
                predictor.predict_bytes(photo)
                times[folder].append(time.perf_counter() - start)
    print(f"load average {os.getloadavg()[0]:.2f}; {len(photos) * 3 * args.rounds} photos per model")
    base = None
    for folder, samples in times.items():
        p50 = statistics.median(samples) * 1000
        p95 = statistics.quantiles(samples, n=20)[-1] * 1000
        base = base or p50
        info = predictors[folder].info
        print(f"{folder}: {info.version}, {len(info.labels)} outputs, mirror {info.flip_tta}: "
              f"p50 {p50:.2f} ms, p95 {p95:.2f} ms, ratio {p50 / base:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
