"""A folder's own class proportions (animalsnd.priors) and where eval / predict use them."""

from pathlib import Path

import numpy as np
import pytest

from animalsnd.priors import MIN_CLIPS, folder_weights, reweight


def _folder(n_cat=16, n_dog=4):
    # cats the model is fairly sure of, dogs it is fairly sure of, and no cow at all
    return np.array([[0.6, 0.3, 0.1]] * n_cat + [[0.3, 0.6, 0.1]] * n_dog)


def test_weights_follow_the_folders_proportions():
    w = folder_weights(_folder())
    assert w[0] > 1.0 > w[2] and w[0] > w[1]  # cats common, cows absent
    full = folder_weights(_folder(), strength=1.0)
    assert full[0] == pytest.approx(w[0] ** 2) and full[2] == pytest.approx(w[2] ** 2)
    even = folder_weights(np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]] * 4))
    assert np.allclose(even, 1.0, atol=1e-3)  # every class equally common: nothing moves


def test_too_few_clips_or_no_strength_leave_the_folder_alone():
    assert np.array_equal(folder_weights(_folder()[: MIN_CLIPS - 1]), np.ones(3))
    assert np.array_equal(folder_weights(_folder(), strength=0.0), np.ones(3))


def test_reweight_tips_an_ambiguous_clip_towards_the_common_class():
    w = folder_weights(_folder())
    q = reweight(np.array([[0.45, 0.5, 0.05]]), w)
    assert q.argmax() == 0 and q.sum() == pytest.approx(1.0)
    assert reweight(np.zeros((1, 3)), w).sum() == 0  # no probability mass: stays empty


def test_eval_choice_adapts_only_when_asked_and_over_the_animals():
    from animalsnd.evaluate import _choice

    classes = ["background", "cat", "dog", "cow"]
    folder = np.hstack([np.full((20, 1), 0.05), _folder() * 0.95])
    folder = np.vstack([folder, [[0.05, 0.43, 0.47, 0.05]]])  # the ambiguous clip
    plain, none = _choice(folder, classes, True)
    adapted, w = _choice(folder, classes, True, adapt=True)
    assert none is None and plain[-1] == 2 and adapted[-1] == 1
    assert set(w) == {"cat", "dog", "cow"} and w["cat"] > 1 > w["cow"]
    _, small = _choice(folder[:5], classes, True, adapt=True)
    assert small is None


def _result(path, probs):
    from animalsnd.predict.run import FileResult

    return FileResult(Path(path), 3.0, np.array([[0.0, 3.0]] * len(probs)), np.asarray(probs, float))


def test_predict_per_file_rows_are_remade_with_the_folders_weights():
    from animalsnd.predict.adapt import adapt_to_folder
    from animalsnd.predict.run import FileResult, PredictOptions

    classes = ["background", "cat", "dog", "cow"]
    files = [_result(f"c{i}.wav", [[0.9, 0.06, 0.03, 0.01], [0.05, 0.57, 0.28, 0.1]]) for i in range(14)]
    files += [_result("odd.wav", [[0.05, 0.45, 0.48, 0.02]]), FileResult(Path("bad.wav"), error="unreadable")]
    opts = PredictOptions(per_file=True)
    from animalsnd.predict.adapt import per_file

    for i, r in enumerate(files):
        if r.ok:
            files[i].rows = per_file(r, classes, opts)
    assert files[14].rows[0].label == "dog"
    before = files[14].probs.copy()
    w = adapt_to_folder(files, classes, opts)
    assert set(w) == {"cat", "dog", "cow"} and w["cat"] > 1
    assert files[14].rows[0].label == "cat" and np.array_equal(files[14].probs, before)  # the model's own kept
    assert all(r.rows[0].label == "cat" for r in files[:14]) and not files[15].ok
    assert adapt_to_folder(files[:5], classes, opts) is None  # too few files: rows as they were


def test_models_trained_without_class_weights_are_not_adapted():
    from animalsnd.predict.adapt import adapt_to_folder, per_file
    from animalsnd.predict.run import PredictOptions
    from animalsnd.priors import answers_evenly

    assert answers_evenly({"train": {"class_weights": True}})
    assert not answers_evenly({"train": {"class_weights": False}}) and not answers_evenly({})
    classes = ["cat", "dog", "cow"]
    files = [_result(f"c{i}.wav", [[0.6, 0.3, 0.1]]) for i in range(12)] + [_result("odd.wav", [[0.45, 0.5, 0.05]])]
    opts = PredictOptions(per_file=True)
    for r in files:
        r.rows = per_file(r, classes, opts)
    assert adapt_to_folder(files, classes, opts, {"train": {"class_weights": False}}) is None
    assert files[-1].rows[0].label == "dog"  # its probabilities already carry the training proportions
    assert adapt_to_folder(files, classes, opts, {"train": {"class_weights": True}})["cat"] > 1
    assert files[-1].rows[0].label == "cat"


def test_heaviest_names_the_most_weighted_classes():
    from animalsnd.render_eval import heaviest

    assert heaviest({"cow": 0.2, "cat": 2.5, "dog": 1.1, "bird": 1.1}) == "cat 2.50, bird 1.10, dog 1.10"
    assert heaviest({"cat": 1.0}, k=3) == "cat 1.00"


# window by window: a recording's own animals (animalsnd.priors.recording_weights)
CLASSES = ["background", "cat", "dog", "cow"]


