import dataclasses
import json

import numpy as np
import pytest
from conftest_train import FAST, tiny, tiny_features  # noqa: F401  (fixtures)

from animalsnd.errors import ConfigError, DatasetError
from animalsnd.train import (
    AugmentedData,
    TrainConfig,
    batches,
    class_weights_for,
    select_augmented,
    split_fold,
    stratified_holdout,
    train,
    train_fold,
)


# ------------------------------------------------------------------ config
def test_cnn1d_defaults_are_the_baseline_recipe():
    c = TrainConfig.for_model("cnn1d")
    assert (c.optimizer, c.lr, c.weight_decay) == ("adam", 1e-3, 0.0)
    assert not c.class_weights and not c.spec_augment
    assert not c.early_stopping and not c.lr_schedule
    assert c.batch_size == 32 and c.val_fraction == 0.1 and c.loss == "ce" and c.mixup == 0


def test_enhanced_defaults_are_the_robust_recipe():
    c = TrainConfig.for_model("cnn1d-enhanced")
    assert (c.optimizer, c.lr, c.weight_decay) == ("adamw", 1e-3, 1e-4)
    assert c.class_weights and c.spec_augment and c.early_stopping and c.lr_schedule
    assert (c.patience, c.lr_factor, c.lr_patience, c.min_lr) == (6, 0.5, 3, 1e-6)
    assert (c.time_masks, c.time_width, c.freq_masks, c.freq_width) == (2, 40, 2, 16)


def test_given_options_override_and_none_means_default():
    c = TrainConfig.for_model("cnn1d-enhanced", epochs=3, class_weights=False, lr=None)
    assert c.epochs == 3 and not c.class_weights and c.lr == 1e-3
    assert TrainConfig.for_model("cnn1d-enhanced", optimizer="adam").weight_decay == 0.0


def test_named_recipe_overrides_defaults_and_flags_override_it():
    c = TrainConfig.for_model("cnn1d-enhanced", recipe="tuned")
    assert (c.batch_size, c.patience, c.epochs) == (16, 15, 100)
    assert (c.time_masks, c.time_width, c.freq_masks, c.freq_width) == (2, 20, 1, 8)
    assert c.model_options == {"spatial_dropout": 0.0, "head_dropout": 0.2, "dense_dropout": 0.2}
    assert c.optimizer == "adamw" and c.class_weights  # untouched defaults stay
    c = TrainConfig.for_model("cnn1d-enhanced", recipe="tuned", batch_size=8,
                              model_options={"head_dropout": 0.5})
    assert c.batch_size == 8 and c.patience == 15
    assert c.model_options == {"spatial_dropout": 0.0, "head_dropout": 0.5, "dense_dropout": 0.2}
    assert TrainConfig.for_model("cnn1d-enhanced", recipe="default") == TrainConfig.for_model("cnn1d-enhanced")
    with pytest.raises(ConfigError, match="unknown recipe 'tuned' for --model cnn1d; available: default"):
        TrainConfig.for_model("cnn1d", recipe="tuned")


