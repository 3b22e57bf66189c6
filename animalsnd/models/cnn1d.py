"""``cnn1d``: the study's baseline 1D CNN, reproduced layer for layer.

The Mel bins are the channels and the convolutions slide along time::

    Input(frames, n_mels)
    Conv1D(32, 3, relu) -> BatchNorm -> MaxPool1D(2) -> Dropout(0.3)
    Conv1D(64, 3, relu) -> BatchNorm -> MaxPool1D(2) -> Dropout(0.3)
    Flatten -> Dense(128, relu) -> Dropout(0.4) -> Dense(n_classes, softmax)

Convolutions use 'valid' padding (the Keras default the study used). Almost
all the weights sit in the first Dense layer, whose input size grows with the
number of frames (~1M weights at 500 frames).
"""

from __future__ import annotations

import keras
from keras import layers

NAME = "cnn1d"


def build_cnn1d(
    *,
    input_shape: tuple[int, int],
    n_classes: int,
    filters: tuple[int, int] = (32, 64),
    kernel_size: int = 3,
    conv_dropout: float = 0.3,
    dense_units: int = 128,
    dense_dropout: float = 0.4,
) -> keras.Model:
    """Baseline 1D CNN; the defaults are the study's configuration."""
    inputs = keras.Input(shape=tuple(input_shape), dtype="float32", name="mel")
    x = inputs
    for i, n_filters in enumerate(filters, start=1):
        x = layers.Conv1D(
            n_filters, kernel_size, activation="relu", name=f"conv{i}"
        )(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.MaxPooling1D(2, name=f"pool{i}")(x)
        x = layers.Dropout(conv_dropout, name=f"drop{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    x = layers.Dropout(dense_dropout, name="dense_drop")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=NAME)
