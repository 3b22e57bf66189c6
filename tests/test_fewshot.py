"""protonet: prototype geometry, views, shots, and end-to-end training on tiny data."""

import json

import numpy as np
import pytest
from conftest_train import FAST_CLI, clip, tiny, tiny_features  # noqa: F401  (fixtures)

from animalsnd.errors import ConfigError
from animalsnd.families.protonet import TEMPERATURE, Views, nt_xent, prototypes, select_shots
from animalsnd.train import TrainConfig

PROTO_FAST = dict(epochs=2, batch_size=8, time_width=4, freq_width=3, model_options={"filters": [8, 16, 16],
                                                                                      "embed_dim": 16})


# ------------------------------------------------------------------ geometry
def test_prototype_softmax_picks_the_nearest_prototype():
    from animalsnd.models.protonet import PrototypeSoftmax

    P = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [-1, 0, 0]], np.float32)
    z = np.array([[0.9, 0.1, 0.0],     # nearest 0
                  [0.0, 0.2, 0.8],     # nearest 2
                  [-0.6, 0.5, 0.0],    # nearest 3 (d2 0.41 vs 0.61 to class 1)
                  [0.1, 0.7, -0.1]],   # nearest 1
                 np.float32)
    layer = PrototypeSoftmax(4, 3, temperature=0.5)
    layer.build((None, 3))
    layer.prototypes.assign(P)
    p = np.asarray(layer(z))
    assert p.shape == (4, 4)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert list(p.argmax(axis=1)) == [0, 2, 3, 1]
    d2 = ((z[:, None, :] - P[None]) ** 2).sum(-1)
    expected = np.exp(-d2 / 0.5) / np.exp(-d2 / 0.5).sum(1, keepdims=True)
    np.testing.assert_allclose(p, expected, atol=1e-5)


def test_prototypes_are_class_means_and_an_empty_class_is_never_nearest():
    Z = np.array([[0, 0], [2, 0], [0, 4], [0, 6]], np.float32)
    y = np.array([0, 0, 1, 1])
    P = prototypes(Z, y, 3)
    np.testing.assert_array_equal(P[:2], [[1, 0], [0, 5]])
    d2 = ((Z[:, None] - P[None]) ** 2).sum(-1)
    assert (d2.argmin(axis=1) != 2).all()


def test_select_shots_is_seeded_and_per_class():
    y = np.array([0] * 10 + [1] * 3 + [2] * 7)
    a = select_shots(y, 5, seed=3)
    assert np.bincount(y[a]).tolist() == [5, 3, 5]
    np.testing.assert_array_equal(a, select_shots(y, 5, seed=3))
    assert not np.array_equal(a, select_shots(y, 5, seed=4))
    np.testing.assert_array_equal(select_shots(y, 0, seed=0), np.arange(len(y)))


def test_views_are_seeded_and_leave_the_input_alone(rng):
    from animalsnd.augment import SpecAugment

    X = rng.standard_normal((6, 40, 8)).astype(np.float32)
    before = X.copy()
    v = Views(spec_augment=SpecAugment(time_masks=1, time_width=4, freq_masks=1, freq_width=2))
    a = v(X, np.random.default_rng(0))
    b = v(X, np.random.default_rng(0))
    assert a.shape == X.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(X, before)
    assert not np.allclose(a, X)
    with pytest.raises(ConfigError):
        Views(max_shift=2)


def test_nt_xent_rewards_matching_pairs():
    z = np.eye(4, dtype=np.float32)
    loss_same, acc_same = (float(v) for v in nt_xent(z, z, temperature=0.1))
    loss_swapped, acc_swapped = (float(v) for v in nt_xent(z, z[::-1].copy(), temperature=0.1))
    assert acc_same == 1.0 and acc_swapped < 1.0 and loss_same < loss_swapped


def test_protonet_options_are_validated():
    c = TrainConfig.for_model("protonet", shots=5)
    assert c.shots == 5 and c.val_fraction == 0.0 and "shots" in c.to_dict()
    assert "shots" not in TrainConfig.for_model("cnn1d").to_dict()
    with pytest.raises(ConfigError, match="--shots applies to --model protonet or birdnet-head or stats-mlp only"):
        TrainConfig.for_model("cnn1d", shots=5)
    with pytest.raises(ConfigError, match="--shots 5 with --val-fraction 0.1 would use more labelled clips"):
        TrainConfig.for_model("birdnet-head", shots=5, val_fraction=0.1)
    with pytest.raises(ConfigError, match="shots=-1 must be a non-negative integer"):
        TrainConfig.for_model("protonet", shots=-1)


