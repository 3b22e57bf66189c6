"""Custom Keras layers, registered so saved models can be reloaded.

Loading a ``.keras`` archive that contains one of these layers requires this
module to have been imported first (``animalsnd.models.load_model`` does it).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["PositionEmbedding"]


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
