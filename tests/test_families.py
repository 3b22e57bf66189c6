"""The family registry: a new kind of model is one class, registered, and nothing else.

``ToyCentroids`` is a complete family written only against the lower layers
(cache, inputs, fitting, bundle, windows): a nearest-centroid classifier on
each clip's peak log-Mel spectrum (its maximum over time, per band), kept as a softmax layer whose logits are
``2 x.c - |c|^2`` (the squared distance up to a per-clip constant). Once
registered, ``train``, ``evaluate``, ``predict`` and ``compare`` run it with
no change to any module.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from conftest_train import SR, clip, tiny  # noqa: F401  (fixture)

from animalsnd import families
from animalsnd.errors import BundleError, ConfigError

MODEL = "toy-centroids"
KIND = "toy-peak-spectrum"


def _peaks(X: np.ndarray) -> np.ndarray:
    """(n, frames, n_mels) log-Mel features -> (n, n_mels) peak spectrum of each clip."""
    return np.asarray(X, np.float32).max(axis=1)


class _PeakSet:
    """The rows of a log-Mel feature set, each clip as its peak spectrum."""

    def __init__(self, fs) -> None:
        self.__dict__.update(vars(fs))
        self.X = _peaks(fs.X)

    def __len__(self) -> int:
        return len(self.y)


def _centroid_model(C: np.ndarray):
    import keras

    inp = keras.Input(shape=(C.shape[1],), name="peak_spectrum")
    out = keras.layers.Dense(len(C), activation="softmax", name="probs")(inp)
    model = keras.Model(inp, out, name="toy_centroids")
    model.get_layer("probs").set_weights([2 * C.T, -(C**2).sum(axis=1)])
    return model


class _ToyPredictor:
    """Fold bundles behind the predictor interface: windows of log-Mel, then their peak spectrum."""

    def __init__(self, bundles, *, runtime: str = "auto", threads: int | None = None) -> None:
        if runtime not in ("auto", "keras"):
            raise ConfigError(f"--runtime {runtime}: {MODEL} runs with Keras")
        self.bundles, self.runtime = list(bundles), "keras"
        self.classes, self.cfg = list(self.bundles[0].classes), self.bundles[0].cfg

    def preload(self):
        return self

    def predict_proba(self, X: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        V = _peaks(X)
        return np.mean([b.predict_proba(V, batch_size=batch_size) for b in self.bundles], axis=0).astype(np.float32)

    def window_plan(self, window_s=None, hop_s=None):
        from animalsnd.windows import WindowPlan

        return WindowPlan.from_seconds(self.cfg, window_s=window_s, hop_s=hop_s)

    def scan(self, path, plan, *, batch_size: int = 64, on_seconds=None):
        from animalsnd.windows import scan

        return scan(path, self, plan, batch_size=batch_size, on_seconds=on_seconds)


class ToyCentroids:
    input_kind = KIND
    models = (MODEL,)
    defaults = {MODEL: dict(epochs=1, optimizer="adam", lr=1e-3, weight_decay=0.0, class_weights=False,
                            spec_augment=False, early_stopping=False, patience=1, lr_schedule=False,
                            val_fraction=0.0)}
    options: tuple[str, ...] = ()
    revisions: dict[str, int] = {}
    model_options: dict = {}

    def check_config(self, config) -> None:
        if config.model_options:
            raise ConfigError(f"model {MODEL!r} has no options")

    def load_inputs(self, cache_dir, config, *, jobs=-1, progress=None):
        from animalsnd.cache import load_features

        return _PeakSet(load_features(cache_dir))

    def inputs_like(self, fs, cache_dir, config, *, jobs=-1):
        return _PeakSet(fs)

    def train_fold(self, inputs, *, config, test_fold, out_dir=None, cache_dir=None, augmented=None,
                   export_tflite=False, on_epoch=None):
        from animalsnd import fitting as F

        split = F.checked_split(inputs, config, test_fold)
        X, y = inputs.X[split.train], inputs.y[split.train]
        C = np.stack([X[y == c].mean(axis=0) for c in range(len(inputs.classes))]).astype(np.float32)
        result = F.fold_result(_centroid_model(C), inputs, split, test_fold=test_fold, history={"loss": [0.0]},
                               train_seconds=0.0, best_epoch=None, n_train=len(split.train), n_augmented=0)
        if out_dir is not None:
            meta = {"kind": KIND, "dim": int(C.shape[1]), "feature": inputs.cfg.to_dict()}
            result.model_dir = F.save_fold(out_dir, result, inputs, split, config, cache_dir=cache_dir,
                                           input_meta=meta, training={"n_folds": inputs.n_folds})
        return result

    def check_input(self, section: dict) -> None:
        if "dim" not in section:
            raise ValueError(f"{KIND} input without dim")

    def load_model(self, path):
        import keras

        return keras.models.load_model(str(path), compile=False)

    def eval_data(self, bundle, data=None, *, jobs=-1, progress=None):
        from animalsnd.cache import load_features
        from animalsnd.inputs import feature_set_data, held_out_cache

        if data is not None:
            raise ConfigError(f"{MODEL} scores its held-out fold only")
        cache = held_out_cache(bundle)
        fs = load_features(cache)
        rows = np.array([i for i, s in enumerate(fs.shas) if s in set(bundle.test_shas)], dtype=int)
        out = feature_set_data(fs, bundle, rows, f"held-out fold {bundle.test_fold} of {cache}")
        out.X = _peaks(out.X)
        return out

    def noisy_inputs(self, paths, noise_dir, *, cfg, pool="", fmax=None, **options):
        from animalsnd import robustness

        return _peaks(robustness.noisy_features(paths, cfg, noise_dir, **options))

    def predictor(self, bundles, *, runtime="auto", threads=None):
        return _ToyPredictor(bundles, runtime=runtime, threads=threads)


@pytest.fixture
def toy():
    fam = families.register(ToyCentroids())
    yield fam
    families.unregister(fam)


def test_registry_maps_names_and_bundles_to_families():
    assert families.family("cnn1d").input_kind == "logmel"
    assert families.family("protonet").input_kind == "logmel"
    assert families.family("birdnet-head").input_kind == "birdnet"
    assert families.family("stats-mlp").input_kind == "stats"
    assert families.default_model_options("stats-mlp")["hidden"] == 256
    with pytest.raises(ConfigError, match="unknown model 'resnet'; available: cnn1d, "):
        families.family("resnet")
    with pytest.raises(ConfigError, match="already belong to a family"):
        families.register(type("Twin", (), {"models": ("cnn1d",)})())


def test_a_registered_family_trains_evaluates_predicts_and_compares(toy, tiny, tmp_path):  # noqa: F811
    from animalsnd.compare import compare
    from animalsnd.evaluate import evaluate
    from animalsnd.predict import PredictOptions, predict
    from animalsnd.train import TrainConfig, train

    assert MODEL in families.model_names() and KIND in families.input_kinds()
    config = TrainConfig.for_model(MODEL)
    with pytest.raises(ConfigError, match="--shots applies to --model"):
        TrainConfig.for_model(MODEL, shots=2)
    with pytest.raises(ConfigError, match="has no options"):
        TrainConfig.for_model(MODEL, model_options={"depth": 2})

    run = train(tiny["cache"], tmp_path / "cv", config=config, cv=True)
    assert len(run.folds) == 4 and run.pooled_metrics()["accuracy"] > 0.5
    bundle = families.open_bundle(tmp_path / "cv" / "fold-0")
    assert bundle.kind == KIND and bundle.input_shape == (16,) and families.for_bundle(bundle) is toy

    report = evaluate(tmp_path / "cv")
    assert report.is_cv
    np.testing.assert_array_equal(np.concatenate([r.result.y_pred for r in report.runs]),
                                  np.concatenate([f.y_pred for f in run.folds]))

    wav = tmp_path / "calls.wav"
    sf.write(wav, np.concatenate([clip("chirp", 0), clip("burst", 1)]), SR)
    out = predict(tmp_path / "cv", [wav], options=PredictOptions(window_s=0.5, hop_s=0.5))
    assert out.n_models == 4 and out.runtime == "keras" and out.classes == run.classes
    assert [r.ok for r in out.results] == [True] and len(out.results[0].probs) == 2
    np.testing.assert_allclose(out.results[0].probs.sum(axis=1), 1.0, atol=1e-5)

    table = compare(tiny["cache"], variants=MODEL, folds=2, jobs=1)
    assert table.trained == 2 and table.summary()["variants"][MODEL]["n_runs"] == 2
    # without wave_input the family's clips cannot be re-rendered: refused before any training
    with pytest.raises(ConfigError, match=f"variant '{MODEL}': --eval-chain cannot compute {KIND} inputs"):
        compare(tiny["cache"], variants=MODEL, folds=2, jobs=1, eval_chain="8k")


def test_optional_members_have_defaults(toy):
    from animalsnd.train import TrainConfig

    # ToyCentroids gives no wave_input, inputs_label or recipe_notes: the registry's defaults apply
    assert families.inputs_label(MODEL) == "Model inputs"
    assert families.recipe_notes(TrainConfig.for_model(MODEL)) == []
    with pytest.raises(ConfigError, match=f"{KIND} inputs cannot be computed from a re-rendered clip"):
        families.wave_input(KIND, None)
    assert families.inputs_label("stats-mlp") == "Clip descriptors"
    assert families.recipe_notes(TrainConfig.for_model("protonet")) == ["all labelled clips", "10 fine-tuning epochs"]


def test_bundles_of_an_unregistered_kind_are_refused(toy, tiny, tmp_path):  # noqa: F811
    from animalsnd.train import TrainConfig, load_inputs, train_fold

    config = TrainConfig.for_model(MODEL)
    train_fold(load_inputs(tiny["cache"], config), config=config, test_fold=0, out_dir=tmp_path / "m",
               cache_dir=tiny["cache"])
    families.unregister(toy)
    try:
        with pytest.raises(BundleError, match=f"corrupt bundle \\(unknown input kind '{KIND}'\\)"):
            families.open_bundle(tmp_path / "m")
    finally:
        families.register(toy)
