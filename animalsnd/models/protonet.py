"""Encoder, projection head and prototype classifier of ``--model protonet``.

The encoder is a compact 1D CNN over log-Mel frames (Mel bins as channels)
ending in an L2-normalised embedding; :class:`PrototypeSoftmax` turns an
embedding into class probabilities from its squared distances to stored class
prototypes. A trained classifier is one ``keras.Model``
(``mel -> encoder layers -> probs``), saved and loaded like every other model.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

__all__ = ["FrameMask", "MaskedGlobalPooling", "PrototypeSoftmax", "build_encoder", "build_projection",
           "build_protonet"]


@keras.saving.register_keras_serializable(package="animalsnd")
class FrameMask(keras.layers.Layer):
    """``(batch, frames, n_mels)`` -> ``(batch, frames, 1)``: 1 where a frame holds audio.

    The cache zero-pads short clips to ``frames``; a padded frame is exactly
    zero in every band, a frame of audio (z-normalised) practically never is.
    """

    def call(self, x):
        return ops.cast(ops.any(ops.not_equal(x, 0.0), axis=-1, keepdims=True), x.dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)


@keras.saving.register_keras_serializable(package="animalsnd")
class MaskedGlobalPooling(keras.layers.Layer):
    """Mean and max over the time steps where ``mask`` is 1, concatenated.

    Inputs ``[x (batch, t, c), mask (batch, t, 1)]``; a clip without any
    masked-in step pools to zeros. Padding never dilutes a short clip's mean.
    """

    def call(self, inputs):
        x, m = inputs
        n = ops.sum(m, axis=1)
        mean = ops.sum(x * m, axis=1) / ops.maximum(n, 1.0)
        big = ops.max(x - (1.0 - m) * 1e9, axis=1)
        return ops.concatenate([mean, ops.where(n > 0, big, 0.0)], axis=-1)

    def compute_output_shape(self, input_shape):
        x_shape = input_shape[0]
        return (x_shape[0], 2 * x_shape[-1])


@keras.saving.register_keras_serializable(package="animalsnd")
class PrototypeSoftmax(keras.layers.Layer):
    """``p(c | z) = softmax_c(-||z - P_c||^2 / temperature)``.

    Parameters
    ----------
    n_classes, dim : int
        Shape of the prototype matrix ``P`` (a non-trainable weight, set with
        ``layer.prototypes.assign(...)``).
    temperature : float
        Divides the negative squared distances before the softmax.
    """

    def __init__(self, n_classes: int, dim: int, temperature: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.n_classes, self.dim, self.temperature = int(n_classes), int(dim), float(temperature)

    def build(self, input_shape):
        self.prototypes = self.add_weight(name="prototypes", shape=(self.n_classes, self.dim),
                                          initializer="zeros", trainable=False)

    def call(self, z):
        p = ops.cast(self.prototypes, z.dtype)
        d2 = (ops.sum(z * z, axis=-1, keepdims=True) - 2.0 * ops.matmul(z, ops.transpose(p))
              + ops.expand_dims(ops.sum(p * p, axis=-1), 0))
        return ops.softmax(-ops.maximum(d2, 0.0) / self.temperature, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_classes)

    def get_config(self):
        return {**super().get_config(), "n_classes": self.n_classes, "dim": self.dim,
                "temperature": self.temperature}


def build_encoder(
    input_shape: tuple[int, int],
    *,
    filters: tuple[int, int, int] = (64, 128, 128),
    embed_dim: int = 128,
    name: str = "encoder",
) -> keras.Model:
    """``(frames, n_mels)`` -> L2-normalised ``(embed_dim,)``.

    | layer          | what                                       |
    |----------------|--------------------------------------------|
    | ``conv1``      | Conv1D(filters[0], 5, stride 2) + BN + ReLU, MaxPool 2 |
    | ``conv2``      | Conv1D(filters[1], 3) + BN + ReLU, MaxPool 2 |
    | ``conv3``      | Conv1D(filters[2], 3) + BN + ReLU          |
    | ``pool``       | average and max over the frames holding audio (zero padding masked out), concatenated |
    | ``embed``      | Dense(embed_dim), then unit L2 norm (``l2``) |
    """
    inp = keras.Input(shape=tuple(input_shape), name="mel")
    x = inp
    m = FrameMask(name="frame_mask")(inp)  # follows the time resolution of x
    for i, (f, k, stride) in enumerate([(filters[0], 5, 2), (filters[1], 3, 1), (filters[2], 3, 1)], start=1):
        x = layers.Conv1D(f, k, strides=stride, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        if stride > 1:
            m = layers.MaxPooling1D(stride, padding="same", name=f"mask_stride{i}")(m)
        if i < 3:
            x = layers.MaxPooling1D(2, name=f"maxpool{i}")(x)
            m = layers.MaxPooling1D(2, name=f"mask_pool{i}")(m)
    x = MaskedGlobalPooling(name="pool")([x, m])
    x = layers.Dense(embed_dim, name="embed")(x)
    out = layers.UnitNormalization(name="l2")(x)
    return keras.Model(inp, out, name=name)


def build_projection(embed_dim: int = 128, proj_dim: int = 64, *, name: str = "projection") -> keras.Model:
    """SimCLR projection head (used only during pretraining): MLP + unit norm."""
    inp = keras.Input(shape=(embed_dim,), name="embedding")
    x = layers.Dense(embed_dim, activation="relu", name="proj1")(inp)
    x = layers.Dense(proj_dim, name="proj2")(x)
    return keras.Model(inp, layers.UnitNormalization(name="proj_l2")(x), name=name)


def build_protonet(encoder: keras.Model, prototypes: np.ndarray, *, temperature: float,
                   name: str = "protonet") -> keras.Model:
    """The classifier: ``encoder``'s layers followed by :class:`PrototypeSoftmax` (``probs``).

    ``prototypes`` has shape ``(n_classes, embed_dim)``.
    """
    P = np.asarray(prototypes, dtype=np.float32)
    head = PrototypeSoftmax(P.shape[0], P.shape[1], temperature=temperature, name="probs")
    model = keras.Model(encoder.input, head(encoder.output), name=name)
    head.prototypes.assign(P)
    return model