def test_config_round_trip():
    c = TrainConfig.for_model("transformer-mel", mixup=0.2, label_smoothing=0.1, seed=3)
    d = json.loads(json.dumps(c.to_dict()))
    assert TrainConfig.from_dict(d) == c
    with pytest.raises(ConfigError, match="unknown training options: bogus"):
        TrainConfig.from_dict({**d, "bogus": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.epochs = 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=0), "epochs=0 must be a positive integer"),
    (dict(optimizer="sgd"), "optimizer='sgd' must be one of: adam, adamw"),
    (dict(loss="hinge"), "loss='hinge' must be one of"),
    (dict(val_fraction=0.9), "val-fraction=0.9 must be in"),
    (dict(label_smoothing=1.0), "label-smoothing=1.0"),
    (dict(mixup=-1.0), "mixup=-1.0"),
    (dict(optimizer="adam", weight_decay=0.1), "weight-decay needs --optimizer adamw"),
    (dict(loss="class-balanced", class_weights=True), "use one"),
])
def test_bad_options(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        TrainConfig.for_model("cnn1d-enhanced", **kwargs)


def test_unknown_model():
    with pytest.raises(ConfigError, match="unknown model 'resnet'; available: cnn1d, "):
        TrainConfig.for_model("resnet")


def test_class_balanced_loss_turns_class_weights_off_by_default():
    assert not TrainConfig.for_model("cnn1d-enhanced", loss="class-balanced").class_weights


# ------------------------------------------------------------------ splits
def test_stratified_holdout_takes_a_fraction_of_every_class():
    y = np.array([0] * 50 + [1] * 20 + [2] * 3 + [3] * 1)
    m = stratified_holdout(y, fraction=0.1, seed=0)
    assert [int(m[y == c].sum()) for c in range(4)] == [5, 2, 1, 0]
    assert np.array_equal(m, stratified_holdout(y, fraction=0.1, seed=0))
    assert not np.array_equal(m, stratified_holdout(y, fraction=0.1, seed=1))
    assert not stratified_holdout(y, fraction=0.0, seed=0).any()


def test_test_fold_never_in_training_or_validation(tiny_features):
    fs = tiny_features
    for k in range(fs.n_folds):
        s = split_fold(fs.y, fs.folds, test_fold=k, val_fraction=0.2, seed=0)
        test = {fs.shas[i] for i in s.test}
        train_ = {fs.shas[i] for i in s.train}
        val = {fs.shas[i] for i in s.val}
        assert test and train_ and val
        assert not test & train_ and not test & val and not train_ & val
        assert len(test) + len(train_) + len(val) == len(fs)
        assert (fs.folds[s.test] == k).all() and (fs.folds[s.train] != k).all()
        # stratified: every class gets round(0.2 * its training-fold count) validation clips
        rest = fs.y[fs.folds != k]
        for c in range(len(fs.classes)):
            n_c = int((rest == c).sum())
            assert int((fs.y[s.val] == c).sum()) == max(1, int(np.floor(0.2 * n_c + 0.5)))


def test_select_augmented_never_picks_test_or_validation_sources(tiny_features):
    fs = tiny_features
    s = split_fold(fs.y, fs.folds, test_fold=1, val_fraction=0.2, seed=0)
    # two copies of every clip, in shuffled order, plus copies of unknown clips
    sources = list(fs.shas) * 2 + ["f" * 64]
    np.random.default_rng(0).shuffle(sources)
    mask = select_augmented(sources, [fs.shas[i] for i in s.train])
    chosen = {src for src, keep in zip(sources, mask) if keep}
    assert chosen == {fs.shas[i] for i in s.train}
    assert mask.sum() == 2 * len(s.train)
    held = {fs.shas[i] for i in np.concatenate([s.test, s.val])}
    assert not chosen & held
    assert select_augmented([], ["a"]).shape == (0,)


# ------------------------------------------------------------------ batches
def test_class_weights_are_inverse_frequency_with_mean_one():
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)
    w = class_weights_for(y, 4)
    assert w[0] * 6 == pytest.approx(w[1] * 3) == pytest.approx(w[2] * 1)
    assert w[y].mean() == pytest.approx(1.0)
    assert w[3] == 1.0  # absent class


def test_batches_cover_each_epoch_and_are_seeded():
    X = np.arange(10, dtype=np.float32).reshape(10, 1, 1) * np.ones((1, 4, 3), np.float32)
    Y = np.eye(2, dtype=np.float32)[[0] * 7 + [1] * 3]
    cw = class_weights_for(np.argmax(Y, 1), 2)

    def take(seed, n=8):
        g = batches(X, Y, batch_size=3, rng=np.random.default_rng(seed), class_weights=cw)
        return [next(g) for _ in range(n)]

    a, b = take(0), take(0)
    for (xa, ya, wa), (xb, yb, wb) in zip(a, b):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb) and np.array_equal(wa, wb)
    epoch = np.concatenate([x[:, 0, 0] for x, _, _ in a[:4]])  # 4 batches = 10 items
    assert sorted(epoch.tolist()) == list(range(10))
    x, y, w = a[0]
    assert np.allclose(w, y @ cw)
    assert not all(np.array_equal(p[0], q[0]) for p, q in zip(a, take(1)))


def test_batches_with_spec_augment_and_mixup():
    from animalsnd.augment import Mixup, SpecAugment

    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 20, 8)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    g = batches(X, Y, batch_size=4, rng=np.random.default_rng(1),
                spec_augment=SpecAugment(time_width=5, freq_width=3), mixup=Mixup(0.4))
    x, y = next(g)
    assert x.shape == (4, 20, 8) and x.dtype == np.float32
    assert np.allclose(y.sum(axis=1), 1.0)
    assert X.std() > 0 and (x == 0).any()  # masked cells