def _recording(n_noise=30, n_cat=10):
    # stretches of noise whose little animal probability leans to cow, and cat calls
    noise = [[0.97, 0.005, 0.005, 0.02]] * n_noise
    cats = [[0.1, 0.6, 0.25, 0.05]] * n_cat
    return np.array(noise + cats + [[0.1, 0.43, 0.45, 0.02]])  # the last: cat or dog?


def test_a_recordings_animals_are_weighted_by_their_share_of_its_animal_windows():
    from animalsnd.priors import MIN_WINDOWS, among_animals, recording_weights

    animals = np.array([c != "background" for c in CLASSES])
    rec = _recording()
    w = recording_weights(rec, animals)
    # the noise windows barely speak: cow, their lean, is not taken for the recording's animal
    assert w[0] == 1.0 and w[1] > 1.0 > w[3] and w[1] > w[2]
    q = among_animals(rec, w, animals)
    assert q[-1].argmax() == 1 and rec[-1].argmax() == 2  # the ambiguous call tips to cat
    np.testing.assert_allclose(q[:, 0], rec[:, 0])  # background's probability never moves
    np.testing.assert_allclose(q.sum(axis=1), rec.sum(axis=1))  # nor a window's total animal probability
    assert recording_weights(rec[: MIN_WINDOWS - 1], animals) is None  # too short to estimate
    assert recording_weights(rec, animals, strength=0.0) is None
    flat = recording_weights(np.array([[0.5, 0.5, 0.0, 0.0], [0.5, 0.0, 0.5, 0.0], [0.5, 0.0, 0.0, 0.5]] * 4), animals)
    np.testing.assert_allclose(flat, 1.0, atol=1e-3)  # every animal as common: nothing moves


def test_a_recording_with_one_call_stays_near_equal_shares():
    from animalsnd.priors import recording_weights

    animals = np.array([c != "background" for c in CLASSES])
    rec = np.array([[0.97, 0.01, 0.01, 0.01]] * 11 + [[0.1, 0.7, 0.15, 0.05]])
    bare = recording_weights(rec, animals, pseudo=0.0)
    w = recording_weights(rec, animals)  # the default: three windows' worth of every animal
    assert bare[1] > 1.7 and bare[3] < 1e-3  # one call alone named the recording's only animal
    assert 1.0 < w[1] < 1.1 and 0.9 < w[3] < 1.0


def _predictor(default_adapt=True, class_weights=True):
    from types import SimpleNamespace

    calls = []
    meta = {"train": {"class_weights": class_weights}}
    return SimpleNamespace(classes=CLASSES, default_adapt=default_adapt, bundles=[SimpleNamespace(meta=meta)],
                           context_keep_for=lambda top: calls.append(top) or np.asarray(top) != 2), calls


def test_adapt_windows_follows_the_option_the_model_and_remakes_the_context_check():
    from animalsnd.predict.adapt import adapt_windows
    from animalsnd.predict.run import PredictOptions

    rec, keep = _recording(), np.ones(41, bool)
    pred, calls = _predictor()
    probs, kept, w = adapt_windows(pred, rec, keep, PredictOptions())
    assert set(w) == {"cat", "dog", "cow"} and w["cat"] > 1 and probs[-1].argmax() == 1
    assert len(calls) == 1 and np.array_equal(calls[0], probs.argmax(axis=1))  # checked for the new best classes
    assert kept is not keep and kept[-1]  # now a cat, which the (fake) check keeps
    pred, calls = _predictor()
    _, same_keep, w = adapt_windows(pred, rec[:-1], keep[:-1], PredictOptions())
    assert w is not None and calls == [] and same_keep is not None  # no best class moved: no second check
    for p, opts in ((pred, PredictOptions(adapt=False)), (pred, PredictOptions(per_file=True)),
                    (_predictor(default_adapt=False)[0], PredictOptions()),
                    (_predictor(class_weights=False)[0], PredictOptions(adapt=True))):
        same, k, none = adapt_windows(p, rec, keep, opts)
        assert same is rec and k is keep and none is None
    probs, _, w = adapt_windows(_predictor(default_adapt=False)[0], rec, None, PredictOptions(adapt=True))
    assert w is not None and probs[-1].argmax() == 1  # asked for: any model; no context check to remake
    no_bg, _ = _predictor()
    no_bg.classes = CLASSES[1:]  # a model without a background class: not by default, only when asked
    animals = rec[:, 1:] / rec[:, 1:].sum(axis=1, keepdims=True)
    assert adapt_windows(no_bg, animals, None, PredictOptions())[2] is None
    assert adapt_windows(no_bg, animals, None, PredictOptions(adapt=True))[2] is not None


def test_each_family_weighs_a_folder_at_its_own_strength():
    from animalsnd.evaluate import _choice
    from animalsnd.families import folder_strength
    from animalsnd.priors import STRENGTH

    assert folder_strength({"input": {"kind": "birdnet"}, "train": {"model": "birdnet-head"}}) == 0.75
    assert folder_strength({"input": {"kind": "stats"}, "train": {"model": "stats-mlp"}}) == STRENGTH == 0.5
    assert folder_strength({"input": {"kind": "no such kind"}}) == folder_strength(None) == STRENGTH
    classes = ["cat", "dog", "cow"]
    _, damped = _choice(_folder(), classes, False, adapt=True)
    _, strong = _choice(_folder(), classes, False, adapt=True, strength=0.75)
    assert strong["cat"] == pytest.approx(damped["cat"] ** 1.5) and strong["cow"] < damped["cow"]
