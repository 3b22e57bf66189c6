"""The data audit: recording properties, the shortcut score, `animalsnd audit` and prepare's warning."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from animalsnd.audit import clip_properties, encoding_of
from animalsnd.audit_report import audit_cache, warning_line, well_above
from animalsnd.cache import prepare
from animalsnd.cli import app
from animalsnd.config import FeatureConfig
from animalsnd.render_audit import properties_table, shortcut_table, summary_lines

N_PER_CLASS = 10


def _noise(seed: int, sr: int, seconds: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.1, 0.4) * rng.standard_normal(int(sr * seconds))).clip(-1, 1).astype(np.float32)


TINY = FeatureConfig(sr=16000, n_mels=16, n_fft=256, hop_length=128, frames=32)


def _write_cache(root: Path, clips: dict[str, list[tuple[np.ndarray, int]]]) -> Path:
    """A prepared cache (tiny features, 5 folds) of these clips."""
    for label, items in clips.items():
        (root / "data" / label).mkdir(parents=True)
        for i, (y, sr) in enumerate(items):
            sf.write(root / "data" / label / f"{label}_{i}.wav", y, sr, subtype="PCM_16")
    prepare(root / "data", root / "cache", cfg=TINY, folds=5, jobs=1)
    return root / "cache"


@pytest.fixture
def confounded(tmp_path) -> Path:
    """Class A recorded at 8 kHz, class B at 44.1 kHz; otherwise the same kind of noise."""
    return _write_cache(tmp_path, {"A": [(_noise(i, 8000), 8000) for i in range(N_PER_CLASS)],
                                   "B": [(_noise(100 + i, 44100), 44100) for i in range(N_PER_CLASS)]})


@pytest.fixture
def one_rate(tmp_path) -> Path:
    """Both classes at 16 kHz; clip i of B is clip i of A reversed, so every property matches."""
    a = [_noise(i, 16000) for i in range(N_PER_CLASS)]
    return _write_cache(tmp_path, {"A": [(y, 16000) for y in a], "B": [(y[::-1].copy(), 16000) for y in a]})


def test_planted_confound_is_flagged_with_the_property_named(confounded):
    res = audit_cache(confounded, jobs=1)
    s = res.shortcut
    assert res.sample_rates == [8000, 44100]
    assert s.flagged and s.balanced_accuracy >= well_above(0.5)
    assert {"sample_rate", "bandwidth_hz"} <= set(s.properties)
    assert s.per_property["sample_rate"]["balanced_accuracy"] == 1.0
    assert set(s.classes) == {"A", "B"}
    line = warning_line(res)
    assert "sample_rate" in line and "bandwidth_hz" in line and "A" in line
    bw = {label: d["bandwidth_hz"]["median"] for label, d in res.per_class.items()}
    assert 3500 < bw["A"] <= 4000 and bw["B"] > 20000


def test_one_sample_rate_says_so_and_warns_about_nothing(one_rate):
    res = audit_cache(one_rate, jobs=1)
    assert res.sample_rates == [16000]
    assert not res.shortcut.flagged and res.warning is None and res.shortcut.properties == []
    assert res.shortcut.per_property["sample_rate"]["balanced_accuracy"] is None  # one value: not scored
    assert any("one sample rate (16000 Hz)" in line for line in summary_lines(res))


def test_measurements_are_kept_and_reused(confounded, tmp_path):
    first = audit_cache(confounded, jobs=1)
    assert first.measured == 2 * N_PER_CLASS and first.kept
    assert (confounded / "audit" / "properties.json").exists()
    again = audit_cache(confounded, jobs=1)
    assert again.measured == 0 and again.reused == 2 * N_PER_CLASS
    assert again.clips == first.clips
    elsewhere = audit_cache(confounded, store=tmp_path / "store", jobs=1)
    assert elsewhere.measured == 2 * N_PER_CLASS and (tmp_path / "store" / "properties.json").exists()


def test_unknown_subtype_is_unknown_not_a_crash(tmp_path, monkeypatch):
    assert encoding_of("NOT_A_SUBTYPE") == ("unknown", None)
    assert encoding_of(None) == ("unknown", None)
    assert encoding_of("PCM_U8") == ("PCM", 8) and encoding_of("MPEG_LAYER_III") == ("MP3", None)
    path = tmp_path / "x.wav"
    sf.write(path, _noise(0, 16000), 16000)
    import dataclasses

    import animalsnd.audio as audio

    real = audio.read_info
    monkeypatch.setattr(audio, "read_info", lambda p, **kw: dataclasses.replace(real(p, **kw), subtype="VENDOR_CODEC"))
    props = clip_properties(str(path))
    assert props["encoding"] == "unknown" and props["bit_depth"] is None and props["sample_rate"] == 16000


def test_unreadable_clip_is_reported_and_the_rest_audited(confounded):
    rows = list(csv.DictReader(open(confounded / "manifest.csv")))
    Path(rows[0]["path"]).write_bytes(b"not audio at all" * 10)
    res = audit_cache(confounded, jobs=1)
    assert len(res.failed) == 1 and res.failed[0]["relpath"] == rows[0]["relpath"]
    assert res.n_clips == 2 * N_PER_CLASS - 1
    properties_table(res), shortcut_table(res)  # render without error


def test_cli_audit_json_and_plot(confounded, tmp_path, runner):
    out, png = tmp_path / "audit.json", tmp_path / "bw.png"
    res = runner.invoke(app, ["audit", str(confounded), "--json", str(out), "--plot", str(png), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    assert "gives the class away" in res.output and "Shortcut score" in res.output
    data = json.loads(out.read_text())
    assert data["shortcut"]["flagged"] and "sample_rate" in data["shortcut"]["properties"]
    assert data["warning"] and len(data["clips"]) == 2 * N_PER_CLASS
    assert {"bandwidth_hz", "encoding", "bit_depth", "lead_silence_s"} <= set(data["clips"][0])
    assert png.stat().st_size > 0


def test_cli_audit_bad_input_is_one_line(tmp_path, runner):
    res = runner.invoke(app, ["audit", str(tmp_path)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output.strip().splitlines()[-1].startswith("Error:") and "manifest.csv" in res.output
    res = runner.invoke(app, ["audit", str(tmp_path), "--plot", str(tmp_path / "x.jpg")])
    assert res.exit_code == 1 and ".png" in res.output


@pytest.mark.parametrize("rates, warned", [((8000, 44100), True), ((16000, 16000), False)])
def test_prepare_warns_only_when_the_chain_gives_the_class_away(tmp_path, runner, rates, warned):
    data = tmp_path / "data"
    for label, sr, base in [("A", rates[0], 0), ("B", rates[1], 100)]:
        (data / label).mkdir(parents=True)
        for i in range(6):
            sf.write(data / label / f"{i}.wav", _noise(base + i, sr), sr)
    res = runner.invoke(app, ["prepare", str(data), "--cache", str(tmp_path / "c"), "--folds", "2", "--jobs", "1",
                              "--n-mels", "16", "--n-fft", "256", "--hop-length", "128", "--frames", "32",
                              "--cutoff", "none"])
    assert res.exit_code == 0, res.output
    warning = [line for line in res.output.splitlines() if "gives the class away" in line]
    if warned:
        assert len(warning) == 1 and "sample_rate" in warning[0] and "A" in warning[0]
    else:
        assert warning == [] and "Warning" not in res.output


def test_real_data_flags_the_sample_rate_confound(real_data, tmp_path):
    """A few bird (44.1 kHz) and cat (16 kHz) clips of animal-sounds-10: the chain names the class."""
    clips = {}
    for label in ("bird", "cat"):
        paths = sorted((real_data / label).glob("*.wav"))[:12]
        clips[label] = [(p, sf.info(p).samplerate) for p in paths]
    rows = [{"path": str(p), "relpath": f"{label}/{p.name}", "label": label,
             "sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "fold": i % 4, "duplicate_of": "",
             "status": "ok"} for label, items in clips.items() for i, (p, _) in enumerate(items)]
    from animalsnd.audit_report import audit_rows

    res = audit_rows(rows, store=tmp_path, jobs=1)
    assert res.shortcut.flagged
    assert {"sample_rate", "bandwidth_hz"} & set(res.shortcut.properties)
