"""Input-resolution study: linear-probe accuracy against LiteRT latency per size.

The source photos are about 60x80 px, so a large input mostly upsamples; this
measures whether the ImageNet features still profit, and what it costs at
serving time, before the full training commits to one size.
``python -m fashion_classifier.training.resolution --help``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..config import load_config
from .arrays import load_split_arrays
from .tf_setup import init_tensorflow


def parse_size(text: str) -> tuple[int, int]:
    height, width = text.lower().split("x")
    return int(height), int(width)


def litert_latency_ms(tflite_bytes: bytes, sample: np.ndarray, runs: int = 80) -> float:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_bytes, num_threads=2)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    times = []
    for i in range(runs):
        start = time.perf_counter()
        interpreter.set_tensor(index, sample[i % len(sample)][None].astype(np.float32))
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return float(np.median(times[10:]) * 1000)


def study_size(size, config, train_limit: int) -> dict:
    from sklearn.linear_model import LogisticRegression

    from .model import build_classifier, feature_extractor

    tf, keras = init_tensorflow(config.seed)
    common = dict(dataset_dir=config.path("dataset_dir"), size=size,
                  cache_dir=config.path("cache_dir"))
    x_train, y_train = load_split_arrays(config.path("splits_dir"), "train", limit=train_limit,
                                         seed=config.seed, **common)
    x_val, y_val = load_split_arrays(config.path("splits_dir"), "val", **common)
    model = build_classifier(size, config.weights_dir if config.weights_dir.is_absolute()
                             else config.root / config.weights_dir, outputs=int(y_train.max()) + 1)
    extractor = feature_extractor(model)
    start = time.perf_counter()
    f_train = extractor.predict(x_train.astype(np.float32), batch_size=64, verbose=2)
    f_val = extractor.predict(x_val.astype(np.float32), batch_size=64, verbose=2)
    rate = (len(x_train) + len(x_val)) / (time.perf_counter() - start)
    probe = LogisticRegression(max_iter=2000, C=1.0).fit(f_train, y_train)
    accuracy = float((probe.predict(f_val) == y_val).mean())
    tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    return {"size": f"{size[0]}x{size[1]}", "val_accuracy_linear_probe": accuracy,
            "litert_p50_ms_batch1": litert_latency_ms(tflite, x_val[:64]),
            "keras_feature_images_per_s": rate, "train_images": len(x_train)}


def main(argv=None) -> int:
    config = load_config()
    parser = argparse.ArgumentParser(prog="python -m fashion_classifier.training.resolution",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="96x72,128x96,160x120,224x168",
                        help="HEIGHTxWIDTH list (default: %(default)s)")
    parser.add_argument("--train-limit", type=int, default=6000,
                        help="training images per probe (default: %(default)s)")
    parser.add_argument("--out", default=str(config.path("results_dir") / "resolution_study.json"))
    args = parser.parse_args(argv)
    rows = []
    for text in args.sizes.split(","):
        row = study_size(parse_size(text), config, args.train_limit)
        print(json.dumps(row), flush=True)
        rows.append(row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    _plot(rows, out.with_suffix(".png"))
    print(f"written {out} and {out.with_suffix('.png')}")
    return 0


def _plot(rows, path: Path) -> None:
    from .plots import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["litert_p50_ms_batch1"] for r in rows],
            [100 * r["val_accuracy_linear_probe"] for r in rows], "o-")
    for r in rows:
        ax.annotate(r["size"], (r["litert_p50_ms_batch1"], 100 * r["val_accuracy_linear_probe"]),
                    textcoords="offset points", xytext=(5, -10), fontsize=8)
    ax.set_xlabel("LiteRT latency per image, batch 1, p50 (ms)")
    ax.set_ylabel("val accuracy, linear probe (%)")
    ax.set_title("Input resolution: accuracy against latency")
    _save(fig, path)


if __name__ == "__main__":
    sys.exit(main())
