from collections import Counter

import numpy as np
import pytest

from animalsnd.dataset import assign_folds, check_one_level_down, discover, duplicate_of, fingerprint
from animalsnd.errors import DatasetError


def test_discover_labels_nested_hidden_and_case(tmp_path):
    for rel in ["frog/a.wav", "frog/sub/b.FLAC", "frog/.hidden.wav", "frog/notes.txt",
                "bird/c.ogg", ".git/x.wav", "bird/.cache/d.wav"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    recs = discover(tmp_path)
    assert [(r.label, r.relpath) for r in recs] == [
        ("bird", "bird/c.ogg"), ("frog", "frog/a.wav"), ("frog", "frog/sub/b.FLAC")]


def test_discover_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        discover(tmp_path / "missing")
    (tmp_path / "loose.wav").write_bytes(b"x")
    with pytest.raises(DatasetError, match="no class folders"):
        discover(tmp_path)


def test_duplicate_of():
    assert duplicate_of(["a", "b", "a", "a"], ["1", "2", "3", "4"]) == ["", "", "1", "1"]


def test_folds_grouped_stratified_seeded():
    rng = np.random.default_rng(0)
    labels = ["a"] * 40 + ["b"] * 25 + ["c"] * 10
    groups = [f"g{i}" for i in range(len(labels))]
    for i in rng.choice(len(labels), 15, replace=False):  # duplicates of the previous item
        if i > 0 and labels[i] == labels[i - 1]:
            groups[i] = groups[i - 1]
    f1 = assign_folds(labels, groups, n_folds=5, seed=3)
    assert np.array_equal(f1, assign_folds(labels, groups, n_folds=5, seed=3))
    assert not np.array_equal(f1, assign_folds(labels, groups, n_folds=5, seed=4))
    by_group = {}
    for g, k in zip(groups, f1):
        assert by_group.setdefault(g, k) == k  # a group never spans folds
    for k in range(5):
        assert set(Counter(lab for lab, f in zip(labels, f1) if f == k)) == {"a", "b", "c"}


def test_fingerprint_order_independent():
    assert fingerprint(["x", "y"], ["a", "b"]) == fingerprint(["y", "x"], ["b", "a"])
    assert fingerprint(["x", "y"], ["a", "b"]) != fingerprint(["x", "y"], ["b", "a"])


def test_the_class_folders_one_level_down_are_named(tmp_path):
    for rel in ["archive/dog/a.wav", "archive/cat/b.wav", "archive/cat/c.wav"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    with pytest.raises(DatasetError) as err:
        check_one_level_down(tmp_path, discover(tmp_path))
    assert str(err.value) == (f"{tmp_path}: one class folder (archive), its clips in 2 folders of their own "
                              f"(cat, dog); the class folders seem to be one level down: {tmp_path / 'archive'}")
    (tmp_path / "archive" / "d.wav").write_bytes(b"x")  # a clip of its own: a class with sub-folders
    check_one_level_down(tmp_path, discover(tmp_path))
    (tmp_path / "frog").mkdir()
    (tmp_path / "frog" / "e.wav").write_bytes(b"x")
    check_one_level_down(tmp_path, discover(tmp_path))
