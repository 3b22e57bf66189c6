"""The synthetic call generator and the committed demo dataset it produces."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from animalsnd import synth

SAMPLE_AUDIO = Path(__file__).resolve().parents[1] / "sample_audio"
KINDS = list(synth.CLASSES)
SR = 16000


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_classes_are_imbalanced_and_large_enough():
    assert len(synth.CLASSES) >= 5
    assert min(synth.CLASSES.values()) >= 12
    assert len(set(synth.CLASSES.values())) > 1


@pytest.mark.parametrize("kind", KINDS)
def test_clip_shape_level_and_determinism(kind):
    for i in range(4):
        x = synth.synth_clip(kind, np.random.default_rng([7, i]), sr=SR)
        assert x.dtype == np.float32 and x.ndim == 1
        assert 1.0 <= x.size / SR <= 4.0
        peak = np.abs(x).max()
        assert 0 < peak <= 1
        assert 10 ** (-31 / 20) <= peak <= 10 ** (-5 / 20)
        again = synth.synth_clip(kind, np.random.default_rng([7, i]), sr=SR)
        np.testing.assert_array_equal(x, again)
    other = synth.synth_clip(kind, np.random.default_rng([8, 0]), sr=SR)
    first = synth.synth_clip(kind, np.random.default_rng([7, 0]), sr=SR)
    assert other.shape != first.shape or not np.array_equal(other, first)


@pytest.mark.parametrize("kind", KINDS)
def test_call_functions_leave_silence_and_peak_at_one(kind):
    x = getattr(synth, kind)(np.random.default_rng(3), sr=SR, duration=2.5)
    assert x.dtype == np.float32 and x.size == int(2.5 * SR)
    assert np.abs(x).max() == pytest.approx(1.0)
    assert np.all(x[:int(0.04 * SR)] == 0)  # calls start after a short lead-in


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown call type"):
        synth.synth_clip("whale", np.random.default_rng(0))


def test_generate_is_byte_identical_for_a_seed(tmp_path):
    classes = {"frog": 2, "bird": 2}
    a = synth.generate(tmp_path / "a", seed=5, classes=classes)
    b = synth.generate(tmp_path / "b", seed=5, classes=classes)
    c = synth.generate(tmp_path / "c", seed=6, classes=classes)
    assert [p.relative_to(tmp_path / "a") for p in a] == \
        [Path("frog/frog_00.flac"), Path("frog/frog_01.flac"),
         Path("bird/bird_00.flac"), Path("bird/bird_01.flac")]
    assert all(pa.read_bytes() == pb.read_bytes() for pa, pb in zip(a, b))
    assert all(pa.read_bytes() != pc.read_bytes() for pa, pc in zip(a, c))
    info = sf.info(a[0])
    assert (info.samplerate, info.channels, info.format, info.subtype) == \
        (SR, 1, "FLAC", "PCM_16")


def test_a_class_does_not_depend_on_the_others(tmp_path):
    alone = synth.generate(tmp_path / "a", seed=0, classes={"cow": 1})
    mixed = synth.generate(tmp_path / "b", seed=0, classes={"dog": 1, "cow": 1})
    assert alone[0].read_bytes() == mixed[1].read_bytes()


def test_sample_audio_is_up_to_date(tmp_path):
    fresh = synth.generate(tmp_path, seed=0)
    expected = sorted(p.relative_to(tmp_path).as_posix() for p in fresh)
    committed = sorted(p.relative_to(SAMPLE_AUDIO).as_posix()
                       for p in SAMPLE_AUDIO.rglob("*.flac"))
    assert committed == expected, "sample_audio is stale: run python -m animalsnd.synth"
    for rel in expected:
        new, sr_new = sf.read(tmp_path / rel, dtype="int16")
        old, sr_old = sf.read(SAMPLE_AUDIO / rel, dtype="int16")
        assert sr_old == sr_new == SR
        np.testing.assert_array_equal(old, new, err_msg=f"{rel} is stale")
    sizes = sum(p.stat().st_size for p in SAMPLE_AUDIO.rglob("*"))
    assert sizes <= 4 * 1024 * 1024


def test_long_recording_truth_marks_where_the_energy_is():
    calls = [("cow", 1.0), ("dog", 6.0), ("cricket", 11.5), ("frog", 17.0), ("bird", 23.0)]
    x, truth = synth.long_recording(4, sr=SR, duration_s=30.0, calls=calls, background_db=-45)
    assert x.dtype == np.float32 and x.size == 30 * SR
    assert [(k, s) for k, s, _ in truth] == calls
    inside = np.zeros(x.size, bool)
    frame = SR // 20
    for kind, start, end in truth:
        assert start < end <= 30.0
        seg = x[int(start * SR):int(end * SR)]
        inside[int(start * SR):int(end * SR)] = True
        loudest = max(_rms(seg[i:i + frame]) for i in range(0, seg.size - frame + 1, frame))
        assert 20 * np.log10(_rms(seg)) > -45 + 6, kind
        assert 20 * np.log10(loudest) > -45 + 12, kind
    assert 20 * np.log10(_rms(x[~inside])) == pytest.approx(-45, abs=1.5)


def test_long_recording_random_calls_are_sorted_and_reproducible():
    x, truth = synth.long_recording(1, duration_s=120.0)
    y, again = synth.long_recording(np.random.default_rng(1), duration_s=120.0)
    np.testing.assert_array_equal(x, y)
    assert truth == again and len(truth) >= 5
    assert {k for k, _, _ in truth} <= set(KINDS)
    starts = [s for _, s, _ in truth]
    assert starts == sorted(starts)
    assert all(e1 <= s2 for (_, _, e1), (_, s2, _) in zip(truth, truth[1:]))


def test_long_recording_rejects_onsets_outside_the_recording():
    with pytest.raises(ValueError, match="outside"):
        synth.long_recording(0, duration_s=5.0, calls=[("dog", 6.0)])