def test_batches_with_floor_shift():
    from animalsnd.augment.floorshift import FloorShift

    rng = np.random.default_rng(0)
    X = (3.0 + rng.random((6, 20, 8))).astype(np.float32)  # every cell above the largest rise
    Y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    g = batches(X, Y, batch_size=6, rng=np.random.default_rng(1), floor_shift=FloorShift(max_db=20.0, p=1.0))
    x, _ = next(g)
    drop = X[np.random.default_rng(1).permutation(6)] - x  # the first thing drawn is the epoch's order
    assert (drop >= -1e-6).all() and (drop <= 2.0 + 1e-6).all()
    assert np.ptp(drop, axis=1).max() < 1e-5  # the same rise in every frame of a band
    assert (drop.max(axis=(1, 2)) > 0).all()


# ------------------------------------------------------------------ training
def test_same_seed_same_metrics(tiny_features):
    cfg = TrainConfig.for_model("cnn1d-enhanced", **FAST, seed=7)
    a = train_fold(tiny_features, config=cfg, test_fold=2)
    b = train_fold(tiny_features, config=cfg, test_fold=2)
    assert a.history == b.history
    assert np.array_equal(a.y_pred, b.y_pred)
    assert a.metrics == b.metrics
    assert a.epochs_run == 2 and a.best_epoch in (1, 2)
    assert a.n_test == int((tiny_features.folds == 2).sum())


def test_test_fold_out_of_range(tiny):
    with pytest.raises(ConfigError, match=r"test fold 4 is out of range; the cache has 4 folds \(0-3\)"):
        train(tiny["cache"], None, config=TrainConfig.for_model("cnn1d", **FAST), test_fold=4)


def test_missing_cache(tmp_path):
    with pytest.raises(DatasetError, match="not a feature cache"):
        train(tmp_path / "nope", None, config=TrainConfig.for_model("cnn1d", **FAST))


def test_augmented_copies_join_only_the_training_part(tiny, tiny_features, monkeypatch):
    from animalsnd.augment import sets as store

    fs = tiny_features
    seen = {}

    def fake_load(cache_dir, name):
        if name != "noisy":
            raise DatasetError(f"{cache_dir}: no augmented set {name!r}")
        return store.AugmentedSet(
            X=fs.X + 0.1, labels=[fs.classes[i] for i in fs.y], source_shas=list(fs.shas),
            source_folds=fs.folds.copy(), snr_db=np.full(len(fs), 10.0),
        )

    monkeypatch.setattr(store, "load_augmented", fake_load)
    cfg = TrainConfig.for_model("cnn1d", epochs=1, batch_size=8, val_fraction=0.2)
    run = train(tiny["cache"], None, config=cfg, test_fold=1, augmented="noisy",
                on_fold_end=lambda r: seen.setdefault("r", r))
    r = run.folds[0]
    s = split_fold(fs.y, fs.folds, test_fold=1, val_fraction=0.2, seed=0)
    assert r.n_augmented == len(s.train) == r.n_train
    with pytest.raises(DatasetError, match="no augmented set 'other'"):
        train(tiny["cache"], None, config=cfg, test_fold=1, augmented="other")


def test_augmented_data_of_unknown_sources_is_ignored(tiny_features):
    fs = tiny_features
    aug = AugmentedData(X=fs.X[:3].copy(), y=fs.y[:3].copy(), source_shas=["0" * 64] * 3)
    r = train_fold(fs, config=TrainConfig.for_model("cnn1d", epochs=1, batch_size=8),
                   test_fold=0, augmented=aug)
    assert r.n_augmented == 0


def test_library_modules_do_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys, animalsnd.train, animalsnd.evaluate, animalsnd.bundle, animalsnd.metrics, "
            "animalsnd.render_eval, animalsnd.cli.train, animalsnd.cli.eval\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_fit_lets_go_of_the_training_arrays():
    """A process that trains run after run (compare, train --cv --jobs 1) must not keep every run's data."""
    import gc
    import weakref

    from animalsnd import fitting as F
    from animalsnd.models import build_model
    from animalsnd.train import TrainConfig

    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 40, 16)).astype(np.float32)
    X_val = rng.standard_normal((6, 40, 16)).astype(np.float32)
    y, y_val = np.arange(24) % 3, np.arange(6) % 3
    config = TrainConfig.for_model("cnn1d-enhanced", epochs=1, batch_size=8)
    model = build_model("cnn1d-enhanced", input_shape=(40, 16), n_classes=3, seed=0)
    F.fit(model, config, X, y, X_val, y_val, n_classes=3, rng=np.random.default_rng(0), spec_augment=None,
          mixup=None, fold=0, on_epoch=None)
    refs = [weakref.ref(X), weakref.ref(X_val)]
    del X, X_val, model
    F.free_keras()
    gc.collect()
    assert [r() is None for r in refs] == [True, True]
