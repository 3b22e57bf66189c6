"""Custom Keras layers, registered so saved models can be reloaded.

Loading a ``.keras`` archive that contains one of these layers requires this
module to have been imported first (``animalsnd.models.load_model`` does it).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["AmongAnimals", "PositionEmbedding"]


@keras.saving.register_keras_serializable(package="animalsnd")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding to each position of a ``(batch, tokens, dim)``
    sequence. The number of tokens is fixed when the layer is built."""

    def __init__(self, initializer: str | dict = "random_normal", **kwargs):
        super().__init__(**kwargs)
        if initializer == "random_normal":
            initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        n_tokens, dim = input_shape[-2], input_shape[-1]
        if n_tokens is None or dim is None:
            raise ValueError("PositionEmbedding needs a fixed number of tokens and dim")
        self.embedding = self.add_weight(
            name="embedding",
            shape=(int(n_tokens), int(dim)),
            initializer=self.initializer,
            trainable=True,
        )

    def call(self, inputs):
        return inputs + ops.cast(self.embedding, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["initializer"] = keras.initializers.serialize(self.initializer)
        return config


@keras.saving.register_keras_serializable(package="animalsnd")
class AmongAnimals(keras.layers.Layer):
    """A fixed term ``x @ A + c`` added to the logits of the classes where ``among`` is True, the
    total probability of those classes kept: called on ``[x, p]`` (a head's raw input and its
    class probabilities), it returns ``p`` with ``p[among]`` replaced by
    ``p[among].sum() * softmax(log p[among] + t[among])``; the other classes (``background``)
    keep their probabilities. So the term moves only which animal a window holds, never whether
    it holds one. ``A`` and ``c`` are constants (not trained)."""

    def __init__(self, terms: tuple[int, int], among: list[bool], **kwargs):
        super().__init__(**kwargs)
        self.terms = tuple(int(v) for v in terms)
        self.among = [bool(v) for v in among]

    def build(self, input_shape):
        dim, k = self.terms
        self.A = self.add_weight(name="A", shape=(dim, k), initializer="zeros", trainable=False)
        self.c = self.add_weight(name="c", shape=(k,), initializer="zeros", trainable=False)

    def call(self, inputs):
        x, p = inputs
        t = ops.matmul(x, ops.cast(self.A, x.dtype)) + ops.cast(self.c, x.dtype)
        mask = ops.cast(ops.convert_to_tensor(self.among), p.dtype)
        mass = ops.sum(p * mask, axis=-1, keepdims=True)
        z = ops.log(ops.maximum(p, 1e-30)) + ops.cast(t, p.dtype)
        z = z - ops.max(z - (1.0 - mask) * 1e9, axis=-1, keepdims=True)
        q = ops.exp(ops.minimum(z, 0.0)) * mask
        q = q / ops.maximum(ops.sum(q, axis=-1, keepdims=True), 1e-30)
        return p * (1.0 - mask) + q * mass

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        return {**super().get_config(), "terms": list(self.terms), "among": list(self.among)}
