"""``transformer-mel``: a small Vision-Transformer over time-frequency patches.

::

    Input(frames, n_mels) -> Reshape "to_image" (frames, n_mels, 1)
    ZeroPadding2D "pad": time and Mel axes padded up to multiples of the patch
        size (500 x 128 -> 512 x 128; zero = band mean after z-normalisation)
    Conv2D(d_model, patch x patch, strides = patch) "patch_embed"
        -> Reshape "tokens" (n_tokens, d_model)     512x128 / 16x16 -> 32x8 = 256
    PositionEmbedding "pos_embed" (learned) -> Dropout
    n_blocks x pre-norm encoder block:
        x + Dropout(MultiHeadAttention(LayerNorm(x)))
        x + Dropout(Dense(d_model)(Dense(ff_dim, gelu)(LayerNorm(x))))
    LayerNorm -> GlobalAveragePooling1D over tokens -> Dropout
    -> Dense(n_classes, softmax)

Patches are extracted and projected in one step by a Conv2D whose kernel and
stride equal the patch size: mathematically a linear projection of each
flattened, non-overlapping 16x16 patch. Pre-norm blocks (LayerNorm before
attention and FFN) train more stably than post-norm ones on small data.
"""

from __future__ import annotations

import keras
from keras import layers

from animalsnd.models.layers import PositionEmbedding

NAME = "transformer-mel"


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def build_transformer_mel(
    *,
    input_shape: tuple[int, int],
    n_classes: int,
    patch_size: int = 16,
    d_model: int = 64,
    n_heads: int = 4,
    n_blocks: int = 3,
    ff_dim: int = 128,
    dropout: float = 0.1,
    attention_dropout: float = 0.1,
    head_dropout: float = 0.3,
) -> keras.Model:
    """Patch transformer; ``d_model`` must be divisible by ``n_heads``."""
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
    frames, n_mels = input_shape
    pad_t = _round_up(frames, patch_size) - frames
    pad_f = _round_up(n_mels, patch_size) - n_mels
    n_tokens = ((frames + pad_t) // patch_size) * ((n_mels + pad_f) // patch_size)

    inputs = keras.Input(shape=(frames, n_mels), dtype="float32", name="mel")
    x = layers.Reshape((frames, n_mels, 1), name="to_image")(inputs)
    x = layers.ZeroPadding2D(((0, pad_t), (0, pad_f)), name="pad")(x)
    x = layers.Conv2D(
        d_model, patch_size, strides=patch_size, padding="valid", name="patch_embed"
    )(x)
    x = layers.Reshape((n_tokens, d_model), name="tokens")(x)
    x = PositionEmbedding(name="pos_embed")(x)
    x = layers.Dropout(dropout, name="embed_drop")(x)

    for i in range(1, n_blocks + 1):
        h = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln1")(x)
        h = layers.MultiHeadAttention(
            num_heads=n_heads,
            key_dim=d_model // n_heads,
            dropout=attention_dropout,
            name=f"block{i}_mha",
        )(h, h)
        h = layers.Dropout(dropout, name=f"block{i}_drop1")(h)
        x = layers.Add(name=f"block{i}_add1")([x, h])
        h = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln2")(x)
        h = layers.Dense(ff_dim, activation="gelu", name=f"block{i}_ff1")(h)
        h = layers.Dense(d_model, name=f"block{i}_ff2")(h)
        h = layers.Dropout(dropout, name=f"block{i}_drop2")(h)
        x = layers.Add(name=f"block{i}_add2")([x, h])

    x = layers.LayerNormalization(epsilon=1e-6, name="final_ln")(x)
    x = layers.GlobalAveragePooling1D(name="token_pool")(x)
    x = layers.Dropout(head_dropout, name="head_drop")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=NAME)
