"""The active region of a clip: what whole-clip models describe."""

import numpy as np
import pytest

from animalsnd.trim import LOGMEL_TRIM, TRIM, active_span, trim

SR = 16000


def _call(rng, seconds=1.0, level=0.3):
    t = np.arange(int(seconds * SR)) / SR
    return (level * np.sin(2 * np.pi * 700 * t) * np.hanning(t.size)).astype(np.float32)


@pytest.mark.parametrize("floor", [0.0, 1e-4])
def test_a_call_in_a_long_quiet_recording_is_cut_out_with_its_margins(rng, floor):
    call = _call(rng)
    y = (floor * rng.standard_normal(12 * SR)).astype(np.float32)
    start = 5 * SR
    y[start:start + call.size] += call
    a, b = active_span(y, SR)
    margin = TRIM["margin_s"] * SR
    assert start - margin - 0.1 * SR <= a <= start and start + call.size <= b <= start + call.size + margin + 0.1 * SR
    assert trim(y, SR).size == b - a


def test_a_clip_whose_quiet_is_within_the_drop_keeps_its_length(rng):
    call = _call(rng)
    y = (0.05 * rng.standard_normal(6 * SR)).astype(np.float32)  # noise about 10 dB below the call
    y[SR:SR + call.size] += call
    assert active_span(y, SR) == (0, y.size)


def test_short_and_tiny_clips():
    assert active_span(np.ones(100, np.float32), SR) == (0, 100)  # shorter than a frame: kept
    y = np.zeros(3 * SR, np.float32)
    y[SR:SR + 40] = 1.0  # a click: widened to the shortest span, inside the clip
    a, b = active_span(y, SR)
    assert b - a == int(TRIM["min_s"] * SR) and 0 <= a and b <= y.size
    y = np.zeros(2 * SR, np.float32)
    y[-10:] = 1.0  # active at the very end: the span reaches it
    assert active_span(y, SR)[1] == y.size


def test_descriptors_and_clip_inputs_use_the_active_region(rng):
    from animalsnd import descriptors as D
    from animalsnd.families.stats_mlp import FAMILY

    call = _call(rng)
    y = np.zeros(12 * SR, np.float32)
    y[4 * SR:4 * SR + call.size] = call
    np.testing.assert_array_equal(D.describe_clip(y), D.describe(trim(y, SR)))
    assert not np.allclose(D.describe_clip(y), D.describe(y))
    spec = FAMILY.vector_input("mean", None)
    np.testing.assert_array_equal(spec(y), D.describe_clip(y))
    assert D.SPEC["trim"] == TRIM


def test_log_mel_features_of_a_trimming_config_are_those_of_the_active_region(rng):
    from animalsnd.config import FeatureConfig
    from animalsnd.features import logmel

    call = _call(rng)
    y = np.zeros(12 * SR, np.float32)
    y[6 * SR:6 * SR + call.size] = call
    cfg = FeatureConfig(frames=100, trim=True)
    np.testing.assert_array_equal(logmel(y, cfg=cfg),
                                  logmel(trim(y, SR, LOGMEL_TRIM), cfg=FeatureConfig(frames=100)))
    assert "trim" not in FeatureConfig().to_dict() and FeatureConfig().hash() != cfg.hash()
    assert FeatureConfig.from_dict(cfg.to_dict()).trim


def test_prepare_trims_by_default_and_not_under_the_study_preset(tmp_path, runner):
    import json

    from conftest_train import TINY_PREPARE, make_data

    from animalsnd.cli import app

    data = make_data(tmp_path / "data")
    for preset, want in (("default", True), ("study", False)):
        cache = tmp_path / preset
        res = runner.invoke(app, ["prepare", str(data), "--cache", str(cache), "--folds", "2", "--jobs", "1",
                                  *TINY_PREPARE, "--preset", preset])
        assert res.exit_code == 0, res.output
        feature = json.loads((cache / "config.json").read_text())["feature"]
        assert feature.get("trim", False) is want