# ------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def proto_run(tiny, tiny_features, tmp_path_factory):
    from animalsnd.train import train_fold

    out = tmp_path_factory.mktemp("proto") / "m"
    config = TrainConfig.for_model("protonet", shots=2, finetune_epochs=1, unlabeled=str(tiny["data"]),
                                   **PROTO_FAST)
    return train_fold(tiny_features, config=config, test_fold=0, out_dir=out, cache_dir=tiny["cache"]), out


def test_protonet_trains_end_to_end(proto_run, tiny_features):
    fold, out = proto_run
    assert fold.epochs_run == 2 and len(fold.history["loss"]) == 2 and len(fold.history["finetune_loss"]) == 1
    assert fold.n_train == 6  # 2 shots x 3 classes
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["input"]["kind"] == "logmel" and meta["model_name"] == "protonet"
    assert meta["protonet"]["labelled_per_class"] == {"burst": 2, "chirp": 2, "clicks": 2}
    assert meta["training"]["n_unlabeled"] == 24  # the raw folder, one clip per file
    assert meta["training"]["n_pretrain"] == 24 + int((tiny_features.folds != 0).sum())
    test_shas = set(meta["data"]["test_shas"])
    assert not test_shas & set(meta["protonet"]["labelled_shas"])


def test_protonet_bundle_round_trip_and_eval(proto_run, tiny_features):
    from animalsnd.bundle import load_bundle
    from animalsnd.evaluate import evaluate
    from animalsnd.models.protonet import PrototypeSoftmax

    fold, out = proto_run
    model = fold.model
    X = tiny_features.X[:7]
    b = load_bundle(out)
    got = b.predict_proba(X)
    np.testing.assert_array_equal(got, np.asarray(model(X, training=False)))
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    layer = b.model.get_layer("probs")
    assert isinstance(layer, PrototypeSoftmax) and layer.temperature == TEMPERATURE
    report = evaluate(out)
    np.testing.assert_array_equal(report.runs[0].result.y_pred, fold.y_pred)


def test_protonet_cli_cv_and_predict(runner, tiny, tmp_path):
    import soundfile as sf

    from animalsnd.cli import app

    out = tmp_path / "cv"
    opts = ["--model-option", "filters=[8,16,16]", "--model-option", "embed_dim=16"]
    res = runner.invoke(app, ["train", str(tiny["cache"]), "--model", "protonet", "--out", str(out), "--cv",
                              "--shots", "1", "--finetune-epochs", "0", *FAST_CLI, *opts])
    assert res.exit_code == 0, res.output
    assert "1 shot per class" in res.output and "4-fold cross-validation" in res.output
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [f"fold-{k}" for k in range(4)]
    wav = tmp_path / "call.wav"
    sf.write(wav, np.concatenate([clip("chirp", 1), clip("burst", 2)]), 8000)
    res = runner.invoke(app, ["predict", str(out), str(wav), "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert any(line.startswith("file,start_s") for line in res.output.splitlines())


def test_compare_picks_up_protonet(tiny):
    from animalsnd.compare import available_variants, compare

    assert "protonet" in available_variants() and "birdnet-head" in available_variants()
    res = compare(tiny["cache"], variants="protonet", folds=1, epochs=1,
                  train_options={"model_options": PROTO_FAST["model_options"], "batch_size": 8, "time_width": 4,
                                 "freq_width": 3, "finetune_epochs": 0})
    (rec,) = res.runs["protonet"]
    assert rec["model"] == "protonet" and rec["epochs_run"] == 1 and 0 <= rec["accuracy"] <= 1


def test_masked_pooling_ignores_padding():
    from animalsnd.models.protonet import FrameMask, MaskedGlobalPooling

    x = np.array([[[1, 2], [3, 4], [100, 100]], [[0, 0], [0, 0], [0, 0]]], np.float32)
    m = np.asarray(FrameMask()(np.array([[[1.0], [-2.0], [0.0]], [[0.0], [0.0], [0.0]]], np.float32)))
    assert m[..., 0].tolist() == [[1, 1, 0], [0, 0, 0]]
    out = np.asarray(MaskedGlobalPooling()([x, m]))
    np.testing.assert_allclose(out, [[2, 3, 3, 4], [0, 0, 0, 0]])


def test_views_crop_inside_the_audio(rng):
    X = np.zeros((4, 50, 3), np.float32)
    X[:, :20] = rng.standard_normal((4, 20, 3)) + 5  # 20 frames of audio, then padding
    v = Views(max_shift=0, noise_std=(0, 0), mix_level=(0, 0))
    out = v(X, np.random.default_rng(1))
    kept = np.any(out != 0, axis=2)
    assert not kept[:, 20:].any()
    assert (kept.sum(axis=1) >= 10).all() and (kept.sum(axis=1) <= 20).all()
