"""The Keras model: MobileNetV2 (local ImageNet weights) + a 10-way softmax head.

The input is RGB uint8-valued float (0..255) at (height, width); the backbone's
own preprocessing (scale to [-1, 1]) is the first layer, so every consumer of
the model (Keras, LiteRT) feeds the same thing ``imaging.to_model_input`` makes.
"""

from __future__ import annotations

from pathlib import Path

NO_TOP_WEIGHTS = "mobilenet_v2_1.0_224_imagenet_dequant_no_top.h5"
BACKBONE_NAME = "mobilenet_v2"


def build_backbone(size: tuple[int, int], weights_dir: Path):
    """MobileNetV2 without top, average-pooled, weights from the local file only."""
    import keras

    weights = Path(weights_dir) / NO_TOP_WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"backbone weights not found: {weights} (see ../shared/weights/README.md)")
    return keras.applications.MobileNetV2(
        input_shape=(size[0], size[1], 3), include_top=False, pooling="avg",
        weights=str(weights), name=BACKBONE_NAME)


def build_classifier(size: tuple[int, int], weights_dir: Path, outputs: int, dropout: float = 0.2):
    """Image (0..255) -> [-1, 1] -> backbone (BatchNorm in inference mode) -> softmax."""
    import keras

    backbone = build_backbone(size, weights_dir)
    inputs = keras.Input(shape=(size[0], size[1], 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="mobilenet_v2_preprocess")(inputs)
    # training=False keeps BatchNorm on its moving statistics even while the top
    # blocks are fine-tuned: these weights have BN folded into the convolutions.
    features = backbone(x, training=False)
    x = keras.layers.Dropout(dropout, name="head_dropout")(features)
    probabilities = keras.layers.Dense(outputs, activation="softmax", name="head")(x)
    return keras.Model(inputs, probabilities, name="fashion_classifier")


def start_from(model, previous, previous_labels, labels, temperature: float = 1.0) -> int:
    """Copy a trained model's backbone into ``model`` and its head's columns for the labels both
    have (temperature taken back out); new outputs (Other) start at zero. Returns columns copied."""
    import numpy as np

    model.get_layer(BACKBONE_NAME).set_weights(previous.get_layer(BACKBONE_NAME).get_weights())
    old_kernel, old_bias = (w * temperature for w in previous.get_layer("head").get_weights())
    kernel, bias = model.get_layer("head").get_weights()
    kernel, bias = np.zeros_like(kernel), np.zeros_like(bias)
    copied = 0
    for i, label in enumerate(labels):
        if label in previous_labels:
            j = list(previous_labels).index(label)
            kernel[:, i], bias[i] = old_kernel[:, j], old_bias[j]
            copied += 1
    model.get_layer("head").set_weights([kernel, bias])
    return copied


def feature_extractor(model):
    """Image -> pooled backbone features, sharing the classifier's layers."""
    import keras

    return keras.Model(model.input, model.get_layer("head_dropout").input, name="features")


def set_trainable_from(model, first_block: int) -> int:
    """Freeze the backbone below ``block_<first_block>``; returns trainable layer count.

    ``first_block`` 0 trains the whole backbone (stem and ``expanded_conv`` too;
    Keras names the blocks 1..16 after that). BatchNorm layers stay frozen:
    their statistics are the folded ones.
    """
    import keras

    backbone = model.get_layer(BACKBONE_NAME)
    backbone.trainable = True
    trainable_now = first_block <= 0
    count = 0
    for layer in backbone.layers:
        if layer.name.startswith(f"block_{first_block}_"):
            trainable_now = True
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = trainable_now and not is_bn
        count += int(layer.trainable)
    return count


def fold_temperature(model, temperature: float) -> None:
    """Bake softmax(z / T) into the head: divide its kernel and bias by T."""
    head = model.get_layer("head")
    kernel, bias = head.get_weights()
    head.set_weights([kernel / temperature, bias / temperature])
