"""Quiet, reproducible TensorFlow set-up for the training commands."""

from __future__ import annotations

import os


def init_tensorflow(seed: int):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.get_logger().setLevel("ERROR")
    return tf, keras
