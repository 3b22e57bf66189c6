"""Integration on the real animal-sounds-10 recordings (skipped when absent)."""

from collections import Counter

import pytest

from animalsnd.cache import prepare

pytestmark = pytest.mark.realdata


def test_prepare_real_dataset(real_data, tmp_path_factory):
    cache = tmp_path_factory.mktemp("real_cache")
    res = prepare(real_data, cache, folds=5, seed=0, jobs=-1)
    rows = res.rows
    assert len(rows) == 875
    assert len(res.failed) == 0
    dups = [r for r in rows if r["duplicate_of"]]
    assert len(dups) == 45
    assert len({r["sha256"] for r in rows}) == 830
    classes = {r["label"] for r in rows}
    assert len(classes) == 10
    for k in range(5):
        assert {r["label"] for r in rows if r["fold"] == k} == classes
    by_sha = {}
    for r in rows:
        assert by_sha.setdefault(r["sha256"], r["fold"]) == r["fold"]
    enc = Counter(r["subtype"] for r in rows)
    assert {"PCM_16", "PCM_U8", "MPEG_LAYER_III", "ALAW"} <= set(enc)


def test_descriptors_of_every_real_encoding(real_data):
    """stats-mlp's descriptors decode and describe each kind of messy real file."""
    import numpy as np
    import soundfile as sf

    from animalsnd.descriptors import DIM, describe_file

    seen: dict[tuple, str] = {}
    for path in sorted(real_data.rglob("*.wav")):
        info = sf.info(path)
        seen.setdefault((info.subtype, info.channels, info.samplerate), str(path))
    assert len(seen) >= 4
    for key, path in seen.items():
        x = describe_file(path)
        assert x.shape == (DIM,) and np.isfinite(x).all(), (key, path)
