"""``alexnet-mel``: the spectrogram as a one-channel image, AlexNet style.

::

    Input(frames, n_mels) -> Reshape "to_image" (frames, n_mels, 1)
    Conv2D(64, 11x11, strides 2, relu) -> BatchNorm -> MaxPool2D(3, strides 2)
    Conv2D(f1, 3x3, same, relu) -> BatchNorm -> MaxPool2D(3, strides 2)
    Conv2D(f2, 3x3, same, relu) -> Conv2D(f3, 3x3, same, relu) -> BatchNorm
    -> MaxPool2D(3, strides 2)
    GlobalAveragePooling2D -> Dense(d, relu) -> Dropout -> Dense(n_classes, softmax)

It keeps AlexNet's large strided first filter, overlapping 3x3/2 max
pooling and a stack of 3x3 convolutions, but with far fewer channels
(default f = 64, 96, 96 instead of 192..384), BatchNorm instead of local
response normalisation, and global average pooling instead of the two
4096-unit dense layers, so it fits a CPU and a few hundred clips.
"""

from __future__ import annotations

import keras
from keras import layers

NAME = "alexnet-mel"


def build_alexnet_mel(
    *,
    input_shape: tuple[int, int],
    n_classes: int,
    first_filters: int = 64,
    first_kernel: int = 11,
    first_strides: int = 2,
    filters: tuple[int, int, int] = (64, 96, 96),
    dense_units: int = 128,
    dropout: float = 0.5,
    bn_momentum: float = 0.9,
) -> keras.Model:
    """AlexNet-style 2D CNN over the (time, Mel) image."""
    if len(filters) != 3:
        raise ValueError("filters must have three entries")
    frames, n_mels = input_shape
    inputs = keras.Input(shape=(frames, n_mels), dtype="float32", name="mel")
    x = layers.Reshape((frames, n_mels, 1), name="to_image")(inputs)
    # 'same' padding keeps small inputs (and few Mel bands) valid.
    x = layers.Conv2D(
        first_filters,
        first_kernel,
        strides=first_strides,
        padding="same",
        activation="relu",
        name="conv1",
    )(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="bn1")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)

    x = layers.Conv2D(filters[0], 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="bn2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)

    x = layers.Conv2D(filters[1], 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(filters[2], 3, padding="same", activation="relu", name="conv4")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="bn3")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool3")(x)

    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    x = layers.Dropout(dropout, name="dense_drop")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=NAME)
