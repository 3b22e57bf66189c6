"""predict -> review -> decisions (as the page exports them) -> review --import -> prepare -> train, on generated audio."""

import csv
import json

import numpy as np
import pytest
import soundfile as sf
from conftest_train import CLASSES, CLIP_S, FAST_CLI, SR, TINY_PREPARE, clip, tiny, trained  # noqa: F401

from animalsnd.cli import app
from animalsnd.review.page import DECISION_COLUMNS

pytestmark = pytest.mark.slow


def field_recording(path, *, per_class=6, seed=0):
    """Calls of every class, 0.5 s each, 0.5-1 s of quiet noise between them; returns ``(label, start, end)``."""
    rng = np.random.default_rng(seed)
    parts, truth, t = [], [], 0.0
    order = [lab for _ in range(per_class) for lab in CLASSES]
    for k, label in enumerate(order):
        gap = 0.02 * rng.standard_normal(int(rng.uniform(0.5, 1.0) * SR)).astype(np.float32)
        parts += [gap, clip(label, 20 + k)]
        t += gap.size / SR
        truth.append((label, t, t + CLIP_S))
        t += CLIP_S
    sf.write(path, np.concatenate(parts), SR)
    return truth


def decide(card, truth):
    """What a reviewer who knows the truth decides: the label of the call covering the card's middle."""
    mid = (card["start_s"] + card["end_s"]) / 2
    label = next((lab for lab, s, e in truth if s <= mid <= e), None)
    if label is None:
        return "rejected", ""
    return ("accepted", "") if label == card["label"] else ("corrected", label)


def test_predict_review_import_train(runner, trained, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    truth = field_recording(tmp_path / "field.wav")
    res = runner.invoke(app, ["predict", str(trained), "field.wav", "--out", "pred.csv"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["review", "pred.csv", "--out", "review", "--all", "--model", str(trained)])
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "review" / "review.json").read_text())
    assert set(manifest["classes"]) >= set(CLASSES)  # the model's classes, predicted or not
    n_pred = sum(1 for _ in csv.DictReader((tmp_path / "pred.csv").open()))
    assert len(manifest["cards"]) == n_pred > 20

    decisions = tmp_path / "review" / "decisions.csv"
    with decisions.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(DECISION_COLUMNS)
        for c in manifest["cards"]:
            w.writerow([manifest["run"], c["id"], c["file"], c["start_s"], c["end_s"], c["label"],
                        c["confidence"], c["sample"], *decide(c, truth)])
    res = runner.invoke(app, ["review", "--import", str(decisions), "--out", "reviewed"])
    assert res.exit_code == 0, res.output
    made = {d.name: len(list(d.glob("*.flac"))) for d in (tmp_path / "reviewed").iterdir() if d.is_dir()}
    assert sum(made.values()) == n_pred and "background" in made
    precision = json.loads((tmp_path / "reviewed" / "precision.json").read_text())["precision"]
    for label, row in precision.items():
        right = sum(decide(c, truth)[0] == "accepted" for c in manifest["cards"] if c["label"] == label)
        assert row["reviewed"]["accepted"] == right

    res = runner.invoke(app, ["prepare", "reviewed", "--cache", "cache", "--folds", "2", "--jobs", "1",
                              *TINY_PREPARE])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["train", "cache", "--model", "cnn1d", "--out", "model2", *FAST_CLI])
    assert res.exit_code == 0, res.output
    bundle = json.loads((tmp_path / "model2" / "bundle.json").read_text())
    assert set(bundle["classes"]) == {k for k, v in made.items() if v}
