"""Pooled backbone features for the head stage, computed through LiteRT.

On these CPUs LiteRT (XNNPack) computes MobileNetV2 features about three times
faster than Keras ``model.predict`` (7 ms against 20 ms a photo measured side by
side on 2 busy cores), and stage 1 needs every training photo twice (mirrored).
The extractor graph is the classifier's own layers, converted once per run.
"""

from __future__ import annotations

import os

import numpy as np

from ..progress import progress

BATCH = 16


class LiteFeatures:
    def __init__(self, extractor):
        import tensorflow as tf
        from ai_edge_litert.interpreter import Interpreter

        content = tf.lite.TFLiteConverter.from_keras_model(extractor).convert()
        self._interpreter = Interpreter(model_content=content, num_threads=os.cpu_count() or 1)
        details = self._interpreter.get_input_details()[0]
        self._input = details["index"]
        self._interpreter.resize_tensor_input(self._input, [BATCH, *details["shape"][1:]])
        self._interpreter.allocate_tensors()
        self._output = self._interpreter.get_output_details()[0]["index"]
        self.width = int(self._interpreter.get_output_details()[0]["shape"][-1])

    def __call__(self, x: np.ndarray, mirror: bool = False, label: str = "features") -> np.ndarray:
        out = np.empty((len(x), self.width), dtype=np.float32)
        for start in progress(range(0, len(x), BATCH), label, unit="batch"):
            chunk = x[start:start + BATCH]
            if mirror:
                chunk = chunk[:, :, ::-1]
            n = len(chunk)
            batch = np.zeros((BATCH, *x.shape[1:]), dtype=np.float32)
            batch[:n] = chunk
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            out[start:start + n] = self._interpreter.get_tensor(self._output)[:n]
        return out
